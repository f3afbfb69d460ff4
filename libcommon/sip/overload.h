/* overload: a daemon's own overload, read from how long each UDP
 * datagram waited in the kernel's receive queue (sip/sockage.h), and
 * load shed by answering at once, from the datagram, new requests that
 * waited too long. The edge sheds what phones send; the IM relay what
 * the edge sends it.
 *
 * A new request (sip/rawsip.h: rawsip_initial) that waited over
 * overload_delay ms gets 503 with Retry-After, written from its datagram:
 * a small fraction of what serving it costs, so the queue drains and
 * what is served is served in time. Everything else is served however
 * late: answers, ACK, CANCEL, requests inside a dialog (they finish work
 * begun), and whatever the caller exempts (at the edge, the back
 * daemons). Without shedding, a queue of seconds means every sender
 * retransmits (T1 is 500 ms) and every answer the daemon waits for comes
 * too late: load beyond what the box carries would stop it serving
 * anyone. With it the queue stays near overload_delay, under T1, so a
 * stale retransmission of a request already served (which would get the
 * 503 too) is rare.
 *
 * The edge's prober asks overload_since() before it believes a silence:
 * an answer lost while the box was overloaded (a datagram that waited
 * over OVERLOAD_LATE_MS here, or, with `drops`, one the kernel dropped
 * for a full receive buffer anywhere on the box) says nothing of the
 * device. */
#ifndef LP_OVERLOAD_H
#define LP_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#define OVERLOAD_LATE_MS 100

struct overload;
struct conf;

/* `drops`: also watch the box's UDP drops (twice a second) */
int  overload_alloc(struct overload **op, const struct conf *conf,
		    bool drops);
/* The datagram just read from `us` (from `src`; `exempt`: never shed):
 * true when it was answered 503 here, and is to go no further. */
bool overload_shed(struct overload *o, struct udp_sock *us,
		   const struct sa *src, const struct mbuf *mb, bool exempt);
/* Was the box overloaded at or after `since` (tmr_jiffies)? */
bool overload_since(const struct overload *o, uint64_t since);

#endif
