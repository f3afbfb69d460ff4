/* dialog: one record per call (by Call-ID), holding both users' views:
 * the caller is the initiator, the callee the recipient (RFC 4235 terms).
 * Each change publishes two bus messages, keys "CALLER/CALL-ID" and
 * "CALLEE/CALL-ID": trying when the INVITE goes out, early on a
 * provisional answer with a To-tag, confirmed on the 2xx, and a `del`
 * with state terminated when the call is rejected, cancelled, times out
 * or ends with BYE. Nothing is stored: after a restart the bus snapshot
 * holds no calls, which tells every subscriber that the calls it knew are
 * over. Calls are capped (MAX_CALLS): past it the oldest are ended. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "bus/bus.h"
#include "base/log.h"
#include "dialog.h"

#define MAX_CALLS 20000

struct dlg {
	struct le he;
	struct le le;          /* oldest first */
	char *callid;
	char *caller, *callee;
	char *ftag, *ttag;     /* From-tag (caller's), To-tag (callee's) */
	char *caller_uri, *callee_uri, *caller_target, *callee_target;
	const char *state;
};

struct dialogs {
	struct bus_pub *pub;
	const char *domain;
	struct hash *ht;
	struct list order;
	uint32_t n;
};

static void dlg_destructor(void *arg)
{
	struct dlg *g = arg;

	hash_unlink(&g->he);
	list_unlink(&g->le);
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
	mem_deref(d->ht);
}

int dialogs_alloc(struct dialogs **dp, struct bus_pub *pub,
		  const char *domain)
{
	struct dialogs *d;
	int err;

	if (!dp)
		return EINVAL;
	d = mem_zalloc(sizeof(*d), dialogs_destructor);
	if (!d)
		return ENOMEM;
	d->pub = pub;
	d->domain = domain;
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

void dialogs_invite(struct dialogs *d, const struct sip_msg *inv,
		    const char *caller, const char *callee)
{
	struct dlg *g;
	const struct sip_hdr *ct;
	int err;

	if (!d || find(d, &inv->callid))
		return;                /* a re-INVITE or a second try */
	if (d->n >= MAX_CALLS && d->order.head)
		end(d, d->order.head->data, "overflow");
	g = mem_zalloc(sizeof(*g), dlg_destructor);
	if (!g)
		return;
	ct = sip_msg_hdr(inv, SIP_HDR_CONTACT);
	err = pl_strdup(&g->callid, &inv->callid);
	err |= str_dup(&g->caller, caller);
	err |= str_dup(&g->callee, callee);
	err |= pl_strdup(&g->ftag, &inv->from.tag);
	err |= re_sdprintf(&g->caller_uri, "sip:%s@%s", caller, d->domain);
	err |= re_sdprintf(&g->callee_uri, "sip:%s@%s", callee, d->domain);
	if (ct) {
		struct sip_addr a;
		if (!sip_addr_decode(&a, &ct->val))
			err |= pl_strdup(&g->caller_target, &a.auri);
	}
	if (!g->caller_target)
		err |= str_dup(&g->caller_target, "");
	if (err) {
		mem_deref(g);
		return;
	}
	g->state = "trying";
	hash_append(d->ht, hash_joaat_pl(&inv->callid), &g->he, g);
	list_append(&d->order, &g->le, g);
	++d->n;
	publish(d, g, NULL);
}

/* An answer relayed to the caller: early, confirmed or the end. */
void dialogs_response(struct dialogs *d, const struct sip_msg *inv,
		      const struct sip_msg *resp)
{
	struct dlg *g = d ? find(d, &inv->callid) : NULL;
	const struct sip_hdr *ct;
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
	ct = sip_msg_hdr(resp, SIP_HDR_CONTACT);
	if (ct) {
		struct sip_addr a;
		if (!sip_addr_decode(&a, &ct->val)) {
			g->callee_target = mem_deref(g->callee_target);
			(void)pl_strdup(&g->callee_target, &a.auri);
		}
	}
	g->state = state;
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

void dialogs_end(struct dialogs *d, const struct pl *callid,
		 const char *reason)
{
	struct dlg *g = d ? find(d, callid) : NULL;

	if (g)
		end(d, g, reason);
}
