/* registrar: request handling of lamplight-registrar, the top of its
 * modules. Every request is validated first (sipval), then answered here
 * (REGISTER, OPTIONS to the server, a precise refusal) or handed to the
 * module that owns it (route, call). REGISTER is authenticated with
 * digest (MD5, SHA-256, SHA-512-256, per user or global order), parsed
 * into one staged location update, and answered 200 with every binding
 * only after the store has committed it. Unknown users and wrong
 * passwords get the same fresh challenge, so nobody can learn which users
 * exist.
 *
 * Replies are stateless (RFC 3261 §8.2.7): a server transaction would keep
 * request and answer for 64*T1 = 32 s on UDP, 300 MB at 3,000
 * registrations a second. A retransmitted REGISTER is harmless instead: a
 * challenge is simply issued again, and an authenticated one (same
 * Call-ID, CSeq, nonce count and branch) is applied again as a no-op and
 * answered 200 with the bindings as they are. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/digest.h"
#include "sip/sipval.h"
#include "store/store_users.h"
#include "location.h"
#include "edge.h"
#include "registrar.h"
#include "flood.h"
#include "auth.h"
#include "toproute.h"
#include "route.h"
#include "fwd.h"
#include "handoff.h"
#include "call.h"
#include "fastpath.h"
#include "sip/udpwide.h"

#define ALLOW "REGISTER, OPTIONS, SUBSCRIBE, PUBLISH, MESSAGE, INVITE, " \
	"REFER, " \
	"ACK, CANCEL, BYE"
#define MAX_CONTACTS_PER_REQUEST 32
#define MAX_PATH_LEN 2048

static const char *const supported[] = {"path", NULL};

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* A 503 is the store out of reach (location_apply): again in 5 s. */
static void reply(struct edge *r, const struct sip_msg *msg,
		  uint16_t code, const char *reason)
{
	(void)sip_replyf(r->sip, msg, code, reason, "%sContent-Length: 0"
			 "\r\n\r\n", code == 503 ? "Retry-After: 5\r\n" : "");
}

/* ---- the REGISTER ---- */

/* "0.5", "1", "1.000" -> 500, 1000, 1000 */
static int q_param(uint32_t *q, const struct pl *pl)
{
	struct pl ip, fp;
	uint32_t v;

	if (re_regex(pl->p, pl->l, "[0-1]1[.]*[0-9]*", &ip, NULL, &fp) ||
	    fp.l > 3 || (size_t)(fp.p + fp.l - pl->p) != pl->l)
		return EINVAL;
	v = (uint32_t)(ip.p[0] - '0') * 1000;
	for (size_t i = 0; i < 3; i++)
		v += (i < fp.l ? (uint32_t)(fp.p[i] - '0') : 0) *
			(i == 0 ? 100 : i == 1 ? 10 : 1);
	if (v > 1000)
		return EINVAL;
	*q = v;
	return 0;
}

/* The Contact params we keep: all but expires (we print our own). */
static int params_without_expires(char **out, const struct pl *params)
{
	struct mbuf *mb = mbuf_alloc(64);
	struct pl rest = *params, p;
	int err = 0;

	if (!mb)
		return ENOMEM;
	while (!err && !re_regex(rest.p, rest.l, ";[^;]+", &p)) {
		struct pl name;
		size_t adv = (size_t)(p.p + p.l - rest.p);

		if (re_regex(p.p, p.l, "[ \t]*[^ \t=]+", NULL, &name) ||
		    pl_strcasecmp(&name, "expires"))
			err = mbuf_printf(mb, ";%r", &p);
		pl_advance(&rest, adv);
	}
	if (!err && mb->end) {
		mb->pos = 0;
		err = mbuf_strdup(mb, out, mb->end);
	}
	mem_deref(mb);
	return err;
}

struct parse_ctx {
	struct edge *r;
	const struct sip_msg *msg;
	struct loc_update *u;
	uint32_t dflt;         /* from Expires, or the configured default */
	uint16_t code;
	const char *reason;
	bool star;
	unsigned count;
};

static bool contact_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		      void *arg)
{
	struct parse_ctx *c = arg;
	const struct conf *conf = c->r->conf;
	struct loc_contact *lc;
	struct sip_addr addr;
	struct pl v;

	(void)msg;
	++c->count;
	if (!pl_strcmp(&hdr->val, "*")) {
		c->star = true;
		return false;
	}
	if (c->u->n >= MAX_CONTACTS_PER_REQUEST) {
		c->code = 403;
		c->reason = "Too Many Contacts";
		return true;
	}
	if (!sipval_addr_ok(&hdr->val, &addr)) {
		c->code = 400;
		c->reason = "Malformed Contact header";
		return true;
	}
	if (!sipval_uri_scheme_ok(&addr.uri) || !addr.uri.host.l) {
		c->code = 416;
		c->reason = "Unsupported URI Scheme in Contact";
		return true;
	}
	lc = &c->u->c[c->u->n];
	memset(lc, 0, sizeof(*lc));
	lc->uri = addr.auri;
	lc->expires = c->dflt;
	lc->q = 1000;
	if (!msg_param_decode(&addr.params, "expires", &v) &&
	    sipval_expires(&lc->expires, &v)) {
		c->code = 400;
		c->reason = "Malformed expires parameter";
		return true;
	}
	if (!msg_param_decode(&addr.params, "q", &v) && q_param(&lc->q, &v)) {
		c->code = 400;
		c->reason = "Malformed q parameter";
		return true;
	}
	if (!msg_param_decode(&addr.params, "+sip.instance", &v))
		lc->instance = v;
	if (!msg_param_decode(&addr.params, "reg-id", &v))
		lc->reg_id = pl_u32(&v);
	if (lc->expires && lc->expires < conf->reg_expires_min) {
		c->code = 423;
		c->reason = "Interval Too Brief";
		return true;
	}
	if (lc->expires > conf->reg_expires_max)
		lc->expires = conf->reg_expires_max;
	if (params_without_expires(&lc->params, &addr.params)) {
		c->code = 500;
		c->reason = "Server Internal Error";
		return true;
	}
	++c->u->n;
	return false;
}

struct path_ctx {
	struct mbuf *mb;
	bool bad;
};

static bool path_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		   void *arg)
{
	struct path_ctx *p = arg;

	(void)msg;
	if (p->mb->end + hdr->val.l + 2 > MAX_PATH_LEN) {
		p->bad = true;
		return true;
	}
	if (mbuf_printf(p->mb, "%s%r", p->mb->end ? "," : "", &hdr->val))
		p->bad = true;
	return p->bad;
}

struct ok_ctx {
	const struct aor *aor;
	uint64_t now;
	const char *path;
	bool echo_path;
};

static int print_ok(struct re_printf *pf, const struct ok_ctx *c)
{
	struct le *le;
	time_t t = (time_t)c->now;
	int err = 0;

	for (le = c->aor ? c->aor->bindings.head : NULL; le && !err;
	     le = le->next) {
		const struct binding *b = le->data;
		uint64_t left = b->expires > c->now ? b->expires - c->now : 0;

		err = re_hprintf(pf, "Contact: <%s>%s;expires=%llu\r\n",
				 b->uri, b->params ? b->params : "",
				 (unsigned long long)left);
	}
	if (!err && c->echo_path && c->path)
		err = re_hprintf(pf, "Path: %s\r\n", c->path);
	if (!err)
		err = re_hprintf(pf, "Date: %H\r\nSupported: path\r\n"
				 "Allow: " ALLOW "\r\n", fmt_gmtime, &t);
	return err;
}

/* A REGISTER from its staging to the commit of its bindings, which it
 * may share with others (location_update): what its answer needs. */
struct reg_wait {
	struct edge *r;
	struct sip_msg *msg;             /* referenced */
	struct user_rec *user;
	char *path;
	bool echo_path;
	uint64_t now;
	struct loc_update u;
	struct loc_contact contacts[MAX_CONTACTS_PER_REQUEST];
};

static void reg_wait_destructor(void *arg)
{
	struct reg_wait *w = arg;

	for (unsigned i = 0; i < w->u.n; i++)
		mem_deref(w->contacts[i].params);
	mem_deref(w->path);
	mem_deref(w->user);
	mem_deref(w->msg);
}

/* The 200, which lists every binding the address-of-record has now. */
static void reg_ok(struct reg_wait *w)
{
	const struct sip_msg *msg = w->msg;
	struct ok_ctx ok;

	/* its flow stays an authenticated one while the binding lasts */
	for (unsigned i = 0; i < w->u.n; i++)
		flood_authed(w->r->flood, &msg->src, tmr_jiffies(),
			     (uint64_t)w->u.c[i].expires * 1000);
	ok.aor = location_find(w->r->loc, &msg->to.uri.user);
	ok.now = w->now;
	ok.path = w->path;
	ok.echo_path = w->echo_path;
	(void)sip_replyf(w->r->sip, msg, 200, "OK",
			  "%HContent-Length: 0\r\n\r\n", print_ok, &ok);
	log_sip(LOG_DEBUG, msg, w->user->username, "REGISTER from %J: 200, "
		"%u contact(s) sent", &msg->src, w->u.n);
}

static void reg_done_h(uint16_t scode, const char *reason, void *arg)
{
	struct reg_wait *w = arg;

	/* its TCP or TLS connection closed while it waited: libre would
	 * open one to the phone's port; the phone registers again */
	if (w->msg->tp != SIP_TRANSP_UDP && !sip_msg_tcpconn(w->msg))
		scode = 0;
	if (scode == 200) {
		reg_ok(w);
	}
	else if (scode) {
		log_sip(LOG_NOTICE, w->msg, w->user->username,
			"REGISTER: %u %s", scode, reason);
		reply(w->r, w->msg, scode, reason);
	}
	mem_deref(w);
}

static void handle_register(struct edge *r, const struct sip_msg *msg)
{
	const struct conf *conf = r->conf;
	struct reg_wait *w = NULL;
	struct loc_update *up;
	struct parse_ctx pc;
	struct path_ctx path = { NULL, false };
	struct user_rec *user = NULL;
	uint16_t code;
	const char *reason;
	uint32_t dflt = conf->reg_expires_default;
	int err;

	memset(&pc, 0, sizeof(pc));

	/* RFC 3261 §10.3 step 1-3: our domain, an AOR of our domain */
	if (!edge_is_local(r, &msg->uri)) {
		reply(r, msg, 403, "Domain Not Served Here");
		return;
	}
	if (!sipval_uri_scheme_ok(&msg->to.uri) ||
	    !edge_is_local(r, &msg->to.uri)) {
		reply(r, msg, 403, "Domain Not Served Here");
		return;
	}
	if (!msg->to.uri.user.l || msg->to.uri.user.l > 64) {
		reply(r, msg, 404, "Not Found");
		return;
	}
	if (auth_request(r, msg, AUTH_WWW, &msg->to.uri.user, &user))
		return;
	if (pl_strcmp(&msg->to.uri.user, user->username)) {
		log_sip(LOG_NOTICE, msg, user->username, "REGISTER for '%r' "
			"refused: a user registers only its own address",
			&msg->to.uri.user);
		reply(r, msg, 403, "Forbidden: Not Your Address");
		goto out;
	}

	if (pl_isset(&msg->expires))
		(void)sipval_expires(&dflt, &msg->expires);

	w = mem_zalloc(sizeof(*w), reg_wait_destructor);
	if (!w) {
		reply(r, msg, 500, "Server Internal Error");
		goto out;
	}
	w->r = r;
	w->msg = mem_ref((void *)msg);
	w->user = user;
	user = NULL;
	up = &w->u;
	up->user = w->user->username;
	up->callid = msg->callid;
	up->cseq = msg->cseq.num;
	up->tp = msg->tp;
	up->src = msg->src;
	up->c = w->contacts;
	{
		const struct sip_hdr *ua = sip_msg_hdr(msg,
						       SIP_HDR_USER_AGENT);
		if (ua && ua->val.l <= 256)
			up->user_agent = ua->val;
	}

	pc.r = r;
	pc.msg = msg;
	pc.u = up;
	pc.dflt = dflt;
	if (sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, contact_h, &pc)) {
		if (pc.code == 423)
			(void)sip_replyf(r->sip, msg, 423,
					  "Interval Too Brief",
					  "Min-Expires: %u\r\n"
					  "Content-Length: 0\r\n\r\n",
					  conf->reg_expires_min);
		else
			reply(r, msg, pc.code, pc.reason);
		log_sip(LOG_NOTICE, msg, w->user->username, "REGISTER: %u %s",
			pc.code, pc.reason);
		goto out;
	}
	if (pc.star) {
		/* RFC 3261 §10.3 step 6: "*" only alone, with Expires: 0 */
		if (pc.count != 1 || !pl_isset(&msg->expires) || dflt != 0) {
			reply(r, msg, 400, "Invalid wildcard Contact");
			goto out;
		}
		up->remove_all = true;
	}

	/* RFC 3327: keep Path; echo it when the UA supports it */
	path.mb = mbuf_alloc(128);
	if (!path.mb) {
		reply(r, msg, 500, "Server Internal Error");
		goto out;
	}
	sip_msg_hdr_apply(msg, true, SIP_HDR_PATH, path_h, &path);
	if (path.bad) {
		reply(r, msg, 400, "Path too long");
		goto out;
	}
	if (path.mb->end) {
		path.mb->pos = 0;
		if (mbuf_strdup(path.mb, &w->path, path.mb->end)) {
			reply(r, msg, 500, "Server Internal Error");
			goto out;
		}
		up->path = w->path;
	}
	w->echo_path = sip_msg_hdr_has_value(msg, SIP_HDR_SUPPORTED, "path");

	/* one clock reading for the bindings and the 200 that lists them:
	 * a second that turns between the two would show a binding just
	 * granted 3600 s as 3599 */
	w->now = now_s();
	err = location_update(r->loc, up, w->now, reg_done_h, w, &code,
			      &reason);
	if (!err && !code) {
		w = NULL;      /* reg_done_h's, answered when it commits */
		goto out;
	}
	if (err) {
		log_sip(LOG_ERR, msg, w->user->username, "REGISTER: %m", err);
		reply(r, msg, 500, "Server Internal Error");
	}
	else if (code == 200) {
		reg_ok(w);     /* nothing to write: a query, a retransmission */
	}
	else {
		log_sip(LOG_NOTICE, msg, w->user->username,
			"REGISTER: %u %s", code, reason);
		reply(r, msg, code, reason);
	}

 out:
	mem_deref(w);
	mem_deref(path.mb);
	mem_deref(user);
}

/* ---- everything else ---- */

static void handle_options(struct edge *r, const struct sip_msg *msg)
{
	(void)sip_replyf(r->sip, msg, 200, "OK",
			  "Allow: " ALLOW "\r\n"
			  "Accept: application/sdp\r\n"
			  "Supported: path\r\n"
			  "Content-Length: 0\r\n\r\n");
}

static bool is_known_method(const struct pl *met)
{
	static const char *known[] = {
		"INVITE", "ACK", "BYE", "CANCEL", "SUBSCRIBE", "NOTIFY",
		"PUBLISH", "MESSAGE", "REFER", "INFO", "UPDATE", "PRACK",
	};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (!pl_strcmp(met, known[i]))
			return true;
	return false;
}

static bool request_h(const struct sip_msg *msg, void *arg)
{
	struct edge *r = arg;
	struct sipval_err e;
	bool uas;
	const struct conf *conf = r->conf;
	struct toproute top;

	/* a datagram another edge worker handed over reads as sent to the
	 * phones' address (handoff.h) */
	(void)handoff_handed(r, msg);
	/* first: the start-up probe of udpwide attaches the guard of the
	 * fast path to each UDP socket before any other datagram */
	fastpath_attach(r, msg);
	edge_back_seen(r, msg);
	if (udpwide_take(r->wide, msg))
		return true;
	/* route_edge's socket is the back daemons' alone (before the fast
	 * path's guard is attached to it: fastpath.c drops the rest) */
	if (r->back_set && msg->tp == SIP_TRANSP_UDP &&
	    sa_cmp(&msg->dst, &r->back_laddr, SA_ALL) &&
	    !edge_is_backend(r, &msg->src))
		return true;
	/* calls and what else is edge worker 0's (handoff.c) */
	if (handoff_request(r, msg))
		return true;
	/* an ACK for a 2xx of a call follows the route; any other is for a
	 * final answer of ours, already absorbed by its transaction */
	if (!pl_strcmp(&msg->met, "ACK")) {
		toproute_scan(&top, r, msg);
		if (toproute_is_ours(&top, msg))
			route_loose(r, msg, &top);
		return true;
	}

	if (msg->mb && msg->mb->end > conf->sip_max_message) {
		log_sip(LOG_NOTICE, msg, NULL, "%r from %J: %zu bytes, over "
			"sip_max_message", &msg->met, &msg->src,
			msg->mb->end);
		reply(r, msg, 513, "Message Too Large");
		return true;
	}

	/* Require is the UAS's: ours only for what the edge answers */
	uas = !pl_strcmp(&msg->met, "REGISTER") ||
	      (!pl_strcmp(&msg->met, "OPTIONS") && !msg->uri.user.l);
	if (uas ? sipval_request(msg, supported, &e)
		: sipval_proxied(msg, supported, &e)) {
		log_sip(LOG_NOTICE, msg, NULL, "%r from %J: %u %s", &msg->met,
			&msg->src, e.code, e.reason);
		if (e.code == 420) {
			struct sipval_unsup u = { msg, supported };
			(void)sip_replyf(r->sip, msg, 420,
					  e.reason, "Unsupported: %H\r\n"
					  "Content-Length: 0\r\n\r\n",
					  sipval_print_unsupported, &u);
		}
		else
			reply(r, msg, e.code, e.reason);
		return true;
	}

	if (!pl_strcmp(&msg->met, "REGISTER")) {
		handle_register(r, msg);
		return true;
	}

	/* inside a dialog we Record-Routed: to the next hop */
	toproute_scan(&top, r, msg);
	if (toproute_is_ours(&top, msg)) {
		route_loose(r, msg, &top);
		return true;
	}
	/* a back daemon's request for a user or one of its devices */
	if (edge_is_backend(r, &msg->src) &&
	    pl_strcmp(&msg->met, "OPTIONS")) {
		route_to_user(r, msg);
		return true;
	}

	/* a call pickup names the caller's device, not one of us */
	if (!pl_strcmp(&msg->met, "INVITE") && !pl_isset(&msg->to.tag) &&
	    sip_msg_xhdr(msg, "Replaces")) {
		call_invite(r, msg);
		return true;
	}
	/* requests for someone else: we are no open relay */
	if (!edge_is_local(r, &msg->uri)) {
		if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0)
			reply(r, msg, 483, "Too Many Hops");
		else
			reply(r, msg, 403, "Relaying Denied");
		return true;
	}
	if (!pl_strcmp(&msg->met, "OPTIONS") && !msg->uri.user.l) {
		handle_options(r, msg);    /* to the server itself */
		return true;
	}
	if (pl_isset(&msg->to.tag) || !pl_strcmp(&msg->met, "CANCEL") ||
	    !pl_strcmp(&msg->met, "BYE")) {
		reply(r, msg, 481, "Call/Transaction Does Not Exist");
		return true;
	}
	if (route_handles(msg)) {
		route_request(r, msg);
		return true;
	}
	if (!pl_strcmp(&msg->met, "INVITE")) {
		call_invite(r, msg);
		return true;
	}
	if (!pl_strcmp(&msg->met, "OPTIONS") ||
	    !pl_strcmp(&msg->met, "REFER")) {
		route_user_to_user(r, msg);
		return true;
	}
	if (is_known_method(&msg->met)) {
		(void)sip_replyf(r->sip, msg, 405,
				  "Method Not Allowed", "Allow: " ALLOW "\r\n"
				  "Content-Length: 0\r\n\r\n");
		return true;
	}
	(void)sip_replyf(r->sip, msg, 501,
			  "Not Implemented", "Allow: " ALLOW "\r\n"
			  "Content-Length: 0\r\n\r\n");
	return true;
}

/* An answer no transaction of this process claims: edge worker 0's
 * (handoff.c), or one to relay (fwd.c). */
static bool response_h(const struct sip_msg *msg, void *arg)
{
	struct edge *r = arg;

	(void)handoff_handed(r, msg);
	if (handoff_response(r, msg))
		return true;
	return fwd_response_h(msg, arg);
}

int registrar_listen(struct edge *r)
{
	int err = sip_listen(&r->lsnr, r->sip, true, request_h, r);

	return err ? err : sip_listen(&r->lsnr_resp, r->sip, false,
				      response_h, r);
}
