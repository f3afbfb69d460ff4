/* lru: the bounded table (lru.h). */
#include <re.h>
#include "base/lru.h"

int lru_init(struct lru *l, uint32_t max, uint32_t buckets)
{
	list_init(&l->order);
	l->n = 0;
	l->max = max;
	return hash_alloc(&l->ht, buckets);
}

void lru_close(struct lru *l)
{
	list_flush(&l->order);         /* each destructor unlinks */
	l->ht = mem_deref(l->ht);
}

void *lru_find(struct lru *l, uint32_t hash, list_apply_h *cmp, void *arg)
{
	struct le *he = hash_lookup(l->ht, hash, cmp, arg);
	struct lru_entry *e;

	if (!he)
		return NULL;
	e = (struct lru_entry *)(void *)he;   /* he is its first member */
	list_unlink(&e->le);
	list_append(&l->order, &e->le, he->data);
	return he->data;
}

void lru_add(struct lru *l, struct lru_entry *e, uint32_t hash, void *data)
{
	if (l->n >= l->max)
		mem_deref(list_ledata(l->order.head));
	e->lru = l;
	hash_append(l->ht, hash, &e->he, data);
	list_append(&l->order, &e->le, data);
	++l->n;
}

void lru_unlink(struct lru_entry *e)
{
	if (!e->lru)
		return;
	hash_unlink(&e->he);
	list_unlink(&e->le);
	--e->lru->n;
	e->lru = NULL;
}
