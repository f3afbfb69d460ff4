/* node: this edge as a node of a cluster (node.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store.h"
#include "store/store_nodes.h"
#include "bus/bus.h"
#include "cluster/follow.h"
#include "location.h"
#include "peers.h"
#include "node.h"

/* A node killed comes back as itself only once the others have taken
 * over what it held (they see it dead FOLLOW_DEAD_MS after the last
 * change of its row they read, reading every FOLLOW_REFRESH_MS): until
 * then a start of it could load rows they are about to take. */
#define NODE_CLAIM_S (FOLLOW_DEAD_MS / 1000 + \
		      3 * FOLLOW_REFRESH_MS / 1000 + 1)

struct node {
	const struct conf *conf;
	struct store *admin;
	struct location *loc;
	struct bus *bus;
	struct peers *peers;
	struct node_rec rec;
	struct tmr seen;
	bool stale;            /* another instance took the id */
};

static void destructor(void *arg)
{
	struct node *n = arg;

	tmr_cancel(&n->seen);
	mem_deref(n->peers);
	if (!n->stale && n->rec.instance[0])
		(void)nodes_leave(n->admin, n->rec.id, n->rec.instance);
	mem_deref(n->admin);
	mem_deref(n->bus);
}

int node_claim(struct node **np, const struct conf *conf,
	       struct store *admin, struct bus *bus)
{
	struct node_rec holder;
	struct bus_keys keys;
	struct node *n;
	uint64_t now = (uint64_t)time(NULL);
	int err;

	if (!np || !conf || !admin || !bus)
		return EINVAL;
	err = follow_keys(conf, &keys);
	if (err)
		return err;
	n = mem_zalloc(sizeof(*n), destructor);
	if (!n)
		return ENOMEM;
	n->conf = conf;
	n->admin = mem_ref(admin);
	n->bus = mem_ref(bus);
	tmr_init(&n->seen);
	str_ncpy(n->rec.id, conf->node_id, sizeof(n->rec.id));
	str_ncpy(n->rec.key, keys.pub, sizeof(n->rec.key));
	str_ncpy(n->rec.bus, conf->cluster_bus, sizeof(n->rec.bus));
	/* where the other nodes send a call for a user of ours: the first
	 * udp listen address */
	for (unsigned i = 0; i < conf->listen_count; i++) {
		const struct conf_listen *l = &conf->listen[i];

		if (l->tp != CONF_TP_UDP)
			continue;
		re_snprintf(n->rec.sip, sizeof(n->rec.sip), l->addr[0] &&
			    strchr(l->addr, ':') ? "udp:[%s]:%u" : "udp:%s:%u",
			    l->addr, l->port);
		break;
	}
	re_snprintf(n->rec.instance, sizeof(n->rec.instance), "%016llx",
		    (unsigned long long)rand_u64());

	err = nodes_claim(admin, &n->rec, now, NODE_CLAIM_S, &holder);
	if (err == EEXIST)
		log_err("cluster: node_id '%s' is another node's (key %s, bus "
			"%s): not starting; if that node is gone for good, "
			"`lamplightctl node forget %s`", n->rec.id, holder.key,
			holder.bus, n->rec.id);
	else if (err == EBUSY)
		log_err("cluster: node_id '%s' is running already, or was "
			"killed less than %u s ago (bus %s, seen %llu s ago): "
			"not starting (the others take over a killed node's "
			"rows first)", n->rec.id, NODE_CLAIM_S, holder.bus,
			(unsigned long long)(now > holder.seen ?
					     now - holder.seen : 0));
	else if (err)
		log_err("cluster: cannot claim node_id '%s': %m", n->rec.id,
			err);
	if (err)
		n->rec.instance[0] = '\0';    /* nothing to leave */
	if (err)
		mem_deref(n);
	else
		*np = n;
	return err;
}

static void seen_h(void *arg)
{
	struct node *n = arg;
	char load[64];
	int err;

	re_snprintf(load, sizeof(load), "bindings %u",
		    n->loc ? location_count(n->loc) : 0);
	err = nodes_seen(n->admin, n->rec.id, n->rec.instance,
			 (uint64_t)time(NULL), load);
	if (err == ESTALE) {
		/* after a partition longer than NODE_ALIVE_S another start
		 * took the id: two edges must not act as one node */
		log_err("cluster: another instance has taken node_id '%s'; "
			"stopping", n->rec.id);
		n->stale = true;
		re_cancel();
		return;
	}
	if (err)
		log_debug("cluster: cannot say node %s is alive: %m",
			  n->rec.id, err);
	tmr_start(&n->seen, NODE_SEEN_MS, seen_h, n);
}

/* A node died: the bindings its edge held are ours (location_adopt),
 * so that its phones are reached from here until they register again,
 * through a floating address or DNS SRV, with a survivor. */
static int gone_h(const struct node_rec *r, void *arg)
{
	struct node *n = arg;
	uint32_t taken = 0;
	int err;

	if (!n->loc)
		return 0;
	err = location_adopt(n->loc, r->id, (uint64_t)time(NULL), &taken);
	if (err)
		log_warn("cluster: cannot take over the bindings of node %s: "
			 "%m (again at the next look)", r->id, err);
	else
		log_notice("cluster: took over %u binding(s) of node %s",
			   taken, r->id);
	return err;
}

/* Another node reports a device of `user` that we hold too: its row
 * moved there (the phone registered with that node after we took it
 * over, or its own edge came back). Read again, ours alone stay. */
static void user_h(const char *user, const struct odict *reg, void *arg)
{
	struct node *n = arg;
	const struct odict_entry *ce;
	const struct aor *a;
	struct pl pl;

	pl_set_str(&pl, user);
	a = n->loc ? location_find(n->loc, &pl) : NULL;
	ce = a && reg ? odict_get_type(reg, ODICT_ARRAY, "contacts") : NULL;
	for (struct le *le = ce ? ce->u.odict->lst.head : NULL; le;
	     le = le->next) {
		const struct odict_entry *c = le->data;
		const char *uri = c->type == ODICT_OBJECT ?
			odict_string(c->u.odict, "uri") : NULL;

		for (struct le *b = uri ? a->bindings.head : NULL; b;
		     b = b->next) {
			if (strcmp(uri, ((const struct binding *)b->data)->uri))
				continue;
			log_info("cluster: '%s': binding '%s' is another "
				 "node's now", user, uri);
			(void)location_moved(n->loc, user,
					     (uint64_t)time(NULL));
			return;
		}
	}
}

int node_publish(struct node *n, struct bus_pub *pub,
		 struct location *loc, struct nonce_ctx *key)
{
	char snap[NODE_ADDR_MAX + 8];
	struct sa self;
	int err;

	if (!n || !pub || !key)
		return EINVAL;
	/* its calls to other nodes leave from its first udp address */
	if (strncmp(n->rec.sip, "udp:", 4) ||
	    sa_decode(&self, n->rec.sip + 4, strlen(n->rec.sip + 4))) {
		log_err("cluster: node %s needs a udp listen address",
			n->rec.id);
		return EINVAL;
	}
	n->loc = loc;
	/* the peers first: they secure the bus the sockets are made on */
	err = conf_cluster_ep(snap, sizeof(snap), n->conf->cluster_bus,
			      CONF_CLUSTER_REG_SNAP);
	err = err ? err : peers_alloc(&n->peers, n->conf, n->admin, n->bus,
				      &self, key, gone_h, n);
	peers_on_user(n->peers, user_h);
	err = err ? err : bus_pub_listen(pub, n->conf->cluster_bus, snap);
	if (err)
		log_err("cluster: bus '%s' / '%s': %m", n->conf->cluster_bus,
			snap, err);
	else
		log_info("cluster: node %s, bus %s (snapshots %s)", n->rec.id,
			 n->conf->cluster_bus, snap);
	if (!err)
		tmr_start(&n->seen, NODE_SEEN_MS, seen_h, n);
	return err;
}

struct peers *node_peers(const struct node *n)
{
	return n ? n->peers : NULL;
}
