/* sipreply: an answer sent without a server transaction, for back
 * daemons whose own state recognises a retransmitted request (a
 * subscription's dialog, a publication's entity tag) and answers it
 * again. libre's sip_treplyf would keep each answered request and its
 * answer for 32 s (Timer J), which at thousands of requests a second is
 * most of a daemon's memory; its stateless sip_replyf cannot copy
 * Record-Route or choose the To-tag, which a dialog's answer needs. */
#ifndef LP_SIPREPLY_H
#define LP_SIPREPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

/* Answer `msg` with `scode reason`: its Vias (the top one with received
 * and rport, RFC 3581), From, To (with `totag` when it has no tag and
 * scode > 100; 0: libre's msg->tag), Call-ID, CSeq, its Record-Routes if
 * `rec_route`, then `fmt` (which ends the headers and carries
 * Content-Length), or Content-Length 0 when `fmt` is NULL. */
int sipreply(struct sip *sip, const struct sip_msg *msg, uint64_t totag,
	     bool rec_route, uint16_t scode, const char *reason,
	     const char *fmt, ...);

/* Header `h`, the top Via of `msg`, printed with received and rport as
 * RFC 3581 §4 wants of a proxy or UAS (also before forwarding). */
int sipreply_top_via(struct mbuf *mb, const struct sip_msg *msg,
		     const struct sip_hdr *h, bool *rport);

#endif
