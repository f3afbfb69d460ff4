/* follow: the other running nodes of a cluster, as one daemon of this
 * node follows them (follow.h). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store_nodes.h"
#include "bus/bus.h"
#include "cluster/follow.h"

struct fnode;

/* One topic of one node: what its subscription's handler is given. */
struct fsub {
	struct fnode *n;
	unsigned t;
	struct bus_sub *sub;
};

struct fnode {
	struct follow *f;
	unsigned src;
	struct node_rec rec;
	struct sa sip;
	bool sip_ok;
	bool seen;             /* in this refresh */
	uint64_t unsynced;     /* jiffies: since when one of them is not in
				* sync (0: all are) */
	struct fsub s[FOLLOW_TOPICS_MAX];
};

/* A node's row as this daemon watches it (to see it die): the `seen`
 * it says, and since when (our clock, jiffies) it has said that; 0:
 * since the next good read. */
struct watch {
	char id[NODE_ID_MAX + 1];
	uint64_t seen;
	uint64_t since;
	bool listed;           /* in this refresh */
	bool running;          /* by the table */
	bool stopped;          /* its row says it stopped cleanly */
	bool adopted;          /* taken over */
	struct node_rec rec;
};

#define FOLLOW_WATCH_MAX (2 * FOLLOW_NODES_MAX)

struct follow {
	const struct conf *conf;
	struct store *admin;
	struct bus *bus;
	const struct follow_topic *topics;
	unsigned ntopics;
	follow_gone_h *goneh;
	void *arg;
	struct fnode *node[FOLLOW_NODES_MAX];  /* source - 1 */
	struct tmr tmr;
	uint64_t refused_log;  /* when a refusal was last logged (s) */
	uint32_t refused;      /* refusals since */
	bool full_logged;      /* "too many nodes" said */
	struct watch watch[FOLLOW_WATCH_MAX];
	/* our own row: its `seen`, since when (jiffies) it said that, and
	 * whether we have read it yet (before: nothing to fence) */
	uint64_t self_seen;
	uint64_t self_since;
	uint64_t last_read;    /* jiffies: the last refresh began */
	bool self_known;
	bool fenced;
	follow_fence_h *fenceh;
	void *fence_arg;
};

/* Every key the node told of, as a `del`, then no subscription. */
static void unfollow(struct fnode *n)
{
	for (unsigned t = 0; t < n->f->ntopics; t++) {
		bus_sub_forget(n->s[t].sub);
		n->s[t].sub = mem_deref(n->s[t].sub);
	}
}

/* Silent: the daemon is closing, its handlers may be gone. */
static void fnode_destructor(void *arg)
{
	struct fnode *n = arg;

	for (unsigned t = 0; t < FOLLOW_TOPICS_MAX; t++)
		n->s[t].sub = mem_deref(n->s[t].sub);
}

static void destructor(void *arg)
{
	struct follow *f = arg;

	tmr_cancel(&f->tmr);
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++)
		f->node[i] = mem_deref(f->node[i]);
	mem_deref(f->admin);
	mem_deref(f->bus);
}

static void update_h(const struct bus_msg *m, void *arg)
{
	struct fsub *s = arg;
	struct follow *f = s->n->f;

	f->topics[s->t].updh(s->n->src, m, f->arg);
}

static bool synced(const struct fnode *n)
{
	for (unsigned t = 0; t < n->f->ntopics; t++)
		if (!bus_sub_synced(n->s[t].sub))
			return false;
	return true;
}

/* Whether to subscribe again: a new bus or key, or a subscription out
 * of sync for FOLLOW_RETRY_MS on end (not a resync that a refresh
 * happens to catch: that one ends by itself). */
static bool stale(struct fnode *n, const struct node_rec *r)
{
	uint64_t now = tmr_jiffies();

	if (!n->s[0].sub || strcmp(n->rec.bus, r->bus) ||
	    strcmp(n->rec.key, r->key))
		return true;
	if (synced(n)) {
		n->unsynced = 0;
		return false;
	}
	if (!n->unsynced)
		n->unsynced = now;
	return now >= n->unsynced + FOLLOW_RETRY_MS;
}

/* Subscribe to node `r`'s topics (again, when stale). */
static int follow_node_topics(struct fnode *n, const struct node_rec *r)
{
	struct follow *f = n->f;
	char pub[NODE_ADDR_MAX + 8], snap[NODE_ADDR_MAX + 8];
	int err = 0;

	if (!f->ntopics || !stale(n, r))
		return 0;
	unfollow(n);
	n->unsynced = tmr_jiffies();
	for (unsigned t = 0; t < f->ntopics && !err; t++) {
		const struct follow_topic *ft = &f->topics[t];

		err = conf_cluster_ep(pub, sizeof(pub), r->bus, ft->port);
		err = err ? err : conf_cluster_ep(snap, sizeof(snap), r->bus,
						  ft->port + 1);
		err = err ? err : bus_sub_alloc_node(&n->s[t].sub, f->bus, pub,
						     snap, r->key, ft->topic,
						     NULL, update_h, &n->s[t]);
	}
	return err;
}

static int slot_new(struct follow *f, const struct node_rec *r,
		    struct fnode **np)
{
	struct fnode *n;
	unsigned i;

	for (i = 0; i < FOLLOW_NODES_MAX && f->node[i]; i++)
		;
	if (i == FOLLOW_NODES_MAX) {
		if (!f->full_logged)
			log_warn("cluster: node %s not followed: %u other "
				 "nodes are, the most there can be", r->id,
				 FOLLOW_NODES_MAX);
		f->full_logged = true;
		return ENOSPC;
	}
	n = mem_zalloc(sizeof(*n), fnode_destructor);
	if (!n)
		return ENOMEM;
	n->f = f;
	n->src = i + 1;
	for (unsigned t = 0; t < FOLLOW_TOPICS_MAX; t++) {
		n->s[t].n = n;
		n->s[t].t = t;
	}
	f->node[i] = n;
	*np = n;
	return 0;
}

static struct fnode *node_find(const struct follow *f, const char *id)
{
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++)
		if (f->node[i] && !strcmp(f->node[i]->rec.id, id))
			return f->node[i];
	return NULL;
}

static struct watch *watch_find(struct follow *f, const char *id)
{
	for (unsigned i = 0; i < FOLLOW_WATCH_MAX; i++)
		if (f->watch[i].id[0] && !strcmp(f->watch[i].id, id))
			return &f->watch[i];
	return NULL;
}

/* Each node's row as we read it: dead once it is not running by the
 * table and has said the same `seen` for FOLLOW_DEAD_MS of our own good
 * reads (not by its clock against ours: a skew, an outage of the
 * database or a start of ours is no death). A clean stop (seen 0) is
 * not a death. */
static void watch_row(struct follow *f, const struct node_rec *r,
		      bool running)
{
	struct watch *w = watch_find(f, r->id);

	if (!w) {
		for (unsigned i = 0; i < FOLLOW_WATCH_MAX && !w; i++)
			if (!f->watch[i].id[0])
				w = &f->watch[i];
		if (!w) {
			log_warn("cluster: node %s not watched: %u nodes are, "
				 "the most there can be", r->id,
				 FOLLOW_WATCH_MAX);
			return;
		}
		str_ncpy(w->id, r->id, sizeof(w->id));
		w->seen = r->seen;
		w->since = tmr_jiffies();
	}
	w->listed = true;
	w->running = running;
	w->rec = *r;
	if (w->seen != r->seen) {
		w->seen = r->seen;
		w->since = tmr_jiffies();
		w->adopted = false;    /* it lived again since */
	}
	else if (!w->since) {
		w->since = tmr_jiffies();  /* watched again after an outage */
	}
	w->stopped = !r->seen;         /* it takes its own back */
}

/* The nodes dead (or forgotten: their row gone) to take over; a take
 * that fails is tried again at the next refresh. */
static void watch_sweep(struct follow *f)
{
	uint64_t now = tmr_jiffies();

	for (unsigned i = 0; i < FOLLOW_WATCH_MAX; i++) {
		struct watch *w = &f->watch[i];
		bool gone = !w->listed;

		if (!w->id[0])
			continue;
		w->listed = false;
		if (!w->adopted && (gone || (!w->stopped && !w->running &&
					     now >= w->since + FOLLOW_DEAD_MS))) {
			if (f->goneh)
				log_info("cluster: node %s is dead (%s): "
					 "taking over", w->id,
					 gone ? "forgotten" : "silent");
			w->adopted = !f->goneh ||
				!f->goneh(&w->rec, f->arg);
		}
		if (gone && w->adopted)
			memset(w, 0, sizeof(*w));
	}
}

static int node_h(const struct node_rec *r, void *arg)
{
	struct follow *f = arg;
	uint64_t now = (uint64_t)time(NULL);
	struct fnode *n;
	struct pl sip;
	bool running;
	int err;

	if (!strcmp(r->id, f->conf->node_id)) {
		uint64_t age;

		/* changed, or stopped cleanly (nobody takes us over); at our
		 * first read, as old as the row says (the same machine's
		 * clock): a daemon started after its edge fell silent is
		 * not fresh */
		age = !f->self_known && r->seen && r->seen + 1 < now ?
			(now - r->seen - 1) * 1000 : 0;  /* whole seconds */
		if (!f->self_known || r->seen != f->self_seen || !r->seen)
			f->self_since = tmr_jiffies() > age ?
				tmr_jiffies() - age : 0;
		f->self_seen = r->seen;
		f->self_known = true;
		return 0;
	}
	n = node_find(f, r->id);
	running = r->seen && r->seen + NODE_LIST_ALIVE_S > now;
	watch_row(f, r, running);
	if (!running)
		return 0;
	if (!n) {
		if (slot_new(f, r, &n))
			return 0;
		log_info("cluster: following node %s (bus %s, SIP %s)", r->id,
			 r->bus, r->sip);
	}
	n->seen = true;
	err = follow_node_topics(n, r);
	if (err)
		log_warn("cluster: node %s: its bus %s: %m", r->id, r->bus,
			 err);
	n->rec = *r;
	n->sip_ok = false;
	if (!strncmp(r->sip, "udp:", 4)) {
		pl_set_str(&sip, r->sip + 4);
		n->sip_ok = !sa_decode(&n->sip, sip.p, sip.l);
	}
	return 0;
}

static void fence_set(struct follow *f, bool fenced);

/* Fenced once our own row has said the same for FOLLOW_FENCE_MS (a
 * failed read tells nothing, so it counts too); back once it changes
 * and the daemon agrees (its handler says 0). Back, the others are
 * watched afresh: what we saw of them while fenced proves nothing. */
static void fence_check(struct follow *f)
{
	const bool fenced = f->self_known &&
		tmr_jiffies() >= f->self_since + FOLLOW_FENCE_MS;

	if (fenced == f->fenced)
		return;
	fence_set(f, fenced);
}

/* The transition, whoever saw it (fence_check, or follow_lease) */
static void fence_set(struct follow *f, bool fenced)
{
	if (fenced) {
		log_warn("cluster: this node (%s) has not said it is alive for "
			 "%u s that we can read: fenced, its rows may be "
			 "taken over", f->conf->node_id,
			 FOLLOW_FENCE_MS / 1000);
		f->fenced = true;
		if (f->fenceh)
			(void)f->fenceh(true, f->fence_arg);
		return;
	}
	if (f->fenceh && f->fenceh(false, f->fence_arg))
		return;        /* still fenced: asked again */
	log_notice("cluster: this node (%s) is alive again: no longer "
		   "fenced", f->conf->node_id);
	f->fenced = false;
	for (unsigned i = 0; i < FOLLOW_WATCH_MAX; i++)
		f->watch[i].since = tmr_jiffies();  /* not 0: swept now */
}

int follow_refresh(struct follow *f)
{
	struct watch *w;
	unsigned left = 0;
	int err;

	if (!f)
		return EINVAL;
	/* this refresh late by a fence's length: the process was frozen,
	 * and the others may have taken us over meanwhile, even if our row
	 * has changed by now (our edge woke first): fenced, and back only
	 * through the daemon's check */
	if (f->self_known && !f->fenced && f->last_read &&
	    tmr_jiffies() >= f->last_read + FOLLOW_FENCE_MS)
		fence_set(f, true);
	f->last_read = tmr_jiffies();
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++)
		if (f->node[i])
			f->node[i]->seen = false;
	err = nodes_foreach(f->admin, node_h, f);
	if (err) {
		/* the database out of reach: as we were, and what we
		 * watched die is watched again from the next good read */
		for (unsigned i = 0; i < FOLLOW_WATCH_MAX; i++) {
			f->watch[i].since = 0;
			f->watch[i].listed = false;
		}
		fence_check(f);
		return err;
	}
	fence_check(f);
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++) {
		struct fnode *n = f->node[i];

		if (!n || n->seen) {
			left += n != NULL;
			continue;
		}
		w = watch_find(f, n->rec.id);
		log_info("cluster: node %s is no longer running (%s)",
			 n->rec.id, !w || !w->listed ? "forgotten" :
			 w->stopped ? "stopped" : "silent");
		f->node[i] = NULL;
		unfollow(n);
		mem_deref(n);
	}
	/* after: what the dead said is forgotten; not while we may be the
	 * dead one */
	if (!f->fenced)
		watch_sweep(f);
	else
		for (unsigned i = 0; i < FOLLOW_WATCH_MAX; i++)
			f->watch[i].listed = false;
	if (left < FOLLOW_NODES_MAX)
		f->full_logged = false;
	return 0;
}

static void refresh_h(void *arg)
{
	struct follow *f = arg;

	(void)follow_refresh(f);
	tmr_start(&f->tmr, FOLLOW_REFRESH_MS, refresh_h, f);
}

/* Who may connect to our bus: a node listed in the admin database with
 * this key. A refusal is final for that connection (ZeroMQ does not
 * try the handshake again), so a key not in memory is looked up rather
 * than refused for want of a refresh. */
static bool auth_h(const char *key, const char *addr, void *arg)
{
	struct follow *f = arg;
	uint64_t now = (uint64_t)time(NULL);
	struct node_rec r;
	int err;

	if (follow_key_known(f, key))
		return true;
	err = nodes_get_by_key(f->admin, key, &r);
	if (!err) {
		log_debug("cluster: node %s connected from %s", r.id, addr);
		return true;
	}
	++f->refused;
	if (now >= f->refused_log + 60) {
		log_warn("cluster: refused %s on the bus: its key %s is no "
			 "node's%s (%u refused since the last such line)", addr,
			 key, err == ENOENT ? "" : " (the database cannot "
			 "say)", f->refused);
		f->refused_log = now;
		f->refused = 0;
	}
	return false;
}

int follow_keys(const struct conf *conf, struct bus_keys *keys)
{
	int err = bus_keys_load(keys, conf->cluster_key);

	if (err)
		log_err("cluster: key '%s': %m", conf->cluster_key, err);
	return err;
}

int follow_alloc(struct follow **fp, const struct conf *conf,
		 struct store *admin, struct bus *bus,
		 const struct follow_topic *topics, unsigned ntopics,
		 follow_gone_h *goneh, void *arg)
{
	struct bus_keys keys;
	struct follow *f;
	int err;

	if (!fp || !conf || !conf->node_id || !admin || !bus ||
	    ntopics > FOLLOW_TOPICS_MAX || (ntopics && !topics))
		return EINVAL;
	for (unsigned t = 0; t < ntopics; t++)
		if (!topics[t].topic || !topics[t].updh ||
		    topics[t].port + 1 >= CONF_CLUSTER_PORTS)
			return EINVAL;
	err = follow_keys(conf, &keys);
	if (err)
		return err;
	f = mem_zalloc(sizeof(*f), destructor);
	if (!f)
		return ENOMEM;
	f->conf = conf;
	f->admin = mem_ref(admin);
	f->bus = mem_ref(bus);
	f->topics = topics;
	f->ntopics = ntopics;
	f->goneh = goneh;
	f->arg = arg;
	tmr_init(&f->tmr);
	err = bus_secure(bus, &keys, auth_h, f);
	if (err) {
		log_err("cluster: bus keys: %m", err);
		mem_deref(f);
		return err;
	}
	refresh_h(f);
	*fp = f;
	return 0;
}

void follow_on_fence(struct follow *f, follow_fence_h *fenceh, void *arg)
{
	if (!f)
		return;
	f->fenceh = fenceh;
	f->fence_arg = arg;
	if (f->fenced && fenceh)   /* since the first read */
		(void)fenceh(true, arg);
}

bool follow_lease(void *arg)
{
	struct follow *f = arg;

	if (!f)
		return true;
	/* a refresh late by a fence's length: this process was frozen; or
	 * the row older than a fence and a refresh (the margin: a read may
	 * just miss a heartbeat), still under the others' FOLLOW_DEAD_MS */
	if (!f->fenced && f->self_known &&
	    (tmr_jiffies() >= f->last_read + FOLLOW_FENCE_MS ||
	     tmr_jiffies() >= f->self_since + FOLLOW_FENCE_MS +
	     FOLLOW_REFRESH_MS))
		fence_set(f, true);    /* before the next refresh saw it */
	return !f->fenced;
}

const struct node_rec *follow_node(const struct follow *f, unsigned src,
				   struct sa *sip)
{
	const struct fnode *n;

	if (!f || src < 1 || src > FOLLOW_NODES_MAX || !f->node[src - 1])
		return NULL;
	n = f->node[src - 1];
	if (sip && n->sip_ok)
		*sip = n->sip;
	else if (sip)
		sa_init(sip, AF_UNSPEC);
	return &n->rec;
}

unsigned follow_src_at(const struct follow *f, const struct sa *sa)
{
	if (!f || !sa)
		return 0;
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++) {
		const struct fnode *n = f->node[i];

		if (n && n->sip_ok && sa_cmp(&n->sip, sa, SA_ALL))
			return n->src;
	}
	return 0;
}

bool follow_key_known(const struct follow *f, const char *key)
{
	if (!f || !key)
		return false;
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++)
		if (f->node[i] && !strcmp(f->node[i]->rec.key, key))
			return true;
	return false;
}
