/* store_subs: SQL for the subscriptions table (store_subs.h). */
#include <errno.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_subs.h"

/* (store_sql.h: the words of each engine) */
#define SUBS_V1(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE subs (" \
	" callid TEXT NOT NULL," \
	" ltag TEXT NOT NULL," \
	" rtag TEXT NOT NULL," \
	" event TEXT NOT NULL," \
	" event_id TEXT NOT NULL DEFAULT ''," \
	" watcher TEXT NOT NULL," \
	" presentity TEXT NOT NULL," \
	" local_uri TEXT NOT NULL," \
	" remote_uri TEXT NOT NULL," \
	" target TEXT NOT NULL," \
	" route TEXT NOT NULL DEFAULT ''," \
	" ctype TEXT NOT NULL," \
	" rseq " I " NOT NULL," \
	" lseq " I " NOT NULL," \
	" version " I " NOT NULL," \
	" expires " I " NOT NULL," \
	" state " I " NOT NULL," \
	" min_interval " I " NOT NULL DEFAULT 0," \
	" PRIMARY KEY (callid, ltag)" \
	END

/* the node of a cluster whose daemon serves the subscription ('': a box
 * of its own): each loads its own alone */
#define SUBS_V2(I, B, K, ID, SERIAL, NOW, END) \
	"ALTER TABLE subs ADD COLUMN node " K " NOT NULL DEFAULT '';" \
	"CREATE INDEX subs_node ON subs (node);"

const char subs_schema_v1[] = STORE_LITE(SUBS_V1);
const char subs_schema_v1_pg[] = STORE_PG(SUBS_V1);
const char subs_schema_v2[] = STORE_LITE(SUBS_V2);
const char subs_schema_v2_pg[] = STORE_PG(SUBS_V2);

static const char *const lite[] = {
	subs_schema_v1,
	subs_schema_v2,
};

static const char *const pg[] = {
	subs_schema_v1_pg,
	subs_schema_v2_pg,
};

static const struct store_schema schema = {
	lite, pg, ARRAY_SIZE(lite)
};

int subs_open(struct store **stp, const char *path,
	      const struct store_opts *o)
{
	return store_open(stp, path, &schema, o);
}

static const char put_sql[] =
	"INSERT INTO subs (callid, ltag, rtag, event, event_id, watcher, "
	"presentity, local_uri, remote_uri, target, route, ctype, rseq, lseq, "
	"version, expires, state, min_interval, node) VALUES (?1, ?2, ?3, "
	"?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
	"?19) "
	"ON CONFLICT (callid, ltag) DO UPDATE SET rtag = excluded.rtag, "
	"event = excluded.event, event_id = excluded.event_id, "
	"watcher = excluded.watcher, presentity = excluded.presentity, "
	"local_uri = excluded.local_uri, remote_uri = excluded.remote_uri, "
	"target = excluded.target, route = excluded.route, "
	"ctype = excluded.ctype, rseq = excluded.rseq, lseq = excluded.lseq, "
	"version = excluded.version, expires = excluded.expires, "
	"state = excluded.state, min_interval = excluded.min_interval "
	"WHERE subs.node = excluded.node";

/* *errp: EINVAL, a text missing; EIO, no statement. */
static struct store_q *put_stmt(struct store *st, const struct subs_rec *r,
				int *errp)
{
	const char *text[] = { r->callid, r->ltag, r->rtag, r->event,
		r->event_id, r->watcher, r->presentity, r->local_uri,
		r->remote_uri, r->target, r->route, r->ctype };
	struct store_q *s;

	*errp = EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(text); i++)
		if (!text[i])
			return NULL;
	*errp = EIO;
	s = store_stmt(st, put_sql);
	if (!s)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(text); i++)
		q_text(s, (int)i + 1, text[i]);
	q_int(s, 13, r->rseq);
	q_int(s, 14, r->lseq);
	q_int(s, 15, r->version);
	q_int(s, 16, r->expires);
	q_int(s, 17, r->state);
	q_int(s, 18, r->min_interval);
	q_text(s, 19, r->node ? r->node : "");
	return s;
}

int subs_put(struct store *st, const struct subs_rec *r)
{
	int err;
	struct store_q *s = put_stmt(st, r, &err);

	if (!s)
		return err;
	err = store_step_done(s);
	if (!err && !q_changes(s))
		err = ESTALE;          /* another node's now */
	return err;
}

int subs_add(struct store *st, const struct subs_rec *r)
{
	int err;
	struct store_q *s = put_stmt(st, r, &err);

	return s ? store_step_later(s) : err;
}

static const char seq_sql[] =
	"UPDATE subs SET lseq = ?3, version = ?4 "
	"WHERE callid = ?1 AND ltag = ?2 AND node = ?5";

int subs_seq(struct store *st, const char *node, const char *callid,
	     const char *ltag, uint32_t lseq, uint32_t version)
{
	struct store_q *s = store_stmt(st, seq_sql);

	if (!s)
		return EIO;
	q_text(s, 1, callid);
	q_text(s, 2, ltag);
	q_int(s, 3, lseq);
	q_int(s, 4, version);
	q_text(s, 5, node ? node : "");
	/* a flush's CSeqs, in one transaction: sent together */
	return store_step_later(s);
}

static const char del_sql[] =
	"DELETE FROM subs WHERE callid = ?1 AND ltag = ?2 AND node = ?3";

int subs_del(struct store *st, const char *node, const char *callid,
	     const char *ltag)
{
	return store_run_text(st, del_sql, 3, callid, ltag, node ? node : "");
}

#define SUBS_COLS "SELECT callid, ltag, rtag, event, event_id, watcher, " \
	"presentity, local_uri, remote_uri, target, route, ctype, rseq, " \
	"lseq, version, expires, state, min_interval, node FROM subs"

static const char list_sql[] = SUBS_COLS;
static const char take_sql[] = "UPDATE subs SET node = ?2 WHERE node = ?1 "
	"RETURNING callid, ltag, rtag, event, event_id, watcher, presentity, "
	"local_uri, remote_uri, target, route, ctype, rseq, lseq, version, "
	"expires, state, min_interval, node";
static const char node_sql[] = SUBS_COLS " WHERE node = ?1";

static const char *col(struct store_q *s, int i)
{
	const char *v = q_col_text(s, i);
	return v ? v : "";
}

static int rows(struct store_q *s, subs_h *h, void *arg)
{
	int rc, err = 0;

	while ((rc = q_step(s)) == STORE_ROW) {
		struct subs_rec r = {
			.callid = col(s, 0), .ltag = col(s, 1),
			.rtag = col(s, 2), .event = col(s, 3),
			.event_id = col(s, 4), .watcher = col(s, 5),
			.presentity = col(s, 6), .local_uri = col(s, 7),
			.remote_uri = col(s, 8), .target = col(s, 9),
			.route = col(s, 10), .ctype = col(s, 11),
			.rseq = (uint32_t)q_col_int(s, 12),
			.lseq = (uint32_t)q_col_int(s, 13),
			.version = (uint32_t)q_col_int(s, 14),
			.expires = (uint64_t)q_col_int(s, 15),
			.state = (int)q_col_int(s, 16),
			.min_interval = (uint32_t)q_col_int(s, 17),
			.node = col(s, 18),
		};
		err = h(&r, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

int subs_foreach(struct store *st, subs_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, list_sql);

	return s ? rows(s, h, arg) : EIO;
}

int subs_foreach_node(struct store *st, const char *node, subs_h *h,
		      void *arg)
{
	struct store_q *s = store_stmt_text(st, node_sql, node ? node : "");

	return s ? rows(s, h, arg) : EIO;
}

int subs_take(struct store *st, const char *from, const char *to,
	      subs_h *h, void *arg)
{
	struct store_q *s = st && h ?
		store_stmt_take(st, take_sql, from, to) : NULL;

	return s ? rows(s, h, arg) : EINVAL;
}
