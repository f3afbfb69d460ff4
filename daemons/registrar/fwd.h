/* fwd: stateful forwarding of a non-INVITE request to one or several
 * branches, and the relay of the best answer (RFC 3261 §16.6-16.7); a
 * user's request to a back daemon, held only until its answer (503 when
 * none comes); stateless forwarding of ACK and of requests inside a call,
 * and the stateless relay of answers no transaction of ours claims
 * (§16.11). */
#ifndef LP_FWD_H
#define LP_FWD_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct edge;
struct toproute;

#define FWD_MAX_BRANCHES 16
#define FWD_MAX_PENDING  20000  /* requests at back daemons unanswered */
/* the branch of what we send on statelessly: then 16 hex digits. Not
 * libre's own ("z9hG4bK" and 16 hex digits), so that its answers can be
 * told from the answers to libre's client transactions */
#define FWD_BRANCH "z9hG4bKlp"
/* the same for a re-INVITE or UPDATE inside a call: its 2xx, a session
 * refresh (dialog.c), goes through fwd_response_h, not the fast path */
#define FWD_BRANCH_REFRESH "z9hG4bKlr"

struct fwd_branch {
	char ruri[512];        /* Request-URI of this branch ("" : keep) */
	char nexthop[128];     /* sip:ADDRESS:PORT;transport=T */
	struct sa addr;        /* the same, read (stateless only) */
	enum sip_transp tp;
	bool has_addr;
};

struct fwd_opts {
	const char *pai_user;      /* assert this user; NULL: none */
	const char *record_route;  /* a Record-Route value to add */
	const char *record_route2; /* and one more, below it (RFC 5658) */
	const char *extra;         /* header lines to add, each with CRLF */
	uint16_t timeout_code;     /* answer when no branch answers */
	const char *what;          /* for the log: "to presence" */
	bool stateless;            /* send on without a transaction */
	bool session;              /* extra has the Session-Expires and
				    * Min-SE: the request's are left out */
	const struct toproute *top;  /* our Routes, if read already */
	int back;                  /* fwd_backend: which (route_service) */
};

int fwd_request(struct edge *r, const struct sip_msg *msg,
		const struct fwd_branch *b, unsigned n,
		const struct fwd_opts *o);
int fwd_backend(struct edge *r, const struct sip_msg *msg,
		const char *nexthop, const struct fwd_opts *o);
int fwd_open(struct edge *r);
void fwd_answered(struct edge *r, uint64_t branch);
/* The branch of a request sent on statelessly (the hex after
 * FWD_BRANCH): a function of the top Via's branch and sent-by, the
 * method and the CSeq number, so that every retransmission gets it. */
uint64_t fwd_branch_of(const struct pl *branch, const struct pl *sentby,
		       const struct pl *met, uint32_t cseq);
void fwd_close(struct edge *r);
int fwd_nexthop_print(char *buf, size_t sz, enum sip_transp tp,
		      const struct sa *addr);
int fwd_build(struct mbuf *mb, const struct edge *r,
	      const struct sip_msg *msg, const struct fwd_opts *o);
struct mbuf *fwd_strip_via(const struct sip_msg *msg);
/* the same with header lines added (each with CRLF; NULL: none) */
struct mbuf *fwd_strip_via_add(const struct sip_msg *msg, const char *add);
/* Where an answer goes after us: the second Via, at the address it came
 * from (received, rport: RFC 3581). */
int  fwd_next_hop(struct sa *dst, enum sip_transp *tp,
		  const struct sip_msg *msg);
bool fwd_response_h(const struct sip_msg *msg, void *arg);

#endif
