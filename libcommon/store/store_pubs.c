/* store_pubs: SQL for the publications table; pres_open opens the
 * presence daemon's database (subscriptions and publications). */
#include <errno.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_subs.h"
#include "store/store_pubs.h"

#define PUBS_V2(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE pubs (" \
	" etag TEXT PRIMARY KEY," \
	" \"user\" TEXT NOT NULL," \
	" expires " I " NOT NULL," \
	" updated " I " NOT NULL," \
	" doc " B " NOT NULL" \
	END

/* the node of a cluster whose presence daemon took the PUBLISH ('': a
 * box of its own): each loads its own alone, the others' come over the
 * bus (topic `pub`) */
#define PUBS_V4(I, B, K, ID, SERIAL, NOW, END) \
	"ALTER TABLE pubs ADD COLUMN node " K " NOT NULL DEFAULT '';" \
	"CREATE INDEX pubs_node ON pubs (node);"

static const char *const lite[] = {
	/* 1 */
	subs_schema_v1,
	/* 2 */
	STORE_LITE(PUBS_V2),
	/* 3 */
	subs_schema_v2,
	/* 4 */
	STORE_LITE(PUBS_V4),
};

static const char *const pg[] = {
	subs_schema_v1_pg,
	STORE_PG(PUBS_V2),
	subs_schema_v2_pg,
	STORE_PG(PUBS_V4),
};

static const struct store_schema schema = {
	lite, pg, ARRAY_SIZE(lite)
};

int pres_open(struct store **stp, const char *path,
	      const struct store_opts *o)
{
	return store_open(stp, path, &schema, o);
}

static const char put_sql[] =
	"INSERT INTO pubs (etag, \"user\", expires, updated, doc, node) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (etag) DO UPDATE SET "
	"\"user\" = excluded.\"user\", expires = excluded.expires, "
	"updated = excluded.updated, doc = excluded.doc, "
	"node = excluded.node";

int pubs_put(struct store *st, const struct pubs_rec *r)
{
	struct store_q *s;

	if (!st || !r || !r->etag || !r->user || !r->doc)
		return EINVAL;
	s = store_stmt(st, put_sql);
	if (!s)
		return EIO;
	q_text(s, 1, r->etag);
	q_text(s, 2, r->user);
	q_int(s, 3, r->expires);
	q_int(s, 4, r->updated);
	q_blob(s, 5, r->doc, r->doclen);
	q_text(s, 6, r->node ? r->node : "");
	return store_step_done(s);
}

/* A refresh or modification: one statement, so no transaction around
 * an insert and a delete (the entity tag is the key and changes). */
static const char move_sql[] =
	"UPDATE pubs SET etag = ?1, expires = ?2, updated = ?3, doc = ?4 "
	"WHERE etag = ?5 AND \"user\" = ?6";

int pubs_move(struct store *st, const char *old, const struct pubs_rec *r)
{
	struct store_q *s;
	int err;

	if (!st || !old || !r || !r->etag || !r->user || !r->doc)
		return EINVAL;
	s = store_stmt(st, move_sql);
	if (!s)
		return EIO;
	q_text(s, 1, r->etag);
	q_int(s, 2, r->expires);
	q_int(s, 3, r->updated);
	q_blob(s, 4, r->doc, r->doclen);
	q_text(s, 5, old);
	q_text(s, 6, r->user);
	err = store_step_done(s);
	if (!err && q_changes(s) == 0)
		err = ENOENT;
	return err;
}

static const char del_sql[] = "DELETE FROM pubs WHERE etag = ?1";

int pubs_del(struct store *st, const char *etag)
{
	return store_run_text(st, del_sql, 1, etag);
}

#define PUBS_COLS "SELECT etag, \"user\", expires, updated, doc, node " \
	"FROM pubs"

static const char list_sql[] = PUBS_COLS " ORDER BY updated";
static const char node_sql[] = PUBS_COLS " WHERE node = ?1 ORDER BY updated";

static int rows(struct store_q *s, pubs_h *h, void *arg)
{
	int rc, err = 0;

	while ((rc = q_step(s)) == STORE_ROW) {
		struct pubs_rec r = {
			.etag = q_col_text(s, 0),
			.user = q_col_text(s, 1),
			.expires = (uint64_t)q_col_int(s, 2),
			.updated = (uint64_t)q_col_int(s, 3),
			.doc = q_col_blob(s, 4),
			.doclen = q_col_bytes(s, 4),
			.node = q_col_text(s, 5),
		};
		if (!r.etag || !r.user || !r.doc)
			continue;
		err = h(&r, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

int pubs_foreach(struct store *st, pubs_h *h, void *arg)
{
	struct store_q *s = store_stmt(st, list_sql);

	return s ? rows(s, h, arg) : EIO;
}

int pubs_foreach_node(struct store *st, const char *node, pubs_h *h,
		      void *arg)
{
	struct store_q *s = store_stmt_text(st, node_sql, node ? node : "");

	return s ? rows(s, h, arg) : EIO;
}
