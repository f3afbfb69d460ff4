/* rawreply: an answer to a request written straight from its datagram,
 * without libre's decode, for answers a server gives in bulk before it
 * reads the request any further (the edge's 503 when it is overloaded:
 * the answer must cost far less than the work it turns away). */
#ifndef LP_RAWREPLY_H
#define LP_RAWREPLY_H

#include <stdint.h>
#include <re.h>

/* `scode reason` to the request in [p, p + n), which came from `src`:
 * its Vias (the top one with received and rport, RFC 3581), From, To
 * (with tag `totag` when it has none, RFC 3261 §8.2.6.2), Call-ID, CSeq,
 * then `extra` (whole header lines ending in CRLF, or NULL) and
 * Content-Length 0. EINVAL for what is not a plain request (a folded
 * line, more than one value on the top Via's line, a header missing):
 * libre answers those. */
int rawreply(struct mbuf *out, const char *p, size_t n,
	     const struct sa *src, uint16_t scode, const char *reason,
	     uint64_t totag, const char *extra);

#endif
