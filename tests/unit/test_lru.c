/* test_lru: the bounded table (lru): an entry is found by hash and its
 * comparison, a full table drops the least recently used (a find counts
 * as a use), an entry freed leaves the table, and closing frees all. */
#include <string.h>
#include <re.h>
#include "base/lru.h"
#include "tap.h"

struct item {
	struct lru_entry lru;
	int key;
};

static int freed;

static void item_destructor(void *arg)
{
	struct item *it = arg;

	lru_unlink(&it->lru);
	++freed;
}

static bool cmp_h(struct le *le, void *arg)
{
	const struct item *it = le->data;

	return it->key == *(int *)arg;
}

static struct item *add(struct lru *l, int key)
{
	struct item *it = mem_zalloc(sizeof(*it), item_destructor);

	it->key = key;
	lru_add(l, &it->lru, (uint32_t)key, it);
	return it;
}

static bool has(struct lru *l, int key)
{
	return lru_find(l, (uint32_t)key, cmp_h, &key) != NULL;
}

int main(void)
{
	struct lru l;

	libre_init();
	ok(!lru_init(&l, 3, 16), "a table of 3");
	add(&l, 1);
	add(&l, 2);
	add(&l, 3);
	ok(l.n == 3 && has(&l, 1) && has(&l, 2) && has(&l, 3),
	   "three entries, each found");
	ok(has(&l, 1), "a find makes 1 the most recent");
	add(&l, 4);
	ok(l.n == 3 && !has(&l, 2) && has(&l, 1) && freed == 1,
	   "a fourth drops the least recently used (2), not 1");
	{
		int k = 3;
		struct item *it = lru_find(&l, 3, cmp_h, &k);

		mem_deref(it);
	}
	ok(l.n == 2 && !has(&l, 3), "an entry freed leaves the table");
	lru_close(&l);
	ok(freed == 4, "closing frees the rest (%d freed)", freed);
	libre_close();
	return tap_done();
}
