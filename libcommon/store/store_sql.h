/* store_sql: the engine under store.h, for the store's own modules
 * alone: databases opened with their schema migrations applied, cached
 * prepared statements, and the calls that bind, step and read them. The
 * SQL of each kind of data lives in its own store_*.c, written in what
 * SQLite and PostgreSQL both accept (?N parameters, ON CONFLICT ... DO
 * UPDATE, no engine functions), and reaches the engine only through
 * these calls: store.c is the one file that knows SQLite. Nothing
 * outside libcommon/store/ includes this file. */
#ifndef LP_STORE_SQL_H
#define LP_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

/* A prepared statement. */
struct store_q;

/* What q_step says besides an errno: a row to read, or the end. */
enum {
	STORE_DONE = 0,
	STORE_ROW = -1,
};

int  store_open(struct store **stp, const char *path,
		const char *const *migrations, unsigned n,
		const struct store_opts *opts);
int  store_version(struct store *st);
int  store_exec(struct store *st, const char *sql);

/* A prepared statement, kept for the store's life and found again by the
 * address of `sql`, which must be a string of static storage, never a
 * buffer (64 statements a store). Its parameters are unbound. */
struct store_q *store_stmt(struct store *st, const char *sql);

/* Parameter i (?i, from 1). A text or blob must stay as it is until the
 * statement is stepped (q_text_copy takes a copy); a NULL text is SQL's
 * NULL. */
void q_text(struct store_q *q, int i, const char *v);
void q_text_copy(struct store_q *q, int i, const char *v);
void q_text_n(struct store_q *q, int i, const char *p, size_t n);
void q_int(struct store_q *q, int i, int64_t v);
void q_blob(struct store_q *q, int i, const void *p, size_t n);

/* STORE_ROW, STORE_DONE or an errno (EEXIST: a constraint, EBUSY:
 * locked). */
int  q_step(struct store_q *q);

/* Column i (from 0) of the row q_step gave; valid until the next step or
 * reset. A NULL text is NULL; q_col_null tells NULL from empty. */
const char *q_col_text(struct store_q *q, int i);
int64_t q_col_int(struct store_q *q, int i);
const void *q_col_blob(struct store_q *q, int i);
size_t q_col_bytes(struct store_q *q, int i);
bool q_col_null(struct store_q *q, int i);

/* Ready to step again, with its bindings kept. */
void q_reset(struct store_q *q);
/* Rows the last statement stepped to its end inserted, updated or
 * deleted; the key a table with an automatic one gave the last row
 * inserted. */
uint64_t q_changes(struct store_q *q);
int64_t q_last_id(struct store_q *q);

/* Step a statement that returns no rows, then reset it. */
int  store_step_done(struct store_q *q);
/* A statement that returns no rows, its ?1..?n bound to the n texts. */
int  store_run_text(struct store *st, const char *sql, unsigned n, ...);
/* The end of a loop over rows: an error if the last step was neither a
 * row nor the end and err is 0; reset. */
int  store_rows_end(struct store_q *q, int rc, int err);

#endif
