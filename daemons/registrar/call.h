/* call: the stateful proxy for INVITE between users (RFC 3261 §16). */
#ifndef LP_CALL_H
#define LP_CALL_H

#include <re.h>

struct edge;

/* Timer C (RFC 3261 §16.6 step 11): a call no device answers in time is
 * cancelled. */
#define CALL_TIMER_C_MS (180 * 1000)

void call_invite(struct edge *r, const struct sip_msg *msg);

#endif
