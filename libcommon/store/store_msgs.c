/* store_msgs: SQL for the IM relay's kept messages (store_msgs.h). */
#include <errno.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_msgs.h"

/* (store_sql.h: the words of each engine) */
#define MSGS_V1(I, B, K, ID, SERIAL, NOW, END) \
	"CREATE TABLE msgs (" \
	" id " SERIAL "," \
	" \"user\" TEXT NOT NULL," \
	" sender TEXT NOT NULL," \
	" from_name TEXT NOT NULL," \
	" date TEXT NOT NULL," \
	" ctype TEXT NOT NULL," \
	" origin TEXT NOT NULL," \
	" body " B " NOT NULL," \
	" created " I " NOT NULL," \
	" expires " I " NOT NULL," \
	" attempt " I " NOT NULL" \
	");" \
	"CREATE INDEX msgs_user ON msgs (\"user\", id);"

/* the node of a cluster whose relay keeps the message ('': a box of its
 * own): each loads its own alone, and takes over a dead node's */
#define MSGS_V2(I, B, K, ID, SERIAL, NOW, END) \
	"ALTER TABLE msgs ADD COLUMN node " K " NOT NULL DEFAULT '';" \
	"CREATE INDEX msgs_node ON msgs (node);"

static const char *const lite[] = {
	STORE_LITE(MSGS_V1),
	STORE_LITE(MSGS_V2),
};

static const char *const pg[] = {
	STORE_PG(MSGS_V1),
	STORE_PG(MSGS_V2),
};

static const struct store_schema schema = {
	lite, pg, ARRAY_SIZE(lite)
};

int msgs_open(struct store **stp, const char *path,
	      const struct store_opts *o)
{
	return store_open(stp, path, &schema, o);
}

static const char add_sql[] =
	"INSERT INTO msgs (\"user\", sender, from_name, date, ctype, origin, "
	"body, created, expires, attempt, node) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id";

int msgs_add(struct store *st, struct msgs_rec *r)
{
	struct store_q *s;
	int rc, err;

	if (!st || !r || !r->user || !r->sender || !r->from_name ||
	    !r->date || !r->ctype || !r->origin || (!r->body && r->bodylen))
		return EINVAL;
	s = store_stmt(st, add_sql);
	if (!s)
		return EIO;
	q_text(s, 1, r->user);
	q_text(s, 2, r->sender);
	q_text(s, 3, r->from_name);
	q_text(s, 4, r->date);
	q_text(s, 5, r->ctype);
	q_text(s, 6, r->origin);
	q_blob(s, 7, r->body ? (const void *)r->body : "", r->bodylen);
	q_int(s, 8, r->created);
	q_int(s, 9, r->expires);
	q_int(s, 10, r->attempt);
	q_text(s, 11, r->node ? r->node : "");
	/* the id, then the end, which finishes the insert */
	rc = q_step(s);
	if (rc == STORE_ROW) {
		r->id = (uint64_t)q_col_int(s, 0);
		rc = q_step(s);
	}
	else if (rc == STORE_DONE) {
		rc = EIO;
	}
	err = rc == STORE_DONE ? 0 : rc;
	q_reset(s);
	return err;
}

static const char del_sql[] = "DELETE FROM msgs WHERE id = ?1 AND node = ?2";

int msgs_del(struct store *st, const char *node, uint64_t id)
{
	struct store_q *s = st ? store_stmt(st, del_sql) : NULL;

	if (!s)
		return st ? EIO : EINVAL;
	q_int(s, 1, id);
	q_text(s, 2, node ? node : "");
	return store_step_done(s);
}

static const char attempt_sql[] = "UPDATE msgs SET attempt = ?2 "
	"WHERE id = ?1 AND node = ?3";

int msgs_set_attempt(struct store *st, const char *node, uint64_t id,
		     uint32_t attempt)
{
	struct store_q *s = st ? store_stmt(st, attempt_sql) : NULL;

	if (!s)
		return st ? EIO : EINVAL;
	q_int(s, 1, id);
	q_int(s, 2, attempt);
	q_text(s, 3, node ? node : "");
	return store_step_done(s);
}

static int row(struct store_q *s, bool with_body, msgs_h *h, void *arg)
{
	struct msgs_rec r = {
		.id = (uint64_t)q_col_int(s, 0),
		.user = q_col_text(s, 1),
		.sender = q_col_text(s, 2),
		.from_name = q_col_text(s, 3),
		.date = q_col_text(s, 4),
		.ctype = q_col_text(s, 5),
		.origin = q_col_text(s, 6),
		.body = with_body ? q_col_blob(s, 7) : NULL,
		.bodylen = with_body ? q_col_bytes(s, 7) :
			(size_t)q_col_int(s, 7),
		.created = (uint64_t)q_col_int(s, 8),
		.expires = (uint64_t)q_col_int(s, 9),
		.attempt = (uint32_t)q_col_int(s, 10),
	};

	if (!r.user || !r.sender || !r.from_name || !r.date || !r.ctype ||
	    !r.origin || (with_body && r.bodylen && !r.body))
		return 0;    /* not ours to fail on: skipped */
	return h(&r, arg);
}

#define COLUMNS "id, \"user\", sender, from_name, date, ctype, origin, "
static const char get_sql[] = "SELECT " COLUMNS "body, created, "
	"expires, attempt FROM msgs WHERE id = ?1 AND node = ?2";

int msgs_get(struct store *st, const char *node, uint64_t id, msgs_h *h,
	     void *arg)
{
	struct store_q *s = st && h ? store_stmt(st, get_sql) : NULL;
	int rc, err = 0;

	if (!s)
		return st && h ? EIO : EINVAL;
	q_int(s, 1, id);
	q_text(s, 2, node ? node : "");
	rc = q_step(s);
	if (rc == STORE_ROW) {
		err = row(s, true, h, arg);
		rc = STORE_DONE;
	}
	else if (rc == STORE_DONE) {
		err = ENOENT;
	}
	return store_rows_end(s, rc, err);
}

/* length(body), not the body: the list is read at start, bodies on use */
#define LIST_COLS COLUMNS "length(body), created, expires, attempt"
static const char list_sql[] = "SELECT " LIST_COLS " FROM msgs ORDER BY id";
static const char node_sql[] = "SELECT " LIST_COLS " FROM msgs "
	"WHERE node = ?1 ORDER BY id";
static const char take_sql[] = "UPDATE msgs SET node = ?2 WHERE node = ?1 "
	"RETURNING " LIST_COLS;

static int rows(struct store_q *s, msgs_h *h, void *arg)
{
	int rc, err = 0;

	while ((rc = q_step(s)) == STORE_ROW) {
		err = row(s, false, h, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

int msgs_foreach(struct store *st, msgs_h *h, void *arg)
{
	struct store_q *s = st && h ? store_stmt(st, list_sql) : NULL;

	return s ? rows(s, h, arg) : st && h ? EIO : EINVAL;
}

int msgs_foreach_node(struct store *st, const char *node, msgs_h *h,
		      void *arg)
{
	struct store_q *s = st && h ?
		store_stmt_text(st, node_sql, node ? node : "") : NULL;

	return s ? rows(s, h, arg) : st && h ? EIO : EINVAL;
}

int msgs_take(struct store *st, const char *from, const char *to,
	      msgs_h *h, void *arg)
{
	struct store_q *s = st && h ?
		store_stmt_take(st, take_sql, from, to) : NULL;

	return s ? rows(s, h, arg) : EINVAL;
}

static const char count_sql[] = "SELECT count(*) FROM msgs";

int msgs_count(struct store *st, uint32_t *n)
{
	struct store_q *s = st && n ? store_stmt(st, count_sql) : NULL;
	int rc;

	if (!s)
		return st && n ? EIO : EINVAL;
	rc = q_step(s);
	*n = rc == STORE_ROW ? (uint32_t)q_col_int(s, 0) : 0;
	return store_rows_end(s, rc == STORE_ROW ? STORE_DONE : rc, 0);
}

static const char box_sql[] = "UPDATE msgs SET node = ?1 WHERE node = ''";

int msgs_claim_box(struct store *st, const char *node)
{
	if (!st || !node || !node[0])
		return EINVAL;
	return store_run_text(st, box_sql, 1, node);
}
