/* store_engine: what an engine gives store.c, for the three files that
 * make up the engine alone (store.c dispatches, store_lite.c is SQLite,
 * store_pg.c is PostgreSQL). Each engine's handle and statement begin
 * with the common part below, so that store.c reaches the engine's
 * functions from either. */
#ifndef LP_STORE_ENGINE_H
#define LP_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store/store_sql.h"

/* A text's length when the text ends at its NUL. */
#define STORE_NTS SIZE_MAX

struct store_engine {
	const char *name;
	int  (*exec)(struct store *st, const char *sql);
	const char *(*errmsg)(struct store *st);
	struct store_q *(*stmt)(struct store *st, const char *sql);
	/* p NULL: SQL's NULL; copy: the engine keeps its own copy */
	void (*text)(struct store_q *q, int i, const char *p, size_t n,
		     bool copy);
	void (*integer)(struct store_q *q, int i, int64_t v);
	void (*blob)(struct store_q *q, int i, const void *p, size_t n);
	int  (*step)(struct store_q *q);
	const char *(*col_text)(struct store_q *q, int i);
	int64_t (*col_int)(struct store_q *q, int i);
	const void *(*col_blob)(struct store_q *q, int i);
	size_t (*col_bytes)(struct store_q *q, int i);
	bool (*col_null)(struct store_q *q, int i);
	void (*reset)(struct store_q *q);
	uint64_t (*changes)(struct store_q *q);
	int  (*later)(struct store_q *q);
	int  (*version)(struct store *st);
	int  (*begin)(struct store *st);
	int  (*commit)(struct store *st);
	void (*rollback)(struct store *st);
	bool (*changed)(struct store *st);
};

/* The first member of each engine's handle and statement. */
struct store {
	const struct store_engine *eng;
};

struct store_q {
	const struct store_engine *eng;
};

extern const struct store_engine store_lite;
extern const struct store_engine store_pg;

int lite_open(struct store **stp, const char *path,
	      const struct store_schema *schema,
	      const struct store_opts *opts);
int pg_open(struct store **stp, const char *url,
	    const struct store_schema *schema,
	    const struct store_opts *opts);

#endif
