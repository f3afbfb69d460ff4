/* dialog: one record per call (by Call-ID), holding both users' views:
 * the caller is the initiator, the callee the recipient (RFC 4235 terms).
 * Each change publishes two bus messages, keys "CALLER/CALL-ID" and
 * "CALLEE/CALL-ID": trying when the INVITE goes out, early on a
 * provisional answer with a To-tag, confirmed on the 2xx, and a `del`
 * with state terminated when the call is rejected, cancelled, times out
 * or ends with BYE. Nothing is stored: after a restart the bus snapshot
 * holds no calls, which tells every subscriber that the calls it knew are
 * over. Calls are capped (MAX_CALLS): past it the oldest are ended.
 *
 * A confirmed call lives as long as its session interval (RFC 4028: the
 * Session-Expires of its 2xx) and a margin, started again by every 2xx
 * to a re-INVITE or UPDATE; a call without one lives call_max_duration. When that time
 * passes with no refresh, both phones get a BYE on their flows (whoever
 * of them is still there) and the call ends, reason `timeout`: a call
 * whose phones vanished no longer holds their lamps busy. For those BYEs
 * the record keeps each party's flow, target (its Contact) and the
 * highest CSeq it sent. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "bus/bus.h"
#include "base/conf.h"
#include "base/log.h"
#include "sip/sipval.h"
#include "edge.h"
#include "dialog.h"

#define MAX_CALLS 20000

struct dialogs;

struct dlg {
	struct le he;
	struct le le;          /* oldest first */
	struct dialogs *d;
	char *callid;
	char *caller, *callee;
	char *ftag, *ttag;     /* From-tag (caller's), To-tag (callee's) */
	char *caller_uri, *callee_uri, *caller_target, *callee_target;
	char *from_hdr, *to_hdr;   /* as the call's requests carry them */
	struct dlg_flow caller_flow, callee_flow;
	uint32_t caller_cseq, callee_cseq;
	bool callee_sent;      /* callee_cseq is one it sent */
	uint32_t interval;     /* s, the session interval; 0: none */
	struct tmrq_entry expiry;
	const char *state;
};

struct dialogs {
	struct edge *r;
	struct bus_pub *pub;
	struct hash *ht;
	struct list order;
	struct tmrq expiries;  /* confirmed calls, by when they expire */
	uint32_t n;
};

static void dlg_destructor(void *arg)
{
	struct dlg *g = arg;

	hash_unlink(&g->he);
	list_unlink(&g->le);
	tmrq_cancel(&g->expiry);
	mem_deref(g->from_hdr);
	mem_deref(g->to_hdr);
	mem_deref(g->callid);
	mem_deref(g->caller);
	mem_deref(g->callee);
	mem_deref(g->ftag);
	mem_deref(g->ttag);
	mem_deref(g->caller_uri);
	mem_deref(g->callee_uri);
	mem_deref(g->caller_target);
	mem_deref(g->callee_target);
}

static void dialogs_destructor(void *arg)
{
	struct dialogs *d = arg;
	struct le *le = d->order.head;

	while (le) {
		struct dlg *g = le->data;
		le = le->next;
		mem_deref(g);
	}
	tmrq_close(&d->expiries);
	mem_deref(d->ht);
}

int dialogs_alloc(struct dialogs **dp, struct edge *r, struct bus_pub *pub)
{
	struct dialogs *d;
	int err;

	if (!dp || !r)
		return EINVAL;
	d = mem_zalloc(sizeof(*d), dialogs_destructor);
	if (!d)
		return ENOMEM;
	d->r = r;
	d->pub = pub;
	tmrq_init(&d->expiries, 0);
	err = hash_alloc(&d->ht, 1024);
	if (err)
		mem_deref(d);
	else
		*dp = d;
	return err;
}

static bool cmp_h(struct le *le, void *arg)
{
	const struct dlg *g = le->data;

	return 0 == pl_strcmp(arg, g->callid);
}

static struct dlg *find(struct dialogs *d, const struct pl *callid)
{
	return list_ledata(hash_lookup(d->ht, hash_joaat_pl(callid), cmp_h,
				       (void *)callid));
}

/* one user's view of the call */
static void publish_one(struct dialogs *d, const struct dlg *g,
			bool initiator, const char *reason)
{
	const char *user = initiator ? g->caller : g->callee;
	struct odict *o = NULL;
	char *key = NULL;
	bool term = !strcmp(g->state, "terminated");
	int err;

	if (!d->pub || !user)
		return;
	err = re_sdprintf(&key, "%s/%s", user, g->callid);
	err = err ? err : odict_alloc(&o, 16);
	if (err)
		goto out;
	err = odict_entry_add(o, "user", ODICT_STRING, user);
	err = err ? err : odict_entry_add(o, "call_id", ODICT_STRING,
					  g->callid);
	err = err ? err : odict_entry_add(o, "direction", ODICT_STRING,
					  initiator ? "initiator" :
					  "recipient");
	err = err ? err : odict_entry_add(o, "state", ODICT_STRING,
					  g->state);
	err = err ? err : odict_entry_add(o, "local_tag", ODICT_STRING,
					  initiator ? g->ftag :
					  (g->ttag ? g->ttag : ""));
	err = err ? err : odict_entry_add(o, "remote_tag", ODICT_STRING,
					  initiator ? (g->ttag ? g->ttag : "")
					  : g->ftag);
	err = err ? err : odict_entry_add(o, "peer", ODICT_STRING,
					  initiator ? g->callee_uri :
					  g->caller_uri);
	err = err ? err : odict_entry_add(o, "peer_target", ODICT_STRING,
					  initiator ?
					  (g->callee_target ? g->callee_target
					   : "") : g->caller_target);
	err = err ? err : odict_entry_add(o, "local_target", ODICT_STRING,
					  initiator ? g->caller_target :
					  (g->callee_target ? g->callee_target
					   : ""));
	if (!err && reason)
		err = odict_entry_add(o, "reason", ODICT_STRING, reason);
	if (err)
		goto out;
	err = term ? bus_pub_del(d->pub, "dialog", key, o)
		   : bus_pub_set(d->pub, "dialog", key, o);
 out:
	if (err)
		log_warn("bus: cannot publish dialog '%s': %m, ignoring",
			 key ? key : "?", err);
	mem_deref(o);
	mem_deref(key);
}

static void publish(struct dialogs *d, const struct dlg *g,
		    const char *reason)
{
	publish_one(d, g, true, reason);
	publish_one(d, g, false, reason);
}

static void end(struct dialogs *d, struct dlg *g, const char *reason)
{
	g->state = "terminated";
	publish(d, g, reason);
	mem_deref(g);
	--d->n;
}

/* ---- the end of a call nobody keeps alive ---- */

static void bye_resp_h(int err, const struct sip_msg *msg, void *arg)
{
	(void)err;
	(void)msg;
	(void)arg;             /* a vanished phone answers nothing: fine */
}

/* A BYE from the edge to one party, on its flow, in the other's name. */
static void send_bye(struct dialogs *d, const struct dlg *g, bool to_callee)
{
	const struct dlg_flow *f = to_callee ? &g->callee_flow
					     : &g->caller_flow;
	const char *target = to_callee ? g->callee_target : g->caller_target;
	const char *from = to_callee ? g->from_hdr : g->to_hdr;
	const char *to = to_callee ? g->to_hdr : g->from_hdr;
	uint32_t cseq = to_callee ? g->caller_cseq + 1 :
		(g->callee_sent ? g->callee_cseq + 1 : 1);
	char hop[128];
	struct uri route;
	struct pl pl;
	int err;

	if (!target || !target[0] || !from || !to || !sa_isset(&f->dst,
							      SA_ALL))
		return;
	re_snprintf(hop, sizeof(hop), "sip:%J;transport=%s", &f->dst,
		    f->tp == SIP_TRANSP_TCP ? "tcp" :
		    f->tp == SIP_TRANSP_TLS ? "tls" : "udp");
	pl_set_str(&pl, hop);
	if (uri_decode(&route, &pl))
		return;
	err = sip_requestf(NULL, d->r->sip, true, "BYE", target, &route,
			   NULL, NULL, bye_resp_h, NULL,
			   "From: %s\r\n"
			   "To: %s\r\n"
			   "Call-ID: %s\r\n"
			   "CSeq: %u BYE\r\n"
			   "Reason: SIP;cause=408;text=\"%s\"\r\n"
			   "Content-Length: 0\r\n\r\n", from, to, g->callid,
			   cseq, g->interval ? "Session Timer Expired" :
			   "Call Too Long");
	if (err)
		log_warn("call '%s': cannot send BYE to %J: %m", g->callid,
			 &f->dst, err);
}

static void expiry_h(void *arg)
{
	struct dlg *g = arg;
	struct dialogs *d = g->d;

	if (g->interval)
		log_info("call '%s' between '%s' and '%s': no session refresh "
			 "in %u s: BYE to both", g->callid, g->caller,
			 g->callee, g->interval);
	else
		log_info("call '%s' between '%s' and '%s': longer than "
			 "call_max_duration (%u s), with no session timer: BYE "
			 "to both", g->callid, g->caller, g->callee,
			 d->r->conf->call_max_duration);
	send_bye(d, g, true);
	send_bye(d, g, false);
	end(d, g, "timeout");
}

/* The time the call has now: its session interval and a margin, or
 * the cap. The margin is the one RFC 4028 §10 gives the phone that waits
 * (min(32 s, a third)): a refresher refreshes at half the interval, so
 * one refresh whose 2xx the edge missed (a datagram lost in an overload)
 * does not end a live call; the phones, which did get it, go on. */
static void expiry_start(struct dialogs *d, struct dlg *g)
{
	uint64_t ms;

	if (g->interval) {
		ms = (uint64_t)g->interval * 1000;
		ms += ms / 3 < 32000 ? ms / 3 : 32000;
	}
	else {
		ms = (uint64_t)d->r->conf->call_max_duration * 1000;
	}
	if (ms)
		tmrq_start_in(&d->expiries, &g->expiry, ms, expiry_h, g);
	else
		tmrq_cancel(&g->expiry);
}

static void flow_of(struct dlg_flow *f, const struct sip_msg *msg)
{
	struct pl rp;

	f->tp = msg->tp;
	sip_reply_addr(&f->dst, msg,
		       !msg_param_exists(&msg->via.params, "rport", &rp));
}

/* The first value of a header as a request of the call carries it. */
static int hdr_dup(char **dst, const struct sip_msg *msg,
		   enum sip_hdrid id)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	return h ? pl_strdup(dst, &h->val) : EINVAL;
}

static void target_set(char **target, const struct sip_msg *msg)
{
	const struct sip_hdr *ct = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr a;

	if (!ct || sip_addr_decode(&a, &ct->val))
		return;
	*target = mem_deref(*target);
	(void)pl_strdup(target, &a.auri);
}

void dialogs_invite(struct dialogs *d, const struct sip_msg *inv,
		    const char *caller, const char *callee)
{
	const char *domain;
	struct dlg *g;
	int err;

	if (!d || find(d, &inv->callid))
		return;                /* a re-INVITE or a second try */
	if (d->n >= MAX_CALLS && d->order.head)
		end(d, d->order.head->data, "overflow");
	g = mem_zalloc(sizeof(*g), dlg_destructor);
	if (!g)
		return;
	g->d = d;
	domain = d->r->conf->domain;
	err = pl_strdup(&g->callid, &inv->callid);
	err |= str_dup(&g->caller, caller);
	err |= str_dup(&g->callee, callee);
	err |= pl_strdup(&g->ftag, &inv->from.tag);
	err |= re_sdprintf(&g->caller_uri, "sip:%s@%s", caller, domain);
	err |= re_sdprintf(&g->callee_uri, "sip:%s@%s", callee, domain);
	err |= hdr_dup(&g->from_hdr, inv, SIP_HDR_FROM);
	target_set(&g->caller_target, inv);
	if (!g->caller_target)
		err |= str_dup(&g->caller_target, "");
	if (err) {
		mem_deref(g);
		return;
	}
	flow_of(&g->caller_flow, inv);
	g->caller_cseq = inv->cseq.num;
	g->state = "trying";
	hash_append(d->ht, hash_joaat_pl(&inv->callid), &g->he, g);
	list_append(&d->order, &g->le, g);
	++d->n;
	publish(d, g, NULL);
}

/* An answer relayed to the caller: early, confirmed or the end. */
void dialogs_response(struct dialogs *d, const struct sip_msg *inv,
		      const struct sip_msg *resp,
		      const struct dlg_flow *callee, uint32_t interval)
{
	struct dlg *g = d ? find(d, &inv->callid) : NULL;
	const char *state;

	if (!g || resp->scode == 100)
		return;
	if (resp->scode >= 300) {
		end(d, g, resp->scode == 487 ? "cancelled" : "rejected");
		return;
	}
	state = resp->scode >= 200 ? "confirmed" : "early";
	if (resp->scode < 200 && !pl_isset(&resp->to.tag))
		return;
	if (!strcmp(g->state, "confirmed"))
		return;
	if (pl_isset(&resp->to.tag)) {
		g->ttag = mem_deref(g->ttag);
		(void)pl_strdup(&g->ttag, &resp->to.tag);
	}
	target_set(&g->callee_target, resp);
	g->state = state;
	if (resp->scode >= 200) {
		g->to_hdr = mem_deref(g->to_hdr);
		(void)hdr_dup(&g->to_hdr, resp, SIP_HDR_TO);
		if (callee)
			g->callee_flow = *callee;
		g->interval = interval;
		expiry_start(d, g);
	}
	publish(d, g, NULL);
}

/* An INVITE outside a dialog (no To-tag) for a call already answered,
 * from the same caller: a retransmission whose 2xx crossed it. */
bool dialogs_answered(struct dialogs *d, const struct sip_msg *inv)
{
	struct dlg *g;

	if (!d || pl_isset(&inv->to.tag))
		return false;
	g = find(d, &inv->callid);
	return g && !strcmp(g->state, "confirmed") &&
		0 == pl_strcmp(&inv->from.tag, g->ftag);
}

/* Which party sent a request of the call: the caller's From-tag is the
 * call's. */
static bool from_caller(const struct dlg *g, const struct sip_msg *msg)
{
	return 0 == pl_strcmp(&msg->from.tag, g->ftag);
}

void dialogs_request(struct dialogs *d, const struct sip_msg *msg)
{
	struct dlg *g = d ? find(d, &msg->callid) : NULL;
	bool caller;

	if (!g || !pl_strcmp(&msg->met, "ACK") ||
	    !pl_strcmp(&msg->met, "CANCEL"))
		return;
	caller = from_caller(g, msg);
	if (caller && msg->cseq.num > g->caller_cseq)
		g->caller_cseq = msg->cseq.num;
	else if (!caller && (!g->callee_sent ||
			     msg->cseq.num > g->callee_cseq)) {
		g->callee_cseq = msg->cseq.num;
		g->callee_sent = true;
	}
	if (!pl_strcmp(&msg->met, "BYE")) {
		end(d, g, "bye");
		return;
	}
	/* a target refresh (RFC 3261 §12.2) */
	if (!pl_strcmp(&msg->met, "INVITE") || !pl_strcmp(&msg->met, "UPDATE"))
		target_set(caller ? &g->caller_target : &g->callee_target,
			   msg);
}

/* RFC 4028 §8.2: the 2xx to a session refresh says the interval from
 * now; a 2xx without Session-Expires turns the session timer off. */
void dialogs_refresh(struct dialogs *d, const struct sip_msg *resp)
{
	struct dlg *g = d ? find(d, &resp->callid) : NULL;
	uint32_t se;

	if (!g || strcmp(g->state, "confirmed") ||
	    resp->scode < 200 || resp->scode >= 300)
		return;
	if (sipval_session_expires(resp, &se, NULL))
		se = g->interval;      /* unreadable: keep what we had */
	g->interval = se;
	/* the answerer's target, for the BYE */
	target_set(from_caller(g, resp) ? &g->callee_target
					: &g->caller_target, resp);
	expiry_start(d, g);
}

void dialogs_end(struct dialogs *d, const struct pl *callid,
		 const char *reason)
{
	struct dlg *g = d ? find(d, callid) : NULL;

	if (g)
		end(d, g, reason);
}

/* A call through the edge with these two tags, in either order (its
 * caller's and its callee's). */
bool dialogs_knows(struct dialogs *d, const struct pl *callid,
		   const struct pl *tag1, const struct pl *tag2)
{
	const struct dlg *g = d ? find(d, callid) : NULL;

	if (!g || !g->ttag)
		return false;
	return (!pl_strcmp(tag1, g->ftag) && !pl_strcmp(tag2, g->ttag)) ||
	       (!pl_strcmp(tag1, g->ttag) && !pl_strcmp(tag2, g->ftag));
}

uint32_t dialogs_count(const struct dialogs *d)
{
	return d ? d->n : 0;
}
