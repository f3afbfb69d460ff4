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
#include "location.h"
#include "peers.h"
#include "node.h"

struct node {
	const struct conf *conf;
	struct store *admin;
	const struct location *loc;
	struct bus *bus;
	struct peers *peers;
	struct node_rec rec;
	struct tmr seen;
	uint64_t refused_log;  /* when a refusal was last logged (s) */
	uint32_t refused;      /* refusals since */
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

/* Who may connect to our bus: a node listed in the admin database with
 * this key. The running nodes' keys are in memory (peers.c); another
 * (a node just started, lamplightctl watch --node) is looked up in the
 * database: a refusal is final for that connection (ZeroMQ does not try
 * the handshake again), so it must not be refused for want of a
 * refresh. Refusals are logged with the address, one line a minute at
 * most (a scanner must not fill the log). */
static bool auth_h(const char *key, const char *addr, void *arg)
{
	struct node *n = arg;
	uint64_t now = (uint64_t)time(NULL);
	struct node_rec r;
	int err;

	if (peers_key_known(n->peers, key))
		return true;
	err = nodes_get_by_key(n->admin, key, &r);
	if (!err) {
		log_debug("cluster: node %s connected from %s", r.id, addr);
		return true;
	}
	++n->refused;
	if (now >= n->refused_log + 60) {
		log_warn("cluster: refused %s on the bus: its key %s is no "
			 "node's%s (%u refused since the last such line)", addr,
			 key, err == ENOENT ? "" : " (the database cannot "
			 "say)", n->refused);
		n->refused_log = now;
		n->refused = 0;
	}
	return false;
}

int node_claim(struct node **np, const struct conf *conf,
	       struct store *admin, struct bus *bus)
{
	struct bus_keys keys;
	struct node_rec holder;
	struct node *n;
	uint64_t now = (uint64_t)time(NULL);
	int err;

	if (!np || !conf || !admin || !bus)
		return EINVAL;
	err = bus_keys_load(&keys, conf->cluster_key);
	if (err) {
		log_err("cluster: key '%s': %m", conf->cluster_key, err);
		return err;
	}
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

	err = nodes_claim(admin, &n->rec, now, NODE_ALIVE_S, &holder);
	if (err == EEXIST)
		log_err("cluster: node_id '%s' is another node's (key %s, bus "
			"%s): not starting; if that node is gone for good, "
			"`lamplightctl node forget %s`", n->rec.id, holder.key,
			holder.bus, n->rec.id);
	else if (err == EBUSY)
		log_err("cluster: node_id '%s' is running already (bus %s, "
			"seen %llu s ago): not starting a second one",
			n->rec.id, holder.bus,
			(unsigned long long)(now > holder.seen ?
					     now - holder.seen : 0));
	else if (err)
		log_err("cluster: cannot claim node_id '%s': %m", n->rec.id,
			err);
	if (err) {
		n->rec.instance[0] = '\0';    /* nothing to leave */
		goto out;
	}
	err = bus_secure(bus, &keys, auth_h, n);
	if (err)
		log_err("cluster: bus keys: %m", err);
 out:
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
	(void)peers_refresh(n->peers);
	tmr_start(&n->seen, NODE_SEEN_MS, seen_h, n);
}

int node_publish(struct node *n, struct bus_pub *pub,
		 const struct location *loc, struct nonce_ctx *key)
{
	struct pl host, port;
	struct sa self;
	char *snap = NULL;
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
	/* conf.c checked the form: tcp://HOST:PORT */
	if (conf_tcp_split(n->conf->cluster_bus, &host, &port))
		return EINVAL;
	err = re_sdprintf(&snap, "tcp://%r:%u", &host, pl_u32(&port) + 1);
	err = err ? err : bus_pub_listen(pub, n->conf->cluster_bus, snap);
	err = err ? err : peers_alloc(&n->peers, n->conf, n->admin, n->bus,
				      &self, key);
	if (err)
		log_err("cluster: bus '%s' / '%s': %m", n->conf->cluster_bus,
			snap, err);
	else
		log_info("cluster: node %s, bus %s (snapshots %s)", n->rec.id,
			 n->conf->cluster_bus, snap);
	mem_deref(snap);
	if (!err) {
		(void)peers_refresh(n->peers);
		tmr_start(&n->seen, NODE_SEEN_MS, seen_h, n);
	}
	return err;
}

struct peers *node_peers(const struct node *n)
{
	return n ? n->peers : NULL;
}
