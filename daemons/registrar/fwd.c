/* fwd: how the edge sends requests on.
 *
 * - A user's request to its back daemon (fwd_backend): as a stateless
 *   proxy would, holding the request only until the answer, for a 503
 *   when none comes within route_timeout.
 * - A back daemon's request to a user's devices (fwd_request): one server
 *   transaction towards the sender, one client transaction per branch.
 *   Provisional answers stay here (non-INVITE). The first 2xx is relayed
 *   at once; otherwise, when every branch is done, the best answer (a
 *   6xx, else the lowest code) is relayed without our Via. No answer from
 *   any branch within route_timeout gets timeout_code (503 comes with
 *   Retry-After). Non-INVITE branches cannot be cancelled: late answers of
 *   the other branches are absorbed.
 * - ACK and requests inside a dialog: statelessly (fwd_stateless), and
 *   their answers relayed statelessly (fwd_response_h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "edge.h"
#include "dialog.h"
#include "toproute.h"
#include "fwd.h"
#include "sip/sipreply.h"

#define RETRY_AFTER 5

struct fwd;

struct branch {
	struct fwd *f;
	struct sip_request *req;
	bool done;
};

struct fwd {
	struct edge *r;
	struct sip_strans *st;
	struct sip_msg *msg;
	struct tmrq_entry tmr;
	struct branch b[FWD_MAX_BRANCHES];
	unsigned n, pending;
	struct mbuf *best;     /* the best final answer so far, relayable */
	uint16_t best_code;
	bool answered;
	uint16_t timeout_code;
	char what[48];
};

static void fwd_destructor(void *arg)
{
	struct fwd *f = arg;

	tmrq_cancel(&f->tmr);
	for (unsigned i = 0; i < f->n; i++)
		mem_deref(f->b[i].req);   /* in flight: cancelled silently */
	mem_deref(f->best);
	mem_deref(f->st);
	mem_deref(f->msg);
}

int fwd_nexthop_print(char *buf, size_t sz, enum sip_transp tp,
		      const struct sa *addr)
{
	const char *t = tp == SIP_TRANSP_TCP ? "tcp" :
			tp == SIP_TRANSP_TLS ? "tls" : "udp";

	return re_snprintf(buf, sz, "sip:%J;transport=%s", addr, t) < 0 ?
		ENOMEM : 0;
}

static void answer_code(struct fwd *f, uint16_t code, const char *reason)
{
	if (f->answered)
		return;
	f->answered = true;
	if (code == 503)
		(void)sip_treplyf(&f->st, NULL, f->r->sip, f->msg, false, 503,
				  reason, "Retry-After: %u\r\n"
				  "Content-Length: 0\r\n\r\n", RETRY_AFTER);
	else
		(void)sip_treplyf(&f->st, NULL, f->r->sip, f->msg, false, code,
				  reason, "Content-Length: 0\r\n\r\n");
}

static void relay(struct fwd *f, struct mbuf *mb, uint16_t code)
{
	struct sa dst;
	struct pl rp;

	if (f->answered)
		return;
	f->answered = true;
	mb->pos = 0;
	sip_reply_addr(&dst, f->msg,
		       !msg_param_exists(&f->msg->via.params, "rport", &rp));
	(void)sip_strans_reply(&f->st, f->r->sip, f->msg, &dst, code, mb);
}

/* The answer as we relay it: every header but the top Via (ours). */
struct mbuf *fwd_strip_via(const struct sip_msg *msg)
{
	return fwd_strip_via_add(msg, NULL);
}

struct mbuf *fwd_strip_via_add(const struct sip_msg *msg, const char *add)
{
	struct mbuf *mb = mbuf_alloc(512 + mbuf_get_left(msg->mb));
	bool first = true;
	struct le *le;
	int err;

	if (!mb)
		return NULL;
	err = mbuf_printf(mb, "SIP/2.0 %u %r\r\n", msg->scode, &msg->reason);
	for (le = list_head(&msg->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;

		if (h->id == SIP_HDR_VIA && first) {
			first = false;
			continue;
		}
		err = mbuf_printf(mb, "%r: %r\r\n", &h->name, &h->val);
	}
	if (!err && add)
		err = mbuf_write_str(mb, add);
	err = err ? err : mbuf_write_str(mb, "\r\n");
	err = err ? err : mbuf_write_mem(mb, mbuf_buf(msg->mb),
					 mbuf_get_left(msg->mb));
	if (err)
		return mem_deref(mb);
	mb->pos = 0;
	return mb;
}

static bool better(uint16_t code, uint16_t best)
{
	if (!best)
		return true;
	if (code >= 600)
		return best < 600;
	return best < 600 && code < best;
}

/* The best answer we have, or timeout_code; then the forward is over. */
static void finish(struct fwd *f)
{
	if (f->best)
		relay(f, f->best, f->best_code);
	else
		answer_code(f, f->timeout_code, f->timeout_code == 503 ?
			    "Service Unavailable" : "Request Timeout");
	mem_deref(f);
}

static void branch_done(struct fwd *f)
{
	if (!--f->pending)
		finish(f);
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct branch *b = arg;
	struct fwd *f = b->f;

	if (!err && msg && msg->scode < 200)
		return;
	b->req = NULL;         /* libre let go of it before calling us */
	b->done = true;
	if (!err && msg) {
		if (msg->scode < 300 && !f->answered) {
			struct mbuf *mb = fwd_strip_via(msg);
			if (mb)
				relay(f, mb, msg->scode);
			mem_deref(mb);
		}
		else if (better(msg->scode, f->best_code)) {
			mem_deref(f->best);
			f->best = fwd_strip_via(msg);
			f->best_code = f->best ? msg->scode : 0;
		}
	}
	else {
		log_sip(LOG_INFO, f->msg, NULL, "%r %s: branch failed: %m",
			&f->msg->met, f->what, err ? err : ETIMEDOUT);
	}
	branch_done(f);
}

static void timeout_h(void *arg)
{
	struct fwd *f = arg;

	log_sip(LOG_WARNING, f->msg, NULL, "%r %s: no answer in %u ms",
		&f->msg->met, f->what, f->r->conf->route_timeout);
	finish(f);
}

static int record_routes(struct mbuf *mb, const struct fwd_opts *o)
{
	int err = 0;

	if (o->record_route)
		err = mbuf_printf(mb, "Record-Route: %s\r\n",
				  o->record_route);
	if (!err && o->record_route2)
		err = mbuf_printf(mb, "Record-Route: %s\r\n",
				  o->record_route2);
	return err;
}

/* Every header but Max-Forwards (decremented), P-Asserted-Identity,
 * Proxy-Authorization and our own Routes on top; then what we add. Our
 * Record-Routes go above any already there. */
int fwd_build(struct mbuf *mb, const struct edge *r,
	      const struct sip_msg *msg, const struct fwd_opts *o)
{
	uint32_t mf = pl_isset(&msg->maxfwd) ? pl_u32(&msg->maxfwd) : 70;
	unsigned popped = 0;
	/* our own Routes on top go, always (RFC 3261 §16.4) */
	unsigned pop = o->top ? o->top->ours : toproute_count(r, msg);
	bool top_via = true, rport, rr_done = false;
	struct le *le;
	int err = 0;

	for (le = list_head(&msg->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;

		switch (h->id) {
		case SIP_HDR_VIA:
			/* the sender's, with where it really came from
			 * (RFC 3581 §4): its answer, relayed without state,
			 * finds the way back through a NAT */
			if (top_via) {
				top_via = false;
				err = sipreply_top_via(mb, msg, h, &rport);
				continue;
			}
			break;
		case SIP_HDR_MAX_FORWARDS:
		case SIP_HDR_P_ASSERTED_IDENTITY:
		case SIP_HDR_PROXY_AUTHORIZATION:
			continue;
		case SIP_HDR_ROUTE:
			if (popped < pop) {
				++popped;
				continue;
			}
			break;
		case SIP_HDR_SESSION_EXPIRES:
		case SIP_HDR_MIN_SE:
			if (o->session)
				continue;
			break;
		case SIP_HDR_RECORD_ROUTE:
			/* ours above those of the hops before us (§16.6
			 * step 4): the route set is read top down */
			if (!rr_done) {
				rr_done = true;
				err = record_routes(mb, o);
			}
			break;
		default:
			break;
		}
		err = mbuf_printf(mb, "%r: %r\r\n", &h->name, &h->val);
	}
	err = err ? err : mbuf_printf(mb, "Max-Forwards: %u\r\n",
				      mf ? mf - 1 : 0);
	if (!err && !rr_done)
		err = record_routes(mb, o);
	if (!err && o->pai_user)
		err = mbuf_printf(mb, "P-Asserted-Identity: <sip:%s@%s>\r\n",
				  o->pai_user, r->conf->domain);
	if (!err && o->extra)
		err = mbuf_write_str(mb, o->extra);
	err = err ? err : mbuf_write_str(mb, "\r\n");
	err = err ? err : mbuf_write_mem(mb, mbuf_buf(msg->mb),
					 mbuf_get_left(msg->mb));
	mb->pos = 0;
	return err;
}

/* The branch of a request we send on statelessly: the same for every
 * retransmission of the request it came from (RFC 3261 §16.11), so that
 * the next hop's transaction absorbs them; another for another request. */
uint64_t fwd_branch_of(const struct pl *branch, const struct pl *sentby,
		       const struct pl *met, uint32_t cseq)
{
	uint64_t a = hash_joaat_pl(branch);
	uint64_t b = hash_joaat_pl(sentby) ^ hash_joaat_pl(met) ^
		((uint64_t)cseq << 7);

	return a << 32 | (b & 0xffffffffu);
}

/* The method a request's branch is made from: an ACK (of a non-2xx) and
 * a CANCEL carry their INVITE's branch, and must get the branch we gave
 * the INVITE (§16.11), prefix and all, for the next hop's INVITE
 * transaction to take them. */
static const struct pl *branch_method(const struct sip_msg *msg)
{
	static const struct pl invite = PL("INVITE");

	if (!pl_strcmp(&msg->met, "ACK") || !pl_strcmp(&msg->met, "CANCEL"))
		return &invite;
	return &msg->met;
}

static uint64_t stateless_branch(const struct sip_msg *msg)
{
	return fwd_branch_of(&msg->via.branch, &msg->via.sentby,
			     branch_method(msg), msg->cseq.num);
}

static bool is_refresh(const struct pl *met)
{
	return !pl_strcmp(met, "INVITE") || !pl_strcmp(met, "UPDATE");
}

/* Sent on without any transaction (RFC 3261 §16.11): ACK, which has no
 * answer (§17.1.1.3), and requests inside a dialog (a call between two
 * devices, a subscription between a device and a back daemon), whose
 * transactions the two ends keep themselves; their answers come back
 * through fwd_response_h. Nothing is held per request: a thousand NOTIFYs
 * of one PUBLISH cost no timer (libre's timer list is sorted by
 * insertion, so every timer held makes each new one dearer). */
static int fwd_stateless(struct edge *r, const struct sip_msg *msg,
			 const struct fwd_branch *br,
			 const struct fwd_opts *o)
{
	struct mbuf *mb = mbuf_alloc(1024 + mbuf_get_left(msg->mb));
	enum sip_transp tp = SIP_TRANSP_UDP;
	struct udp_sock *sock = NULL;
	struct sa dst, laddr;
	struct uri route;
	struct pl pl, tpv;
	int err = 0;

	if (!mb) {
		err = ENOMEM;
		goto out;
	}
	if (br->has_addr) {
		dst = br->addr;
		tp = br->tp;
	}
	else {
		pl_set_str(&pl, br->nexthop);
		if (uri_decode(&route, &pl) ||
		    sa_set(&dst, &route.host, route.port)) {
			err = EINVAL;
			goto out;
		}
		if (!msg_param_decode(&route.params, "transport", &tpv))
			tp = !pl_strcasecmp(&tpv, "tcp") ? SIP_TRANSP_TCP :
				!pl_strcasecmp(&tpv, "tls") ? SIP_TRANSP_TLS :
				SIP_TRANSP_UDP;
	}
	/* to a back daemon from route_edge's socket, where its answer
	 * then comes (edge.h) */
	if (tp != SIP_TRANSP_UDP || !edge_is_backend(r, &dst) ||
	    !edge_back_out(r, &laddr, &sock))
		err = sip_transp_laddr(r->sip, &laddr, tp, &dst);
	if (err)
		goto out;
	if (br->ruri[0])
		err = mbuf_printf(mb, "%r %s SIP/2.0\r\n", &msg->met, br->ruri);
	else
		err = mbuf_printf(mb, "%r %r SIP/2.0\r\n", &msg->met,
				  &msg->ruri);
	err = err ? err : mbuf_printf(mb, "Via: SIP/2.0/%s %J;branch=%s"
				      "%016llx;rport\r\n",
				      sip_transp_name(tp), &laddr,
				      is_refresh(branch_method(msg)) ?
				      FWD_BRANCH_REFRESH : FWD_BRANCH,
				      (unsigned long long)
				      stateless_branch(msg));
	err = err ? err : fwd_build(mb, r, msg, o);
	if (err)
		goto out;
	mb->pos = 0;
	err = sip_send(r->sip, sock, tp, &dst, mb);
 out:
	mem_deref(mb);
	return err;
}

/* ---- to a back daemon, holding only what a 503 needs ----
 *
 * A user's out-of-dialog request goes to its back daemon as it would
 * statelessly (RFC 3261 §16.11: the branch is a function of the request,
 * so a retransmission is sent on again with the same one and the back
 * daemon's transaction absorbs it), and the answer comes back through
 * fwd_response_h. What we keep, only until the answer, is the request:
 * if no final answer comes within route_timeout, the sender gets 503 with
 * Retry-After, as from a stateful proxy. That daemon is then down: its
 * requests get 503 at once (and go on all the same) until it answers
 * one, so that phones are not kept waiting route_timeout each. A libre
 * server and client transaction would instead hold the request and both
 * answers for 32 s after it ended (Timer J and K) and walk libre's timer
 * list for each retransmission timer; at a few thousand requests a second
 * that is the edge's whole core. */
struct pending {
	struct le he;
	struct tmrq_entry tmr;
	struct edge *r;
	struct sip_msg *msg;
	uint64_t branch;
	int back;              /* enum route_service, or -1 */
	bool replied;          /* 503 at once: the daemon was down */
	bool held;             /* ... and the request not sent on */
	uint64_t since;        /* jiffies: when it was sent on */
	char what[32];
};

static void pending_destructor(void *arg)
{
	struct pending *p = arg;

	tmrq_cancel(&p->tmr);
	hash_unlink(&p->he);
	--p->r->npending;
	mem_deref(p->msg);
}

static bool pending_cmp(struct le *le, void *arg)
{
	const struct pending *p = le->data;

	return p->branch == *(const uint64_t *)arg;
}

/* The bucket of a branch. Not its low half: that is the hash of the
 * sender's Via host, method and CSeq, the same for every request of one
 * phone (or of an attacker), whose pending ones would all land in one
 * bucket and make each lookup a walk through thousands (the edge's
 * overload, found by the bench's recovery part, was 53 % pending_cmp).
 * Mixed with a secret of this process, so that no sender can aim at one
 * bucket. */
static uint32_t pending_key(const struct edge *r, uint64_t branch)
{
	uint64_t x = branch ^ r->pending_seed;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(x ^ (x >> 31));
}

static struct pending *pending_find(struct edge *r, uint64_t branch)
{
	return list_ledata(hash_lookup(r->pending, pending_key(r, branch),
				       pending_cmp, &branch));
}

static void reply_503(const struct pending *p)
{
	(void)sip_replyf(p->r->sip, p->msg, 503, "Service Unavailable",
			 "Retry-After: %u\r\n"
			 "Content-Length: 0\r\n\r\n", RETRY_AFTER);
}

static void pending_timeout_h(void *arg)
{
	struct pending *p = arg;
	struct edge *r = p->r;

	if (!p->replied) {
		log_sip(LOG_WARNING, p->msg, NULL, "%r %s: no answer in %u ms: "
			"503", &p->msg->met, p->what, r->conf->route_timeout);
		reply_503(p);
	}
	/* a held request was never sent: its end says nothing; nor does
	 * one to a daemon that answered others since (slow, not down; an
	 * answer in the millisecond it was sent is from before it) */
	if (!p->held && p->back >= 0 && !r->back_down[p->back] &&
	    r->back_seen[p->back] <= p->since) {
		r->back_down[p->back] = true;
		r->back_probe[p->back] = tmr_jiffies();
		log_warn("%s: no answer in %u ms: its requests get 503 at once "
			 "until it answers again", p->what,
			 r->conf->route_timeout);
	}
	mem_deref(p);
}

int fwd_backend(struct edge *r, const struct sip_msg *msg,
		const char *nexthop, const struct fwd_opts *o)
{
	struct fwd_branch b;
	struct pending *p;
	uint64_t branch;
	int err;

	if (!r || !msg || !nexthop || !o || !r->pending)
		return EINVAL;
	branch = stateless_branch(msg);
	p = pending_find(r, branch);
	if (p && p->replied) {
		reply_503(p);          /* a retransmission: the 503 again */
		if (p->held)
			return 0;
	}
	else if (!p) {
		if (r->npending >= FWD_MAX_PENDING)
			return EBUSY;
		p = mem_zalloc(sizeof(*p), pending_destructor);
		if (!p)
			return ENOMEM;
		p->r = r;
		p->branch = branch;
		p->back = o->back >= 0 && o->back < ROUTE_COUNT ? o->back : -1;
		p->msg = mem_ref((void *)msg);
		p->since = tmr_jiffies();
		str_ncpy(p->what, o->what ? o->what : "", sizeof(p->what));
		hash_append(r->pending, pending_key(r, branch), &p->he, p);
		++r->npending;
		tmrq_start(&r->route_tmr, &p->tmr, pending_timeout_h, p);
		/* a daemon known to be down: 503 now, and the request
		 * not sent on (a 503 must mean it was not acted on), but
		 * for one a second whose answer tells us it is back */
		if (p->back >= 0 && r->back_down[p->back]) {
			const uint64_t now = tmr_jiffies();

			if (now - r->back_probe[p->back] < 1000) {
				p->replied = true;
				p->held = true;
				reply_503(p);
				return 0;
			}
			r->back_probe[p->back] = now;
		}
	}
	/* else: a retransmission, sent on again; the first one's timer
	 * still runs */
	memset(&b, 0, sizeof(b));
	str_ncpy(b.nexthop, nexthop, sizeof(b.nexthop));
	err = fwd_stateless(r, msg, &b, o);
	if (err)
		mem_deref(p);
	return err;
}

/* An answer to a request of fwd_backend: a final one ends the wait. */
static void pending_answered(struct edge *r, const struct sip_msg *msg)
{
	const size_t plen = sizeof(FWD_BRANCH) - 1;
	struct pl br = msg->via.branch;

	if (msg->scode < 200 || br.l != plen + 16 ||
	    strncmp(br.p, FWD_BRANCH, plen))
		return;
	br.p += plen;
	br.l -= plen;
	fwd_answered(r, pl_x64(&br));
}

void fwd_answered(struct edge *r, uint64_t branch)
{
	struct pending *p = r->pending ? pending_find(r, branch) : NULL;

	if (!p)
		return;
	if (p->back >= 0)
		r->back_seen[p->back] = tmr_jiffies();
	if (p->back >= 0 && r->back_down[p->back]) {
		r->back_down[p->back] = false;
		log_notice("%s answers again", p->what);
	}
	mem_deref(p);
}

int fwd_open(struct edge *r)
{
	r->pending_seed = rand_u64();
	return hash_alloc(&r->pending, 4096);
}

void fwd_close(struct edge *r)
{
	if (!r || !r->pending)
		return;
	hash_flush(r->pending);
	r->pending = mem_deref(r->pending);
}

int fwd_request(struct edge *r, const struct sip_msg *msg,
		const struct fwd_branch *br, unsigned n,
		const struct fwd_opts *o)
{
	struct mbuf *mb = NULL;
	struct fwd *f;
	int err;

	if (!r || !msg || !br || !n || n > FWD_MAX_BRANCHES || !o)
		return EINVAL;
	if (!pl_strcmp(&msg->met, "ACK") || o->stateless)
		return fwd_stateless(r, msg, br, o);
	f = mem_zalloc(sizeof(*f), fwd_destructor);
	if (!f)
		return ENOMEM;
	f->r = r;
	f->msg = mem_ref((void *)msg);
	f->timeout_code = o->timeout_code ? o->timeout_code : 408;
	str_ncpy(f->what, o->what ? o->what : "", sizeof(f->what));
	err = sip_strans_alloc(&f->st, r->sip, msg, NULL, f);
	if (err)
		goto out;
	mb = mbuf_alloc(1024 + mbuf_get_left(msg->mb));
	if (!mb || fwd_build(mb, r, msg, o)) {
		err = ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct uri route;
		struct pl pl;
		const char *ruri = br[i].ruri[0] ? br[i].ruri : NULL;

		pl_set_str(&pl, br[i].nexthop);
		if (uri_decode(&route, &pl))
			continue;
		f->b[f->n].f = f;
		mb->pos = 0;
		err = sip_request(&f->b[f->n].req, r->sip, true, msg->met.p,
				  (int)msg->met.l,
				  ruri ? ruri : msg->ruri.p,
				  ruri ? -1 : (int)msg->ruri.l, &route, mb,
				  0, NULL, resp_h, &f->b[f->n]);
		if (!err) {
			++f->n;
			++f->pending;
		}
	}
	if (!f->pending) {
		err = err ? err : EHOSTUNREACH;
		goto out;
	}
	tmrq_start(&r->route_tmr, &f->tmr, timeout_h, f);
	f = NULL;              /* the branches own it until the last ends */
	err = 0;

 out:
	if (f && f->st && err) {
		answer_code(f, o->timeout_code == 503 ? 503 : 500,
			    o->timeout_code == 503 ? "Service Unavailable"
						   : "Server Internal Error");
		err = 0;
	}
	mem_deref(f);
	mem_deref(mb);
	return err;
}

struct via_find {
	struct sip_via via;
	unsigned n;
};

static bool second_via_h(const struct sip_hdr *hdr,
			 const struct sip_msg *msg, void *arg)
{
	struct via_find *v = arg;

	(void)msg;
	if (++v->n < 2)
		return false;
	if (sip_via_decode(&v->via, &hdr->val))
		v->n = 0;
	return true;
}

/* Where an answer goes after us: the second Via, at the address it came
 * from (received, rport: RFC 3581). */
int fwd_next_hop(struct sa *dst, enum sip_transp *tp,
		 const struct sip_msg *msg)
{
	struct via_find v;
	struct pl rec, rport;
	uint32_t port;

	memset(&v, 0, sizeof(v));
	(void)sip_msg_hdr_apply(msg, true, SIP_HDR_VIA, second_via_h, &v);
	if (v.n < 2)
		return EBADMSG;
	*tp = v.via.tp;
	if (!msg_param_decode(&v.via.params, "received", &rec)) {
		if (sa_set(dst, &rec, 0))
			return EBADMSG;
	}
	else if (sa_isset(&v.via.addr, SA_ADDR)) {
		*dst = v.via.addr;
	}
	else {
		return EBADMSG;        /* a host name: not one of our peers */
	}
	port = sa_port(&v.via.addr) ? sa_port(&v.via.addr)
				    : sip_transp_port(*tp, 0);
	if (!msg_param_decode(&v.via.params, "rport", &rport) &&
	    pl_u32(&rport))
		port = pl_u32(&rport);
	if (!port || port > 65535)
		return EBADMSG;
	sa_set_port(dst, (uint16_t)port);
	return 0;
}

/* An answer that no client transaction of ours claims (libre's comes
 * first): the answer to a request we sent on statelessly, or a 2xx
 * retransmission after the INVITE transaction ended (RFC 6026). If the
 * top Via is ours, it is removed and the answer sent to the next Via;
 * anything else is dropped. */
bool fwd_response_h(const struct sip_msg *msg, void *arg)
{
	struct edge *r = arg;
	struct sa laddr, dst;
	enum sip_transp tp;
	struct mbuf *mb;
	bool ours;

	/* the top Via ours: a phones' address, or route_edge's (a back
	 * daemon's answer) */
	ours = (r->back_set && msg->via.tp == SIP_TRANSP_UDP &&
		sa_cmp(&r->back_laddr, &msg->via.addr, SA_ALL)) ||
		(!sip_transp_laddr(r->sip, &laddr, msg->via.tp, NULL) &&
		 sa_cmp(&laddr, &msg->via.addr, SA_ALL));
	if (!ours || fwd_next_hop(&dst, &tp, msg)) {
		log_sip(LOG_DEBUG, msg, NULL, "stray %u answer from %J: "
			"dropped", msg->scode, &msg->src);
		return true;
	}
	pending_answered(r, msg);
	if (msg->scode >= 200 && msg->scode < 300 &&
	    is_refresh(&msg->cseq.met) &&
	    msg->via.branch.l > sizeof(FWD_BRANCH_REFRESH) - 1 &&
	    !memcmp(msg->via.branch.p, FWD_BRANCH_REFRESH,
		    sizeof(FWD_BRANCH_REFRESH) - 1))
		dialogs_refresh(r->dialogs, msg);
	mb = fwd_strip_via(msg);
	if (mb)
		(void)sip_send(r->sip, NULL, tp, &dst, mb);
	mem_deref(mb);
	return true;
}
