/* lru: a bounded table of entries found by hash, the least recently used
 * dropped first when it is full: what the edge keeps per source (flood)
 * and per user and source (guess), so that what a peer sends cannot grow
 * it. An entry embeds struct lru_entry and is a mem object whose
 * destructor calls lru_unlink; the table derefs the entries it drops. */
#ifndef LP_LRU_H
#define LP_LRU_H

#include <stdint.h>
#include <re.h>

struct lru {
	struct hash *ht;
	struct list order;     /* least recently used first */
	uint32_t n, max;
};

struct lru_entry {
	struct le he;
	struct le le;
	struct lru *lru;
};

int   lru_init(struct lru *l, uint32_t max, uint32_t buckets);
void  lru_close(struct lru *l);
/* The entry whose cmp says it is the one, made the most recent; NULL. */
void *lru_find(struct lru *l, uint32_t hash, list_apply_h *cmp, void *arg);
/* Adds `data` (whose lru_entry is `e`), dropping the oldest if full. */
void  lru_add(struct lru *l, struct lru_entry *e, uint32_t hash, void *data);
void  lru_unlink(struct lru_entry *e);

#endif
