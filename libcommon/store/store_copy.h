/* store_copy: one of the appliance's databases copied whole into the same
 * database held by another engine or place (lamplightctl store copy):
 * from SQLite files to PostgreSQL when an office outgrows its box, or
 * back. */
#ifndef LP_STORE_COPY_H
#define LP_STORE_COPY_H

#include <stdint.h>
#include "store/store.h"

/* After the copy, each table's rows on both sides. */
typedef void (store_copy_h)(const char *db, const char *table,
			    uint64_t from, uint64_t to, void *arg);

/* Every row of the database `db` (admin, registrar, presence, blf,
 * imrelay), both opened by that database's own open function (to:
 * read-write, so migrated), in one transaction on `to`, which must
 * hold none yet (ENOTEMPTY); the meta values (secrets) of `to` are
 * replaced by those of `from`. EBADMSG: a table's counts differ, and
 * nothing is committed. `h` is told each table's counts (also when they
 * differ). */
int store_copy(struct store *from, struct store *to, const char *db,
	       store_copy_h *h, void *arg);

/* 0 if `to` holds no row of database `db`, ENOTEMPTY if it does: checked
 * for every database before any is copied. */
int store_copy_empty(struct store *to, const char *db);

#endif
