/* store_sql: the engine under store.h, for the store's own modules
 * alone: SQLite in WAL mode, schema migrations applied at open, cached
 * prepared statements. The SQL of each kind of data lives in its own
 * store_*.c; nothing outside libcommon/store/ includes this file. */
#ifndef LP_STORE_SQL_H
#define LP_STORE_SQL_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>
#include "store/store.h"

int  store_open(struct store **stp, const char *path,
		const char *const *migrations, unsigned n,
		const struct store_opts *opts);
int  store_version(struct store *st);
/* A prepared statement, kept for the store's life and found again by the
 * address of `sql`, which must be a string of static storage, never a
 * buffer (64 statements a store). */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
int  store_step_done(sqlite3_stmt *s);
int  store_run_text(struct store *st, const char *sql, unsigned n, ...);
int  store_rows_end(sqlite3_stmt *s, int rc, int err);
int  store_exec(struct store *st, const char *sql);

#endif
