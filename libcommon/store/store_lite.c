/* store_lite: the SQLite engine (store_engine.h), the one file that
 * knows SQLite; one connection per program and database file.
 * Migrations are an array of SQL scripts; PRAGMA user_version counts
 * those applied, and each runs inside the transaction that bumps it, so a
 * crash mid-migration leaves the old version. Prepared statements are
 * cached by the address of their SQL text: O(N) lookup over a few dozen
 * statements, no hashing cost.
 *
 * With bg_checkpoint, the WAL is copied back into the database by a thread
 * with its own connection (SQLite allows one per thread) every 500 ms, and
 * never by a commit: with synchronous=NORMAL the checkpoint is the only
 * fsync, and the event loop must not wait for the disk. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <re.h>
#include <sqlite3.h>
#include "store/store_engine.h"

#define STMT_MAX 64

struct lite_q {
	struct store_q q;
	const char *sql;
	sqlite3_stmt *stmt;
};

struct lite {
	struct store st;
	sqlite3 *db;
	struct lite_q slots[STMT_MAX];
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
	struct lite *st = arg;
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
	struct lite *st = arg;

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

/* The folders of a database file, or of the state folder (store.h). */
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


#define LITE(s) ((struct lite *)(void *)(s))
#define LQ(q) ((struct lite_q *)(void *)(q))

static int lite_exec(struct store *st, const char *sql)
{
	return sqlerr(sqlite3_exec(LITE(st)->db, sql, NULL, NULL, NULL));
}

static const char *lite_errmsg(struct store *st)
{
	return sqlite3_errmsg(LITE(st)->db);
}

static struct store_q *lite_stmt(struct store *base, const char *sql)
{
	struct lite *st = LITE(base);
	sqlite3_stmt *s = NULL;
	struct lite_q *q;

	for (unsigned i = 0; i < st->nslots; i++) {
		if (st->slots[i].sql == sql) {
			s = st->slots[i].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return &st->slots[i].q;
		}
	}
	if (st->nslots >= STMT_MAX)
		return NULL;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &s, NULL) != SQLITE_OK)
		return NULL;
	q = &st->slots[st->nslots++];
	q->q.eng = &store_lite;
	q->sql = sql;
	q->stmt = s;
	return &q->q;
}

static void lite_text(struct store_q *q, int i, const char *p, size_t n,
		      bool copy)
{
	sqlite3_bind_text64(LQ(q)->stmt, i, p,
			    n == STORE_NTS ? (sqlite3_uint64)-1
					   : (sqlite3_uint64)n,
			    copy ? SQLITE_TRANSIENT : SQLITE_STATIC,
			    SQLITE_UTF8);
}

static void lite_int(struct store_q *q, int i, int64_t v)
{
	sqlite3_bind_int64(LQ(q)->stmt, i, (sqlite3_int64)v);
}

static void lite_blob(struct store_q *q, int i, const void *p, size_t n)
{
	sqlite3_bind_blob64(LQ(q)->stmt, i, p, (sqlite3_uint64)n,
			    SQLITE_STATIC);
}

static int lite_step(struct store_q *q)
{
	int rc = sqlite3_step(LQ(q)->stmt);

	if (rc == SQLITE_ROW)
		return STORE_ROW;
	return rc == SQLITE_DONE ? STORE_DONE : sqlerr(rc);
}

static const char *lite_col_text(struct store_q *q, int i)
{
	return (const char *)sqlite3_column_text(LQ(q)->stmt, i);
}

static int64_t lite_col_int(struct store_q *q, int i)
{
	return (int64_t)sqlite3_column_int64(LQ(q)->stmt, i);
}

static const void *lite_col_blob(struct store_q *q, int i)
{
	return sqlite3_column_blob(LQ(q)->stmt, i);
}

static size_t lite_col_bytes(struct store_q *q, int i)
{
	return (size_t)sqlite3_column_bytes(LQ(q)->stmt, i);
}

static bool lite_col_null(struct store_q *q, int i)
{
	return sqlite3_column_type(LQ(q)->stmt, i) == SQLITE_NULL;
}

static void lite_reset(struct store_q *q)
{
	sqlite3_reset(LQ(q)->stmt);
}

static uint64_t lite_changes(struct store_q *q)
{
	return (uint64_t)sqlite3_changes(sqlite3_db_handle(LQ(q)->stmt));
}

static int lite_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(LITE(st)->db, "PRAGMA user_version", -1, &s,
			       NULL))
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int done(struct store_q *q)
{
	int rc;

	if (!q)
		return EIO;
	rc = lite_step(q);
	lite_reset(q);
	return rc == STORE_DONE || rc == STORE_ROW ? 0 : rc;
}

/* Prepared once: sqlite3_exec() would parse them on every request. */
static const char begin_sql[] = "BEGIN IMMEDIATE";
static const char commit_sql[] = "COMMIT";

static int lite_begin(struct store *st)
{
	int err;

	if (LITE(st)->in_tx)
		return EALREADY;
	err = done(lite_stmt(st, begin_sql));
	if (!err)
		LITE(st)->in_tx = true;
	return err;
}

static void lite_rollback(struct store *st)
{
	if (sqlite3_get_autocommit(LITE(st)->db) == 0)
		(void)sqlite3_exec(LITE(st)->db, "ROLLBACK", NULL, NULL,
				   NULL);
	LITE(st)->in_tx = false;
}

static int lite_commit(struct store *st)
{
	int err;

	if (!LITE(st)->in_tx)
		return 0;
	err = done(lite_stmt(st, commit_sql));
	if (err)
		lite_rollback(st);
	LITE(st)->in_tx = false;
	return err;
}

/* Changes by other connections (lamplightctl writing the admin database)
 * since the last call: PRAGMA data_version moves when they commit. */
static const char data_version_sql[] = "PRAGMA data_version";

static bool lite_changed(struct store *st)
{
	struct store_q *q = lite_stmt(st, data_version_sql);
	int64_t v = -1;

	if (q && lite_step(q) == STORE_ROW)
		v = lite_col_int(q, 0);
	if (q)
		lite_reset(q);
	if (v == LITE(st)->data_version)
		return false;
	LITE(st)->data_version = v;
	return true;
}

const struct store_engine store_lite = {
	.name = "sqlite",
	.exec = lite_exec,
	.errmsg = lite_errmsg,
	.stmt = lite_stmt,
	.text = lite_text,
	.integer = lite_int,
	.blob = lite_blob,
	.step = lite_step,
	.col_text = lite_col_text,
	.col_int = lite_col_int,
	.col_blob = lite_col_blob,
	.col_bytes = lite_col_bytes,
	.col_null = lite_col_null,
	.reset = lite_reset,
	.changes = lite_changes,
	.later = done,
	.version = lite_version,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.changed = lite_changed,
};

/* WAL mode (kept in the file once set). Switching a fresh file while
 * another process opens it too answers "database is locked" at once,
 * without asking the busy handler: tried again for as long as the
 * handler would wait. */
static int wal_mode(struct store *st)
{
	int err = lite_exec(st, "PRAGMA journal_mode = WAL");

	for (int n = 0; err == EBUSY && busy_h(NULL, n); n++)
		err = lite_exec(st, "PRAGMA journal_mode = WAL");
	return err;
}

/* Each step in a transaction of its own, the version read again inside
 * it: the daemons start together, and another process may have taken
 * the file's write lock first and migrated it while this one waited. */
static int migrate(struct store *st, const struct store_schema *schema)
{
	for (;;) {
		char pragma[48];
		int v, err = lite_begin(st);

		if (err)
			return err;
		v = lite_version(st);
		if (v < 0 || (unsigned)v >= schema->n) {
			lite_rollback(st);
			if (v < 0)
				return EIO;
			/* above n: a newer Lamplight wrote this database */
			return (unsigned)v > schema->n ? EPROTO : 0;
		}
		err = lite_exec(st, schema->sqlite[v]);
		if (!err) {
			re_snprintf(pragma, sizeof(pragma),
				    "PRAGMA user_version = %d", v + 1);
			err = lite_exec(st, pragma);
		}
		if (err) {
			lite_rollback(st);
			return err;
		}
		err = lite_commit(st);
		if (err)
			return err;
	}
}

static const char meta_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
	"value TEXT NOT NULL)";

int lite_open(struct store **stp, const char *path,
	      const struct store_schema *schema,
	      const struct store_opts *opts)
{
	struct lite *st;
	struct store *b;
	int flags, err;
	bool ro = opts && opts->readonly;

	st = mem_zalloc(sizeof(*st), destructor);
	if (!st)
		return ENOMEM;
	st->st.eng = &store_lite;
	b = &st->st;
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
		err = wal_mode(b);
		err = err ? err : lite_exec(b, "PRAGMA foreign_keys = ON");
		err = err ? err : lite_exec(b, opts && opts->sync_full
				? "PRAGMA synchronous = FULL"
				: "PRAGMA synchronous = NORMAL");
		err = err ? err : lite_exec(b, meta_sql);
		if (err)
			goto out;
		err = migrate(b, schema);
		if (err)
			goto out;
		if (opts && opts->bg_checkpoint) {
			sigset_t all, old;

			err = lite_exec(b, "PRAGMA wal_autocheckpoint = 0");
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
		int v = lite_version(b);
		if (v < 0 || (unsigned)v != schema->n) {
			err = v < 0 ? EIO : EPROTO;
			goto out;
		}
	}

 out:
	if (err)
		mem_deref(st);
	else
		*stp = b;
	return err;
}
