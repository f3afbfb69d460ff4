/* lamps: what a BLF key shows for each user, as dialog-info (RFC 4235).
 *
 * A user's lamp is composed from two topics of the bus: the user's calls
 * (`dialog`, from the edge: trying, early, confirmed, terminated, one key
 * per user and call) and the user's presence (`pres`, from the presence
 * daemon: RPID activities). Every NOTIFY carries the full state:
 *
 *   calls         one <dialog> per call, with its Call-ID and tags, its
 *                 direction, and both parties' identity and target (what
 *                 a phone needs for directed pickup with Replaces); the
 *                 callee's side from the moment a phone rings (early),
 *                 the caller's from the INVITE (trying)
 *   no call, an activity of blf_busy_activities (do not disturb)
 *                 one confirmed <dialog>: the lamp shows busy
 *   neither       one terminated <dialog>: idle (phones want at least one
 *                 dialog element)
 *
 * An ended call stays in the document as terminated until the next
 * change or for END_KEEP_S, so that a watcher sees it end; then the lamp
 * is idle without another NOTIFY.
 *
 * On a node of a cluster the other nodes' calls and registrations light
 * the lamps too (cluster/follow.h): each node's count of a user's
 * devices is kept apart and summed, and a call that both nodes report
 * (it passes through both) is shown as this node's edge saw it. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/log.h"
#include "presence/notifier.h"
#include "store/store.h"
#include "store/store_users.h"
#include "bus/bus.h"
#include "bus/regtopic.h"
#include "cluster/follow.h"
#include "cluster/nodesum.h"
#include "base/xmlesc.h"
#include "blf.h"

#define MAX_CALLS 16           /* per user; past it the oldest go */
#define END_KEEP_S 5
#define MAX_FIELD 256

struct call {
	struct le le;          /* lamp->calls, oldest first */
	unsigned src;          /* the node that reports it (follow.h) */
	char *callid;
	char *dir, *state, *ltag, *rtag, *peer, *peer_target, *target;
	uint64_t ended;        /* s since 1970, 0 while it lasts */
};

struct lamp {
	struct le he;          /* b->lamps */
	char *user;
	struct list calls;
	bool busy;             /* presence says do not disturb */
	bool owed;             /* a NOTIFY to send on the next tick */
	struct nodesum devices; /* reachable registered devices (reg) */
};

/* What a lamp shows, remembered per subscription (nsub_mark) for
 * blf_idle_between. */
enum lamp_show {
	SHOW_UNKNOWN = 0,
	SHOW_IDLE,
	SHOW_BUSY,
	SHOW_RINGING,
};

static void call_destructor(void *arg)
{
	struct call *c = arg;

	list_unlink(&c->le);
	mem_deref(c->callid);
	mem_deref(c->dir);
	mem_deref(c->state);
	mem_deref(c->ltag);
	mem_deref(c->rtag);
	mem_deref(c->peer);
	mem_deref(c->peer_target);
	mem_deref(c->target);
}

static void lamp_destructor(void *arg)
{
	struct lamp *l = arg;

	hash_unlink(&l->he);
	list_flush(&l->calls);
	nodesum_reset(&l->devices);
	mem_deref(l->user);
}

static bool lamp_cmp(struct le *le, void *arg)
{
	const struct lamp *l = le->data;

	return !strcmp(l->user, arg);
}

static struct lamp *lamp_find(struct blf *b, const char *user, bool make)
{
	struct lamp *l = list_ledata(hash_lookup(b->lamps,
						 hash_joaat_str(user),
						 lamp_cmp, (void *)user));

	if (l || !make)
		return l;
	l = mem_zalloc(sizeof(*l), lamp_destructor);
	if (!l || str_dup(&l->user, user))
		return mem_deref(l);
	hash_append(b->lamps, hash_joaat_str(user), &l->he, l);
	return l;
}

/* Nothing left to show: the lamp goes. */
static void lamp_tidy(struct lamp *l)
{
	if (list_isempty(&l->calls) && !l->busy && !l->devices.sum)
		mem_deref(l);
}

static bool offline_mode(const struct blf *b)
{
	return !str_casecmp(b->conf->blf_unregistered, "offline");
}

/* With blf_unregistered = offline, a user with no reachable device and
 * no call has no lamp to show: each subscription ends with
 * terminated;reason=probation;retry-after (RFC 6665 §4.1.3), which phones
 * show as offline, and they subscribe again later. */
static bool offline(const struct blf *b, const struct lamp *l)
{
	return offline_mode(b) && b->reg_known &&
		(!l || (!l->devices.sum && list_isempty(&l->calls)));
}

static void offline_h(struct nsub *s, void *arg)
{
	(void)arg;
	if (nsub_state(s) != NSUB_TERMINATED)
		nsub_set_state(s, NSUB_TERMINATED, "probation");
}

static void sweep_h(struct nsub *s, void *arg)
{
	struct blf *b = arg;

	if (offline(b, lamp_find(b, nsub_presentity(s), false)))
		offline_h(s, b);
}

/* Once the registrations are known (after a start): the lamps of users
 * with no device go offline (blf_unregistered = offline). */
void lamps_sweep_offline(struct blf *b)
{
	if (offline_mode(b))
		notifier_all(b->not, sweep_h, b);
}

void lamps_reg_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct blf *b = arg;
	struct lamp *l;
	uint32_t n, was;

	if (regtopic_devices(m, &n) || strlen(m->key) >= 128)
		return;
	l = lamp_find(b, m->key, n > 0);
	if (!l)
		return;
	was = l->devices.sum;
	if (nodesum_set(&l->devices, src, n) == was) {
		lamp_tidy(l);          /* made for a count it could not keep */
		return;
	}
	if (offline(b, l))
		notifier_foreach(b->not, "dialog", m->key, offline_h, b);
	lamp_tidy(l);
}

static struct call *call_find(struct lamp *l, const char *callid)
{
	for (struct le *le = l->calls.head; le; le = le->next) {
		struct call *c = le->data;

		if (!strcmp(c->callid, callid))
			return c;
	}
	return NULL;
}

static int set_field(char **f, const struct odict *d, const char *key)
{
	const char *v = odict_string(d, key);

	if (!v)
		v = "";
	if (strlen(v) > MAX_FIELD)
		return EOVERFLOW;
	*f = mem_deref(*f);
	return str_dup(f, v);
}

/* "user/call-id" -> the user part */
static int key_user(char *user, size_t sz, const char *key)
{
	const char *slash = strchr(key, '/');

	if (!slash || slash == key || (size_t)(slash - key) >= sz)
		return EINVAL;
	memcpy(user, key, (size_t)(slash - key));
	user[slash - key] = '\0';
	return 0;
}

void lamps_dialog_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct blf *b = arg;
	const struct odict *d = m->data;
	const char *callid = d ? odict_string(d, "call_id") : NULL;
	bool gone = !strcmp(m->type, "del");
	char user[128];
	struct lamp *l;
	struct call *c;
	int err = 0;

	if (!m->key || !callid || strlen(callid) > MAX_FIELD ||
	    key_user(user, sizeof(user), m->key) ||
	    (!gone && strcmp(m->type, "set")))
		return;
	/* the callee's side shows from the moment a phone rings (early):
	 * an INVITE on its way is not yet a call at this user's desk */
	l = lamp_find(b, user, false);
	if (!gone && !str_cmp(odict_string(d, "direction"), "recipient") &&
	    !str_cmp(odict_string(d, "state"), "trying") &&
	    !(l && call_find(l, callid)))
		return;
	l = lamp_find(b, user, !gone);
	if (!l)
		return;
	c = call_find(l, callid);
	if (c && !follow_may(c->src, src))
		return;        /* another node's view of a call we hold */
	if (!c) {
		if (gone)
			return;        /* never seen: nothing to end */
		if (list_count(&l->calls) >= MAX_CALLS)
			mem_deref(l->calls.head->data);
		c = mem_zalloc(sizeof(*c), call_destructor);
		if (!c || str_dup(&c->callid, callid)) {
			mem_deref(c);
			lamp_tidy(l);
			return;
		}
		list_append(&l->calls, &c->le, c);
	}
	err |= set_field(&c->dir, d, "direction");
	err |= set_field(&c->ltag, d, "local_tag");
	err |= set_field(&c->rtag, d, "remote_tag");
	err |= set_field(&c->peer, d, "peer");
	err |= set_field(&c->peer_target, d, "peer_target");
	err |= set_field(&c->target, d, "local_target");
	c->state = mem_deref(c->state);
	err |= str_dup(&c->state, gone ? "terminated" :
		       odict_string(d, "state") ?
		       odict_string(d, "state") : "trying");
	if (err) {
		log_warn("dialog '%s': cannot keep the call: %m", m->key, err);
		mem_deref(c);
		lamp_tidy(l);
		return;
	}
	c->src = src;
	c->ended = gone ? (uint64_t)time(NULL) : 0;
	notifier_changed(b->not, "dialog", user);
}

static bool is_busy(const struct blf *b, const struct odict *d)
{
	const struct odict_entry *e = odict_get_type(d, ODICT_ARRAY,
						     "activities");

	for (struct le *le = e ? e->u.odict->lst.head : NULL; le;
	     le = le->next) {
		const struct odict_entry *a = le->data;

		if (a->type != ODICT_STRING)
			continue;
		for (unsigned i = 0; i < b->nbusy; i++)
			if (!strcmp(a->u.str, b->busy[i]))
				return true;
	}
	return false;
}

void lamps_pres_h(const struct bus_msg *m, void *arg)
{
	struct blf *b = arg;
	bool busy;
	struct lamp *l;

	if (!m->key || !m->key[0] || strlen(m->key) >= 128)
		return;
	if (!strcmp(m->type, "set"))
		busy = m->data && is_busy(b, m->data);
	else if (!strcmp(m->type, "del"))
		busy = false;
	else
		return;
	l = lamp_find(b, m->key, busy);
	if (!l || l->busy == busy)
		return;
	l->busy = busy;
	notifier_changed(b->not, "dialog", m->key);
	lamp_tidy(l);
}

/* Ended calls leave the document quietly: the watchers saw them end. */
static bool tick_h(struct le *le, void *arg)
{
	struct lamp *l = le->data;
	uint64_t now = *(uint64_t *)arg;

	for (struct le *e = l->calls.head; e; ) {
		struct call *c = e->data;

		e = e->next;
		if (c->ended && c->ended + END_KEEP_S <= now)
			mem_deref(c);
	}
	lamp_tidy(l);
	return false;
}

void lamps_tick(struct blf *b)
{
	uint64_t now = (uint64_t)time(NULL);

	hash_apply(b->lamps, tick_h, &now);
}

/* The NOTIFYs owed after an idle one (blf_idle_between): each goes after
 * the one in flight is answered. */
static bool owed_h(struct le *le, void *arg)
{
	struct lamp *l = le->data;
	struct blf *b = arg;

	if (l->owed) {
		l->owed = false;
		notifier_changed(b->not, "dialog", l->user);
	}
	return false;
}

void lamps_owed(struct blf *b)
{
	hash_apply(b->lamps, owed_h, b);
}

/* ---- the dialog package ---- */

/* The state a watcher is shown for a call: with blf_initiator_confirmed,
 * a caller's call that is not yet answered shows as confirmed (phones
 * that would blink for an outgoing call). */
static const char *shown_state(const struct blf *b, const struct call *c)
{
	if (b->conf->blf_initiator_confirmed && !c->ended &&
	    !strcmp(c->dir, "initiator") &&
	    (!strcmp(c->state, "trying") || !strcmp(c->state, "early")))
		return "confirmed";
	return c->state;
}

static bool ringing(const struct blf *b, const struct call *c)
{
	return !strcmp(shown_state(b, c), "early") &&
		!strcmp(c->dir, "recipient");
}

static bool talking(const struct blf *b, const struct call *c)
{
	const char *st = shown_state(b, c);

	return !c->ended && strcmp(st, "terminated") &&
		(strcmp(st, "early") || strcmp(c->dir, "recipient"));
}

/* The one call blf_single_dialog shows: a ringing one first (with
 * blf_early_while_busy, so that a phone can offer pickup) or an answered
 * one first, then one being placed, then the last to end. */
static const struct call *the_call(const struct blf *b,
				   const struct lamp *l)
{
	const struct call *ring = NULL, *talk = NULL, *last = NULL;

	for (struct le *le = l->calls.head; le; le = le->next) {
		const struct call *c = le->data;

		if (ringing(b, c) && !ring)
			ring = c;
		else if (talking(b, c) && !talk)
			talk = c;
		last = c;
	}
	if (b->conf->blf_early_while_busy)
		return ring ? ring : talk ? talk : last;
	return talk ? talk : ring ? ring : last;
}

static enum lamp_show lamp_shows(const struct blf *b, const struct lamp *l)
{
	enum lamp_show show = SHOW_IDLE;

	for (struct le *le = l ? l->calls.head : NULL; le; le = le->next) {
		const struct call *c = le->data;

		if (ringing(b, c) && (show == SHOW_IDLE ||
				      b->conf->blf_early_while_busy))
			show = SHOW_RINGING;
		else if (talking(b, c) && show != SHOW_RINGING)
			show = SHOW_BUSY;
	}
	if (show == SHOW_IDLE && l && l->busy)
		show = SHOW_BUSY;
	return show;
}

static int print_call(struct mbuf *mb, const struct blf *b,
		      const char *user, const struct call *c)
{
	int err;

	/* the id is ours: unique per user and call */
	err = mbuf_printf(mb, "<dialog id=\"%08x\" call-id=\"%H\"",
			  hash_joaat_str(c->callid) ^ hash_joaat_str(user),
			  xml_escape, c->callid);
	if (!err && c->ltag[0])
		err = mbuf_printf(mb, " local-tag=\"%H\"", xml_escape, c->ltag);
	if (!err && c->rtag[0])
		err = mbuf_printf(mb, " remote-tag=\"%H\"", xml_escape, c->rtag);
	if (!err && c->dir[0])
		err = mbuf_printf(mb, " direction=\"%H\"", xml_escape, c->dir);
	err = err ? err : mbuf_printf(mb, ">\n<state>%H</state>\n"
				      "<local><identity>sip:%H@%H</identity>",
				      xml_escape, shown_state(b, c), xml_escape,
				      user, xml_escape, b->conf->domain);
	if (!err && c->target[0])
		err = mbuf_printf(mb, "<target uri=\"%H\"/>", xml_escape,
				  c->target);
	err = err ? err : mbuf_write_str(mb, "</local>\n");
	if (!err && c->peer[0]) {
		err = mbuf_printf(mb, "<remote><identity>%H</identity>",
				  xml_escape, c->peer);
		if (!err && c->peer_target[0])
			err = mbuf_printf(mb, "<target uri=\"%H\"/>", xml_escape,
					  c->peer_target);
		err = err ? err : mbuf_printf(mb, "</remote>\n");
	}
	return err ? err : mbuf_printf(mb, "</dialog>\n");
}

static const char idle_dialog[] =
	"<dialog id=\"lamplight-idle\">\n<state>terminated</state>\n"
	"</dialog>\n";

static int lamp_body(struct mbuf *mb, struct nsub *s, void *arg)
{
	struct blf *b = arg;
	const char *user = nsub_presentity(s);
	struct lamp *l = lamp_find(b, user, false);
	enum lamp_show show = lamp_shows(b, l);
	/* the first NOTIFY of a subscription is version 0 */
	uint32_t version = nsub_version(s) ? nsub_version(s) - 1 : 0;
	int err;

	err = mbuf_printf(mb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<dialog-info xmlns=\"urn:ietf:params:xml:ns:"
			  "dialog-info\" version=\"%u\" state=\"full\" "
			  "entity=\"sip:%H@%H\">\n", version, xml_escape, user,
			  xml_escape, b->conf->domain);
	if (err)
		return err;
	if (b->conf->blf_idle_between && l &&
	    nsub_mark(s) == SHOW_BUSY && show == SHOW_RINGING) {
		/* busy to ringing goes through idle (Polycom): the ringing
		 * follows once this NOTIFY is answered */
		err = mbuf_write_str(mb, idle_dialog);
		nsub_set_mark(s, SHOW_IDLE);
		l->owed = true;
	}
	else if (l && !list_isempty(&l->calls)) {
		if (b->conf->blf_single_dialog) {
			err = print_call(mb, b, user, the_call(b, l));
		}
		else {
			for (struct le *le = l->calls.head; le && !err;
			     le = le->next)
				err = print_call(mb, b, user, le->data);
		}
		nsub_set_mark(s, (uint8_t)show);
	}
	else if (l && l->busy) {
		err = mbuf_printf(mb, "<dialog id=\"lamplight-busy\">\n"
				  "<state>confirmed</state>\n</dialog>\n");
		nsub_set_mark(s, SHOW_BUSY);
	}
	else {
		err = mbuf_write_str(mb, idle_dialog);
		nsub_set_mark(s, SHOW_IDLE);
	}
	return err ? err : mbuf_printf(mb, "</dialog-info>\n");
}

/* Any user of the office may watch any other's lamp; an unknown user
 * gets 404. */
static uint16_t lamp_authorize(struct nsub *s, void *arg)
{
	struct blf *b = arg;
	struct user_rec *u = NULL;
	struct pl pl;
	int err;

	pl_set_str(&pl, nsub_presentity(s));
	err = users_cache_get(b->users, &pl, &u);
	mem_deref(u);
	if (err)
		return store_unavailable(err) ? 503 : 404;
	if (offline(b, lamp_find(b, nsub_presentity(s), false)))
		nsub_set_state(s, NSUB_TERMINATED, "probation");
	else
		nsub_set_state(s, NSUB_ACTIVE, NULL);
	return 0;
}

static void gone_h(struct nsub *s, void *arg)
{
	struct blf *b = arg;
	struct user_rec *u = NULL;
	struct pl pl;

	if (nsub_state(s) == NSUB_TERMINATED)
		return;
	pl_set_str(&pl, nsub_presentity(s));
	/* gone only when the store says so, not when it cannot say */
	if (users_cache_get(b->users, &pl, &u) == ENOENT)
		nsub_set_state(s, NSUB_TERMINATED, "noresource");
	mem_deref(u);
}

/* A user was deleted (or anything in the users changed): every lamp of
 * a user who is gone goes out for good (terminated;reason=noresource). */
void lamps_users_changed(struct blf *b)
{
	notifier_all(b->not, gone_h, b);
}

const struct evpkg lamps_pkg = {
	"dialog", "application/dialog-info+xml", lamp_authorize, lamp_body,
	NULL,
};

int lamps_init(struct blf *b)
{
	return hash_alloc(&b->lamps, 1024);
}

void lamps_close(struct blf *b)
{
	if (b->lamps)
		hash_flush(b->lamps);
	b->lamps = mem_deref(b->lamps);
}
