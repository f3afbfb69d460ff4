/* store: SQLite in WAL mode, schema migrations applied at open, cached
 * prepared statements, transactions and a key/value meta table. The SQL of
 * each kind of data lives in its own store_*.c; daemons see no SQL. */
#ifndef LP_STORE_H
#define LP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

struct store;

struct store_opts {
	bool readonly;
	bool sync_full;        /* fsync on every commit (power-loss safe) */
	bool bg_checkpoint;    /* WAL checkpoints in a thread of their own */
};

int  store_open(struct store **stp, const char *path,
		const char *const *migrations, unsigned n,
		const struct store_opts *opts);
int  store_version(struct store *st);
int  store_begin(struct store *st);
int  store_commit(struct store *st);
void store_rollback(struct store *st);
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
int  store_step_done(sqlite3_stmt *s);
int  store_run_text(struct store *st, const char *sql, unsigned n, ...);
int  store_rows_end(sqlite3_stmt *s, int rc, int err);
const char *store_errmsg(struct store *st);
int  store_meta_get(struct store *st, const char *key, char **valp);
int  store_meta_set(struct store *st, const char *key, const char *val);
int  store_exec(struct store *st, const char *sql);
int  store_mkdirs(const char *path, bool parent_only);
bool store_changed(struct store *st);

#endif
