/* route: PUBLISH and SUBSCRIBE for presence and presence.winfo go to the
 * presence daemon, SUBSCRIBE for dialog to the BLF gateway, MESSAGE to the
 * IM relay. Each is challenged (407), its From must be the authenticated
 * user, any P-Asserted-Identity from outside is removed and the edge's own
 * added, and it is forwarded statefully (LIBRE.md §6.7): the back daemon's
 * final answer is relayed without our Via; silence past route_timeout
 * gets 503 with Retry-After, never nothing. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "conf.h"
#include "log.h"
#include "store_users.h"
#include "registrar.h"
#include "auth.h"
#include "route.h"

#define RETRY_AFTER 5          /* s, in 503s for a silent back daemon */
#define ALLOW_EVENTS "presence, presence.winfo, dialog"

static const char *service_name[ROUTE_COUNT] = {
	"presence", "imrelay", "blf",
};

/* A request on its way to a back daemon and its answer on the way back. */
struct fwd {
	struct registrar *r;
	struct sip_strans *st;
	struct sip_request *req;
	struct sip_msg *msg;
	struct tmr tmr;
	enum route_service svc;
};

static void fwd_destructor(void *arg)
{
	struct fwd *f = arg;

	tmr_cancel(&f->tmr);
	mem_deref(f->req);     /* still in flight: cancelled silently */
	mem_deref(f->st);
	mem_deref(f->msg);
}

bool route_handles(const struct sip_msg *msg)
{
	return !pl_strcmp(&msg->met, "SUBSCRIBE") ||
	       !pl_strcmp(&msg->met, "PUBLISH") ||
	       !pl_strcmp(&msg->met, "MESSAGE");
}

/* -1 with the answer sent when no daemon owns the request */
static int service_of(struct registrar *r, const struct sip_msg *msg)
{
	const struct sip_hdr *h;
	struct sipevent_event ev;

	if (!pl_strcmp(&msg->met, "MESSAGE"))
		return ROUTE_IMRELAY;

	h = sip_msg_hdr(msg, SIP_HDR_EVENT);
	if (!h || sipevent_event_decode(&ev, &h->val)) {
		(void)sip_replyf(r->sip, msg, 489, "Bad Event",
				 "Allow-Events: " ALLOW_EVENTS "\r\n"
				 "Content-Length: 0\r\n\r\n");
		return -1;
	}
	if (!pl_strcasecmp(&ev.event, "presence") ||
	    !pl_strcasecmp(&ev.event, "presence.winfo"))
		return ROUTE_PRESENCE;
	if (!pl_strcasecmp(&ev.event, "dialog") &&
	    !pl_strcmp(&msg->met, "SUBSCRIBE"))
		return ROUTE_BLF;
	(void)sip_replyf(r->sip, msg, 489, "Bad Event",
			 "Allow-Events: " ALLOW_EVENTS "\r\n"
			 "Content-Length: 0\r\n\r\n");
	return -1;
}

static void unavailable(struct fwd *f, const char *why)
{
	log_sip(LOG_WARNING, f->msg, NULL, "%r to %s: %s: 503",
		&f->msg->met, service_name[f->svc], why);
	(void)sip_treplyf(&f->st, NULL, f->r->sip, f->msg, false, 503,
			  "Service Unavailable", "Retry-After: %u\r\n"
			  "Content-Length: 0\r\n\r\n", RETRY_AFTER);
}

static void timeout_h(void *arg)
{
	struct fwd *f = arg;

	unavailable(f, "no answer");
	mem_deref(f);
}

/* The answer of the back daemon, minus our Via, to the user. */
static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct fwd *f = arg;
	struct mbuf *mb = NULL;
	struct sa dst;
	struct pl rp;
	struct le *le;
	bool first_via = true;

	if (err || !msg) {
		unavailable(f, err ? "transport error" : "no answer");
		goto out;
	}
	if (msg->scode < 200)
		return;                /* non-INVITE: provisional stays here */

	mb = mbuf_alloc(512 + mbuf_get_left(msg->mb));
	if (!mb) {
		unavailable(f, "out of memory");
		goto out;
	}
	err = mbuf_printf(mb, "SIP/2.0 %u %r\r\n", msg->scode, &msg->reason);
	for (le = list_head(&msg->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;

		if (h->id == SIP_HDR_VIA && first_via) {
			first_via = false;
			continue;
		}
		err = mbuf_printf(mb, "%r: %r\r\n", &h->name, &h->val);
	}
	err = err ? err : mbuf_write_str(mb, "\r\n");
	err = err ? err : mbuf_write_mem(mb, mbuf_buf(msg->mb),
					 mbuf_get_left(msg->mb));
	if (err) {
		unavailable(f, "cannot relay the answer");
		goto out;
	}
	mb->pos = 0;
	sip_reply_addr(&dst, f->msg,
		       !msg_param_exists(&f->msg->via.params, "rport", &rp));
	(void)sip_strans_reply(&f->st, f->r->sip, f->msg, &dst, msg->scode,
			       mb);
 out:
	f->req = NULL;         /* completed: libre has let go of it */
	mem_deref(mb);
	mem_deref(f);
}

/* Every header but Max-Forwards (decremented), outside identities and our
 * own credentials; then the asserted identity and the body. */
static int build(struct mbuf *mb, const struct registrar *r,
		 const struct sip_msg *msg, const struct user_rec *u)
{
	uint32_t mf = pl_isset(&msg->maxfwd) ? pl_u32(&msg->maxfwd) : 70;
	struct le *le;
	int err = 0;

	for (le = list_head(&msg->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;

		switch (h->id) {
		case SIP_HDR_MAX_FORWARDS:
		case SIP_HDR_P_ASSERTED_IDENTITY:
		case SIP_HDR_PROXY_AUTHORIZATION:
			continue;
		default:
			break;
		}
		err = mbuf_printf(mb, "%r: %r\r\n", &h->name, &h->val);
	}
	err = err ? err : mbuf_printf(mb, "Max-Forwards: %u\r\n"
				      "P-Asserted-Identity: <sip:%s@%s>\r\n"
				      "\r\n", mf ? mf - 1 : 0, u->username,
				      r->conf->domain);
	err = err ? err : mbuf_write_mem(mb, mbuf_buf(msg->mb),
					 mbuf_get_left(msg->mb));
	mb->pos = 0;
	return err;
}

void route_request(struct registrar *r, const struct sip_msg *msg)
{
	const struct conf_listen *dst;
	struct user_rec *u = NULL;
	struct mbuf *mb = NULL;
	struct fwd *f = NULL;
	char uri[128];
	struct uri route;
	struct pl rpl;
	int svc, err;

	if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0) {
		(void)sip_replyf(r->sip, msg, 483, "Too Many Hops",
				 "Content-Length: 0\r\n\r\n");
		return;
	}
	if (auth_request(r, msg, AUTH_PROXY, &msg->from.uri.user, &u))
		return;

	/* the authenticated user speaks only for itself */
	if (pl_strcmp(&msg->from.uri.user, u->username) ||
	    !registrar_is_local(r, &msg->from.uri)) {
		log_sip(LOG_NOTICE, msg, u->username, "%r with From '%r': "
			"refused, not the authenticated user", &msg->met,
			&msg->from.auri);
		(void)sip_replyf(r->sip, msg, 403, "Forbidden: From Is Not "
				 "The Authenticated User",
				 "Content-Length: 0\r\n\r\n");
		goto out;
	}

	svc = service_of(r, msg);
	if (svc < 0)
		goto out;

	f = mem_zalloc(sizeof(*f), fwd_destructor);
	if (!f) {
		(void)sip_replyf(r->sip, msg, 500, "Server Internal Error",
				 "Content-Length: 0\r\n\r\n");
		goto out;
	}
	f->r = r;
	f->svc = (enum route_service)svc;
	f->msg = mem_ref((void *)msg);
	tmr_init(&f->tmr);
	err = sip_strans_alloc(&f->st, r->sip, msg, NULL, f);
	if (err) {
		(void)sip_replyf(r->sip, msg, 500, "Server Internal Error",
				 "Content-Length: 0\r\n\r\n");
		goto out;
	}

	dst = r->conf->routes[svc].port ? &r->conf->routes[svc] : NULL;
	if (!dst) {
		unavailable(f, "not configured (route_*)");
		goto out;
	}
	re_snprintf(uri, sizeof(uri), "sip:%s%s%s:%u;transport=%s",
		    strchr(dst->addr, ':') ? "[" : "", dst->addr,
		    strchr(dst->addr, ':') ? "]" : "", dst->port,
		    conf_tp_name(dst->tp));
	pl_set_str(&rpl, uri);
	mb = mbuf_alloc(1024 + mbuf_get_left(msg->mb));
	if (!mb || uri_decode(&route, &rpl) || build(mb, r, msg, u)) {
		unavailable(f, "cannot build the request");
		goto out;
	}
	err = sip_request(&f->req, r->sip, true, msg->met.p, (int)msg->met.l,
			  msg->ruri.p, (int)msg->ruri.l, &route, mb, 0, NULL,
			  resp_h, f);
	if (err) {
		unavailable(f, "cannot send");
		goto out;
	}
	tmr_start(&f->tmr, r->conf->route_timeout, timeout_h, f);
	log_sip(LOG_DEBUG, msg, u->username, "%r to %s", &msg->met,
		service_name[svc]);
	f = NULL;              /* owned by the transaction until resp_h */

 out:
	mem_deref(f);
	mem_deref(mb);
	mem_deref(u);
}
