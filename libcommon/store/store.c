/* store: the calls of store.h and store_sql.h, handed to the engine that
 * holds the database (store_engine.h): SQLite for a file, PostgreSQL for
 * a postgresql:// address; and what is the same on both (the statement
 * helpers, the meta table). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <re.h>
#include "store/store_engine.h"

bool store_is_pg(const char *path)
{
	return path && (!strncmp(path, "postgresql://", 13) ||
			!strncmp(path, "postgres://", 11));
}

bool store_unavailable(int err)
{
	return err == ENOTCONN || err == EBUSY;
}

int store_open(struct store **stp, const char *path,
	       const struct store_schema *schema,
	       const struct store_opts *opts)
{
	if (!stp || !path || !schema || !schema->sqlite)
		return EINVAL;
	if (store_is_pg(path))
		return pg_open(stp, path, schema, opts);
	return lite_open(stp, path, schema, opts);
}

int store_exec(struct store *st, const char *sql)
{
	if (!st || !sql)
		return EINVAL;
	return st->eng->exec(st, sql);
}

const char *store_errmsg(struct store *st)
{
	return st ? st->eng->errmsg(st) : "no store";
}

const char *store_kind(const struct store *st)
{
	return st ? st->eng->name : "none";
}

int store_version(struct store *st)
{
	return st->eng->version(st);
}

int store_begin(struct store *st)
{
	return st->eng->begin(st);
}

int store_commit(struct store *st)
{
	return st->eng->commit(st);
}

void store_rollback(struct store *st)
{
	st->eng->rollback(st);
}

bool store_changed(struct store *st)
{
	return st->eng->changed(st);
}

struct store_q *store_stmt(struct store *st, const char *sql)
{
	return st->eng->stmt(st, sql);
}

void q_text(struct store_q *q, int i, const char *v)
{
	q->eng->text(q, i, v, STORE_NTS, false);
}

void q_text_copy(struct store_q *q, int i, const char *v)
{
	q->eng->text(q, i, v, STORE_NTS, true);
}

void q_text_n(struct store_q *q, int i, const char *p, size_t n)
{
	q->eng->text(q, i, p, n, false);
}

void q_int(struct store_q *q, int i, int64_t v)
{
	q->eng->integer(q, i, v);
}

void q_blob(struct store_q *q, int i, const void *p, size_t n)
{
	q->eng->blob(q, i, p, n);
}

int q_step(struct store_q *q)
{
	return q->eng->step(q);
}

const char *q_col_text(struct store_q *q, int i)
{
	return q->eng->col_text(q, i);
}

int64_t q_col_int(struct store_q *q, int i)
{
	return q->eng->col_int(q, i);
}

const void *q_col_blob(struct store_q *q, int i)
{
	return q->eng->col_blob(q, i);
}

size_t q_col_bytes(struct store_q *q, int i)
{
	return q->eng->col_bytes(q, i);
}

bool q_col_null(struct store_q *q, int i)
{
	return q->eng->col_null(q, i);
}

void q_reset(struct store_q *q)
{
	q->eng->reset(q);
}

uint64_t q_changes(struct store_q *q)
{
	return q->eng->changes(q);
}

int store_step_done(struct store_q *q)
{
	int rc;

	if (!q)
		return EINVAL;
	rc = q_step(q);
	q_reset(q);
	return rc == STORE_DONE || rc == STORE_ROW ? 0 : rc;
}

int store_run_text(struct store *st, const char *sql, unsigned n, ...)
{
	struct store_q *q = store_stmt(st, sql);
	va_list ap;

	if (!q)
		return EIO;
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++)
		q_text(q, (int)i + 1, va_arg(ap, const char *));
	va_end(ap);
	return store_step_done(q);
}

struct store_q *store_stmt_text(struct store *st, const char *sql,
				const char *v1)
{
	struct store_q *q = store_stmt(st, sql);

	if (q)
		q_text(q, 1, v1);
	return q;
}

struct store_q *store_stmt_take(struct store *st, const char *sql,
				const char *from, const char *to)
{
	struct store_q *q;

	if (!from || !from[0] || !to)
		return NULL;
	q = store_stmt_text(st, sql, from);
	if (q)
		q_text(q, 2, to);
	return q;
}

int store_step_later(struct store_q *q)
{
	return q ? q->eng->later(q) : EINVAL;
}

int store_rows_end(struct store_q *q, int rc, int err)
{
	if (!err && rc != STORE_DONE && rc != STORE_ROW)
		err = rc > 0 ? rc : EIO;
	q_reset(q);
	return err;
}


static const char meta_get_sql[] = "SELECT value FROM meta WHERE key = ?1";
static const char meta_set_sql[] =
	"INSERT INTO meta (key, value) VALUES (?1, ?2) "
	"ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char meta_add_sql[] =
	"INSERT INTO meta (key, value) VALUES (?1, ?2) "
	"ON CONFLICT(key) DO NOTHING";

int store_meta_get(struct store *st, const char *key, char **valp)
{
	struct store_q *q = store_stmt(st, meta_get_sql);
	int rc, err;

	if (!q)
		return EIO;
	q_text(q, 1, key);
	rc = q_step(q);
	if (rc == STORE_ROW)
		err = str_dup(valp, q_col_text(q, 0));
	else
		err = rc == STORE_DONE ? ENOENT : rc;
	q_reset(q);
	return err;
}

int store_meta_first(struct store *st, const char *key, const char *val,
		     char **valp)
{
	struct store_q *q = store_stmt(st, meta_add_sql);
	int err;

	if (!q)
		return EIO;
	q_text(q, 1, key);
	q_text(q, 2, val);
	err = store_step_done(q);
	return err ? err : store_meta_get(st, key, valp);
}

int store_meta_set(struct store *st, const char *key, const char *val)
{
	struct store_q *q = store_stmt(st, meta_set_sql);

	if (!q)
		return EIO;
	q_text(q, 1, key);
	q_text(q, 2, val);
	return store_step_done(q);
}
