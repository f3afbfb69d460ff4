/* fastpath: what the edge passes on without state, taken before libre
 * decodes it. libre's sip_msg_decode parses every header and draws a
 * random number per message; in a fan-out of NOTIFYs that was most of
 * the edge's time. Two kinds, each only in its plainest form (anything
 * else goes on to libre, which does the same job):
 * - answers to what the edge sent on statelessly (a back daemon's NOTIFY
 *   to a phone, a user's request to a back daemon): UDP both ways, the
 *   top Via ours with our stateless branch, either on a line of its own
 *   with the next Via on the next line, or first of a comma-separated
 *   line (as SIPp writes them) with no quote in it; no folded lines
 *   (else fwd_response_h);
 * - a back daemon's NOTIFY inside a subscription we Record-Routed, to
 *   the device's UDP flow (else route_loose): see notify_request.
 * And before both, guards: a datagram to route_edge's socket from anyone
 * but a back daemon is dropped (the socket is theirs, edge.h); a source
 * over its rate (flood.h) is dropped;
 * a datagram whose head is too big for libre to decode in good time is
 * answered 400 or 513 without being decoded (head_refused); a new
 * request that waited too long in the receive queue is answered 503
 * (overload.h); a request whose top Via has no branch gets one
 * (rfc2543.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "edge.h"
#include "fwd.h"
#include "flow.h"
#include "sip/rawreply.h"
#include "sip/rawsip.h"
#include "base/log.h"
#include "flood.h"
#include "sip/overload.h"
#include "base/conf.h"
#include "fastpath.h"
#include "rfc2543.h"
#include "handoff.h"
#include "peers.h"

#define MAX_SOCKS 8
#define HEAD_LINE_MAX 8192     /* any header line */
#define HEAD_MAX 32768         /* the whole head (bodies may be larger) */
#define ANSWER_MAX 8192        /* the longest answer to a head refused */

struct fpsock {
	struct udp_helper *uh;
	struct udp_sock *us;
	struct edge *r;
	char laddr[64];        /* ours, as our Via prints it */
	size_t llen;
	int af;
	bool back;             /* route_edge's: only back daemons send here */
};

struct fastpath {
	struct fpsock socks[MAX_SOCKS];
};

/* Where what goes on to a phone leaves from: the socket it came in on,
 * but for route_edge's, which phones do not know: then the first of the
 * phones' sockets of dst's family, as libre would pick (NULL: none seen
 * yet, libre's slow path sends it). */
static struct fpsock *phone_side(struct fpsock *fs, const struct sa *dst)
{
	struct fastpath *fp = fs->r->fast;

	if (!fs->back)
		return fs;
	for (int i = 0; i < MAX_SOCKS; i++) {
		struct fpsock *o = &fp->socks[i];

		if (o->us && !o->back && o->af == sa_af(dst))
			return o;
	}
	return NULL;
}

static bool has_comma(const struct pl *v)
{
	return memchr(v->p, ',', v->l) != NULL;
}

/* "SIP/2.0/UDP sent-by;params": sent-by and params, UDP only. */
static bool via_udp(const struct pl *v, struct pl *sentby, struct pl *params)
{
	const char *sp, *semi;

	if (v->l < 12 || strncasecmp(v->p, "SIP/2.0/UDP", 11) ||
	    (v->p[11] != ' ' && v->p[11] != '\t'))
		return false;
	sp = v->p + 12;
	while (sp < v->p + v->l && (*sp == ' ' || *sp == '\t'))
		++sp;
	semi = memchr(sp, ';', (size_t)(v->p + v->l - sp));
	sentby->p = sp;
	sentby->l = (size_t)((semi ? semi : v->p + v->l) - sp);
	params->p = semi ? semi : v->p + v->l;
	params->l = (size_t)(v->p + v->l - params->p);
	while (sentby->l && (sentby->p[sentby->l - 1] == ' ' ||
			     sentby->p[sentby->l - 1] == '\t'))
		--sentby->l;
	return sentby->l > 0;
}

/* Where the answer goes: received and rport, else the sent-by. */
static bool next_dst(struct sa *dst, const struct pl *sentby,
		     const struct pl *params)
{
	struct pl host = *sentby, port = PL_INIT, rec, rport;
	char buf[64];

	if (host.l && host.p[0] == '[') {
		const char *rb = memchr(host.p, ']', host.l);

		if (!rb)
			return false;
		if ((size_t)(rb + 1 - host.p) < host.l && rb[1] == ':') {
			port.p = rb + 2;
			port.l = host.l - (size_t)(rb + 2 - host.p);
		}
		host.p += 1;
		host.l = (size_t)(rb - host.p);
	}
	else {
		const char *c = memchr(host.p, ':', host.l);

		if (c) {
			port.p = c + 1;
			port.l = host.l - (size_t)(c + 1 - host.p);
			host.l = (size_t)(c - host.p);
		}
	}
	if (!msg_param_decode(params, "received", &rec))
		host = rec;
	if (!msg_param_decode(params, "rport", &rport) && rport.l)
		port = rport;
	if (pl_strcpy(&host, buf, sizeof(buf)) ||
	    sa_set_str(dst, buf, port.l ? (uint16_t)pl_u32(&port) : 5060))
		return false;
	return sa_port(dst) != 0;
}

/* ---- a back daemon's NOTIFY to a device ----
 *
 * In a fan-out the presence daemon sends the edge a thousand NOTIFYs for
 * one change, each inside a subscription we Record-Routed: the first
 * Route is ours with the device's flow token, and the request goes on to
 * that flow without state (route_loose). Taken here in its plainest
 * form: UDP from a back daemon's address, each header on a line of its
 * own, one Via (with an empty rport, as ours write it), one Route line
 * of ours (our_routes), a Max-Forwards above 0, the flow UDP. What is
 * sent is what route_loose and fwd_build send: our Via with the same
 * stateless branch, the daemon's Via with received and rport, our Routes
 * gone, Max-Forwards one less at the end of the head. */

struct notify_parts {
	struct pl ruri, via, via_sentby, via_params, branch, flow, cseq;
	uint32_t maxfwd;
	bool has_maxfwd;
};

/* <sip:...;lr;flow=TOKEN>: ours, with its token */
static bool our_route(const struct edge *r, const struct pl *v,
		      struct pl *flow)
{
	struct pl inner, lr;
	struct uri u;

	if (v->l < 3 || v->p[0] != '<' || v->p[v->l - 1] != '>' ||
	    memchr(v->p, ',', v->l))
		return false;
	inner.p = v->p + 1;
	inner.l = v->l - 2;
	return !uri_decode(&u, &inner) && edge_is_local(r, &u) &&
		!msg_param_exists(&u.params, "lr", &lr) &&
		!msg_param_decode(&u.params, "flow", flow);
}

/* The Route of a subscription we Record-Routed: ours once, or twice
 * (route_edge's, then the phones', RFC 5658) with one token, on one
 * line as the notifier prints it. */
static bool our_routes(const struct edge *r, const struct pl *v,
		       struct pl *flow)
{
	const char *comma = memchr(v->p, ',', v->l);
	struct pl a, b, fb;

	if (!comma)
		return our_route(r, v, flow);
	a.p = v->p;
	a.l = (size_t)(comma - v->p);
	b.p = comma + 1;
	b.l = v->l - a.l - 1;
	while (a.l && (a.p[a.l - 1] == ' ' || a.p[a.l - 1] == '\t'))
		--a.l;
	while (b.l && (b.p[0] == ' ' || b.p[0] == '\t')) {
		++b.p;
		--b.l;
	}
	return our_route(r, &a, flow) && our_route(r, &b, &fb) &&
		!pl_cmp(flow, &fb);
}

static bool notify_request(struct fpsock *fs, const struct sa *src,
			   struct mbuf *mb)
{
	struct edge *r = fs->r;
	const char *start = (const char *)mbuf_buf(mb);
	const char *end = start + mbuf_get_left(mb);
	const char *sp, *body = NULL;
	struct notify_parts np;
	struct rawsip_line ln;
	struct pl v, rport, met = { "NOTIFY", 6 };
	unsigned vias = 0, routes = 0;
	enum sip_transp tp;
	struct sa dst;
	struct fpsock *ph;
	struct mbuf *out;
	bool ok = false;

	memset(&np, 0, sizeof(np));
	if (!edge_is_backend(r, src) || !rawsip_next_line(&ln, start, end))
		return false;
	sp = memchr(ln.p + 7, ' ', ln.l - 7);
	if (!sp || ln.l < 7 + 1 + 8 || memcmp(ln.p + ln.l - 8, " SIP/2.0", 8))
		return false;
	np.ruri.p = ln.p + 7;
	np.ruri.l = (size_t)(sp - np.ruri.p);
	if (sp != ln.p + ln.l - 8)
		return false;
	/* the head, one header a line */
	for (const char *p = ln.next; ; p = ln.next) {
		if (!rawsip_next_line(&ln, p, end)) {
			if (ln.next && p + 2 <= end && p[0] == '\r' &&
			    p[1] == '\n')
				body = p + 2;
			break;
		}
		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;
		if (rawsip_hdr(&ln, "Via", 'v', &v)) {
			if (vias++ || has_comma(&v))
				return false;
			np.via = v;
		}
		else if (rawsip_hdr(&ln, "Route", 0, &v)) {
			if (routes++ || !our_routes(r, &v, &np.flow))
				return false;
		}
		else if (rawsip_hdr(&ln, "Max-Forwards", 0, &v)) {
			np.maxfwd = pl_u32(&v);
			np.has_maxfwd = true;
		}
		else if (rawsip_hdr(&ln, "CSeq", 0, &v)) {
			np.cseq = v;
		}
	}
	if (!body || vias != 1 || routes != 1 || !np.has_maxfwd ||
	    !np.maxfwd || !np.cseq.l ||
	    !via_udp(&np.via, &np.via_sentby, &np.via_params) ||
	    msg_param_decode(&np.via_params, "branch", &np.branch) ||
	    msg_param_exists(&np.via_params, "rport", &rport) ||
	    rport.p[rport.l - 1] == '=' ||        /* rport with a value */
	    flow_token_decode(&np.flow, r->nonces, NULL, &tp, &dst) ||
	    tp != SIP_TRANSP_UDP)
		return false;

	ph = phone_side(fs, &dst);
	if (!ph)
		return false;
	out = mbuf_alloc(mbuf_get_left(mb) + 256);
	if (!out)
		return false;
	{
		/* the daemon's Via: ";rport" becomes ";rport=PORT", then
		 * received (RFC 3581 §4), as sipreply_top_via writes it */
		struct pl a = { np.via.p, (size_t)(rport.p - np.via.p) };
		struct pl b = { rport.p + rport.l,
				(size_t)(np.via.p + np.via.l -
					 (rport.p + rport.l)) };
		uint64_t br = fwd_branch_of(&np.branch, &np.via_sentby, &met,
					    pl_u32(&np.cseq));

		if (mbuf_printf(out, "NOTIFY %r SIP/2.0\r\n"
				"Via: SIP/2.0/UDP %s;branch=" FWD_BRANCH
				"%016llx;rport\r\n"
				"Via: %r%r;rport=%u;received=%j\r\n",
				&np.ruri, ph->laddr, (unsigned long long)br,
				&a, &b, sa_port(src), src))
			goto out;
	}
	for (const char *p = rawsip_next_line(&ln, start, end) ? ln.next : end;
	     p < end && rawsip_next_line(&ln, p, end); p = ln.next) {
		struct pl dummy;

		if (rawsip_hdr(&ln, "Via", 'v', &dummy) ||
		    rawsip_hdr(&ln, "Route", 0, &dummy) ||
		    rawsip_hdr(&ln, "Max-Forwards", 0, &dummy) ||
		    rawsip_hdr(&ln, "P-Asserted-Identity", 0, &dummy) ||
		    rawsip_hdr(&ln, "Proxy-Authorization", 0, &dummy))
			continue;
		if (mbuf_write_mem(out, (const uint8_t *)ln.p, ln.l + 2))
			goto out;
	}
	if (mbuf_printf(out, "Max-Forwards: %u\r\n\r\n", np.maxfwd - 1) ||
	    mbuf_write_mem(out, (const uint8_t *)body, (size_t)(end - body)))
		goto out;
	out->pos = 0;
	ok = !udp_send(ph->us, &dst, out);
 out:
	mem_deref(out);
	return ok;
}

/* Every datagram first: a head that libre would take long to decode is
 * dropped with a log line (at most one a second, with a count of those
 * not logged), before libre sees it (rawsip_head_ok). */
/* A request whose top Via has no branch (RFC 2543's): libre 1.1.0
 * cannot decode it and would drop it unanswered. It gets a branch and
 * goes on to libre (rfc2543.h; *marked), which may move mb's buffer; one
 * whose head cannot be read plainly gets 400 from the datagram, a log
 * line a second. True: answered. */
static bool branchless(struct fpsock *fs, const struct sa *src,
		       struct mbuf *mb, bool *marked)
{
	static const char reason[] = "Via Without branch (RFC 2543 Not "
		"Supported)";
	static struct log_every every;
	const char *p = (const char *)mbuf_buf(mb);
	struct mbuf *out;
	uint32_t unlogged;

	if (!rawsip_via_branchless(p, mbuf_get_left(mb)))
		return false;
	if (rfc2543_mark(mb)) {
		*marked = true;
		return false;
	}
	out = mbuf_alloc(1024);
	if (out && !rawreply(out, p, mbuf_get_left(mb), src, 400, reason,
			     rand_u64(), NULL)) {
		out->pos = 0;
		(void)udp_send(fs->us, src, out);
	}
	mem_deref(out);
	if (log_every(&every, tmr_jiffies(), 1000, &unlogged))
		log_notice("%J: a request whose Via has no branch: 400 %s%s",
			   src, reason, unlogged ?
			   " (and others since the last line)" : "");
	return true;
}

/* A head too long is answered (400 for a header line, 513 for the whole
 * head) from the datagram, when the answer fits in ANSWER_MAX: it does
 * unless the long header is one an answer must copy (Via, From, To,
 * Call-ID, CSeq) and is that long; then nothing is sent back. True:
 * refused. */
static bool head_refused(struct fpsock *fs, const struct sa *src,
			 const struct mbuf *mb)
{
	static struct log_every every;
	uint32_t unlogged;
	const struct conf *c = fs->r->conf;
	struct rawsip_limits lim = { c->sip_max_address_header,
				     HEAD_LINE_MAX, HEAD_MAX };
	struct rawsip_excess ex;
	char more[64] = "";
	const char *p = (const char *)mbuf_buf(mb);
	bool head;
	struct mbuf *out;
	uint16_t code = 0;
	size_t cap;

	if (rawsip_head_ok(p, mbuf_get_left(mb), &lim, &ex))
		return false;
	head = !strcmp(ex.what, "head");
	out = mbuf_alloc(1024);
	if (out && !rawreply(out, p, mbuf_get_left(mb), src,
			     head ? 513 : 400, head ? "Message Too Large" :
			     "Header Too Long", rand_u64(), NULL) &&
	    out->end <= ANSWER_MAX) {
		out->pos = 0;
		if (!udp_send(fs->us, src, out))
			code = head ? 513 : 400;
	}
	mem_deref(out);
	if (!log_every(&every, tmr_jiffies(), 1000, &unlogged))
		return true;
	cap = head ? HEAD_MAX : !strcmp(ex.what, "header")
	      ? HEAD_LINE_MAX : c->sip_max_address_header;
	if (unlogged)
		(void)re_snprintf(more, sizeof(more), "; %u more refused "
				  "since the last line", unlogged);
	log_notice("UDP from %J: refused before decoding: %s%s%r%s of %zu "
		   "bytes, over the cap of %zu: %s%s", src, ex.what,
		   ex.name.l ? " '" : "", &ex.name, ex.name.l ? "'" : "",
		   ex.len, cap, code == 513 ? "513" : code ? "400" :
		   "no answer (it would repeat the header)", more);
	return true;
}

/* Everything the edge sends on the socket: an answer to a request of
 * RFC 2543's gets the phone's Via back as it sent it (rfc2543.h) */
static bool send_h(int *err, struct sa *dst, struct mbuf *mb, void *arg)
{
	struct fpsock *fs = arg;
	struct fpsock *ph;

	rfc2543_unmark(mb);
	/* route_edge's socket is not one a phone knows: what goes to a
	 * phone from it (an answer to a request another edge worker
	 * handed over, handoff.c) leaves from the phones' socket */
	if (!fs->back || edge_is_backend(fs->r, dst) ||
	    handoff_is_sibling(fs->r, dst))
		return false;
	ph = phone_side(fs, dst);
	if (!ph)
		return false;
	*err = udp_send(ph->us, dst, mb);
	return true;
}

/* A datagram to route_edge from anyone but a back daemon: dropped
 * unread, a log line a second at most. */
static bool stranger(const struct fpsock *fs, const struct sa *src)
{
	static struct log_every every;
	uint32_t unlogged;

	if (log_every(&every, tmr_jiffies(), 1000, &unlogged))
		log_notice("route_edge %s: a datagram from %J, not a back "
			   "daemon: dropped%s", fs->laddr, src, unlogged ?
			   " (and others since the last line)" : "");
	return true;
}

static bool recv_h(struct sa *src, struct mbuf *mb, void *arg)
{
	struct fpsock *fs = arg;
	const char *start = (const char *)mbuf_buf(mb);
	const char *end = start + mbuf_get_left(mb);
	struct rawsip_line ln, top = { NULL, 0, NULL };
	struct rawsip_line second = { NULL, 0, NULL };
	struct pl v, sentby, params, br, next, rest = PL_INIT;
	const size_t plen = sizeof(FWD_BRANCH) - 1;
	bool joined = false;
	struct mbuf *out;
	struct fpsock *ph;
	struct sa dst;
	unsigned vias = 0;
	uint16_t code;
	bool back;
	bool marked = false;

	/* another edge worker's word, or a datagram it handed over */
	if (fs->back && handoff_recv(fs->r, src, mb))
		return true;
	if (fs->r->handed == mb) {
		start = (const char *)mbuf_buf(mb);
		end = start + mbuf_get_left(mb);
	}
	back = edge_is_backend(fs->r, src);
	/* route_edge's socket is the back daemons' alone */
	if (fs->back && !back && fs->r->handed != mb)
		return stranger(fs, src);
	/* a flood from one source goes unread; the back daemons are ours,
	 * and another node of the cluster carries many phones' requests */
	if (fs->r->flood && !back &&
	    !(fs->r->peers && peers_is_node(fs->r->peers, src)) &&
	    flood_over(fs->r->flood, src, tmr_jiffies()))
		return true;
	if (head_refused(fs, src, mb))
		return true;
	if (fs->r->ovl && overload_shed(fs->r->ovl, fs->us, src, mb, back))
		return true;
	if (!back && branchless(fs, src, mb, &marked))
		return true;
	if (marked)
		return false;  /* libre's, the buffer perhaps moved */
	if (mbuf_get_left(mb) > 7 && !memcmp(start, "NOTIFY ", 7))
		return notify_request(fs, src, mb);
	code = rawsip_status(start, mbuf_get_left(mb));
	if (!code)
		return false;
	if (!rawsip_next_line(&ln, start, end))
		return false;
	/* the head: the first two Vias, each a line of its own, or the
	 * first two values of the first Via line */
	for (const char *p = ln.next; vias < 2; p = ln.next) {
		if (!rawsip_next_line(&ln, p, end))
			return false;
		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;          /* folded: libre's */
		if (!rawsip_hdr(&ln, "Via", 'v', &v))
			continue;
		if (vias++ == 0) {
			top = ln;
			if (has_comma(&v))
				break;
		}
		else {
			if (has_comma(&v))
				return false;
			second = ln;
		}
	}
	(void)rawsip_hdr(&top, "Via", 'v', &v);
	if (has_comma(&v)) {
		/* "ours, next[, more]" on one line */
		const char *c = memchr(v.p, ',', v.l);

		if (memchr(v.p, '"', v.l))
			return false;
		rest.p = c + 1;
		rest.l = (size_t)(v.p + v.l - rest.p);
		while (rest.l && (*rest.p == ' ' || *rest.p == '\t'))
			pl_advance(&rest, 1);
		v.l = (size_t)(c - v.p);
		next = rest;
		c = memchr(next.p, ',', next.l);
		if (c)
			next.l = (size_t)(c - next.p);
		joined = true;
	}
	/* the top one ours, with our stateless branch */
	if (!via_udp(&v, &sentby, &params) || sentby.l != fs->llen ||
	    memcmp(sentby.p, fs->laddr, fs->llen) ||
	    msg_param_decode(&params, "branch", &br) ||
	    br.l != plen + 16 || strncmp(br.p, FWD_BRANCH, plen))
		return false;
	/* the next one: where the answer goes, over UDP */
	if (!joined)
		(void)rawsip_hdr(&second, "Via", 'v', &next);
	if (!via_udp(&next, &sentby, &params) ||
	    !next_dst(&dst, &sentby, &params))
		return false;

	ph = phone_side(fs, &dst);
	if (!ph)
		return false;
	out = mbuf_alloc(mbuf_get_left(mb));
	if (!out)
		return false;
	(void)mbuf_write_mem(out, (const uint8_t *)start,
			     (size_t)(top.p - start));
	if (joined)      /* the line again, without our value */
		(void)mbuf_printf(out, "Via: %r\r\n", &rest);
	(void)mbuf_write_mem(out, (const uint8_t *)top.next,
			     (size_t)(end - top.next));
	out->pos = 0;
	(void)udp_send(ph->us, &dst, out);
	mem_deref(out);
	if (code >= 200) {
		br.p += plen;
		br.l -= plen;
		fwd_answered(fs->r, pl_x64(&br));
	}
	return true;
}

void fastpath_attach(struct edge *r, const struct sip_msg *msg)
{
	struct fpsock *free_slot = NULL;
	struct fastpath *fp = r->fast;
	struct sa laddr;

	if (!fp || msg->tp != SIP_TRANSP_UDP || !msg->sock)
		return;
	for (int i = 0; i < MAX_SOCKS; i++) {
		if (fp->socks[i].us == msg->sock)
			return;
		if (!fp->socks[i].us && !free_slot)
			free_slot = &fp->socks[i];
	}
	if (!free_slot || udp_local_get(msg->sock, &laddr))
		return;
	free_slot->us = msg->sock;
	free_slot->r = r;
	re_snprintf(free_slot->laddr, sizeof(free_slot->laddr), "%J", &laddr);
	free_slot->llen = strlen(free_slot->laddr);
	free_slot->af = sa_af(&laddr);
	free_slot->back = r->back_set &&
		sa_cmp(&laddr, &r->back_laddr, SA_ALL);
	if (udp_register_helper(&free_slot->uh, free_slot->us, 0, send_h,
				recv_h, free_slot))
		memset(free_slot, 0, sizeof(*free_slot));
}

static void destructor(void *arg)
{
	struct fastpath *fp = arg;

	for (int i = 0; i < MAX_SOCKS; i++)
		mem_deref(fp->socks[i].uh);
}

int fastpath_alloc(struct fastpath **fpp)
{
	*fpp = mem_zalloc(sizeof(**fpp), destructor);
	return *fpp ? 0 : ENOMEM;
}
