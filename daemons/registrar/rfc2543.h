/* rfc2543: requests from phones that follow RFC 2543 (1999), whose top
 * Via has no branch, served. libre 1.1.0 cannot decode such a request
 * (it drops it); RFC 3261 §17.2.3 has the server match it to its
 * transaction by Request-URI, From, Call-ID, CSeq number and top Via
 * instead. So before libre sees the request (in the UDP fast path,
 * fastpath.c; in the TCP guard once a head is whole, tcpguard.c), the
 * edge gives the top Via a branch made from exactly those, keyed with a
 * secret of this process (nobody can make a request land in another's
 * transaction): a retransmission, the ACK of a refused INVITE and a
 * CANCEL get the same branch, and libre's transactions match them as
 * RFC 3261 wants. Every answer the edge sends (a UDP send helper; a TCP
 * one above TLS) loses that branch again from its top Via, so the phone
 * gets its Via back as it sent it (§8.2.6.2). A request the edge sends
 * on keeps it in the phone's Via below the edge's, where the next hop
 * may use it as a branch (RFC 2543 allowed any). */
#ifndef LP_RFC2543_H
#define LP_RFC2543_H

#include <stdbool.h>
#include <re.h>

/* The mark: what the branch the edge adds begins with */
#define RFC2543_BRANCH "z9hG4bK2543."

/* mb (from its pos) is a request whose top Via has no branch: the branch
 * is added, true. False, mb unchanged: it is not such a request, or one
 * whose head cannot be read plainly (a folded line), or no memory. */
bool rfc2543_mark(struct mbuf *mb);
/* mb (from its pos) is an answer whose top Via carries the mark: the
 * branch is taken out again. Anything else is left as it is. */
void rfc2543_unmark(struct mbuf *mb);

#endif
