/* store: the engine, the one file that knows SQLite (the tables' files
 * reach it through store_sql.h's calls); one SQLite connection per
 * program and database. Migrations are an array of SQL scripts; PRAGMA
 * user_version counts those applied, and each runs inside the
 * transaction that bumps it, so a crash mid-migration leaves the old
 * version. Prepared statements are cached by the address of their SQL
 * text: O(N) lookup over a few dozen statements, no hashing cost.
 *
 * With bg_checkpoint, the WAL is copied back into the database by a thread
 * with its own connection (SQLite allows one per thread) every 500 ms, and
 * never by a commit: with synchronous=NORMAL the checkpoint is the only
 * fsync, and the event loop must not wait for the disk. */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <re.h>
#include <sqlite3.h>
#include "store/store_sql.h"

#define STMT_MAX 64

struct store_q {
	const char *sql;
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	struct store_q slots[STMT_MAX];
	unsigned nslots;
	bool in_tx;
	int64_t data_version;

	pthread_t ckpt;
	bool ckpt_running;
	pthread_mutex_t ckpt_mx;
	pthread_cond_t ckpt_cv;
	bool ckpt_stop;
	char *path;
};

/* The database locked by another connection, often another process (the
 * edge's workers share registrar.db, lamplightctl and the page write
 * admin.db): a write transaction there lasts tens of microseconds, and
 * SQLite's own busy handler sleeps 1, 2, 5 ... ms, stalling an event loop
 * far longer than the lock is held (two edge workers registering at full
 * rate lost a quarter of their REGISTERs to it). Short waits first (about
 * 10 ms of them), then a millisecond at a time, about 5 s in all, as
 * sqlite3_busy_timeout(5000) was. */
#define BUSY_SHORT 200

static int busy_h(void *arg, int n)
{
	(void)arg;
	if (n < BUSY_SHORT) {
		(void)usleep(25);
		return 1;
	}
	if (n < BUSY_SHORT + 5000) {
		(void)usleep(1000);
		return 1;
	}
	return 0;
}

static void *ckpt_main(void *arg)
{
	struct store *st = arg;
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close_v2(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 100);
	/* a connection learns that the file is in WAL mode on its first
	 * read; until then a checkpoint is a no-op */
	(void)sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL,
			   NULL, NULL);
	pthread_mutex_lock(&st->ckpt_mx);
	while (!st->ckpt_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec += 1;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&st->ckpt_cv, &st->ckpt_mx, &ts);
		if (st->ckpt_stop)
			break;
		pthread_mutex_unlock(&st->ckpt_mx);
		(void)sqlite3_wal_checkpoint_v2(db, NULL,
						SQLITE_CHECKPOINT_PASSIVE,
						NULL, NULL);
		pthread_mutex_lock(&st->ckpt_mx);
	}
	pthread_mutex_unlock(&st->ckpt_mx);
	sqlite3_close_v2(db);
	return NULL;
}

static void destructor(void *arg)
{
	struct store *st = arg;

	if (st->ckpt_running) {
		pthread_mutex_lock(&st->ckpt_mx);
		st->ckpt_stop = true;
		pthread_cond_signal(&st->ckpt_cv);
		pthread_mutex_unlock(&st->ckpt_mx);
		pthread_join(st->ckpt, NULL);
	}
	pthread_mutex_destroy(&st->ckpt_mx);
	pthread_cond_destroy(&st->ckpt_cv);
	mem_deref(st->path);
	for (unsigned i = 0; i < st->nslots; i++)
		sqlite3_finalize(st->slots[i].stmt);
	if (st->db)
		sqlite3_close_v2(st->db);
}

static int sqlerr(int rc)
{
	switch (rc) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_NOMEM:    return ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:   return EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:     return EACCES;
	case SQLITE_CANTOPEN: return ENOENT;
	case SQLITE_CONSTRAINT: return EEXIST;
	case SQLITE_FULL:     return ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:   return EBADMSG;
	default:              return EIO;
	}
}

int store_exec(struct store *st, const char *sql)
{
	if (!st || !sql)
		return EINVAL;
	return sqlerr(sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

const char *store_errmsg(struct store *st)
{
	return st ? sqlite3_errmsg(st->db) : "no store";
}

struct store_q *store_stmt(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	for (unsigned i = 0; i < st->nslots; i++) {
		if (st->slots[i].sql == sql) {
			s = st->slots[i].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return &st->slots[i];
		}
	}
	if (st->nslots >= STMT_MAX)
		return NULL;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &s, NULL) != SQLITE_OK)
		return NULL;
	st->slots[st->nslots].sql = sql;
	st->slots[st->nslots].stmt = s;
	return &st->slots[st->nslots++];
}

void q_text(struct store_q *q, int i, const char *v)
{
	sqlite3_bind_text(q->stmt, i, v, -1, SQLITE_STATIC);
}

void q_text_copy(struct store_q *q, int i, const char *v)
{
	sqlite3_bind_text(q->stmt, i, v, -1, SQLITE_TRANSIENT);
}

void q_text_n(struct store_q *q, int i, const char *p, size_t n)
{
	sqlite3_bind_text64(q->stmt, i, p, (sqlite3_uint64)n, SQLITE_STATIC,
			    SQLITE_UTF8);
}

void q_int(struct store_q *q, int i, int64_t v)
{
	sqlite3_bind_int64(q->stmt, i, (sqlite3_int64)v);
}

void q_blob(struct store_q *q, int i, const void *p, size_t n)
{
	sqlite3_bind_blob64(q->stmt, i, p, (sqlite3_uint64)n, SQLITE_STATIC);
}

int q_step(struct store_q *q)
{
	int rc = sqlite3_step(q->stmt);

	if (rc == SQLITE_ROW)
		return STORE_ROW;
	return rc == SQLITE_DONE ? STORE_DONE : sqlerr(rc);
}

const char *q_col_text(struct store_q *q, int i)
{
	return (const char *)sqlite3_column_text(q->stmt, i);
}

int64_t q_col_int(struct store_q *q, int i)
{
	return (int64_t)sqlite3_column_int64(q->stmt, i);
}

const void *q_col_blob(struct store_q *q, int i)
{
	return sqlite3_column_blob(q->stmt, i);
}

size_t q_col_bytes(struct store_q *q, int i)
{
	return (size_t)sqlite3_column_bytes(q->stmt, i);
}

bool q_col_null(struct store_q *q, int i)
{
	return sqlite3_column_type(q->stmt, i) == SQLITE_NULL;
}

void q_reset(struct store_q *q)
{
	sqlite3_reset(q->stmt);
}

uint64_t q_changes(struct store_q *q)
{
	return (uint64_t)sqlite3_changes(sqlite3_db_handle(q->stmt));
}

int64_t q_last_id(struct store_q *q)
{
	return (int64_t)sqlite3_last_insert_rowid(sqlite3_db_handle(q->stmt));
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

int store_rows_end(struct store_q *q, int rc, int err)
{
	if (!err && rc != STORE_DONE && rc != STORE_ROW)
		err = rc > 0 ? rc : EIO;
	q_reset(q);
	return err;
}

int store_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL))
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Prepared once: sqlite3_exec() would parse them on every request. */
static const char begin_sql[] = "BEGIN IMMEDIATE";
static const char commit_sql[] = "COMMIT";

int store_begin(struct store *st)
{
	int err;

	if (st->in_tx)
		return EALREADY;
	err = store_step_done(store_stmt(st, begin_sql));
	if (!err)
		st->in_tx = true;
	return err;
}

int store_commit(struct store *st)
{
	int err;

	if (!st->in_tx)
		return 0;
	err = store_step_done(store_stmt(st, commit_sql));
	if (err)
		store_rollback(st);
	st->in_tx = false;
	return err;
}

/* Changes by other connections (lamplightctl writing the admin database)
 * since the last call: PRAGMA data_version moves when they commit. */
static const char data_version_sql[] = "PRAGMA data_version";

bool store_changed(struct store *st)
{
	struct store_q *q = store_stmt(st, data_version_sql);
	int64_t v = -1;

	if (q && q_step(q) == STORE_ROW)
		v = q_col_int(q, 0);
	if (q)
		q_reset(q);
	if (v == st->data_version)
		return false;
	st->data_version = v;
	return true;
}

void store_rollback(struct store *st)
{
	if (sqlite3_get_autocommit(st->db) == 0)
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = false;
}

/* WAL mode (kept in the file once set). Switching a fresh file while
 * another process opens it too answers "database is locked" at once,
 * without asking the busy handler: tried again for as long as the
 * handler would wait. */
static int wal_mode(struct store *st)
{
	int err = store_exec(st, "PRAGMA journal_mode = WAL");

	for (unsigned n = 0; err == EBUSY && n < BUSY_SHORT + 5000; n++) {
		(void)usleep(n < BUSY_SHORT ? 25 : 1000);
		err = store_exec(st, "PRAGMA journal_mode = WAL");
	}
	return err;
}

/* Each step in a transaction of its own, the version read again inside
 * it: the daemons start together, and another process may have taken
 * the file's write lock first and migrated it while this one waited. */
static int migrate(struct store *st, const char *const *migrations,
		   unsigned n)
{
	for (;;) {
		char pragma[48];
		int v, err = store_begin(st);

		if (err)
			return err;
		v = store_version(st);
		if (v < 0 || (unsigned)v >= n) {
			store_rollback(st);
			if (v < 0)
				return EIO;
			/* above n: a newer Lamplight wrote this database */
			return (unsigned)v > n ? EPROTO : 0;
		}
		err = store_exec(st, migrations[v]);
		if (!err) {
			re_snprintf(pragma, sizeof(pragma),
				    "PRAGMA user_version = %d", v + 1);
			err = store_exec(st, pragma);
		}
		if (err) {
			store_rollback(st);
			return err;
		}
		err = store_commit(st);
		if (err)
			return err;
	}
}

int store_mkdirs(const char *path, bool parent_only)
{
	char *p = NULL;
	int err = str_dup(&p, path);

	if (err)
		return err;
	if (parent_only) {
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			mem_deref(p);
			return 0;
		}
		*slash = '\0';
	}
	for (char *s = p + 1; *s && !err; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) && errno != EEXIST)
			err = errno;
		*s = '/';
	}
	if (!err && mkdir(p, 0750) && errno != EEXIST)
		err = errno;
	mem_deref(p);
	return err;
}

static const char meta_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
	"value TEXT NOT NULL)";

int store_open(struct store **stp, const char *path,
	       const char *const *migrations, unsigned n,
	       const struct store_opts *opts)
{
	struct store *st;
	int flags, err;
	bool ro = opts && opts->readonly;

	if (!stp || !path)
		return EINVAL;

	st = mem_zalloc(sizeof(*st), destructor);
	if (!st)
		return ENOMEM;
	pthread_mutex_init(&st->ckpt_mx, NULL);
	pthread_cond_init(&st->ckpt_cv, NULL);
	err = str_dup(&st->path, path);
	if (err)
		goto out;

	if (!ro) {
		err = store_mkdirs(path, true);
		if (err)
			goto out;
	}
	flags = ro ? SQLITE_OPEN_READONLY
		   : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	err = sqlerr(sqlite3_open_v2(path, &st->db,
				     flags | SQLITE_OPEN_NOMUTEX, NULL));
	if (err)
		goto out;

	sqlite3_busy_handler(st->db, busy_h, NULL);
	sqlite3_extended_result_codes(st->db, 0);
	if (!ro) {
		err = wal_mode(st);
		err = err ? err : store_exec(st, "PRAGMA foreign_keys = ON");
		err = err ? err : store_exec(st, opts && opts->sync_full
				? "PRAGMA synchronous = FULL"
				: "PRAGMA synchronous = NORMAL");
		err = err ? err : store_exec(st, meta_sql);
		if (err)
			goto out;
		err = migrate(st, migrations, n);
		if (err)
			goto out;
		if (opts && opts->bg_checkpoint) {
			sigset_t all, old;

			err = store_exec(st, "PRAGMA wal_autocheckpoint = 0");
			if (err)
				goto out;
			/* the thread must never take a signal meant for the
			 * event loop (SIGHUP is read from a signalfd there):
			 * it starts with every signal blocked */
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			if (pthread_create(&st->ckpt, NULL, ckpt_main, st) == 0)
				st->ckpt_running = true;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
	}
	else {
		int v = store_version(st);
		if (v < 0 || (unsigned)v != n) {
			err = v < 0 ? EIO : EPROTO;
			goto out;
		}
	}

 out:
	if (err)
		mem_deref(st);
	else
		*stp = st;
	return err;
}

static const char meta_get_sql[] = "SELECT value FROM meta WHERE key = ?1";
static const char meta_set_sql[] =
	"INSERT INTO meta (key, value) VALUES (?1, ?2) "
	"ON CONFLICT(key) DO UPDATE SET value = excluded.value";

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

int store_meta_set(struct store *st, const char *key, const char *val)
{
	struct store_q *q = store_stmt(st, meta_set_sql);

	if (!q)
		return EIO;
	q_text(q, 1, key);
	q_text(q, 2, val);
	return store_step_done(q);
}
