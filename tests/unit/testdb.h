/* testdb: where a store test's database lives: a file in the test's
 * folder, or, when LP_TEST_PG holds a PostgreSQL address (test_store_pg
 * runs the store tests so), a schema of that database named after the
 * file ("sub/dir/m.db" is the schema sub_dir_m). */
#ifndef LP_TESTDB_H
#define LP_TESTDB_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>

static inline bool test_pg(void)
{
	return getenv("LP_TEST_PG") != NULL;
}

static inline void test_db(char *out, size_t len, const char *dir,
			   const char *file)
{
	const char *pg = getenv("LP_TEST_PG");
	char schema[64];
	size_t n = 0;

	if (!pg) {
		re_snprintf(out, len, "%s/%s", dir, file);
		return;
	}
	for (const char *p = file; *p && n + 1 < sizeof(schema); p++) {
		if (!strcmp(p, ".db"))
			break;
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			schema[n++] = *p;
		else if (*p >= 'A' && *p <= 'Z')
			schema[n++] = (char)(*p - 'A' + 'a');
		else
			schema[n++] = '_';
	}
	schema[n] = '\0';
	re_snprintf(out, len, "%s#%s", pg, schema);
}

#endif
