/* toproute: the Routes on top of a request that are the edge's own (RFC
 * 3261 §16.4), read once per request: how many, the flow tokens among
 * them (a call's two: the last names the flow the request is for), and
 * the first Route after them. */
#ifndef LP_TOPROUTE_H
#define LP_TOPROUTE_H

#include <stdbool.h>
#include <re.h>

struct edge;

/* Our own Routes on top of a request (RFC 3261 §16.4), read once. */
struct toproute {
	const struct edge *r;
	unsigned ours;         /* consecutive top Routes that are us */
	bool done;
	struct pl flow;        /* the last flow token among them */
	struct pl flow_first;  /* and the first (a call has two) */
	struct uri next;       /* the first Route that is not us */
	bool has_next;
};

void toproute_scan(struct toproute *t, const struct edge *r,
		   const struct sip_msg *msg);
bool toproute_is_ours(const struct toproute *t, const struct sip_msg *msg);
unsigned toproute_count(const struct edge *r, const struct sip_msg *msg);

#endif
