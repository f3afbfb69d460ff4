/* nodesum: each node's count of a key, and their sum (nodesum.h). */
#include <stdbool.h>
#include <re.h>
#include "cluster/follow.h"
#include "cluster/nodesum.h"

uint32_t nodesum_set(struct nodesum *s, unsigned src, uint32_t n)
{
	uint32_t *slot;

	if (!s || src > FOLLOW_NODES_MAX)
		return s ? s->sum : 0;
	if (src == FOLLOW_LOCAL)
		slot = &s->local;
	else {
		if (!s->other && n) {
			s->other = mem_zalloc(FOLLOW_NODES_MAX *
					      sizeof(*s->other), NULL);
			if (!s->other)
				return s->sum;
		}
		if (!s->other)
			return s->sum;         /* 0 already */
		slot = &s->other[src - 1];
	}
	s->sum = s->sum - *slot + n;
	*slot = n;
	if (s->other && s->sum == s->local) {
		/* no other node reports one: back to the struct alone */
		bool any = false;

		for (unsigned i = 0; i < FOLLOW_NODES_MAX && !any; i++)
			any = s->other[i] != 0;
		if (!any)
			s->other = mem_deref(s->other);
	}
	return s->sum;
}

void nodesum_reset(struct nodesum *s)
{
	if (!s)
		return;
	s->other = mem_deref(s->other);
	s->local = 0;
	s->sum = 0;
}
