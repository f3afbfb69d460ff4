/* flood: requests per source address and port, limited at the edge's
 * UDP sockets before libre decodes them: a token bucket of flood_burst
 * requests refilled at flood_rate a second. What is over goes unread and
 * unanswered (silence costs a flooder's target least), with a log line
 * at most once a second. The limit is per address and port, so that a
 * flood from one port of an office's NAT address does not stop the
 * phones at its other ports. Authenticated flows go first: a source
 * whose request passed digest authentication in the last
 * FLOOD_AUTHED_MS, or that registered a binding still current, is not
 * limited (a registered phone, a load test's users), nor are the back
 * daemons' addresses. At most FLOOD_MAX sources
 * are tracked, the least recently seen go first. */
#ifndef LP_FLOOD_H
#define LP_FLOOD_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#define FLOOD_MAX 65536
#define FLOOD_AUTHED_MS (600 * 1000)

struct flood;
struct conf;

int  flood_alloc(struct flood **fp, const struct conf *conf);
/* true: over its source's rate, drop it */
bool flood_over(struct flood *f, const struct sa *src, uint64_t now_ms);
/* src authenticated: not limited for the next for_ms (FLOOD_AUTHED_MS,
 * or a binding's lifetime), unless it already is for longer */
void flood_authed(struct flood *f, const struct sa *src, uint64_t now_ms,
		  uint64_t for_ms);
uint64_t flood_dropped(const struct flood *f);

#endif
