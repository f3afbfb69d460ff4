/* store_loc: SQL for the bindings table. Written through by the registrar
 * (memory is the cache, the table is the truth after a restart); read by
 * `lamplightctl status`. */
#include <errno.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_loc.h"

/* (store_sql.h: the words of each engine) */
#define BINDINGS_V1(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE bindings (" \
	" aor " K " NOT NULL," \
	" uri " K " NOT NULL," \
	" params TEXT NOT NULL DEFAULT ''," \
	" callid TEXT NOT NULL," \
	" cseq " I " NOT NULL," \
	" expires " I " NOT NULL," \
	" q " I " NOT NULL DEFAULT 1000," \
	" tp TEXT NOT NULL," \
	" src TEXT NOT NULL," \
	" path TEXT," \
	" user_agent TEXT," \
	" instance TEXT," \
	" reg_id " I " NOT NULL DEFAULT 0," \
	" updated " I " NOT NULL," \
	" PRIMARY KEY (aor, uri)" \
	END \
	"CREATE INDEX bindings_expires ON bindings (expires);"
/* the node of a cluster whose edge holds the binding's flow ('': a box
 * of its own): each edge loads, expires and removes its own alone */
#define BINDINGS_V2(I, B, K, ID, SERIAL, NOW, END) \
	"ALTER TABLE bindings ADD COLUMN node " K " NOT NULL DEFAULT '';" \
	"CREATE INDEX bindings_node ON bindings (node, aor);"

static const char *const lite[] = {
	STORE_LITE(BINDINGS_V1),
	STORE_LITE(BINDINGS_V2),
};

static const char *const pg[] = {
	STORE_PG(BINDINGS_V1),
	STORE_PG(BINDINGS_V2),
};

static const struct store_schema schema = {
	lite, pg, ARRAY_SIZE(lite)
};

int loc_open(struct store **stp, const char *path, const struct store_opts *o)
{
	return store_open(stp, path, &schema, o);
}

static const char put_sql[] =
	"INSERT INTO bindings (aor, uri, params, callid, cseq, expires, q, "
	"tp, src, path, user_agent, instance, reg_id, updated, node) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	"?15) "
	"ON CONFLICT (aor, uri) DO UPDATE SET params = excluded.params, "
	"callid = excluded.callid, cseq = excluded.cseq, "
	"expires = excluded.expires, q = excluded.q, tp = excluded.tp, "
	"src = excluded.src, path = excluded.path, "
	"user_agent = excluded.user_agent, instance = excluded.instance, "
	"reg_id = excluded.reg_id, updated = excluded.updated, "
	"node = excluded.node";

int loc_put(struct store *st, const struct loc_rec *r)
{
	struct store_q *s;

	if (!st || !r || !r->aor || !r->uri || !r->callid || !r->tp ||
	    !r->src)
		return EINVAL;
	s = store_stmt(st, put_sql);
	if (!s)
		return EIO;
	q_text(s, 1, r->aor);
	q_text(s, 2, r->uri);
	q_text(s, 3, r->params ? r->params : "");
	q_text(s, 4, r->callid);
	q_int(s, 5, r->cseq);
	q_int(s, 6, r->expires);
	q_int(s, 7, r->q);
	q_text(s, 8, r->tp);
	q_text(s, 9, r->src);
	q_text(s, 10, r->path);          /* NULL when absent */
	q_text(s, 11, r->user_agent);
	q_text(s, 12, r->instance);
	q_int(s, 13, r->reg_id);
	q_int(s, 14, r->updated);
	q_text(s, 15, r->node ? r->node : "");
	/* in the REGISTER's transaction: sent with its other statements */
	return store_step_later(s);
}

static const char del_sql[] =
	"DELETE FROM bindings WHERE aor = ?1 AND uri = ?2 AND node = ?3";

int loc_del(struct store *st, const char *node, const char *aor,
	    const char *uri)
{
	struct store_q *s = st ? store_stmt(st, del_sql) : NULL;

	if (!s)
		return st ? EIO : EINVAL;
	q_text(s, 1, aor);
	q_text(s, 2, uri);
	q_text(s, 3, node ? node : "");
	return store_step_later(s);
}

static const char del_expired_sql[] =
	"DELETE FROM bindings WHERE aor = ?1 AND uri = ?2 AND expires <= ?3 "
	"AND node = ?4";

int loc_del_expired(struct store *st, const char *node, const char *aor,
		    const char *uri, uint64_t now)
{
	struct store_q *s = store_stmt(st, del_expired_sql);

	if (!s)
		return EIO;
	q_text(s, 1, aor);
	q_text(s, 2, uri);
	q_int(s, 3, now);
	q_text(s, 4, node ? node : "");
	return store_step_done(s);
}

#define LOC_LIST "aor, uri, params, callid, cseq, expires, q, tp, src, " \
	"path, user_agent, instance, reg_id, updated, node"
#define LOC_COLS "SELECT " LOC_LIST " FROM bindings "

static const char list_sql[] =
	LOC_COLS "ORDER BY aor, q DESC, updated DESC";
static const char node_sql[] =
	LOC_COLS "WHERE node = ?1 ORDER BY aor, q DESC, updated DESC";

static const char *col(struct store_q *s, int i)
{
	return q_col_text(s, i);
}

static const char take_sql[] =
	"UPDATE bindings SET node = ?2 WHERE node = ?1 AND expires > ?3 "
	"RETURNING " LOC_LIST;

static const char aor_sql[] =
	LOC_COLS "WHERE aor = ?1 AND node = ?2 ORDER BY q DESC, updated DESC";

/* Each row the prepared statement s gives, to h. */
static int rows(struct store_q *s, loc_h *h, void *arg)
{
	int rc, err = 0;

	while ((rc = q_step(s)) == STORE_ROW) {
		struct loc_rec r = {
			.aor = col(s, 0), .uri = col(s, 1),
			.params = col(s, 2), .callid = col(s, 3),
			.cseq = (uint32_t)q_col_int(s, 4),
			.expires = (uint64_t)q_col_int(s, 5),
			.q = (uint32_t)q_col_int(s, 6),
			.tp = col(s, 7), .src = col(s, 8),
			.path = col(s, 9), .user_agent = col(s, 10),
			.instance = col(s, 11),
			.reg_id = (uint32_t)q_col_int(s, 12),
			.updated = (uint64_t)q_col_int(s, 13),
			.node = col(s, 14),
		};
		err = h(&r, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

int loc_foreach(struct store *st, loc_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, list_sql);

	return s ? rows(s, h, arg) : EIO;
}

int loc_foreach_node(struct store *st, const char *node, loc_h *h,
		     void *arg)
{
	struct store_q *s = store_stmt_text(st, node_sql, node ? node : "");

	return s ? rows(s, h, arg) : EIO;
}

int loc_foreach_aor(struct store *st, const char *node, const char *aor,
		    loc_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, aor_sql);

	if (!s)
		return EIO;
	q_text(s, 1, aor);
	q_text(s, 2, node ? node : "");
	return rows(s, h, arg);
}

int loc_take(struct store *st, const char *from, const char *to,
	     uint64_t now, loc_h *h, void *arg)
{
	struct store_q *s = st && h ?
		store_stmt_take(st, take_sql, from, to) : NULL;

	if (!s)
		return EINVAL;
	q_int(s, 3, now);
	return rows(s, h, arg);
}
