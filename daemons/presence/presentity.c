/* presentity: each user's presence, composed from every source we have:
 * each device's publication (RFC 3903), the registration state (`reg` on
 * the bus: no reachable device is closed, whatever was published) and the
 * call state (`dialog`: a confirmed call adds on-the-phone). The composed
 * document is printed from a model, never copied from a publisher; when
 * it changes, its summary goes on the bus (`pres`: no daemon reads the
 * document itself, and its size grows with the user's publications) and
 * the document to every watcher. The document is composed only for a
 * user someone subscribes to: for the others, the summary is all anybody
 * reads, and it comes from the publications without copying or printing
 * their tuples (ten publications left by phones that forgot them cost a
 * walk over their tuples, not a document).
 *
 * Composition: every live publication's tuples, in publication order,
 * their ids made unique; without a publication, one tuple of our own
 * ("lp-reg"), open while a device is reachable. The person (activities,
 * mood, place) comes from the latest publication that has one; the
 * latest note wins.
 *
 * On a node of a cluster, the other nodes' registrations, calls and
 * publications count as this node's own (cluster/follow.h): each node's
 * count of a user's devices is kept apart and summed, a call both nodes
 * report is this node's if it passes here, and another node's
 * publications come over the bus (topic `pub`, once per new or changed
 * document, not per watcher) and sit among ours by their time; only
 * ours are stored, refreshed and expired here. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store.h"
#include "store/store_pubs.h"
#include "store/store_users.h"
#include "bus/bus.h"
#include "bus/regtopic.h"
#include "cluster/follow.h"
#include "cluster/nodesum.h"
#include "presence/pidf.h"
#include "presence/notifier.h"
#include "sip/reqtag.h"
#include "presence.h"
#include "publication.h"

#define MAX_CALLS 32           /* per user: more is a flood, not an office */
#define MAX_CALLID 256
/* another node's document, as its model printed it: under the bus
 * frame's cap (64 KiB) */
#define PUB_BUS_DOC_MAX 60000

struct call {
	struct le le;
	unsigned src;          /* the node that reports it (follow.h) */
	char *callid;
	bool confirmed;
	bool ringing;          /* the user's phone rings */
};

struct presentity {
	struct le he;
	struct presence *p;
	char *user;
	struct list pubs;      /* struct publication, oldest first */
	struct list calls;
	struct nodesum devices; /* reachable registered devices */
	char *doc;             /* the last document composed, or NULL */
	uint64_t bus_sum;      /* what the bus was last told (its hash) */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void call_destructor(void *arg)
{
	struct call *c = arg;

	list_unlink(&c->le);
	mem_deref(c->callid);
}

static void pub_destructor(void *arg)
{
	struct publication *pb = arg;

	list_unlink(&pb->le);
	hash_unlink(&pb->he);
	mem_deref(pb->doc);
}

static void ent_destructor(void *arg)
{
	struct presentity *e = arg;

	hash_unlink(&e->he);
	list_flush(&e->pubs);
	list_flush(&e->calls);
	nodesum_reset(&e->devices);
	mem_deref(e->user);
	mem_deref(e->doc);
}

static bool ent_cmp(struct le *le, void *arg)
{
	const struct presentity *e = le->data;
	return !strcmp(e->user, arg);
}

static struct presentity *ent_find(struct presence *p, const char *user,
				   bool create)
{
	uint32_t h = hash_joaat_str(user);
	struct presentity *e;

	e = list_ledata(hash_lookup(p->ents, h, ent_cmp, (void *)user));
	if (e || !create)
		return e;
	e = mem_zalloc(sizeof(*e), ent_destructor);
	if (!e || str_dup(&e->user, user))
		return mem_deref(e);
	e->p = p;
	hash_append(p->ents, h, &e->he, e);
	return e;
}

/* Nothing left to say of the user: forgotten. */
static bool ent_empty(const struct presentity *e)
{
	return list_isempty(&e->pubs) && list_isempty(&e->calls) &&
		!e->devices.sum;
}

/* ---- composition ---- */

static bool id_taken(const struct pidf *m, const char *id)
{
	for (struct le *le = m->tuples.head; le; le = le->next) {
		const struct pidf_tuple *t = le->data;
		if (!strcmp(t->id, id))
			return true;
	}
	return false;
}

static int add_tuple(struct pidf *m, const struct pidf_tuple *t, bool open)
{
	char id[80];
	struct pidf_tuple *nt;
	int err;

	str_ncpy(id, t->id, sizeof(id));
	for (unsigned i = 2; id_taken(m, id) && i < 100; i++)
		re_snprintf(id, sizeof(id), "%s-%u", t->id, i);
	err = pidf_tuple_add(m, id, open, t->contact, t->note);
	if (err)
		return err == E2BIG ? 0 : err;
	nt = m->tuples.tail->data;
	nt->priority = t->priority;
	if (t->timestamp)
		err = str_dup(&nt->timestamp, t->timestamp);
	return err;
}

static const char *call_state(const struct presentity *e)
{
	bool ringing = false;

	for (struct le *le = e ? e->calls.head : NULL; le; le = le->next) {
		const struct call *c = le->data;
		if (c->confirmed)
			return "on-the-phone";
		ringing |= c->ringing;
	}
	return ringing ? "ringing" : "idle";
}

/* The model of the user's document. Without `tuples`, only what the
 * bus's summary needs (the person and the note; no tuple is copied), and
 * *openp says what pidf_open would of the whole document. */
static int compose(struct pidf **mp, struct presence *p,
		   const struct presentity *e, const char *user, bool polite,
		   bool tuples, bool *openp)
{
	const struct publication *person = NULL, *noted = NULL;
	char entity[160], aor[160];
	bool reachable = e && e->devices.sum > 0;
	bool open = false;
	unsigned seen = 0;
	struct pidf *m = NULL;
	struct le *le;
	int err;

	re_snprintf(entity, sizeof(entity), "sip:%s@%s", user,
		    p->conf->domain);
	str_ncpy(aor, entity, sizeof(aor));
	err = pidf_alloc(&m, entity);
	if (err)
		return err;

	if (polite) {
		/* polite-block: the watcher sees someone who is offline */
		err = pidf_tuple_add(m, "lp-reg", false, NULL, NULL);
		goto out;
	}
	for (le = e ? e->pubs.head : NULL; le && !err; le = le->next) {
		const struct publication *pb = le->data;

		for (struct le *t = pb->doc->tuples.head; t && !err;
		     t = t->next) {
			const struct pidf_tuple *pt = t->data;

			/* the tuples past the cap are left out */
			if (seen++ < PIDF_MAX_TUPLES)
				open |= reachable && pt->open;
			if (tuples)
				err = add_tuple(m, pt, reachable && pt->open);
		}
		if (pb->doc->person)
			person = pb;
		if (pb->doc->note)
			noted = pb;
		else {
			for (struct le *t = pb->doc->tuples.head; t;
			     t = t->next)
				if (((struct pidf_tuple *)t->data)->note)
					noted = pb;
		}
	}
	if (!seen)
		open = reachable;
	if (!err && !seen && tuples)
		err = pidf_tuple_add(m, "lp-reg", reachable, aor, NULL);
	if (err)
		goto out;

	if (person) {
		const struct pidf *d = person->doc;

		m->person = true;
		err = d->person_id ? str_dup(&m->person_id, d->person_id) : 0;
		for (unsigned i = 0; i < d->nact && !err; i++)
			err = pidf_token_add(m->activities, &m->nact,
					     d->activities[i]);
		for (unsigned i = 0; i < d->nmood && !err; i++)
			err = pidf_token_add(m->moods, &m->nmood, d->moods[i]);
		if (!err && d->place)
			m->place = mem_ref(d->place);
	}
	if (!err && noted) {
		const char *note = noted->doc->note;

		for (struct le *t = noted->doc->tuples.head; !note && t;
		     t = t->next)
			note = ((struct pidf_tuple *)t->data)->note;
		err = note ? str_dup(&m->note, note) : 0;
	}
	if (!err && !strcmp(call_state(e), "on-the-phone")) {
		m->person = true;
		err = pidf_token_add(m->activities, &m->nact, "on-the-phone");
	}
	if (!err && m->person && !m->person_id)
		err = str_dup(&m->person_id, "lp-person");
 out:
	if (openp)
		*openp = open;
	if (err)
		mem_deref(m);
	else
		*mp = m;
	return err;
}

int pres_body(struct mbuf *mb, struct presence *p, const char *user,
	      bool polite)
{
	struct presentity *e = ent_find(p, user, false);
	struct pidf *m = NULL;
	char *doc = NULL;
	int err;

	if (e && e->doc && !polite)
		return mbuf_write_str(mb, e->doc);
	err = compose(&m, p, e, user, polite, true, NULL);
	err = err ? err : re_sdprintf(&doc, "%H", pidf_print, m);
	err = err ? err : mbuf_write_str(mb, doc);
	if (!err && e && !polite) {
		e->doc = doc;  /* until update finds nobody watching */
		doc = NULL;
	}
	mem_deref(doc);
	mem_deref(m);
	return err;
}

/* ---- the bus ---- */

/* The summary's hash: the bus is told only what changed it. */
static uint64_t summary_hash(const struct presence *p,
			     const struct presentity *e, const struct pidf *m,
			     bool open)
{
	struct reqtag t;

	reqtag_init(&t, p->salt);
	reqtag_u32(&t, open);
	reqtag_u32(&t, m->nact);
	for (unsigned i = 0; i < m->nact; i++)
		reqtag_str(&t, m->activities[i]);
	reqtag_str(&t, m->note);
	reqtag_str(&t, call_state(e));
	reqtag_u32(&t, e->devices.sum);
	reqtag_u32(&t, list_count(&e->pubs));
	return t.h;
}

static int publish_bus(struct presence *p, const struct presentity *e,
		       const struct pidf *m, bool open)
{
	struct odict *o = NULL, *acts = NULL;
	int err;

	err = odict_alloc(&o, 16);
	err = err ? err : odict_alloc(&acts, 8);
	if (err)
		goto out;
	for (unsigned i = 0; i < m->nact && !err; i++) {
		char key[8];
		re_snprintf(key, sizeof(key), "%u", i);
		err = odict_entry_add(acts, key, ODICT_STRING,
				      m->activities[i]);
	}
	err = err ? err : odict_entry_add(o, "user", ODICT_STRING, e->user);
	err = err ? err : odict_entry_add(o, "basic", ODICT_STRING,
					  open ? "open" : "closed");
	err = err ? err : odict_entry_add(o, "activities", ODICT_ARRAY, acts);
	err = err ? err : odict_entry_add(o, "note", ODICT_STRING,
					  m->note ? m->note : "");
	err = err ? err : odict_entry_add(o, "call", ODICT_STRING,
					  call_state(e));
	err = err ? err : odict_entry_add(o, "devices", ODICT_INT,
					  (int64_t)e->devices.sum);
	err = err ? err : odict_entry_add(o, "publications", ODICT_INT,
					  (int64_t)list_count(&e->pubs));
	err = err ? err : bus_pub_set(p->pub, "pres", e->user, o);
 out:
	mem_deref(acts);
	mem_deref(o);
	return err;
}

/* Compose again: when the summary changed, tell the bus; when the
 * document changed, every watcher. A user with nothing left to say is
 * forgotten. */
static void update(struct presentity *e)
{
	struct presence *p = e->p;
	bool watched = notifier_watched(p->not, "presence", e->user);
	struct pidf *m = NULL;
	char *doc = NULL;
	uint64_t sum;
	bool open;
	int err;

	err = compose(&m, p, e, e->user, false, watched, &open);
	if (!err && watched)
		err = re_sdprintf(&doc, "%H", pidf_print, m);
	if (err) {
		log_err("presence of '%s': cannot compose: %m", e->user, err);
		e->doc = mem_deref(e->doc);    /* not what is true now */
		goto out;
	}
	sum = summary_hash(p, e, m, open);
	if (sum != e->bus_sum) {
		if (publish_bus(p, e, m, open))
			log_warn("presence of '%s': bus: cannot publish, "
				 "ignoring", e->user);
		else
			e->bus_sum = sum;
		log_debug("presence of '%s': %s, %s", e->user,
			  open ? "open" : "closed", call_state(e));
	}
	if (!watched)
		e->doc = mem_deref(e->doc);    /* composed when asked */
	else if (!e->doc || strcmp(e->doc, doc)) {
		mem_deref(e->doc);
		e->doc = doc;
		doc = NULL;
		notifier_changed(p->not, "presence", e->user);
	}
	if (ent_empty(e)) {
		struct odict *o = NULL;

		if (!odict_alloc(&o, 4) &&
		    !odict_entry_add(o, "user", ODICT_STRING, e->user))
			(void)bus_pub_del(p->pub, "pres", e->user, o);
		mem_deref(o);
		mem_deref(e);
	}
 out:
	mem_deref(doc);
	mem_deref(m);
}

void pres_reg_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct presence *p = arg;
	struct presentity *e;
	uint32_t n, was;

	if (regtopic_devices(m, &n) || !users_name_valid(m->key))
		return;
	e = ent_find(p, m->key, n > 0);
	if (!e)
		return;
	was = e->devices.sum;
	if (nodesum_set(&e->devices, src, n) != was)
		update(e);
	else if (ent_empty(e))
		mem_deref(e);          /* made for a count it could not keep */
}

void pres_dialog_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct presence *p = arg;
	const char *user = m->data ? odict_string(m->data, "user") : NULL;
	const char *callid = m->data ? odict_string(m->data, "call_id") : NULL;
	const char *state = m->data ? odict_string(m->data, "state") : NULL;
	const char *dir = m->data ? odict_string(m->data, "direction") : NULL;
	bool gone = !strcmp(m->type, "del") ||
		(state && !strcmp(state, "terminated"));
	struct presentity *e;
	struct call *c = NULL;

	if (!user || !callid || !state || !users_name_valid(user) ||
	    strlen(callid) > MAX_CALLID)
		return;
	e = ent_find(p, user, !gone);
	if (!e)
		return;
	for (struct le *le = e->calls.head; le; le = le->next) {
		struct call *x = le->data;
		if (!strcmp(x->callid, callid)) {
			c = x;
			break;
		}
	}
	/* a call through two nodes: ours if it passes here */
	if (c && !follow_may(c->src, src))
		return;
	if (gone) {
		if (!c)
			return;
		mem_deref(c);
		update(e);
		return;
	}
	if (!c) {
		if (list_count(&e->calls) >= MAX_CALLS)
			return;
		c = mem_zalloc(sizeof(*c), call_destructor);
		if (!c || str_dup(&c->callid, callid)) {
			mem_deref(c);
			return;
		}
		list_append(&e->calls, &c->le, c);
	}
	c->src = src;
	c->confirmed = !strcmp(state, "confirmed");
	c->ringing = !strcmp(state, "early") && dir &&
		!strcmp(dir, "recipient");
	update(e);
}

/* ---- publications ---- */

static bool pub_cmp(struct le *le, void *arg)
{
	const struct publication *pb = le->data;
	return !pl_strcmp(arg, pb->etag);
}

struct publication *pub_find(struct presence *p, const struct pl *etag)
{
	return list_ledata(hash_lookup(p->etags, hash_joaat_pl(etag),
				       pub_cmp, (void *)etag));
}

const char *pub_user(const struct publication *pb)
{
	return pb->e->user;
}

static unsigned count_from(const struct presentity *e, unsigned src)
{
	unsigned n = 0;

	for (struct le *le = e->pubs.head; le; le = le->next)
		n += ((const struct publication *)le->data)->src == src;
	return n;
}

static struct publication *oldest_from(const struct presentity *e,
				       unsigned src)
{
	for (struct le *le = e->pubs.head; le; le = le->next) {
		struct publication *pb = le->data;

		if (pb->src == src)
			return pb;
	}
	return NULL;
}

/* ---- publications between nodes: topic `pub` ---- */

/* Ours, new, refreshed or changed, for the other nodes: key USER/ID
 * (ID: its entity tag when it was made, or when this daemon last
 * started; a refresh does not change it), its time (a refresh makes it
 * the latest), its expiry, and the document as our model prints it,
 * never as a phone sent it. */
static void announce(struct presence *p, const struct publication *pb)
{
	struct odict *o = NULL;
	char key[PRES_KEY_MAX], *doc = NULL;
	int err;

	if (!p->conf->node_id || pb->src != FOLLOW_LOCAL)
		return;
	re_snprintf(key, sizeof(key), "%s/%s", pb->e->user, pb->id);
	err = re_sdprintf(&doc, "%H", pidf_print, pb->doc);
	err = err ? err : odict_alloc(&o, 8);
	err = err ? err : odict_entry_add(o, "user", ODICT_STRING,
					  pb->e->user);
	err = err ? err : odict_entry_add(o, "updated", ODICT_INT,
					  (int64_t)pb->updated);
	err = err ? err : odict_entry_add(o, "expires", ODICT_INT,
					  (int64_t)pb->expires);
	err = err ? err : odict_entry_add(o, "doc", ODICT_STRING, doc);
	err = err ? err : bus_pub_set(p->pub, "pub", key, o);
	if (err)
		log_warn("publication '%s' of '%s': cannot tell the other "
			 "nodes: %m", pb->etag, pb->e->user, err);
	mem_deref(o);
	mem_deref(doc);
}

static void withdraw(struct presence *p, const struct publication *pb)
{
	struct odict *o = NULL;
	char key[PRES_KEY_MAX];

	if (!p->conf->node_id || pb->src != FOLLOW_LOCAL)
		return;
	re_snprintf(key, sizeof(key), "%s/%s", pb->e->user, pb->id);
	if (odict_alloc(&o, 4) ||
	    odict_entry_add(o, "user", ODICT_STRING, pb->e->user) ||
	    bus_pub_del(p->pub, "pub", key, o))
		log_warn("publication '%s' of '%s': cannot tell the other "
			 "nodes it is gone", pb->etag, pb->e->user);
	mem_deref(o);
}

static struct publication *remote_find(const struct presentity *e,
				       unsigned src, const char *id)
{
	for (struct le *le = e->pubs.head; le; le = le->next) {
		struct publication *pb = le->data;

		if (pb->src == src && !strcmp(pb->id, id))
			return pb;
	}
	return NULL;
}

/* In time order, the latest last (the person and the note are the
 * latest publication's, whichever node took it). */
static void insert_by_time(struct presentity *e, struct publication *pb)
{
	struct le *le = e->pubs.tail;

	while (le && ((struct publication *)le->data)->updated > pb->updated)
		le = le->prev;
	if (le)
		list_insert_after(&e->pubs, le, &pb->le, pb);
	else
		list_prepend(&e->pubs, &pb->le, pb);
}

static void remote_drop(struct presentity *e)
{
	if (ent_empty(e))
		mem_deref(e);
}

void pres_pub_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct presence *p = arg;
	const char *user = m->data ? odict_string(m->data, "user") : NULL;
	const char *doc = m->data ? odict_string(m->data, "doc") : NULL;
	const char *slash = m->key ? strchr(m->key, '/') : NULL;
	bool gone = !strcmp(m->type, "del");
	struct publication *pb;
	struct presentity *e;
	struct pidf *model = NULL;
	struct pidf_err pe;
	uint64_t updated = 0, expires = 0;

	if (src == FOLLOW_LOCAL || !user || !slash ||
	    !users_name_valid(user) || strlen(user) != (size_t)(slash - m->key) ||
	    strncmp(m->key, user, strlen(user)) ||
	    strlen(slash + 1) != PUB_ETAG_LEN ||
	    (!gone && strcmp(m->type, "set")))
		return;
	e = ent_find(p, user, !gone);
	if (!e)
		return;
	pb = remote_find(e, src, slash + 1);
	if (gone) {
		if (pb) {
			mem_deref(pb);
			update(e);
		}
		return;
	}
	(void)odict_get_number(m->data, &updated, "updated");
	if (!odict_get_number(m->data, &expires, "expires"))
		expires = (uint64_t)time(NULL) + p->conf->publish_expires_max;
	if (!doc || pidf_parse(&model, (const uint8_t *)doc, strlen(doc),
			       PUB_BUS_DOC_MAX, &pe)) {
		log_warn("publication '%s' from another node: not a document "
			 "we take: ignored", m->key);
		remote_drop(e);
		return;
	}
	/* the other node keeps its cap; past it here (a restart renames
	 * its publications: the new ones come before the old ones go), the
	 * oldest of that node's makes room */
	if (!pb && count_from(e, src) >= PUB_MAX_PER_USER)
		mem_deref(oldest_from(e, src));
	if (!pb) {
		pb = mem_zalloc(sizeof(*pb), pub_destructor);
		if (!pb) {
			mem_deref(model);
			remote_drop(e);
			return;
		}
		pb->e = e;
		pb->src = src;
		str_ncpy(pb->id, slash + 1, sizeof(pb->id));
		str_ncpy(pb->etag, slash + 1, sizeof(pb->etag));
		hash_append(p->remote, hash_joaat_str(pb->etag), &pb->he, pb);
	}
	else
		list_unlink(&pb->le);
	mem_deref(pb->doc);
	pb->doc = model;
	pb->updated = updated;
	pb->expires = expires;
	insert_by_time(e, pb);
	update(e);
}

/* A new publication, or a refresh or modification of `pb`, under the new
 * entity tag `etag` (RFC 3903 §6). Written to the store before it counts. */
int pub_put(struct presence *p, struct publication *pb, const char *user,
	    struct pidf *doc, const struct pl *raw, uint32_t expires,
	    const char *etag)
{
	struct pubs_rec r;
	struct presentity *e;
	struct mbuf *mb = NULL;
	bool fresh = pb == NULL;
	int err;

	if (strlen(etag) != PUB_ETAG_LEN)
		return EINVAL;
	e = pb ? pb->e : ent_find(p, user, true);
	if (!e)
		return ENOMEM;
	/* at the cap, the oldest publication makes room: a phone that
	 * restarts and forgets its entity tag must not lock its user out
	 * until the old ones expire */
	if (fresh && count_from(e, FOLLOW_LOCAL) >= PUB_MAX_PER_USER) {
		struct publication *old = oldest_from(e, FOLLOW_LOCAL);

		log_info("publications of '%s': %u, the cap: '%s' removed",
			 e->user, PUB_MAX_PER_USER, old->etag);
		err = pubs_del(p->st, old->etag);
		if (err)
			return err;
		withdraw(p, old);
		mem_deref(old);
	}

	/* the document as stored: what we were sent, or what we had */
	if (!raw) {
		mb = mbuf_alloc(1024);
		if (!mb)
			return ENOMEM;
		err = mbuf_printf(mb, "%H", pidf_print, pb->doc);
		if (err)
			goto out;
	}
	memset(&r, 0, sizeof(r));
	r.etag = etag;
	r.user = e->user;
	r.expires = (uint64_t)time(NULL) + expires;
	r.updated = now_ms();
	r.doc = raw ? raw->p : (const char *)mb->buf;
	r.doclen = raw ? raw->l : mb->end;
	r.node = p->conf->node_id;
	/* one statement, its own transaction */
	err = pb ? pubs_move(p->st, pb->etag, &r) : pubs_put(p->st, &r);
	if (err == ENOENT)     /* our table and the store disagree */
		err = pubs_put(p->st, &r);
	if (err)
		goto out;

	if (!pb) {
		pb = mem_zalloc(sizeof(*pb), pub_destructor);
		if (!pb) {
			err = ENOMEM;
			goto out;
		}
		pb->e = e;
		str_ncpy(pb->id, etag, sizeof(pb->id));
	}
	else {
		hash_unlink(&pb->he);
		list_unlink(&pb->le);
	}
	str_ncpy(pb->etag, etag, sizeof(pb->etag));
	pb->expires = r.expires;
	pb->updated = r.updated;
	if (doc) {
		mem_deref(pb->doc);
		pb->doc = mem_ref(doc);
	}
	insert_by_time(e, pb);                /* the latest is last */
	hash_append(p->etags, hash_joaat_str(pb->etag), &pb->he, pb);
	announce(p, pb);
	update(e);
 out:
	if (err && fresh && ent_empty(e))
		mem_deref(e);
	mem_deref(mb);
	return err;
}

int pub_remove(struct presence *p, struct publication *pb)
{
	struct presentity *e = pb->e;
	int err = pubs_del(p->st, pb->etag);

	if (err)
		return err;
	withdraw(p, pb);
	mem_deref(pb);
	update(e);
	return 0;
}

static int load_h(const struct pubs_rec *r, void *arg)
{
	struct presence *p = arg;
	struct publication *pb;
	struct presentity *e;
	struct pidf *doc = NULL;
	struct pidf_err pe;

	if (r->expires <= (uint64_t)time(NULL) ||
	    strlen(r->etag) > PUB_ETAG_LEN ||
	    pidf_parse(&doc, (const uint8_t *)r->doc, r->doclen,
		       p->conf->pidf_max_size, &pe)) {
		(void)pubs_del(p->st, r->etag);
		return 0;
	}
	e = ent_find(p, r->user, true);
	pb = mem_zalloc(sizeof(*pb), pub_destructor);
	if (!e || !pb) {
		mem_deref(doc);
		mem_deref(pb);
		return ENOMEM;
	}
	pb->e = e;
	pb->doc = doc;
	pb->expires = r->expires;
	pb->updated = r->updated;
	str_ncpy(pb->etag, r->etag, sizeof(pb->etag));
	str_ncpy(pb->id, r->etag, sizeof(pb->id));
	list_append(&e->pubs, &pb->le, pb);
	hash_append(p->etags, hash_joaat_str(pb->etag), &pb->he, pb);
	announce(p, pb);
	return 0;
}

static bool compose_h(struct le *le, void *arg)
{
	(void)arg;
	update(le->data);
	return false;
}

int pres_load(struct presence *p)
{
	int err = pubs_foreach_node(p->st, p->conf->node_id, load_h, p);

	if (!err)
		hash_apply(p->ents, compose_h, NULL);
	return err;
}

#define EXPIRE_BATCH 256

struct expiry {
	uint64_t now;
	struct publication *v[EXPIRE_BATCH];
	unsigned n;
};

static bool expire_h(struct le *le, void *arg)
{
	struct publication *pb = le->data;
	struct expiry *x = arg;

	if (pb->expires <= x->now)
		x->v[x->n++] = pb;
	return x->n >= EXPIRE_BATCH;   /* the rest next second */
}

/* Collected first, removed after: removing changes the table. Another
 * node's expire here too, in case its presence daemon went silent
 * while its edge runs (the node is followed on). */
void pres_tick(struct presence *p)
{
	struct expiry x;

	x.now = (uint64_t)time(NULL);
	x.n = 0;
	hash_apply(p->etags, expire_h, &x);
	for (unsigned i = 0; i < x.n; i++) {
		log_info("publication '%s' of '%s' expired", x.v[i]->etag,
			 x.v[i]->e->user);
		(void)pub_remove(p, x.v[i]);
	}
	x.n = 0;
	hash_apply(p->remote, expire_h, &x);
	for (unsigned i = 0; i < x.n; i++) {
		struct presentity *e = x.v[i]->e;

		log_info("publication '%s' of '%s' from another node expired",
			 x.v[i]->etag, e->user);
		mem_deref(x.v[i]);
		update(e);
	}
}

int pres_init(struct presence *p)
{
	int err = hash_alloc(&p->ents, 4096);

	err = err ? err : hash_alloc(&p->remote, 256);
	return err ? err : hash_alloc(&p->etags, 4096);
}

/* The presentities own their publications; the tag table only finds
 * them, so it is emptied by their destructors, never flushed. */
void pres_close(struct presence *p)
{
	hash_flush(p->ents);
	p->etags = mem_deref(p->etags);
	p->remote = mem_deref(p->remote);
	p->ents = mem_deref(p->ents);
}
