/* handoff: what passes between the edge workers (handoff.c). */
#ifndef LP_HANDOFF_H
#define LP_HANDOFF_H

#include <stdbool.h>
#include <re.h>

struct edge;

void handoff_init(struct edge *r, unsigned index, unsigned n);
/* Is this address another worker's route_edge socket? */
bool handoff_is_sibling(const struct edge *r, const struct sa *a);
/* loc_opts.changed: tell the other workers to read `user` again. */
void handoff_changed(const char *user, void *arg);
/* Tell the other workers of a failed digest answer (failed) or of a
 * success that cleared the count (guess.h). */
void handoff_guess(struct edge *r, const struct pl *user,
		   const struct sa *src, bool failed);
/* A worker other than 0: true if msg was worker 0's, and handed to it
 * (or refused, if it could not be). */
bool handoff_request(struct edge *r, const struct sip_msg *msg);
bool handoff_response(struct edge *r, const struct sip_msg *msg);
/* First on every datagram to route_edge's socket: true if it was a
 * worker's word, taken; a handed datagram is unwrapped (src set to its
 * first sender) and false returned, to be read on. */
bool handoff_recv(struct edge *r, struct sa *src, struct mbuf *mb);
/* Did msg come in handed over (its source is a phone's, its socket
 * route_edge's)? If so, its destination is set to the phones' address
 * it was sent to: call it first thing on every message. */
bool handoff_handed(struct edge *r, const struct sip_msg *msg);

#endif
