/* call: an INVITE from an authenticated user to a user of our domain is
 * forked in parallel to every reachable device of the callee, on each
 * device's flow, Record-Routed twice with both legs' flow tokens (flow.c)
 * so that the dialog's requests pass through the edge and find each
 * party's flow, whatever its Contact says. 100 Trying goes back at once;
 * provisional answers are relayed; the first 2xx is relayed and the other
 * branches are CANCELled; a 6xx ends the call at once; otherwise, when
 * every branch has ended, the best answer is relayed (the lowest code, so
 * 486 from every device is 486). A CANCEL from the caller cancels every
 * branch and answers the INVITE 487. Timer C (180 s) cancels a call no
 * device answers. Unknown user: 404; no reachable device: 480.
 *
 * Session timers (RFC 4028 §8, as a proxy): an INVITE without
 * Session-Expires gets session_expires, one above it is lowered to it (not
 * below its Min-SE), one under session_min_se gets 422 with Min-SE (or,
 * from a caller that does not support timers, is raised). A 2xx without
 * Session-Expires to a caller that supports timers gets one, the caller
 * as refresher, with Require: timer. The interval of the 2xx is the
 * call's (dialog.c ends a call nobody refreshes).
 *
 * An INVITE with Replaces that names a call through the edge other than
 * a ringing one to pick up (an attended transfer, RFC 3891, to a call
 * already answered) goes to the user of its Request-URI like any call,
 * Replaces and all: the phone holding the named call judges it. One that
 * names no call we carry gets 481 here.
 *
 * Call pickup (RFC 3891): an INVITE that names a ringing call, with
 * Replaces (directed pickup, built from the dialog-info a BLF key got),
 * or by dialling pickup_prefix and the user (the edge finds the user's
 * ringing call and adds the Replaces itself), goes to the caller's device
 * on its flow; the caller's phone replaces its ringing call with the
 * picker and CANCELs the first INVITE, which ends the ringing branches. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "sip/sipval.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_rules.h"
#include "location.h"
#include "edge.h"
#include "auth.h"
#include "flow.h"
#include "fwd.h"
#include "dialog.h"
#include "call.h"
#include "peers.h"

struct call;

struct cbranch {
	struct call *c;
	struct sip_request *req;
	struct dlg_flow flow;  /* the device's */
	bool done;
};

struct call {
	struct le he;          /* r->calls, by Call-ID, while it rings */
	struct edge *r;
	struct sip_strans *st;
	struct sip_msg *msg;
	char callee[64];       /* the user called */
	char rtag[64];         /* the first ringing device's To-tag */
	struct tmrq_entry timer_c;
	struct cbranch b[FWD_MAX_BRANCHES];
	unsigned n, pending;
	struct mbuf *best;
	uint16_t best_code;
	bool final;            /* a final answer went to the caller */
	bool counted;          /* in r->ringing */
	bool uac_timer;        /* the caller supports session timers */
	uint32_t se_sent;      /* s, the Session-Expires sent on; 0: none */
};

static void call_destructor(void *arg)
{
	struct call *c = arg;

	tmrq_cancel(&c->timer_c);
	hash_unlink(&c->he);
	if (c->counted)
		--c->r->ringing;
	for (unsigned i = 0; i < c->n; i++)
		mem_deref(c->b[i].req);
	mem_deref(c->best);
	mem_deref(c->st);
	mem_deref(c->msg);
}

/* A 503 is the admin database out of reach: again in 5 s. */
static void reply(struct edge *r, const struct sip_msg *msg,
		  uint16_t code, const char *reason)
{
	(void)sip_replyf(r->sip, msg, code, reason, "%sContent-Length: 0"
			 "\r\n\r\n", code == 503 ? "Retry-After: 5\r\n" : "");
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
	if (code >= 200) {
		c->final = true;
		hash_unlink(&c->he);   /* no longer ringing */
	}
}

static void final_code(struct call *c, uint16_t code, const char *reason)
{
	if (c->final || !c->st)
		return;
	c->final = true;
	hash_unlink(&c->he);
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

/* The session interval a 2xx sets (0: none); `add`: the header lines to
 * put in it when the callee does not do session timers and the caller
 * does (RFC 4028 §8.2). */
static uint32_t session_answer(const struct call *c, const struct sip_msg *msg,
			       char *add, size_t sz)
{
	uint32_t se;

	if (sipval_session_expires(msg, &se, NULL))
		se = 0;
	if (se || !c->uac_timer || !c->se_sent)
		return se;
	re_snprintf(add, sz, "Session-Expires: %u;refresher=uac\r\n"
		    "Require: timer\r\n", c->se_sent);
	return c->se_sent;
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct cbranch *b = arg;
	struct call *c = b->c;
	struct mbuf *mb;

	if (!err && msg && msg->scode < 200) {
		if (msg->scode > 100 && !c->rtag[0] && msg->to.tag.l &&
		    msg->to.tag.l < sizeof(c->rtag))
			pl_strcpy(&msg->to.tag, c->rtag, sizeof(c->rtag));
		if (msg->scode > 100 && !c->final) {
			mb = fwd_strip_via(msg);
			if (mb)
				relay(c, mb, msg->scode);
			mem_deref(mb);
			dialogs_response(c->r->dialogs, c->msg, msg, NULL, 0);
		}
		return;
	}
	b->req = NULL;         /* libre let go of it before calling us */
	b->done = true;
	if (!err && msg && (msg->scode < 300 || msg->scode >= 600)) {
		/* the first 2xx wins; a 6xx ends the call everywhere */
		char add[128] = "";
		uint32_t se = 0;

		if (msg->scode < 300)
			se = session_answer(c, msg, add, sizeof(add));
		mb = fwd_strip_via_add(msg, add[0] ? add : NULL);
		if (mb && !c->final) {
			relay(c, mb, msg->scode);
			cancel_others(c, b);
			dialogs_response(c->r->dialogs, c->msg, msg, &b->flow,
					 se);
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

/* The edge sets up call_max_ringing calls at most (each holds its
 * transactions until answered, or until Timer C): past it, 503 with
 * Retry-After, and a log line at most every 10 s. */
static void over_max(struct edge *r, const struct sip_msg *msg,
		     const char *caller)
{
	static struct log_every every;
	uint32_t unlogged;

	(void)sip_replyf(r->sip, msg, 503, "Service Unavailable",
			 "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
	if (!log_every(&every, tmr_jiffies(), 10000, &unlogged))
		return;
	log_sip(LOG_WARNING, msg, caller, "INVITE: 503, %u calls are being "
		"set up (call_max_ringing)%s", r->ringing,
		unlogged ? "; others refused since the last line" : "");
}

/* RFC 4028 §8.1 for the INVITE `msg`: what Session-Expires (and Min-SE)
 * to send on, written to `hdrs` ("" : the request's own), and kept in
 * `c`. EPROTO: answered 422 (or 400) here. */
static int session_request(struct edge *r, const struct sip_msg *msg,
			   struct call *c, char *hdrs, size_t sz)
{
	const uint32_t min = r->conf->session_min_se;
	const uint32_t want = r->conf->session_expires;
	uint32_t se, min_se, floor;
	struct pl ref;

	hdrs[0] = '\0';
	c->uac_timer = sip_msg_hdr_has_value(msg, SIP_HDR_SUPPORTED, "timer");
	if (sipval_session_expires(msg, &se, &ref) ||
	    sipval_min_se(msg, &min_se)) {
		log_sip(LOG_NOTICE, msg, NULL, "INVITE: bad Session-Expires or "
			"Min-SE: 400");
		(void)sip_treply(&c->st, r->sip, msg, 400, "Bad Request: "
				 "Malformed Session-Expires or Min-SE");
		return EPROTO;
	}
	floor = min_se > min ? min_se : min;
	if (se && se < min) {
		if (c->uac_timer) {
			log_sip(LOG_INFO, msg, NULL, "INVITE: Session-Expires "
				"%u under session_min_se: 422", se);
			(void)sip_treplyf(&c->st, NULL, r->sip, msg, false,
					  422, "Session Interval Too Small",
					  "Min-SE: %u\r\n"
					  "Content-Length: 0\r\n\r\n", min);
			return EPROTO;
		}
		se = floor;            /* §8.1: raised, not refused */
	}
	else if (!se && want) {
		se = want > floor ? want : floor;
	}
	else if (se > want && want) {
		se = want > floor ? want : floor;
	}
	else {
		c->se_sent = se;       /* the request's, untouched */
		return 0;
	}
	c->se_sent = se;
	if (pl_isset(&ref))
		re_snprintf(hdrs, sz, "Session-Expires: %u;refresher=%r\r\n"
			    "Min-SE: %u\r\n", se, &ref, floor);
	else
		re_snprintf(hdrs, sz, "Session-Expires: %u\r\n"
			    "Min-SE: %u\r\n", se, floor);
	return 0;
}

/* A branch of a call: where it goes and what its Request-URI is. */
struct target {
	char ruri[512];
	enum sip_transp tp;
	struct sa dst;
	bool node;             /* another node's edge: signed (peers.h) */
};

/* Fork `msg` from `caller` to the targets (the caller answered 100 at
 * once), asserting the caller, Record-Routed; `extra`: header lines to
 * add (a Replaces), or NULL. */
static void fork_call(struct edge *r, const struct sip_msg *msg,
		      const char *caller, const char *callee,
		      const struct target *t, unsigned n, const char *extra)
{
	struct fwd_opts o;
	struct mbuf *mb = NULL;
	struct call *c;
	char rr_callee[256], rr_caller[256], hdrs[640];
	char signed_hdrs[640 + FLOW_TOKEN_MAX + 64];

	if (r->ringing >= r->conf->call_max_ringing) {
		over_max(r, msg, caller);
		return;
	}
	c = mem_zalloc(sizeof(*c), call_destructor);
	if (!c)
		goto fail;
	c->r = r;
	c->counted = true;
	++r->ringing;
	c->msg = mem_ref((void *)msg);
	str_ncpy(c->callee, callee, sizeof(c->callee));
	if (sip_strans_alloc(&c->st, r->sip, msg, cancel_h, c))
		goto fail;
	if (session_request(r, msg, c, hdrs, sizeof(hdrs))) {
		c->final = true;
		goto out;
	}
	(void)sip_treply(&c->st, r->sip, msg, 100, "Trying");

	memset(&o, 0, sizeof(o));
	o.pai_user = caller;
	o.record_route = rr_callee;
	o.record_route2 = rr_caller;
	o.session = hdrs[0] != '\0';
	if (extra && strlen(hdrs) + strlen(extra) < sizeof(hdrs))
		strcat(hdrs, extra);
	o.extra = hdrs[0] ? hdrs : NULL;
	for (unsigned i = 0; i < n && c->n < FWD_MAX_BRANCHES; i++) {
		char hop[128];
		struct uri route;
		struct pl pl;
		struct cbranch *b = &c->b[c->n];
		struct flow_out out = { .tp = t[i].tp };

		fwd_nexthop_print(hop, sizeof(hop), t[i].tp, &t[i].dst);
		pl_set_str(&pl, hop);
		if (uri_decode(&route, &pl))
			continue;
		/* each branch Record-Routes both legs' flows (flow.c) */
		if (sip_transp_laddr(r->sip, &out.laddr, out.tp, &t[i].dst) ||
		    flow_call_record_route(rr_callee, rr_caller,
					   sizeof(rr_callee), r->nonces, msg,
					   &out, &t[i].dst))
			continue;
		/* to another node: its extra header line, signed */
		o.extra = hdrs[0] ? hdrs : NULL;
		if (t[i].node) {
			size_t k = str_len(hdrs);

			memcpy(signed_hdrs, hdrs, k);
			if (peers_sign(r->peers, signed_hdrs + k,
				       sizeof(signed_hdrs) - k, msg, caller))
				continue;
			o.extra = signed_hdrs;
		}
		/* a request of its own: libre may keep it to send later */
		mem_deref(mb);
		mb = mbuf_alloc(1024 + mbuf_get_left(msg->mb));
		if (!mb || fwd_build(mb, r, msg, &o))
			continue;
		b->c = c;
		mb->pos = 0;
		b->flow.tp = t[i].tp;
		b->flow.dst = t[i].dst;
		if (sip_request(&b->req, r->sip, true, "INVITE", 6, t[i].ruri,
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
	hash_append(r->calls, hash_joaat_pl(&msg->callid), &c->he, c);
	dialogs_invite(r->dialogs, msg, caller, callee);
	log_sip(LOG_INFO, msg, caller, "INVITE to '%s': %u device(s)%s",
		callee, c->n, extra ? " (pickup)" : "");
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
}

struct ring_find {
	const struct pl *callid;   /* by Call-ID, or */
	const char *callee;        /* the ringing call of this user */
};

static bool ringing_cmp(struct le *le, void *arg)
{
	const struct call *c = le->data;
	const struct ring_find *f = arg;

	if (c->final || !c->rtag[0])
		return false;          /* answered, or no phone rings yet */
	if (f->callid)
		return !pl_cmp(f->callid, &c->msg->callid);
	return !str_cmp(c->callee, f->callee);
}

static bool ringing_apply(struct le *le, void *arg)
{
	return ringing_cmp(le, arg);
}

/* Send the picker's INVITE to the caller's device of the ringing call
 * `c`, with `replaces` (NULL: the INVITE carries its own). */
static void pick_up(struct edge *r, const struct sip_msg *msg,
		    const char *picker, const struct call *c,
		    const char *replaces)
{
	const struct sip_hdr *ch = sip_msg_hdr(c->msg, SIP_HDR_CONTACT);
	struct sip_addr contact;
	struct target t;
	struct pl rp;
	char extra[512], who[64];

	if (rules_decide(r->admin, r->conf->presence_default_policy,
			 c->callee, picker) != RULE_ALLOW) {
		log_sip(LOG_NOTICE, msg, picker, "may not pick up '%s''s "
			"calls (watcher rules): 403", c->callee);
		reply(r, msg, 403, "Forbidden: Not Allowed To Pick Up");
		return;
	}
	memset(&t, 0, sizeof(t));
	if (!ch || sip_addr_decode(&contact, &ch->val) ||
	    pl_strcpy(&contact.auri, t.ruri, sizeof(t.ruri))) {
		reply(r, msg, 480, "Temporarily Unavailable: Caller Has No "
		      "Contact");
		return;
	}
	/* the caller's flow: where its INVITE came from */
	sip_reply_addr(&t.dst, c->msg,
		       !msg_param_exists(&c->msg->via.params, "rport", &rp));
	t.tp = c->msg->tp;
	if (replaces)
		re_snprintf(extra, sizeof(extra), "Replaces: %s\r\n",
			    replaces);
	/* the call is now between the picker and the caller's user */
	if (pl_strcpy(&c->msg->from.uri.user, who, sizeof(who)))
		who[0] = '\0';
	fork_call(r, msg, picker, who, &t, 1, replaces ? extra : NULL);
}

/* Directed pickup: the Replaces names a call that rings at the edge;
 * the picker may pick up any user of the domain. False when it names
 * another call through the edge and the INVITE is for a user of ours: a
 * transfer, a call like any other. */
static bool pickup_replaces(struct edge *r, const struct sip_msg *msg,
			    const struct sip_hdr *rh, const char *picker)
{
	struct pl callid, totag, fromtag;
	struct ring_find f;
	struct call *c;

	if (re_regex(rh->val.p, rh->val.l, "[^; \t]+", &callid) ||
	    msg_param_decode(&rh->val, "to-tag", &totag) ||
	    msg_param_decode(&rh->val, "from-tag", &fromtag)) {
		reply(r, msg, 400, "Bad Request: Bad Replaces");
		return true;
	}
	f.callid = &callid;
	f.callee = NULL;
	c = list_ledata(hash_lookup(r->calls, hash_joaat_pl(&callid),
				    ringing_cmp, &f));
	/* RFC 3891 §3: to-tag is the caller's own tag, from-tag the
	 * ringing phone's */
	if (!c || pl_cmp(&totag, &c->msg->from.tag) ||
	    pl_strcmp(&fromtag, c->rtag)) {
		/* an attended transfer: to the user the INVITE names */
		if (msg->uri.user.l && edge_is_local(r, &msg->uri) &&
		    dialogs_knows(r->dialogs, &callid, &totag, &fromtag))
			return false;
		log_sip(LOG_NOTICE, msg, picker, "pickup of call '%r': no such "
			"ringing call: 481", &callid);
		reply(r, msg, 481, "Call/Transaction Does Not Exist");
		return true;
	}
	log_sip(LOG_INFO, msg, picker, "picks up '%s''s call '%r'",
		c->callee, &callid);
	pick_up(r, msg, picker, c, NULL);
	return true;
}

/* Pickup by code: pickup_prefix then the user ("**bob"). */
static void pickup_code(struct edge *r, const struct sip_msg *msg,
			const char *picker)
{
	size_t plen = strlen(r->conf->pickup_prefix);
	struct pl user = { msg->uri.user.p + plen, msg->uri.user.l - plen };
	struct ring_find f;
	struct call *c;
	char callee[64], rep[512];

	if (pl_strcpy(&user, callee, sizeof(callee)) || !user.l) {
		reply(r, msg, 404, "Not Found");
		return;
	}
	f.callid = NULL;
	f.callee = callee;
	c = list_ledata(hash_apply(r->calls, ringing_apply, &f));
	if (!c) {
		log_sip(LOG_INFO, msg, picker, "pickup of '%s': nothing "
			"rings: 480", callee);
		reply(r, msg, 480, "Temporarily Unavailable: Nothing Rings "
		      "There");
		return;
	}
	re_snprintf(rep, sizeof(rep), "%r;to-tag=%r;from-tag=%s",
		    &c->msg->callid, &c->msg->from.tag, c->rtag);
	log_sip(LOG_INFO, msg, picker, "picks up '%s''s call '%r' by code",
		callee, &c->msg->callid);
	pick_up(r, msg, picker, c, rep);
}

/* The reachable devices of `a` (NULL: none) here, on their flows. */
static unsigned local_targets(const struct aor *a,
			      struct target t[FWD_MAX_BRANCHES])
{
	unsigned n = 0;

	for (struct le *le = a ? a->bindings.head : NULL;
	     le && n < FWD_MAX_BRANCHES; le = le->next) {
		const struct binding *bd = le->data;

		if (bd->unreachable)
			continue;
		str_ncpy(t[n].ruri, bd->uri, sizeof(t[n].ruri));
		t[n].tp = bd->tp;
		t[n].dst = bd->src;
		t[n].node = false;
		++n;
	}
	return n;
}

/* A call that came from another node: to the callee's devices here,
 * never on to a third node. */
static void node_invite(struct edge *r, const struct sip_msg *msg,
			const char *caller)
{
	struct target t[FWD_MAX_BRANCHES];
	const struct aor *a;
	unsigned n;

	a = location_find(r->loc, &msg->uri.user);
	n = local_targets(a, t);
	if (!a) {
		reply(r, msg, 480, "Temporarily Unavailable");
		return;
	}
	fork_call(r, msg, caller, a->user, t, n, NULL);
}

void call_invite(struct edge *r, const struct sip_msg *msg)
{
	struct target t[FWD_MAX_BRANCHES];
	struct user_rec *u = NULL, *callee = NULL;
	const struct sip_hdr *rh = sip_msg_xhdr(msg, "Replaces");
	const char *prefix = r->conf->pickup_prefix;
	const struct aor *a;
	unsigned n;
	int err;

	if (dialogs_answered(r->dialogs, msg)) {
		log_sip(LOG_DEBUG, msg, NULL, "INVITE retransmitted after "
			"its 2xx: absorbed");
		return;
	}
	if (r->peers) {
		char caller[65];

		err = peers_verify(r->peers, msg, caller, sizeof(caller));
		if (!err) {
			node_invite(r, msg, caller);
			return;
		}
		if (err == EPERM) {
			log_sip(LOG_WARNING, msg, NULL, "INVITE from node "
				"address %J without a good " PEERS_HDR
				": refused", &msg->src);
			reply(r, msg, 403, "Not Signed By A Node");
			return;
		}
	}
	if (auth_from_user(r, msg, &u))
		return;
	if (rh && pickup_replaces(r, msg, rh, u->username))
		goto out;
	if (prefix[0] && msg->uri.user.l > strlen(prefix) &&
	    !strncmp(msg->uri.user.p, prefix, strlen(prefix))) {
		pickup_code(r, msg, u->username);
		goto out;
	}
	err = msg->uri.user.l ? users_cache_get(r->users, &msg->uri.user,
						 &callee) : ENOENT;
	if (err) {
		if (store_unavailable(err))
			reply(r, msg, 503, "Service Unavailable");
		else
			reply(r, msg, 404, "Not Found");
		goto out;
	}

	a = location_find(r->loc, &msg->uri.user);
	n = local_targets(a, t);
	/* the callee's devices on other nodes: through their edges */
	if (r->peers) {
		struct sa where[FWD_MAX_BRANCHES];
		unsigned k = peers_where(r->peers, &msg->uri.user, where,
					 FWD_MAX_BRANCHES - n);

		for (unsigned i = 0; i < k; i++, n++) {
			re_snprintf(t[n].ruri, sizeof(t[n].ruri), "sip:%s@%s",
				    callee->username, r->conf->domain);
			t[n].tp = SIP_TRANSP_UDP;
			t[n].dst = where[i];
			t[n].node = true;
		}
	}
	fork_call(r, msg, u->username, callee->username, t, n, NULL);
 out:
	mem_deref(callee);
	mem_deref(u);
}
