/* route: where the edge sends what it does not answer itself.
 *
 * - From users, out of dialog: PUBLISH and SUBSCRIBE for presence and
 *   presence.winfo to the presence daemon, SUBSCRIBE for dialog to the BLF
 *   gateway, MESSAGE to the IM relay; challenged (407), From must be the
 *   authenticated user, P-Asserted-Identity replaced by the edge's.
 *   SUBSCRIBE is Record-Routed with a flow token, so the dialog comes
 *   back through us (RFC 3261 §16.6 step 4).
 * - With our Route on top (loose routing, §16.4): from a back daemon, to
 *   the device on the flow the token names (its UDP source, its TCP
 *   connection); from a device, on to the back daemon, or inside a call
 *   to the other party's flow, which the last of a call's two tokens
 *   names (flow.c); nowhere else.
 * - From a back daemon, out of dialog, to a user: to every registered
 *   device of that user on its flow, or to the one device the Request-URI
 *   names. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store.h"
#include "store/store_users.h"
#include "location.h"
#include "edge.h"
#include "auth.h"
#include "flow.h"
#include "toproute.h"
#include "tcpguard.h"
#include "fwd.h"
#include "dialog.h"
#include "route.h"
#include "peers.h"
#include "sip/sipuri.h"

#define ALLOW_EVENTS "presence, presence.winfo, dialog"

static const char *service_name[ROUTE_COUNT] = {
	"presence", "imrelay", "blf",
};

/* A 503 is the admin database out of reach: again in 5 s. */
static void reply(struct edge *r, const struct sip_msg *msg,
		  uint16_t code, const char *reason)
{
	(void)sip_replyf(r->sip, msg, code, reason, "%sContent-Length: 0"
			 "\r\n\r\n", code == 503 ? "Retry-After: 5\r\n" : "");
}

/* A back daemon could not be sent to (too many requests waiting, no
 * buffer): 503, try again in a few seconds. A line a second at most:
 * under a flood this is every request. */
static void unavailable(struct edge *r, const struct sip_msg *msg,
			const char *user, const char *what, int err)
{
	const uint64_t now = tmr_jiffies();

	if (!r->unavail_logged || now - r->unavail_logged >= 1000) {
		log_sip(LOG_WARNING, msg, user, "%r to %s: %m: 503 (and %u "
			"more since the last such line)", &msg->met, what,
			err, r->unavail_more);
		r->unavail_logged = now;
		r->unavail_more = 0;
	}
	else {
		++r->unavail_more;
	}
	(void)sip_replyf(r->sip, msg, 503, "Service Unavailable",
			 "Retry-After: 5\r\n"
			 "Content-Length: 0\r\n\r\n");
}

bool route_handles(const struct sip_msg *msg)
{
	return !pl_strcmp(&msg->met, "SUBSCRIBE") ||
	       !pl_strcmp(&msg->met, "PUBLISH") ||
	       !pl_strcmp(&msg->met, "MESSAGE");
}

static int conf_nexthop(char *buf, size_t sz, const struct conf_listen *l)
{
	struct sa sa;

	if (sa_set_str(&sa, l->addr, l->port))
		return EINVAL;
	return fwd_nexthop_print(buf, sz, l->tp == CONF_TP_TCP ?
				 SIP_TRANSP_TCP : l->tp == CONF_TP_TLS ?
				 SIP_TRANSP_TLS : SIP_TRANSP_UDP, &sa);
}

static bool is_backend_uri(const struct edge *r, const struct uri *u)
{
	struct sa sa;
	char host[64];

	if (pl_strcpy(&u->host, host, sizeof(host)) ||
	    sa_set_str(&sa, host, u->port ? u->port : 5060))
		return false;
	return edge_is_backend(r, &sa);
}

/* -1 with the answer sent when no daemon owns the request */
static int service_of(struct edge *r, const struct sip_msg *msg)
{
	const struct sip_hdr *h;
	struct sipevent_event ev;

	if (!pl_strcmp(&msg->met, "MESSAGE"))
		return ROUTE_IMRELAY;
	h = sip_msg_hdr(msg, SIP_HDR_EVENT);
	if (h && !sipevent_event_decode(&ev, &h->val)) {
		if (!pl_strcasecmp(&ev.event, "presence") ||
		    !pl_strcasecmp(&ev.event, "presence.winfo"))
			return ROUTE_PRESENCE;
		if (!pl_strcasecmp(&ev.event, "dialog") &&
		    !pl_strcmp(&msg->met, "SUBSCRIBE"))
			return ROUTE_BLF;
	}
	(void)sip_replyf(r->sip, msg, 489, "Bad Event",
			 "Allow-Events: " ALLOW_EVENTS "\r\n"
			 "Content-Length: 0\r\n\r\n");
	return -1;
}

/* Has `user` a device here that answers? */
static bool reachable_here(struct edge *r, const struct pl *user)
{
	const struct aor *a = user->l ? location_find(r->loc, user) : NULL;

	for (struct le *le = a ? a->bindings.head : NULL; le; le = le->next)
		if (!((const struct binding *)le->data)->unreachable)
			return true;
	return false;
}

/* A MESSAGE for a user whose devices are all on another node of the
 * cluster goes to that node's edge (and from there to its IM relay,
 * which delivers it or keeps it): true if it went. */
static bool message_to_node(struct edge *r, const struct sip_msg *msg,
			    const char *sender)
{
	struct fwd_branch b;
	struct fwd_opts o;
	struct sa where;
	char sig[FLOW_TOKEN_MAX + 64];

	if (!r->peers || pl_strcmp(&msg->met, "MESSAGE") ||
	    reachable_here(r, &msg->uri.user) ||
	    !peers_where(r->peers, &msg->uri.user, &where, 1))
		return false;
	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	fwd_nexthop_print(b.nexthop, sizeof(b.nexthop), SIP_TRANSP_UDP,
			  &where);
	b.addr = where;
	b.tp = SIP_TRANSP_UDP;
	b.has_addr = true;
	o.pai_user = sender;
	o.timeout_code = 503;
	o.what = "to the node of the user's devices";
	if (peers_sign(r->peers, sig, sizeof(sig), msg, sender)) {
		reply(r, msg, 500, "Server Internal Error");
		return true;
	}
	o.extra = sig;
	if (fwd_request(r, msg, &b, 1, &o))
		reply(r, msg, 500, "Server Internal Error");
	else
		log_sip(LOG_DEBUG, msg, sender, "MESSAGE to node %J", &where);
	return true;
}

void route_request(struct edge *r, const struct sip_msg *msg)
{
	struct fwd_branch b;
	struct fwd_opts o;
	struct user_rec *u = NULL;
	struct flow_out out;
	struct sa to;
	char rr[512], asserted[65];
	const char *sender = NULL;
	int svc, err;

	/* a MESSAGE another node sends us, on its word for the sender */
	err = r->peers && !pl_strcmp(&msg->met, "MESSAGE")
		? peers_verify(r->peers, msg, asserted, sizeof(asserted))
		: ENOENT;
	if (err == EPERM) {
		log_sip(LOG_WARNING, msg, NULL, "MESSAGE from node address "
			"%J without a good " PEERS_HDR ": refused",
			&msg->src);
		reply(r, msg, 403, "Not Signed By A Node");
		return;
	}
	if (!err) {
		sender = asserted;
	}
	else {
		if (auth_from_user(r, msg, &u))
			return;
		sender = u->username;
		if (message_to_node(r, msg, sender))
			goto out;
	}

	svc = service_of(r, msg);
	if (svc < 0)
		goto out;

	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	o.pai_user = sender;
	o.timeout_code = 503;
	o.what = service_name[svc];
	o.back = svc;
	if (!r->conf->routes[svc].port ||
	    conf_nexthop(b.nexthop, sizeof(b.nexthop),
			 &r->conf->routes[svc])) {
		log_sip(LOG_WARNING, msg, sender, "%r: no route_%s "
			"configured: 503", &msg->met, service_name[svc]);
		(void)sip_replyf(r->sip, msg, 503, "Service Unavailable",
				 "Retry-After: 60\r\n"
				 "Content-Length: 0\r\n\r\n");
		goto out;
	}
	if (!pl_strcmp(&msg->met, "SUBSCRIBE")) {
		const struct conf_listen *l = &r->conf->routes[svc];

		out.tp = l->tp == CONF_TP_TCP ? SIP_TRANSP_TCP :
			l->tp == CONF_TP_TLS ? SIP_TRANSP_TLS : SIP_TRANSP_UDP;
		if (sa_set_str(&to, l->addr, l->port) ||
		    (out.tp == SIP_TRANSP_UDP ?
		     edge_back_laddr(r, &to, &out.laddr) :
		     sip_transp_laddr(r->sip, &out.laddr, out.tp, &to)) ||
		    flow_record_route(rr, sizeof(rr), r->nonces, msg, &out)) {
			reply(r, msg, 500, "Server Internal Error");
			goto out;
		}
		o.record_route = rr;
	}
	err = fwd_backend(r, msg, b.nexthop, &o);
	if (err) {
		unavailable(r, msg, sender, service_name[svc], err);
	}
	else {
		log_sip(LOG_DEBUG, msg, sender, "%r to %s", &msg->met,
			service_name[svc]);
	}
 out:
	mem_deref(u);
}

/* ---- loose routing ---- */

static bool uri_matches(const struct uri *u, const char *s);
static bool route_ack_routable(struct edge *r, const struct sip_msg *msg,
			       const struct toproute *s);

/* The same user, host and port (5060 when none), whatever the
 * parameters: a phone's Contact in a dialog need not carry the
 * parameters of the one it registered (;transport=udp, ;line=...). */
static bool uri_same_place(const struct uri *u, const char *s)
{
	struct pl pl;
	struct uri b;

	pl_set_str(&pl, s);
	return !uri_decode(&b, &pl) && !pl_cmp(&u->user, &b.user) &&
	       !pl_casecmp(&u->host, &b.host) &&
	       (u->port ? u->port : 5060) == (b.port ? b.port : 5060);
}

/* The device a request inside a call is for: a binding of the To user
 * whose contact is the Request-URI; failing that, one whose contact has
 * its user, host and port. */
static bool device_hop(struct edge *r, const struct sip_msg *msg,
		       struct fwd_branch *b)
{
	const struct aor *a = location_find(r->loc, &msg->to.uri.user);
	const struct binding *loose = NULL;
	struct le *le;

	for (le = a ? a->bindings.head : NULL; le; le = le->next) {
		const struct binding *bd = le->data;

		if (!loose && uri_same_place(&msg->uri, bd->uri))
			loose = bd;
		if (!uri_matches(&msg->uri, bd->uri))
			continue;
		loose = bd;
		break;
	}
	if (!loose)
		return false;
	fwd_nexthop_print(b->nexthop, sizeof(b->nexthop), loose->tp,
			  &loose->src);
	return true;
}

/* A bad flow token from a device: refused, said once a second at most
 * (anyone can send one). */
static void bad_token(struct edge *r, const struct sip_msg *msg)
{
	static struct log_every every;
	uint32_t unlogged;

	if (log_every(&every, tmr_jiffies(), 1000, &unlogged))
		log_sip(LOG_NOTICE, msg, NULL, "%r from %J: bad flow token "
			"for Call-ID '%r': %s%s", &msg->met, &msg->src,
			&msg->callid, pl_strcmp(&msg->met, "ACK") ?
			"403" : "dropped", unlogged ? " (and others since the "
			"last line)" : "");
	if (pl_strcmp(&msg->met, "ACK"))
		reply(r, msg, 403, "Forbidden: Invalid Flow Token");
}

/* The other party's TCP or TLS connection is gone (RFC 5626 §5.3: 430,
 * and the phone learns it now, not after its Timer F); an ACK is
 * dropped. Its phone will connect again and register a new flow. */
static void flow_failed(struct edge *r, const struct sip_msg *msg,
			const struct sa *peer)
{
	static struct log_every every;
	uint32_t unlogged;

	if (log_every(&every, tmr_jiffies(), 1000, &unlogged))
		log_sip(LOG_INFO, msg, NULL, "%r inside call '%r': the other "
			"party's connection from %J is gone: %s%s", &msg->met,
			&msg->callid, peer, pl_strcmp(&msg->met, "ACK") ?
			"430" : "dropped", unlogged ? " (and others since "
			"the last line)" : "");
	if (pl_strcmp(&msg->met, "ACK"))
		reply(r, msg, 430, "Flow Failed");
}

static bool is_sender(const struct sip_msg *msg, enum sip_transp tp,
		      const struct sa *dst)
{
	return tp == msg->tp && sa_cmp(dst, &msg->src, SA_ALL);
}

/* Where a request inside a call goes (flow.c): the flow that the last of
 * our two tokens names, the other party's. When it names the sender (a
 * phone that kept the route set in the callee's order), the first token
 * does. A call Record-Routed once, with the caller's token alone (an
 * edge before this one): from the callee to that flow, from the caller
 * to the callee's binding the Request-URI names. 0 and `b` set; EBADMSG:
 * no valid token; ENOENT: no such binding. */
static int call_hop(struct edge *r, const struct sip_msg *msg,
		    const struct toproute *s, struct fwd_branch *b)
{
	enum sip_transp tp;
	struct sa dst;

	if (flow_token_decode(&s->flow, r->nonces, &msg->callid, &tp, &dst))
		return EBADMSG;
	if (!flow_token_is_call(&s->flow)) {
		if (is_sender(msg, tp, &dst))
			return device_hop(r, msg, b) ? 0 : ENOENT;
	}
	else if (is_sender(msg, tp, &dst) &&
		 pl_cmp(&s->flow_first, &s->flow) &&
		 flow_token_decode(&s->flow_first, r->nonces, &msg->callid,
				   &tp, &dst)) {
		return EBADMSG;
	}
	fwd_nexthop_print(b->nexthop, sizeof(b->nexthop), tp, &dst);
	b->addr = dst;
	b->tp = tp;
	b->has_addr = true;
	return 0;
}

void route_loose(struct edge *r, const struct sip_msg *msg,
		 const struct toproute *top)
{
	const struct toproute s = *top;
	struct fwd_branch b;
	struct fwd_opts o;

	/* an ACK is never answered: one we cannot route (the ACK of a
	 * stateless 407 of ours, say) ends here */
	if (!pl_strcmp(&msg->met, "ACK") && !route_ack_routable(r, msg, &s))
		return;

	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	o.top = &s;

	if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0) {
		reply(r, msg, 483, "Too Many Hops");
		return;
	}

	if (edge_is_backend(r, &msg->src)) {
		/* a back daemon, inside a dialog: to the device's flow */
		enum sip_transp tp;
		struct sa dst;

		if (!pl_isset(&s.flow) ||
		    flow_token_decode(&s.flow, r->nonces, NULL, &tp, &dst)) {
			log_sip(LOG_NOTICE, msg, NULL, "%r from %J: bad flow "
				"token: 403", &msg->met, &msg->src);
			reply(r, msg, 403, "Forbidden: Invalid Flow Token");
			return;
		}
		fwd_nexthop_print(b.nexthop, sizeof(b.nexthop), tp, &dst);
		b.addr = dst;
		b.tp = tp;
		b.has_addr = true;
		o.what = "to the device";
		o.stateless = true;    /* the back daemon keeps its own */
	}
	else {
		/* a device, inside a dialog: to a back daemon, or (a call)
		 * to the other party's device */
		const struct uri *to = s.has_next ? &s.next : &msg->uri;
		int err;

		if (is_backend_uri(r, to)) {
			char host[64];
			struct sa sa;

			if (pl_strcpy(&to->host, host, sizeof(host)) ||
			    sa_set_str(&sa, host, to->port ? to->port : 5060)) {
				reply(r, msg, 400, "Bad Request-URI");
				return;
			}
			fwd_nexthop_print(b.nexthop, sizeof(b.nexthop),
					  SIP_TRANSP_UDP, &sa);
			o.back = edge_backend_index(r, &sa);
			o.what = service_name[o.back];
			o.stateless = true;    /* the device keeps its own */
			/* a refresh to a daemon that is down or stopped gets
			 * 503 with Retry-After after route_timeout, as out
			 * of a dialog, and at once while it stays silent
			 * (fwd.c), not silence until the phone's Timer F
			 * (32 s) */
			if (pl_strcmp(&msg->met, "ACK")) {
				err = fwd_backend(r, msg, b.nexthop, &o);
				if (err)
					unavailable(r, msg, NULL,
						    "the back daemon", err);
				return;
			}
		}
		else if (pl_isset(&s.flow)) {
			/* a call: to the other party's flow */
			err = call_hop(r, msg, &s, &b);
			if (err == EBADMSG) {
				bad_token(r, msg);
				return;
			}
			if (err) {
				reply(r, msg, 404, "Not Found");
				return;
			}
			if (b.tp != SIP_TRANSP_UDP &&
			    !tcpguard_connected(&b.addr)) {
				flow_failed(r, msg, &b.addr);
				return;
			}
			o.timeout_code = 408;
			o.what = "to the other party";
			o.stateless = true;
			dialogs_request(r->dialogs, msg);
		}
		else {
			log_sip(LOG_NOTICE, msg, NULL, "%r from %J for '%r': "
				"not a Lamplight service: 403", &msg->met,
				&msg->src, &msg->ruri);
			reply(r, msg, 403, "Forbidden: Not A Lamplight "
			      "Service");
			return;
		}
	}
	if (fwd_request(r, msg, &b, 1, &o))
		reply(r, msg, 500, "Server Internal Error");
}

/* An ACK goes on only along a dialog of ours: with a valid flow token
 * (a call's, for its Call-ID). One without a token (the ACK of a 407 of
 * ours) ends here unsaid; one with a bad token is logged. */
static bool route_ack_routable(struct edge *r, const struct sip_msg *msg,
			       const struct toproute *s)
{
	enum sip_transp tp;
	struct sa dst;

	if (!pl_isset(&s->flow))
		return false;
	if (flow_token_decode(&s->flow, r->nonces, &msg->callid, &tp, &dst)) {
		bad_token(r, msg);
		return false;
	}
	return true;
}

/* ---- from back daemons to users ---- */

static bool uri_matches(const struct uri *u, const char *s)
{
	struct pl pl;
	struct uri b;

	pl_set_str(&pl, s);
	return !uri_decode(&b, &pl) && sipuri_equal(u, &b);
}

/* To user@our-domain: every device of the user. To a device's own
 * contact URI: that device only, found among the bindings of the To user.
 * Each on the flow its REGISTER came on. */
/* To every reachable device of the user the request names, as `pai_user`
 * (NULL: a back daemon's request, whose identity it asserts itself). */
static void to_devices(struct edge *r, const struct sip_msg *msg,
		       const char *pai_user, const char *record_route)
{
	struct fwd_branch b[FWD_MAX_BRANCHES];
	bool whole_user = edge_is_local(r, &msg->uri);
	const struct pl *user = whole_user ? &msg->uri.user
					   : &msg->to.uri.user;
	struct fwd_opts o;
	const struct aor *a;
	struct le *le;
	unsigned n = 0;

	memset(&o, 0, sizeof(o));
	a = user->l ? location_find(r->loc, user) : NULL;
	for (le = a ? a->bindings.head : NULL; le && n < FWD_MAX_BRANCHES;
	     le = le->next) {
		const struct binding *bd = le->data;

		if (bd->unreachable)
			continue;      /* registered is not reachable */
		if (!whole_user && !uri_matches(&msg->uri, bd->uri))
			continue;
		memset(&b[n], 0, sizeof(b[n]));
		str_ncpy(b[n].ruri, bd->uri, sizeof(b[n].ruri));
		fwd_nexthop_print(b[n].nexthop, sizeof(b[n].nexthop), bd->tp,
				  &bd->src);
		b[n].addr = bd->src;   /* no need to read the next hop back */
		b[n].tp = bd->tp;
		b[n].has_addr = true;
		++n;
	}
	if (!n) {
		reply(r, msg, 480, "Temporarily Unavailable");
		return;
	}
	o.timeout_code = 408;
	o.what = "to the user's devices";
	o.pai_user = pai_user;
	o.record_route = record_route;
	/* a back daemon's request for one device (the IM relay's copy of a
	 * message) goes statelessly: the daemon keeps its own transaction,
	 * and the branch, a function of the daemon's, is the same after a
	 * restart of ours, so that the device absorbs a retransmission of
	 * what it has already answered (RFC 3261 §16.11) */
	o.stateless = !pai_user && !whole_user && n == 1 &&
		pl_strcmp(&msg->met, "INVITE");
	if (fwd_request(r, msg, b, n, &o))
		reply(r, msg, 500, "Server Internal Error");
}

void route_to_user(struct edge *r, const struct sip_msg *msg)
{
	to_devices(r, msg, NULL, NULL);
}

/* OPTIONS to a user (RFC 3261 §11: what can bob's phones do) and REFER
 * outside a dialog (RFC 3515: ask bob's phone to call someone), from a
 * user: admitted like every request from a user, then forked to the
 * user's devices with the asserted identity. A REFER makes a dialog (its
 * NOTIFYs come back): it is Record-Routed. */
void route_user_to_user(struct edge *r, const struct sip_msg *msg)
{
	struct user_rec *u = NULL, *callee = NULL;
	char rr[256];
	bool refer = !pl_strcmp(&msg->met, "REFER");
	int err;

	if (auth_from_user(r, msg, &u))
		return;
	err = users_cache_get(r->users, &msg->uri.user, &callee);
	if (err) {
		if (store_unavailable(err))
			reply(r, msg, 503, "Service Unavailable");
		else
			reply(r, msg, 404, "Not Found");
		goto out;
	}
	if (refer && flow_record_route(rr, sizeof(rr), r->nonces, msg, NULL)) {
		reply(r, msg, 500, "Server Internal Error");
		goto out;
	}
	to_devices(r, msg, u->username, refer ? rr : NULL);
 out:
	mem_deref(callee);
	mem_deref(u);
}
