/* call: an INVITE from an authenticated user to a user of our domain is
 * forked in parallel to every reachable device of the callee, on each
 * device's flow, Record-Routed with the caller's flow token so that the
 * dialog's requests pass through the edge. 100 Trying goes back at once;
 * provisional answers are relayed; the first 2xx is relayed and the other
 * branches are CANCELled; a 6xx ends the call at once; otherwise, when
 * every branch has ended, the best answer is relayed (the lowest code, so
 * 486 from every device is 486). A CANCEL from the caller cancels every
 * branch and answers the INVITE 487. Timer C (180 s) cancels a call no
 * device answers. Unknown user: 404; no reachable device: 480. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "conf.h"
#include "log.h"
#include "store_users.h"
#include "location.h"
#include "registrar.h"
#include "auth.h"
#include "flow.h"
#include "fwd.h"
#include "dialog.h"
#include "call.h"

struct call;

struct cbranch {
	struct call *c;
	struct sip_request *req;
	bool done;
};

struct call {
	struct registrar *r;
	struct sip_strans *st;
	struct sip_msg *msg;
	struct tmrq_entry timer_c;
	struct cbranch b[FWD_MAX_BRANCHES];
	unsigned n, pending;
	struct mbuf *best;
	uint16_t best_code;
	bool final;            /* a final answer went to the caller */
};

static void call_destructor(void *arg)
{
	struct call *c = arg;

	tmrq_cancel(&c->timer_c);
	for (unsigned i = 0; i < c->n; i++)
		mem_deref(c->b[i].req);
	mem_deref(c->best);
	mem_deref(c->st);
	mem_deref(c->msg);
}

static void reply(struct registrar *r, const struct sip_msg *msg,
		  uint16_t code, const char *reason)
{
	(void)sip_replyf(r->sip, msg, code, reason,
			 "Content-Length: 0\r\n\r\n");
}

static void caller_addr(struct sa *dst, const struct call *c)
{
	struct pl rp;

	sip_reply_addr(dst, c->msg,
		       !msg_param_exists(&c->msg->via.params, "rport", &rp));
}

static void send_2xx(struct call *c, struct mbuf *mb)
{
	struct sa dst;

	caller_addr(&dst, c);
	mb->pos = 0;
	(void)sip_send(c->r->sip, c->msg->sock, c->msg->tp, &dst, mb);
}

static void relay(struct call *c, struct mbuf *mb, uint16_t code)
{
	struct sa dst;

	if (c->final || !c->st)
		return;
	caller_addr(&dst, c);
	mb->pos = 0;
	if (code >= 200 && code < 300) {
		/* The transaction ends with its 2xx (RFC 6026 lets it wait
		 * 32 s to absorb INVITE retransmissions; libre's timer list
		 * makes every such wait cost each later timer a walk past
		 * it). The call record absorbs them instead
		 * (dialogs_answered), and the callee's 2xx retransmissions
		 * are relayed by fwd_response_h. */
		send_2xx(c, mb);
		c->st = mem_deref(c->st);
	}
	else {
		(void)sip_strans_reply(&c->st, c->r->sip, c->msg, &dst, code,
				       mb);
	}
	if (code >= 200)
		c->final = true;
}

static void final_code(struct call *c, uint16_t code, const char *reason)
{
	if (c->final || !c->st)
		return;
	c->final = true;
	(void)sip_treply(&c->st, c->r->sip, c->msg, code, reason);
}

static void cancel_others(struct call *c, const struct cbranch *keep)
{
	for (unsigned i = 0; i < c->n; i++) {
		if (&c->b[i] != keep && !c->b[i].done && c->b[i].req)
			sip_request_cancel(c->b[i].req);
	}
}

static void branch_ended(struct call *c)
{
	if (c->pending && --c->pending)
		return;
	if (!c->final) {
		if (c->best)
			relay(c, c->best, c->best_code);
		else
			final_code(c, 408, "Request Timeout");
		dialogs_end(c->r->dialogs, &c->msg->callid,
			    c->best ? "rejected" : "failed");
	}
	mem_deref(c);
}

static bool better(uint16_t code, uint16_t best)
{
	return !best || code < best;
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct cbranch *b = arg;
	struct call *c = b->c;
	struct mbuf *mb;

	if (!err && msg && msg->scode < 200) {
		if (msg->scode > 100 && !c->final) {
			mb = fwd_strip_via(msg);
			if (mb)
				relay(c, mb, msg->scode);
			mem_deref(mb);
			dialogs_response(c->r->dialogs, c->msg, msg);
		}
		return;
	}
	b->req = NULL;         /* libre let go of it before calling us */
	b->done = true;
	if (!err && msg && (msg->scode < 300 || msg->scode >= 600)) {
		/* the first 2xx wins; a 6xx ends the call everywhere */
		mb = fwd_strip_via(msg);
		if (mb && !c->final) {
			relay(c, mb, msg->scode);
			cancel_others(c, b);
			dialogs_response(c->r->dialogs, c->msg, msg);
		}
		else if (mb && msg->scode < 300) {
			/* another device answered too, before its CANCEL:
			 * every 2xx goes to the caller (RFC 3261 §16.7
			 * step 5), who ACKs and BYEs the one it does not
			 * want */
			send_2xx(c, mb);
		}
		mem_deref(mb);
	}
	else if (!err && msg && better(msg->scode, c->best_code)) {
		mem_deref(c->best);
		c->best = fwd_strip_via(msg);
		c->best_code = c->best ? msg->scode : 0;
	}
	branch_ended(c);
}

/* the caller's CANCEL: libre has answered it 200 already */
static void cancel_h(void *arg)
{
	struct call *c = arg;

	log_sip(LOG_INFO, c->msg, NULL, "INVITE cancelled by the caller");
	cancel_others(c, NULL);
	final_code(c, 487, "Request Terminated");
	dialogs_end(c->r->dialogs, &c->msg->callid, "cancelled");
}

static void timer_c_h(void *arg)
{
	struct call *c = arg;

	log_sip(LOG_INFO, c->msg, NULL, "INVITE: no answer in %u s",
		CALL_TIMER_C_MS / 1000);
	cancel_others(c, NULL);
	final_code(c, 480, "Temporarily Unavailable");
	dialogs_end(c->r->dialogs, &c->msg->callid, "no answer");
}

void call_invite(struct registrar *r, const struct sip_msg *msg)
{
	struct user_rec *u = NULL, *callee = NULL;
	struct fwd_opts o;
	struct mbuf *mb = NULL;
	struct call *c = NULL;
	const struct aor *a;
	char rr[256];
	struct le *le;

	if (dialogs_answered(r->dialogs, msg)) {
		log_sip(LOG_DEBUG, msg, NULL, "INVITE retransmitted after "
			"its 2xx: absorbed");
		return;
	}
	if (auth_from_user(r, msg, &u))
		return;
	if (!msg->uri.user.l || users_cache_get(r->users, &msg->uri.user,
						&callee)) {
		reply(r, msg, 404, "Not Found");
		goto out;
	}

	c = mem_zalloc(sizeof(*c), call_destructor);
	if (!c)
		goto fail;
	c->r = r;
	c->msg = mem_ref((void *)msg);
	if (sip_strans_alloc(&c->st, r->sip, msg, cancel_h, c))
		goto fail;
	(void)sip_treply(&c->st, r->sip, msg, 100, "Trying");

	if (flow_record_route(rr, sizeof(rr), r->nonces, msg, NULL))
		goto fail;
	memset(&o, 0, sizeof(o));
	o.pai_user = u->username;
	o.record_route = rr;
	mb = mbuf_alloc(1024 + mbuf_get_left(msg->mb));
	if (!mb || fwd_build(mb, r, msg, &o))
		goto fail;

	a = location_find(r->loc, &msg->uri.user);
	for (le = a ? a->bindings.head : NULL;
	     le && c->n < FWD_MAX_BRANCHES; le = le->next) {
		const struct binding *bd = le->data;
		char hop[128];
		struct uri route;
		struct pl pl;
		struct cbranch *b = &c->b[c->n];

		if (bd->unreachable)
			continue;
		fwd_nexthop_print(hop, sizeof(hop), bd->tp, &bd->src);
		pl_set_str(&pl, hop);
		if (uri_decode(&route, &pl))
			continue;
		b->c = c;
		mb->pos = 0;
		if (sip_request(&b->req, r->sip, true, "INVITE", 6, bd->uri,
				-1, &route, mb, 0, NULL, resp_h, b))
			continue;
		++c->n;
		++c->pending;
	}
	if (!c->pending) {
		final_code(c, 480, "Temporarily Unavailable");
		goto out;
	}
	tmrq_start(&r->timer_c, &c->timer_c, timer_c_h, c);
	dialogs_invite(r->dialogs, msg, u->username, callee->username);
	log_sip(LOG_INFO, msg, u->username, "INVITE to '%r': %u device(s)",
		&msg->uri.user, c->n);
	c = NULL;              /* the branches own it until the last ends */
	goto out;

 fail:
	if (c && c->st)
		final_code(c, 500, "Server Internal Error");
	else
		reply(r, msg, 500, "Server Internal Error");
 out:
	mem_deref(c);
	mem_deref(mb);
	mem_deref(callee);
	mem_deref(u);
}
