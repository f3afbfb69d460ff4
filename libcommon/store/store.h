/* store: a handle on one of the appliance's databases, its transactions
 * and its key/value meta table. Each kind of data has its own interface
 * (store_users.h, store_loc.h, ...), opened through it; the engine and
 * the SQL stay inside this library (store_sql.h).
 *
 * A database is named by a file's path (SQLite) or by a PostgreSQL
 * address and a schema, postgresql://user@host/db#presence: each of the
 * appliance's databases is a schema of one PostgreSQL database there. */
#ifndef LP_STORE_H
#define LP_STORE_H

#include <stdbool.h>

struct store;

/* How a database is opened (each store_*.h's open function takes it). */
struct store_opts {
	bool readonly;
	bool sync_full;        /* fsync on every commit (power-loss safe) */
	bool bg_checkpoint;    /* WAL checkpoints in a thread of their own */
};

int  store_begin(struct store *st);
int  store_commit(struct store *st);
void store_rollback(struct store *st);
const char *store_errmsg(struct store *st);
/* The schema version the database is at (-1: unknown). */
int  store_version(struct store *st);
int  store_meta_get(struct store *st, const char *key, char **valp);
int  store_meta_set(struct store *st, const char *key, const char *val);
/* `val` unless the key has a value already (another node or program
 * made it first, on a shared database): the value that holds. */
int  store_meta_first(struct store *st, const char *key, const char *val,
		      char **valp);
int  store_mkdirs(const char *path, bool parent_only);
bool store_changed(struct store *st);
/* Whether an error says "not now" rather than "never": the database is
 * unreachable (ENOTCONN) or locked past the wait (EBUSY). A request
 * that failed on it is answered 503 with Retry-After. */
bool store_unavailable(int err);
/* Whether a database's name is a PostgreSQL address. */
bool store_is_pg(const char *path);
/* "sqlite" or "postgresql". */
const char *store_kind(const struct store *st);

#endif
