/* store: a handle on one of the appliance's databases, its transactions
 * and its key/value meta table. Each kind of data has its own interface
 * (store_users.h, store_loc.h, ...), opened through it; the engine and
 * the SQL stay inside this library (store_sql.h). */
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
int  store_meta_get(struct store *st, const char *key, char **valp);
int  store_meta_set(struct store *st, const char *key, const char *val);
int  store_mkdirs(const char *path, bool parent_only);
bool store_changed(struct store *st);

#endif
