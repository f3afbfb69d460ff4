/* store_users: SQL for the users table of the admin database. Each user
 * has one HA1 per digest algorithm, all computed from the password when it
 * is set; the realm they were computed for is kept so that a change of
 * domain is detected instead of failing every login silently. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_users.h"

/* The admin database's steps (store_sql.h: the words of each engine). */
#define ADMIN_V1(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE users (" \
	" id " ID "," \
	" username " K " NOT NULL UNIQUE," \
	" name TEXT NOT NULL DEFAULT ''," \
	" realm TEXT NOT NULL," \
	" ha1_md5 TEXT NOT NULL," \
	" ha1_sha256 TEXT NOT NULL," \
	" ha1_sha512_256 TEXT NOT NULL," \
	" algorithms TEXT," \
	" created " I " NOT NULL DEFAULT " NOW \
	");"
/* who may watch whose presence (SQL in store_rules.c) */
#define ADMIN_V2(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE watcher_rules (" \
	" owner " K " NOT NULL," \
	" watcher " K " NOT NULL," \
	" action TEXT NOT NULL CHECK (action IN ('allow', 'block', " \
	"'polite-block', 'confirm'))," \
	" updated " I " NOT NULL DEFAULT " NOW "," \
	" PRIMARY KEY (owner, watcher)" \
	END
/* the web page's administrators, sessions and failed logins (SQL in
 * store_admin.c) */
#define ADMIN_V3(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE admins (" \
	" name " K " PRIMARY KEY," \
	" hash TEXT NOT NULL," \
	" created " I " NOT NULL DEFAULT " NOW \
	END \
	"CREATE TABLE web_sessions (" \
	" id TEXT PRIMARY KEY," \
	" admin TEXT NOT NULL," \
	" csrf TEXT NOT NULL," \
	" expires " I " NOT NULL" \
	END \
	"CREATE TABLE login_failures (" \
	" key TEXT PRIMARY KEY," \
	" count " I " NOT NULL," \
	" last " I " NOT NULL" \
	END
/* desk phones and their keys (SQL in store_devices.c) */
#define ADMIN_V4(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE devices (" \
	" mac " K " PRIMARY KEY," \
	" vendor TEXT NOT NULL," \
	" model TEXT NOT NULL DEFAULT ''," \
	" owner " K " NOT NULL," \
	" gen " I " NOT NULL," \
	" realm TEXT NOT NULL," \
	" ha1_md5 TEXT NOT NULL," \
	" ha1_sha256 TEXT NOT NULL," \
	" ha1_sha512_256 TEXT NOT NULL," \
	" prov_ha1 TEXT NOT NULL," \
	" last_fetch " I "," \
	" last_addr TEXT," \
	" created " I " NOT NULL DEFAULT " NOW \
	END \
	"CREATE INDEX devices_owner ON devices (owner);" \
	"CREATE TABLE device_keys (" \
	" mac TEXT NOT NULL," \
	" position " I " NOT NULL," \
	" kind TEXT NOT NULL CHECK (kind IN ('blf', 'speed'))," \
	" target TEXT NOT NULL," \
	" label TEXT NOT NULL DEFAULT ''," \
	" PRIMARY KEY (mac, position)" \
	END

/* the nodes of a cluster (SQL in store_nodes.c) */
#define ADMIN_V5(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE nodes (" \
	" node_id " K " PRIMARY KEY," \
	" public_key TEXT NOT NULL," \
	" bus TEXT NOT NULL," \
	" sip TEXT NOT NULL," \
	" instance TEXT NOT NULL," \
	" started " I " NOT NULL," \
	" seen " I " NOT NULL," \
	" load TEXT NOT NULL DEFAULT ''" \
	END

static const char *const lite[] = {
	STORE_LITE(ADMIN_V1),
	STORE_LITE(ADMIN_V2),
	STORE_LITE(ADMIN_V3),
	STORE_LITE(ADMIN_V4),
	STORE_LITE(ADMIN_V5),
};

/* On PostgreSQL, a change to the users, the watcher rules or the phones
 * is announced on the channel store_changed listens to (a
 * statement-level trigger: one notice a statement, folded into one a
 * transaction by the server). */
#define PG_ANNOUNCE(t) \
	"CREATE TRIGGER " t "_changed AFTER INSERT OR UPDATE OR DELETE " \
	"OR TRUNCATE ON " t " FOR EACH STATEMENT " \
	"EXECUTE FUNCTION lp_changed();"

static const char *const pg[] = {
	"CREATE FUNCTION lp_changed() RETURNS trigger LANGUAGE plpgsql AS "
	"$$BEGIN PERFORM pg_notify('lamplight_' || TG_TABLE_SCHEMA, ''); "
	"RETURN NULL; END$$;"
	STORE_PG(ADMIN_V1) PG_ANNOUNCE("users"),
	STORE_PG(ADMIN_V2) PG_ANNOUNCE("watcher_rules"),
	STORE_PG(ADMIN_V3),
	STORE_PG(ADMIN_V4) PG_ANNOUNCE("devices") PG_ANNOUNCE("device_keys"),
	STORE_PG(ADMIN_V5),
};

static const struct store_schema schema = {
	lite, pg, ARRAY_SIZE(lite)
};

int users_open(struct store **stp, const char *path, bool readonly)
{
	struct store_opts o = { .readonly = readonly, .sync_full = true };

	return store_open(stp, path, &schema, &o);
}

bool users_name_valid(const char *user)
{
	size_t n = user ? strlen(user) : 0;

	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = user[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '+'))
			return false;
	}
	return true;
}

int users_gen_password(char *out, size_t len)
{
	static const char cs[] = "abcdefghijkmnopqrstuvwxyz"
				 "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t rnd[16];

	if (len < 17)
		return EINVAL;
	rand_bytes(rnd, sizeof(rnd));
	for (size_t i = 0; i < 16; i++)
		out[i] = cs[rnd[i] % (sizeof(cs) - 1)];
	out[16] = '\0';
	return 0;
}

const char *users_fullname_check(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "a name is one line";
	return n > 64 ? "a name is at most 64 bytes" : NULL;
}

bool users_exists(struct store *st, const char *user)
{
	struct user_rec *u = NULL;
	struct pl pl;
	bool ok;

	if (!users_name_valid(user))
		return false;
	pl_set_str(&pl, user);
	ok = !users_get(st, &pl, &u);
	mem_deref(u);
	return ok;
}

static int hashes(char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX],
		  const char *user, const char *realm, const char *password)
{
	for (int a = 0; a < DIGEST_ALG_COUNT; a++) {
		int err = digest_ha1(ha1[a], (enum digest_alg)a, user, realm,
				     password);
		if (err)
			return err;
	}
	return 0;
}

/* A user already there inserts nothing (EEXIST), and fails no
 * transaction it runs in: lamplightctl's import goes on with a new
 * password for that user (PostgreSQL would abort the whole transaction
 * on a failed constraint). */
static const char add_sql[] =
	"INSERT INTO users (username, name, realm, ha1_md5, ha1_sha256, "
	"ha1_sha512_256) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
	"ON CONFLICT (username) DO NOTHING";

int users_add(struct store *st, const char *user, const char *name,
	      const char *realm, const char *password)
{
	char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
	struct store_q *s;
	int err;

	if (!st || !users_name_valid(user) || !realm || !password)
		return EINVAL;
	err = hashes(ha1, user, realm, password);
	if (err)
		return err;
	s = store_stmt(st, add_sql);
	if (!s)
		return EIO;
	q_text(s, 1, user);
	q_text(s, 2, name ? name : "");
	q_text(s, 3, realm);
	for (int a = 0; a < DIGEST_ALG_COUNT; a++)
		q_text_copy(s, 4 + a, ha1[a]);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = EEXIST;
	return err;
}

static const char passwd_sql[] =
	"UPDATE users SET realm = ?2, ha1_md5 = ?3, ha1_sha256 = ?4, "
	"ha1_sha512_256 = ?5 WHERE username = ?1";

int users_set_password(struct store *st, const char *user,
		       const char *realm, const char *password)
{
	char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
	struct store_q *s;
	int err;

	if (!st || !user || !realm || !password)
		return EINVAL;
	err = hashes(ha1, user, realm, password);
	if (err)
		return err;
	s = store_stmt(st, passwd_sql);
	if (!s)
		return EIO;
	q_text(s, 1, user);
	q_text(s, 2, realm);
	for (int a = 0; a < DIGEST_ALG_COUNT; a++)
		q_text_copy(s, 3 + a, ha1[a]);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = ENOENT;
	return err;
}

int users_set_name(struct store *st, const char *user, const char *name)
{
	struct store_q *s = store_stmt(st, "UPDATE users SET name = ?2 "
				       "WHERE username = ?1");
	int err;

	if (!s)
		return EIO;
	q_text(s, 1, user);
	q_text(s, 2, name ? name : "");
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = ENOENT;
	return err;
}

static const char algs_sql[] =
	"UPDATE users SET algorithms = ?2 WHERE username = ?1";

int users_set_algs(struct store *st, const char *user, const char *algs)
{
	struct store_q *s = store_stmt(st, algs_sql);
	int err;

	if (!s)
		return EIO;
	q_text(s, 1, user);
	if (algs)
		q_text(s, 2, algs);
	else
		q_text(s, 2, NULL);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = ENOENT;
	return err;
}

static const char del_sql[] = "DELETE FROM users WHERE username = ?1";

/* The user and the devices it owns, with their keys, at once. */
int users_del(struct store *st, const char *user)
{
	struct store_q *s;
	int err = store_begin(st);

	if (err)
		return err;
	err = store_run_text(st, "DELETE FROM device_keys WHERE mac IN "
			     "(SELECT mac FROM devices WHERE owner = ?1)", 1,
			     user);
	err = err ? err : store_run_text(st, "DELETE FROM devices WHERE "
					 "owner = ?1", 1, user);
	s = err ? NULL : store_stmt(st, del_sql);
	if (s) {
		q_text(s, 1, user);
		err = store_step_done(s);
		if (!err && q_changes(s) == 0)
			err = ENOENT;
	}
	else if (!err)
		err = EIO;
	if (err) {
		store_rollback(st);
		return err;
	}
	return store_commit(st);
}

static void rec_destructor(void *arg)
{
	struct user_rec *u = arg;

	mem_deref(u->username);
	mem_deref(u->authname);
	mem_deref(u->name);
	mem_deref(u->realm);
	mem_deref(u->algs);
}

static int rec_from_row(struct user_rec **up, struct store_q *s)
{
	struct user_rec *u = mem_zalloc(sizeof(*u), rec_destructor);
	int err;

	if (!u)
		return ENOMEM;
	err = str_dup(&u->username, q_col_text(s, 0));
	err |= str_dup(&u->authname, q_col_text(s, 7));
	err |= str_dup(&u->name, q_col_text(s, 1));
	err |= str_dup(&u->realm, q_col_text(s, 2));
	for (int a = 0; a < DIGEST_ALG_COUNT; a++)
		str_ncpy(u->ha1[a], q_col_text(s, 3+a),
			 sizeof(u->ha1[a]));
	if (!q_col_null(s, 6))
		err |= str_dup(&u->algs,
			       q_col_text(s, 6));
	if (err) {
		mem_deref(u);
		return ENOMEM;
	}
	*up = u;
	return 0;
}

static const char get_sql[] =
	"SELECT username, name, realm, ha1_md5, ha1_sha256, ha1_sha512_256, "
	"algorithms, username FROM users WHERE username = ?1";

/* A device's own credentials (store_devices.h): auth name OWNER~MAC, the
 * record of the owner with the device's hashes. */
static const char dev_sql[] =
	"SELECT u.username, u.name, d.realm, d.ha1_md5, d.ha1_sha256, "
	"d.ha1_sha512_256, u.algorithms, u.username || '~' || d.mac "
	"FROM devices d JOIN users u ON u.username = d.owner "
	"WHERE d.owner = ?1 AND d.mac = ?2";

int users_get(struct store *st, const struct pl *user,
	      struct user_rec **recp)
{
	const char *tilde;
	struct store_q *s;
	int rc, err;

	if (!st || !user || !user->p || !recp)
		return EINVAL;
	tilde = memchr(user->p, '~', user->l);
	s = store_stmt(st, tilde ? dev_sql : get_sql);
	if (!s)
		return EIO;
	if (tilde) {
		q_text_n(s, 1, user->p, (size_t)(tilde - user->p));
		q_text_n(s, 2, tilde + 1,
			 (size_t)(user->p + user->l - tilde - 1));
	}
	else
		q_text_n(s, 1, user->p, user->l);
	rc = q_step(s);
	if (rc == STORE_ROW)
		err = rec_from_row(recp, s);
	else
		err = rc == STORE_DONE ? ENOENT : rc;
	q_reset(s);
	return err;
}

static const char list_sql[] =
	"SELECT username, name, realm, ha1_md5, ha1_sha256, ha1_sha512_256, "
	"algorithms, username FROM users ORDER BY username";

int users_foreach(struct store *st, users_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, list_sql);
	int rc, err = 0;

	if (!s)
		return EIO;
	while ((rc = q_step(s)) == STORE_ROW) {
		struct user_rec *u;

		err = rec_from_row(&u, s);
		if (err)
			break;
		err = h(u, arg);
		mem_deref(u);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

static const char count_sql[] = "SELECT count(*) FROM users";

int users_count(struct store *st, uint32_t *n)
{
	struct store_q *s = store_stmt(st, count_sql);
	int rc, err = 0;

	if (!s)
		return EIO;
	rc = q_step(s);
	if (rc == STORE_ROW)
		*n = (uint32_t)q_col_int(s, 0);
	else
		err = rc == STORE_DONE ? EIO : rc;
	q_reset(s);
	return err;
}

/* ---- the cache ---- */

struct users_cache {
	struct store *st;
	struct hash *ht;
	uint32_t count;
	uint32_t max;
	uint64_t checked;      /* jiffies of the last store_changed */
	uint64_t gen;          /* bumped by each change in the store */
};

/* How stale the cache may be: asking SQLite whether another connection
 * committed takes a read lock (fcntl calls), which at thousands of
 * requests a second was 8 % of the edge's CPU; once every few
 * milliseconds is as good for a password changed by hand. */
#define CACHE_CHECK_MS 5

/* An entry of an older generation is read again before use; while the
 * store is out of reach (store_unavailable) it serves as it is, so that
 * phones known before an outage of the database keep working through
 * it, while one never seen gets 503. */
struct cached {
	struct le he;
	struct user_rec *rec;
	uint64_t gen;
};

static void cached_destructor(void *arg)
{
	struct cached *e = arg;

	hash_unlink(&e->he);
	mem_deref(e->rec);
}

static bool cached_deref_h(struct le *le, void *arg)
{
	(void)arg;
	mem_deref(le->data);
	return false;
}

static void cache_flush(struct users_cache *c)
{
	/* hash_apply with a handler that derefs: each element unlinks
	 * itself, which libre's hash_apply tolerates (it reads next first) */
	hash_apply(c->ht, cached_deref_h, NULL);
	c->count = 0;
}

static void cache_destructor(void *arg)
{
	struct users_cache *c = arg;

	cache_flush(c);
	mem_deref(c->ht);
}

int users_cache_alloc(struct users_cache **cp, struct store *st,
		      uint32_t max)
{
	struct users_cache *c;
	int err;

	if (!cp || !st)
		return EINVAL;
	c = mem_zalloc(sizeof(*c), cache_destructor);
	if (!c)
		return ENOMEM;
	c->st = st;
	c->max = max;
	err = hash_alloc(&c->ht, 4096);
	if (err) {
		mem_deref(c);
		return err;
	}
	(void)store_changed(st);
	*cp = c;
	return 0;
}

static bool cached_cmp(struct le *le, void *arg)
{
	const struct cached *e = le->data;

	return 0 == pl_strcmp(arg, e->rec->authname);
}

int users_cache_get(struct users_cache *c, const struct pl *user,
		    struct user_rec **recp)
{
	struct cached *e;
	struct user_rec *u = NULL;
	uint32_t h;
	int err;

	if (!c || !user || !recp)
		return EINVAL;
	if (tmr_jiffies() - c->checked >= CACHE_CHECK_MS) {
		c->checked = tmr_jiffies();
		if (store_changed(c->st))
			++c->gen;
	}

	h = hash_joaat_pl(user);
	e = list_ledata(hash_lookup(c->ht, h, cached_cmp, (void *)user));
	if (e && e->gen == c->gen) {
		*recp = mem_ref(e->rec);
		return 0;
	}
	err = users_get(c->st, user, &u);
	if (e && store_unavailable(err)) {
		*recp = mem_ref(e->rec);
		return 0;
	}
	if (e) {
		--c->count;
		mem_deref(e);
		e = NULL;
	}
	if (err)
		return err;
	if (c->count < c->max) {
		e = mem_zalloc(sizeof(*e), cached_destructor);
		if (e) {
			e->rec = mem_ref(u);
			e->gen = c->gen;
			hash_append(c->ht, h, &e->he, e);
			++c->count;
		}
	}
	*recp = u;
	return 0;
}
