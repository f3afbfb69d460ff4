/* handoff: what passes between the edge workers (workers.c), over their
 * route_edge sockets (worker i listens on route_edge's port + i).
 *
 * The kernel gives each worker the datagrams of some phones (the hash of
 * their address: reuseport.c). Most of what a phone sends is the worker's
 * own to finish: a REGISTER (written to the store, then the other workers
 * told to read that address-of-record again, so that every worker's
 * location cache says what the store says), a PUBLISH, SUBSCRIBE or
 * MESSAGE sent on to its back daemon (whose answer comes back to this
 * worker's route_edge port), a NOTIFY and its answer inside a
 * subscription, an OPTIONS to the edge itself. The rest is worker 0's:
 * calls (INVITE and everything inside a call, which hold per-call state:
 * the ringing branches, the dialog the busy lamps come from, its session
 * timer), requests from user to user, and the answers to worker 0's own
 * requests (the branches of a call, its probes), which may come in at any
 * worker. Worker 0 is also the one the IM relay sends its deliveries to
 * (route_edge itself), the one that probes devices, publishes on the bus
 * and holds the TCP and TLS listeners; the others have UDP only.
 *
 * A handed-over datagram goes to worker 0's route_edge socket as it came
 * in, after one line: "LPHO/1 <source> <destination>"; worker 0 takes the line
 * away before anything else reads the datagram (fastpath.c calls
 * handoff_recv first) and reads it as if from that source. What it sends
 * back to a phone from its route_edge socket leaves from its phones'
 * socket instead (fastpath.c's send helper), the address the phone knows.
 * "LPLOC/1 <user>" tells a worker to read that user's bindings again. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "fwd.h"
#include "location.h"
#include "guess.h"
#include "edge.h"
#include "handoff.h"

#define HO_TAG "LPHO/1 "
#define LOC_TAG "LPLOC/1 "
#define GUESS_TAG "LPGUESS/1 "
#define UDP_MAX 65507

void handoff_init(struct edge *r, unsigned index, unsigned n)
{
	r->worker = index;
	r->nworkers = n ? n : 1;
}

bool handoff_is_sibling(const struct edge *r, const struct sa *a)
{
	const int i = r->nworkers > 1 ? conf_edge_worker(r->conf, a) : -1;

	return i >= 0 && (unsigned)i != r->worker;
}

/* route_edge's address of worker i */
static void sibling_addr(const struct edge *r, unsigned i, struct sa *a)
{
	*a = r->back_laddr;
	sa_set_port(a, (uint16_t)(r->conf->route_edge.port + i));
}

static int send_to(struct edge *r, unsigned i, struct mbuf *mb)
{
	struct udp_sock *us;
	struct sa laddr, dst;

	if (!edge_back_out(r, &laddr, &us))
		return ENOTCONN;       /* its socket not known yet */
	sibling_addr(r, i, &dst);
	mb->pos = 0;
	return udp_send(us, &dst, mb);
}

/* mb to every other worker; what could not be sent is logged */
static void to_others(struct edge *r, struct mbuf *mb, const char *what)
{
	for (unsigned i = 0; i < r->nworkers; i++) {
		int err;

		if (i == r->worker)
			continue;
		err = send_to(r, i, mb);
		if (err)
			log_warn("edge worker %u: cannot tell worker %u of "
				 "%s: %m", r->worker, i, what, err);
	}
}

/* ---- the location: every worker reads what another wrote ---- */

void handoff_changed(const char *user, void *arg)
{
	struct edge *r = arg;
	struct mbuf *mb;

	if (!r || r->nworkers < 2)
		return;
	mb = mbuf_alloc(64 + strlen(user));
	if (mb && !mbuf_printf(mb, LOC_TAG "%s", user))
		to_others(r, mb, user);
	mem_deref(mb);
}

/* ---- password guessing, counted by every worker (guess.h) ---- */

void handoff_guess(struct edge *r, const struct pl *user,
		   const struct sa *src, bool failed)
{
	struct mbuf *mb;

	if (r->nworkers < 2)
		return;
	mb = mbuf_alloc(128 + user->l);
	if (mb && !mbuf_printf(mb, GUESS_TAG "%c %j %r", failed ? 'F' : 'O',
			       src, user))
		to_others(r, mb, "a digest answer");
	mem_deref(mb);
}

static void guess_recv(struct edge *r, const char *p, size_t len)
{
	struct pl kind, addr, user;
	struct sa src;

	if (re_regex(p, len, "[FO]1 [^ ]+ [^]+", &kind, &addr, &user) ||
	    sa_set(&src, &addr, 0))
		return;
	if (kind.p[0] == 'F')
		guess_failed_elsewhere(r->guess, &user, &src,
				       (uint64_t)time(NULL));
	else
		(void)guess_ok(r->guess, &user, &src);
}

/* ---- to worker 0 ---- */

static int hand(struct edge *r, const struct sip_msg *msg)
{
	const char *start = msg->req ? msg->met.p : msg->ver.p;
	const char *end = (const char *)msg->mb->buf + msg->mb->end;
	struct mbuf *mb;
	size_t len;
	int err;

	if (!start || start < (const char *)msg->mb->buf || start > end)
		return EINVAL;
	len = (size_t)(end - start);
	mb = mbuf_alloc(len + 64);
	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, HO_TAG "%J %J\r\n", &msg->src, &msg->dst);
	err = err ? err : mbuf_write_mem(mb, (const uint8_t *)start, len);
	if (!err && mb->end > UDP_MAX)
		err = EMSGSIZE;
	err = err ? err : send_to(r, 0, mb);
	mem_deref(mb);
	return err;
}

/* What a worker other than 0 finishes itself: a back daemon's NOTIFY to
 * a phone of this worker (its subscription came in here, over UDP, and
 * was Record-Routed with this worker's route_edge port); from
 * a phone, what the edge answers or sends to a back daemon. A request
 * inside a call, or from user to user, may go on over TCP, which only
 * worker 0 has: worker 0's. */
static bool stays(const struct edge *r, const struct sip_msg *msg)
{
	const struct pl *m = &msg->met;
	const bool out = !pl_isset(&msg->to.tag);

	if (edge_is_backend(r, &msg->src))
		return !pl_strcmp(m, "NOTIFY") &&
			sa_cmp(&msg->dst, &r->back_laddr, SA_ALL);
	return !pl_strcmp(m, "REGISTER") || !pl_strcmp(m, "SUBSCRIBE") ||
		(out && !pl_strcmp(m, "PUBLISH")) ||
		(out && !pl_strcmp(m, "MESSAGE")) ||
		(out && !pl_strcmp(m, "OPTIONS") && !msg->uri.user.l);
}

bool handoff_request(struct edge *r, const struct sip_msg *msg)
{
	int err;

	if (r->worker == 0 || msg->tp != SIP_TRANSP_UDP || stays(r, msg))
		return false;
	err = hand(r, msg);
	if (err) {
		log_sip(LOG_WARNING, msg, NULL, "%r from %J: cannot hand it to "
			"edge worker 0: %m", &msg->met, &msg->src, err);
		(void)sip_reply(r->sip, msg, err == EMSGSIZE ? 513 : 503,
				err == EMSGSIZE ? "Message Too Large" :
				"Service Unavailable");
	}
	return true;
}

bool handoff_response(struct edge *r, const struct sip_msg *msg)
{
	const size_t plen = sizeof(FWD_BRANCH) - 1;
	const struct pl *br = &msg->via.branch;
	enum sip_transp tp;
	struct sa dst;
	int err;

	if (r->worker == 0 || msg->tp != SIP_TRANSP_UDP)
		return false;
	/* an answer to a stateless forward: any worker relays it, over
	 * UDP (a stray one, without a next Via, is dropped here too) */
	if (br->l > plen && !memcmp(br->p, FWD_BRANCH, plen) &&
	    (fwd_next_hop(&dst, &tp, msg) || tp == SIP_TRANSP_UDP))
		return false;
	err = hand(r, msg);
	if (err)
		log_sip(LOG_WARNING, msg, NULL, "%u answer from %J: cannot "
			"hand it to edge worker 0: %m", msg->scode, &msg->src,
			err);
	return true;
}

/* ---- what a worker receives from another ---- */

bool handoff_recv(struct edge *r, struct sa *src, struct mbuf *mb)
{
	const size_t left = mbuf_get_left(mb);
	const char *p = (const char *)mbuf_buf(mb);
	const char *eol;
	struct pl pl, to;
	struct sa from;

	r->handed = NULL;
	if (r->nworkers < 2 || !handoff_is_sibling(r, src) || left < 8)
		return false;
	eol = memchr(p, '\n', left < 300 ? left : 300);
	if (!strncmp(p, LOC_TAG, sizeof(LOC_TAG) - 1)) {
		char user[256];

		pl.p = p + sizeof(LOC_TAG) - 1;
		pl.l = left - (sizeof(LOC_TAG) - 1);
		if (pl.l && pl.l < sizeof(user)) {
			(void)pl_strcpy(&pl, user, sizeof(user));
			(void)location_reload(r->loc, user,
					      (uint64_t)time(NULL));
		}
		return true;
	}
	if (!strncmp(p, GUESS_TAG, sizeof(GUESS_TAG) - 1)) {
		guess_recv(r, p + sizeof(GUESS_TAG) - 1,
			   left - (sizeof(GUESS_TAG) - 1));
		return true;
	}
	if (!eol || strncmp(p, HO_TAG, sizeof(HO_TAG) - 1))
		return true;          /* from a sibling, but nothing of ours */
	if (re_regex(p, (size_t)(eol + 1 - p), HO_TAG "[^ ]+ [^\r\n]+",
		     &pl, &to) || sa_decode(&from, pl.p, pl.l) ||
	    sa_decode(&r->handed_dst, to.p, to.l)) {
		log_warn("edge worker %u: a handed datagram with a bad "
			 "head: dropped", r->worker);
		return true;
	}
	mbuf_advance(mb, (ssize_t)(eol + 1 - p));
	*src = from;
	r->handed = mb;
	return false;
}

bool handoff_handed(struct edge *r, const struct sip_msg *msg)
{
	if (!r->handed || msg->mb != r->handed)
		return false;
	/* it came in on the phones' address, and whatever the edge writes
	 * from msg->dst (its Record-Routes, the address a dialog's BYE
	 * leaves from) must say so, not route_edge's, where libre read it.
	 * libre's message, not yet seen by anything but this handler */
	((struct sip_msg *)(uintptr_t)msg)->dst = r->handed_dst;
	return true;
}
