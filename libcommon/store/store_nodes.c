/* store_nodes: SQL for the nodes table of the admin database (its schema
 * is migration 5 in store_users.c, where the database is opened). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "store/store_sql.h"
#include "store/store_nodes.h"

bool nodes_id_valid(const char *id)
{
	return conf_node_id_valid(id);
}

#define COLS "node_id, public_key, bus, sip, instance, started, seen, load"

static void row(struct store_q *q, struct node_rec *n)
{
	memset(n, 0, sizeof(*n));
	str_ncpy(n->id, q_col_text(q, 0), sizeof(n->id));
	str_ncpy(n->key, q_col_text(q, 1), sizeof(n->key));
	str_ncpy(n->bus, q_col_text(q, 2), sizeof(n->bus));
	str_ncpy(n->sip, q_col_text(q, 3), sizeof(n->sip));
	str_ncpy(n->instance, q_col_text(q, 4), sizeof(n->instance));
	n->started = (uint64_t)q_col_int(q, 5);
	n->seen = (uint64_t)q_col_int(q, 6);
	str_ncpy(n->load, q_col_text(q, 7), sizeof(n->load));
}

static const char get_sql[] =
	"SELECT " COLS " FROM nodes WHERE node_id = ?1";
static const char by_key_sql[] =
	"SELECT " COLS " FROM nodes WHERE public_key = ?1 ORDER BY node_id";

/* The first row of `sql` with ?1 = `v` (ENOENT: none). */
static int get_one(struct store *st, const char *sql, const char *v,
		   struct node_rec *n)
{
	struct store_q *q = store_stmt(st, sql);
	int rc, err = 0;

	if (!q || !n)
		return q ? EINVAL : EIO;
	q_text(q, 1, v);
	rc = q_step(q);
	if (rc == STORE_ROW)
		row(q, n);
	else
		err = rc == STORE_DONE ? ENOENT : rc;
	q_reset(q);
	return err;
}

int nodes_get(struct store *st, const char *id, struct node_rec *n)
{
	return get_one(st, get_sql, id, n);
}

int nodes_get_by_key(struct store *st, const char *key, struct node_rec *n)
{
	return get_one(st, by_key_sql, key, n);
}

static const char insert_sql[] =
	"INSERT INTO nodes (" COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, '') "
	"ON CONFLICT (node_id) DO NOTHING";

/* Compare and swap: only if the row is still the one read. */
static const char take_sql[] =
	"UPDATE nodes SET bus = ?3, sip = ?4, instance = ?5, started = ?6, "
	"seen = ?6, load = '' WHERE node_id = ?1 AND public_key = ?2 AND "
	"instance = ?7 AND seen = ?8";

static void bind_node(struct store_q *q, const struct node_rec *n,
		      uint64_t now)
{
	q_text(q, 1, n->id);
	q_text(q, 2, n->key);
	q_text(q, 3, n->bus);
	q_text(q, 4, n->sip);
	q_text(q, 5, n->instance);
	q_int(q, 6, (int64_t)now);
}

int nodes_claim(struct store *st, const struct node_rec *n, uint64_t now,
		uint32_t alive_s, struct node_rec *holder)
{
	struct node_rec old;
	struct store_q *q;
	int err;

	if (!st || !n || !holder || !nodes_id_valid(n->id))
		return EINVAL;
	q = store_stmt(st, insert_sql);
	if (!q)
		return EIO;
	bind_node(q, n, now);
	err = store_step_done(q);
	if (err || q_changes(q))
		return err;

	err = nodes_get(st, n->id, &old);
	if (err)
		return err == ENOENT ? EBUSY : err;   /* forgotten meanwhile */
	*holder = old;
	if (strcmp(old.key, n->key))
		return EEXIST;
	if (old.seen && old.seen + alive_s > now &&
	    strcmp(old.instance, n->instance))
		return EBUSY;
	q = store_stmt(st, take_sql);
	if (!q)
		return EIO;
	bind_node(q, n, now);
	q_text(q, 7, old.instance);
	q_int(q, 8, (int64_t)old.seen);
	err = store_step_done(q);
	if (!err && !q_changes(q))
		err = EBUSY;                  /* another start was faster */
	return err;
}

static const char seen_sql[] =
	"UPDATE nodes SET seen = ?3, load = ?4 WHERE node_id = ?1 AND "
	"instance = ?2";

int nodes_seen(struct store *st, const char *id, const char *instance,
	       uint64_t now, const char *load)
{
	struct store_q *q = store_stmt(st, seen_sql);
	int err;

	if (!q)
		return EIO;
	q_text(q, 1, id);
	q_text(q, 2, instance);
	q_int(q, 3, (int64_t)now);
	q_text(q, 4, load ? load : "");
	err = store_step_done(q);
	if (!err && !q_changes(q))
		err = ESTALE;
	return err;
}

static const char leave_sql[] =
	"UPDATE nodes SET seen = 0, load = '' WHERE node_id = ?1 AND "
	"instance = ?2";

int nodes_leave(struct store *st, const char *id, const char *instance)
{
	return store_run_text(st, leave_sql, 2, id, instance);
}

static const char forget_sql[] = "DELETE FROM nodes WHERE node_id = ?1";

int nodes_forget(struct store *st, const char *id)
{
	struct store_q *q = store_stmt(st, forget_sql);
	int err;

	if (!q)
		return EIO;
	q_text(q, 1, id);
	err = store_step_done(q);
	if (!err && !q_changes(q))
		err = ENOENT;
	return err;
}

static const char list_sql[] =
	"SELECT " COLS " FROM nodes ORDER BY node_id";

int nodes_foreach(struct store *st, nodes_h *h, void *arg)
{
	struct store_q *q = store_stmt(st, list_sql);
	struct node_rec n;
	int rc = STORE_DONE, err = 0;

	if (!q || !h)
		return q ? EINVAL : EIO;
	while (!err && (rc = q_step(q)) == STORE_ROW) {
		row(q, &n);
		err = h(&n, arg);
	}
	return store_rows_end(q, err ? STORE_ROW : rc, err);
}

const char *nodes_state(const struct node_rec *n, uint64_t now)
{
	if (!n->seen)
		return "stopped";
	return n->seen + NODE_LIST_ALIVE_S > now ? "running" : "silent";
}
