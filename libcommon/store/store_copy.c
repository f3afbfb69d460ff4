/* store_copy: every row of one of the appliance's databases into the
 * same database held by another engine (store_copy.h): each table read
 * in its key's order and written with the same values, NULLs and bytes,
 * in one transaction on the destination; then the rows counted on both
 * sides. The tables and their columns are listed here once; a table
 * added to a schema must be added here too (test_store_copy.py compares
 * the tables copied with PostgreSQL's). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_copy.h"

/* kinds: a letter a column, I an integer, t a text, b a blob */
struct table {
	const char *name;
	const char *select;      /* the columns, in the key's order */
	const char *insert;      /* ?1..?n, the same columns */
	const char *count;
	const char *kinds;
};

#define COUNT(t) "SELECT count(*) FROM " t

static const struct table admin_tables[] = {
	{"users",
	 "SELECT username, name, realm, ha1_md5, ha1_sha256, ha1_sha512_256, "
	 "algorithms, created FROM users ORDER BY id",
	 "INSERT INTO users (username, name, realm, ha1_md5, ha1_sha256, "
	 "ha1_sha512_256, algorithms, created) VALUES (?1, ?2, ?3, ?4, ?5, "
	 "?6, ?7, ?8)", COUNT("users"), "tttttttI"},
	{"watcher_rules",
	 "SELECT owner, watcher, action, updated FROM watcher_rules "
	 "ORDER BY owner, watcher",
	 "INSERT INTO watcher_rules (owner, watcher, action, updated) "
	 "VALUES (?1, ?2, ?3, ?4)", COUNT("watcher_rules"), "tttI"},
	{"admins",
	 "SELECT name, hash, created FROM admins ORDER BY name",
	 "INSERT INTO admins (name, hash, created) VALUES (?1, ?2, ?3)",
	 COUNT("admins"), "ttI"},
	{"web_sessions",
	 "SELECT id, admin, csrf, expires FROM web_sessions ORDER BY id",
	 "INSERT INTO web_sessions (id, admin, csrf, expires) "
	 "VALUES (?1, ?2, ?3, ?4)", COUNT("web_sessions"), "tttI"},
	{"login_failures",
	 "SELECT key, count, last FROM login_failures ORDER BY key",
	 "INSERT INTO login_failures (key, count, last) VALUES (?1, ?2, ?3)",
	 COUNT("login_failures"), "tII"},
	{"devices",
	 "SELECT mac, vendor, model, owner, gen, realm, ha1_md5, ha1_sha256, "
	 "ha1_sha512_256, prov_ha1, last_fetch, last_addr, created "
	 "FROM devices ORDER BY mac",
	 "INSERT INTO devices (mac, vendor, model, owner, gen, realm, "
	 "ha1_md5, ha1_sha256, ha1_sha512_256, prov_ha1, last_fetch, "
	 "last_addr, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
	 "?10, ?11, ?12, ?13)", COUNT("devices"), "ttttItttttItI"},
	{"device_keys",
	 "SELECT mac, position, kind, target, label FROM device_keys "
	 "ORDER BY mac, position",
	 "INSERT INTO device_keys (mac, position, kind, target, label) "
	 "VALUES (?1, ?2, ?3, ?4, ?5)", COUNT("device_keys"), "tIttt"},
	{"nodes",
	 "SELECT node_id, public_key, bus, sip, instance, started, seen, "
	 "load FROM nodes ORDER BY node_id",
	 "INSERT INTO nodes (node_id, public_key, bus, sip, instance, "
	 "started, seen, load) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	 COUNT("nodes"), "tttttIIt"},
};

static const struct table loc_tables[] = {
	{"bindings",
	 "SELECT aor, uri, params, callid, cseq, expires, q, tp, src, path, "
	 "user_agent, instance, reg_id, updated, node FROM bindings "
	 "ORDER BY aor, uri",
	 "INSERT INTO bindings (aor, uri, params, callid, cseq, expires, q, "
	 "tp, src, path, user_agent, instance, reg_id, updated, node) VALUES "
	 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	 COUNT("bindings"), "ttttIIItttttIIt"},
};

#define SUBS_TABLE \
	{"subs", \
	 "SELECT callid, ltag, rtag, event, event_id, watcher, presentity, " \
	 "local_uri, remote_uri, target, route, ctype, rseq, lseq, version, " \
	 "expires, state, min_interval, node FROM subs " \
	 "ORDER BY callid, ltag", \
	 "INSERT INTO subs (callid, ltag, rtag, event, event_id, watcher, " \
	 "presentity, local_uri, remote_uri, target, route, ctype, rseq, " \
	 "lseq, version, expires, state, min_interval, node) VALUES (?1, " \
	 "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, " \
	 "?17, ?18, ?19)", COUNT("subs"), "ttttttttttttIIIIIIt"}

static const struct table pres_tables[] = {
	SUBS_TABLE,
	{"pubs",
	 "SELECT etag, \"user\", expires, updated, doc, node FROM pubs "
	 "ORDER BY etag",
	 "INSERT INTO pubs (etag, \"user\", expires, updated, doc, node) "
	 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", COUNT("pubs"), "ttIIbt"},
};

static const struct table blf_tables[] = {
	SUBS_TABLE,
};

/* The id too: a delivery's identity on the wire is made from it (an
 * attempt sent again after the move is recognised as the same one). */
static const struct table msgs_tables[] = {
	{"msgs",
	 "SELECT id, \"user\", sender, from_name, date, ctype, origin, body, "
	 "created, expires, attempt, node FROM msgs ORDER BY id",
	 "INSERT INTO msgs (id, \"user\", sender, from_name, date, ctype, "
	 "origin, body, created, expires, attempt, node) VALUES (?1, ?2, ?3, "
	 "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", COUNT("msgs"),
	 "IttttttbIIIt"},
};

struct db {
	const char *name;
	const struct table *tables;
	size_t n;
};

static const struct db dbs[] = {
	{"admin", admin_tables, ARRAY_SIZE(admin_tables)},
	{"registrar", loc_tables, ARRAY_SIZE(loc_tables)},
	{"presence", pres_tables, ARRAY_SIZE(pres_tables)},
	{"blf", blf_tables, ARRAY_SIZE(blf_tables)},
	{"imrelay", msgs_tables, ARRAY_SIZE(msgs_tables)},
};

static const struct db *db_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++)
		if (!str_cmp(dbs[i].name, name))
			return &dbs[i];
	return NULL;
}

static int count(struct store *st, const struct table *t, uint64_t *n)
{
	struct store_q *q = store_stmt(st, t->count);
	int rc, err = 0;

	if (!q)
		return EIO;
	rc = q_step(q);
	if (rc == STORE_ROW)
		*n = (uint64_t)q_col_int(q, 0);
	else
		err = rc == STORE_DONE ? EIO : rc;
	q_reset(q);
	return err;
}

static int copy_row(struct store_q *from, struct store_q *to,
		    const char *kinds)
{
	for (int i = 0; kinds[i]; i++) {
		if (q_col_null(from, i)) {
			q_text(to, i + 1, NULL);
			continue;
		}
		switch (kinds[i]) {

		case 'I':
			q_int(to, i + 1, q_col_int(from, i));
			break;

		case 'b':
			q_blob(to, i + 1, q_col_blob(from, i),
			       q_col_bytes(from, i));
			break;

		default: {
			/* the text first: its length is that of what it
			 * gives (a PostgreSQL text with bytes restored) */
			const char *t = q_col_text(from, i);

			q_text_n(to, i + 1, t, q_col_bytes(from, i));
			break;
		}
		}
	}
	return store_step_done(to);
}

static int copy_table(struct store *from, struct store *to,
		      const struct table *t)
{
	struct store_q *r = store_stmt(from, t->select);
	struct store_q *w = store_stmt(to, t->insert);
	size_t params = 0;
	int rc, err = 0;

	for (const char *p = t->insert; *p; p++)
		params += *p == '?';
	if (params != strlen(t->kinds))
		return EINVAL;     /* the list above was edited wrong */
	if (!r || !w)
		return EIO;
	while ((rc = q_step(r)) == STORE_ROW) {
		err = copy_row(r, w, t->kinds);
		if (err)
			break;
	}
	return store_rows_end(r, rc, err);
}

/* The meta table's values (secrets, the relay's salt), not its schema
 * version, which is each engine's own. */
static const char meta_list_sql[] =
	"SELECT key, value FROM meta WHERE key <> 'schema_version' "
	"ORDER BY key";

static int copy_meta(struct store *from, struct store *to)
{
	struct store_q *r = store_stmt(from, meta_list_sql);
	int rc, err = 0;

	if (!r)
		return EIO;
	while ((rc = q_step(r)) == STORE_ROW) {
		err = store_meta_set(to, q_col_text(r, 0), q_col_text(r, 1));
		if (err)
			break;
	}
	return store_rows_end(r, rc, err);
}

static const char msgs_seq_sql[] =
	"SELECT setval(pg_get_serial_sequence('msgs', 'id'), "
	"(SELECT max(id) FROM msgs))";

/* Whether `to` holds no row of database `d` yet (ENOTEMPTY if it does). */
static int empty(struct store *to, const struct db *d)
{
	uint64_t n;
	int err;

	for (size_t i = 0; i < d->n; i++) {
		err = count(to, &d->tables[i], &n);
		if (err)
			return err;
		if (n)
			return ENOTEMPTY;
	}
	return 0;
}

int store_copy_empty(struct store *to, const char *db)
{
	const struct db *d = db_find(db);

	if (!to || !d)
		return EINVAL;
	return empty(to, d);
}

int store_copy(struct store *from, struct store *to, const char *db,
	       store_copy_h *h, void *arg)
{
	const struct db *d = db_find(db);
	uint64_t a[16], b[16];
	int err;

	if (!from || !to || !d || d->n > ARRAY_SIZE(a))
		return EINVAL;
	/* into an empty database only: a copy never merges */
	err = empty(to, d);
	if (err)
		return err;
	err = store_begin(to);
	if (err)
		return err;
	err = copy_meta(from, to);
	for (size_t i = 0; i < d->n && !err; i++)
		err = copy_table(from, to, &d->tables[i]);
	/* PostgreSQL's identity goes on after the ids copied (SQLite's
	 * AUTOINCREMENT follows an explicit id by itself) */
	if (!err && d->tables == msgs_tables &&
	    !str_cmp(store_kind(to), "postgresql"))
		err = store_exec(to, msgs_seq_sql);
	/* counted inside the transaction, so that a difference commits
	 * nothing */
	for (size_t i = 0; i < d->n && !err; i++) {
		err = count(from, &d->tables[i], &a[i]);
		err = err ? err : count(to, &d->tables[i], &b[i]);
		if (!err && a[i] != b[i])
			err = EBADMSG;
	}
	if (err == EBADMSG && h) {
		for (size_t i = 0; i < d->n; i++)
			h(db, d->tables[i].name, a[i], b[i], arg);
	}
	if (err) {
		store_rollback(to);
		return err;
	}
	err = store_commit(to);
	if (err)
		return err;
	for (size_t i = 0; h && i < d->n; i++)
		h(db, d->tables[i].name, a[i], b[i], arg);
	return 0;
}
