/* store_msgs: SQL for the IM relay's kept messages (store_msgs.h). */
#include <errno.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_msgs.h"

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE msgs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" from_name TEXT NOT NULL,"
	" date TEXT NOT NULL,"
	" ctype TEXT NOT NULL,"
	" origin TEXT NOT NULL,"
	" body BLOB NOT NULL,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" attempt INTEGER NOT NULL"
	");"
	"CREATE INDEX msgs_user ON msgs (user, id);",
};

int msgs_open(struct store **stp, const char *path,
	      const struct store_opts *o)
{
	return store_open(stp, path, migrations, ARRAY_SIZE(migrations), o);
}

static const char add_sql[] =
	"INSERT INTO msgs (\"user\", sender, from_name, date, ctype, origin, "
	"body, created, expires, attempt) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

int msgs_add(struct store *st, struct msgs_rec *r)
{
	sqlite3_stmt *s;
	int err;

	if (!st || !r || !r->user || !r->sender || !r->from_name ||
	    !r->date || !r->ctype || !r->origin || (!r->body && r->bodylen))
		return EINVAL;
	s = store_stmt(st, add_sql);
	if (!s)
		return EIO;
	sqlite3_bind_text(s, 1, r->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->from_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->date, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->ctype, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, r->origin, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 7, r->body ? (const void *)r->body : "",
			  (int)r->bodylen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)r->created);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)r->expires);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)r->attempt);
	err = store_step_done(s);
	if (!err)
		r->id = (uint64_t)sqlite3_last_insert_rowid(
			sqlite3_db_handle(s));
	return err;
}

static const char del_sql[] = "DELETE FROM msgs WHERE id = ?1";

int msgs_del(struct store *st, uint64_t id)
{
	sqlite3_stmt *s = st ? store_stmt(st, del_sql) : NULL;

	if (!s)
		return st ? EIO : EINVAL;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	return store_step_done(s);
}

static const char attempt_sql[] = "UPDATE msgs SET attempt = ?2 "
	"WHERE id = ?1";

int msgs_set_attempt(struct store *st, uint64_t id, uint32_t attempt)
{
	sqlite3_stmt *s = st ? store_stmt(st, attempt_sql) : NULL;

	if (!s)
		return st ? EIO : EINVAL;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)attempt);
	return store_step_done(s);
}

static int row(sqlite3_stmt *s, bool with_body, msgs_h *h, void *arg)
{
	struct msgs_rec r = {
		.id = (uint64_t)sqlite3_column_int64(s, 0),
		.user = (const char *)sqlite3_column_text(s, 1),
		.sender = (const char *)sqlite3_column_text(s, 2),
		.from_name = (const char *)sqlite3_column_text(s, 3),
		.date = (const char *)sqlite3_column_text(s, 4),
		.ctype = (const char *)sqlite3_column_text(s, 5),
		.origin = (const char *)sqlite3_column_text(s, 6),
		.body = with_body ? sqlite3_column_blob(s, 7) : NULL,
		.bodylen = with_body ? (size_t)sqlite3_column_bytes(s, 7) :
			(size_t)sqlite3_column_int64(s, 7),
		.created = (uint64_t)sqlite3_column_int64(s, 8),
		.expires = (uint64_t)sqlite3_column_int64(s, 9),
		.attempt = (uint32_t)sqlite3_column_int64(s, 10),
	};

	if (!r.user || !r.sender || !r.from_name || !r.date || !r.ctype ||
	    !r.origin || (with_body && r.bodylen && !r.body))
		return 0;    /* not ours to fail on: skipped */
	return h(&r, arg);
}

#define COLUMNS "id, \"user\", sender, from_name, date, ctype, origin, "
static const char get_sql[] = "SELECT " COLUMNS "body, created, "
	"expires, attempt FROM msgs WHERE id = ?1";

int msgs_get(struct store *st, uint64_t id, msgs_h *h, void *arg)
{
	sqlite3_stmt *s = st && h ? store_stmt(st, get_sql) : NULL;
	int rc, err = ENOENT;

	if (!s)
		return st && h ? EIO : EINVAL;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		err = row(s, true, h, arg);
		rc = SQLITE_DONE;
	}
	return store_rows_end(s, rc, err);
}

/* length(body), not the body: the list is read at start, bodies on use */
static const char list_sql[] = "SELECT " COLUMNS "length(body), created, "
	"expires, attempt FROM msgs ORDER BY id";

int msgs_foreach(struct store *st, msgs_h *h, void *arg)
{
	sqlite3_stmt *s = st && h ? store_stmt(st, list_sql) : NULL;
	int rc, err = 0;

	if (!s)
		return st && h ? EIO : EINVAL;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		err = row(s, false, h, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

static const char count_sql[] = "SELECT count(*) FROM msgs";

int msgs_count(struct store *st, uint32_t *n)
{
	sqlite3_stmt *s = st && n ? store_stmt(st, count_sql) : NULL;
	int rc;

	if (!s)
		return st && n ? EIO : EINVAL;
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(s, 0) : 0;
	return store_rows_end(s, rc == SQLITE_ROW ? SQLITE_DONE : rc, 0);
}
