/* nodesum: a count that each node reports for a key (the reachable
 * devices of a user: this node's registrations, and each other node's
 * `reg` topic) and their sum, what the daemons act on. A one-box office
 * never allocates more than the struct. */
#ifndef LP_NODESUM_H
#define LP_NODESUM_H

#include <stdint.h>

struct nodesum {
	uint32_t local;        /* FOLLOW_LOCAL's */
	uint32_t *other;       /* FOLLOW_NODES_MAX, or NULL: all 0 */
	uint32_t sum;
};

/* Source `src` now says `n`; the new sum (ENOMEM keeps the old one and
 * returns it). */
uint32_t nodesum_set(struct nodesum *s, unsigned src, uint32_t n);
void     nodesum_reset(struct nodesum *s);

#endif
