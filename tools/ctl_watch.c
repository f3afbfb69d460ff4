/* ctl_watch: `lamplightctl watch TOPIC` prints every bus event of a topic
 * as one JSON line: the snapshot first, then each change as it happens;
 * with --node ID, those of another node of the cluster, over its bus's
 * CURVE with this box's key (which that node lets in only when it is a
 * node's: the way to check a node's key from another). */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "bus/bus.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_nodes.h"
#include "ctl.h"

struct watch {
	unsigned count;
	unsigned seen;
	struct tmr tmr;
	int err;
};

static void update_h(const struct bus_msg *m, void *arg)
{
	struct watch *w = arg;

	re_printf("%H\n", json_encode_odict, m->root);
	fflush(stdout);
	if (w->count && ++w->seen >= w->count)
		re_cancel();
}

static void timeout_h(void *arg)
{
	struct watch *w = arg;

	w->err = ETIMEDOUT;
	re_cancel();
}

static void signal_h(int sig)
{
	(void)sig;
	re_cancel();
}

/* Another node's bus: its endpoints and key from the admin database,
 * this box's key pair. */
static int node_sub(struct bus_sub **subp, struct bus *bus,
		    const struct conf *conf, const char *node,
		    const char *topic, struct watch *w)
{
	struct store *st = NULL;
	struct bus_keys k;
	struct node_rec n;
	bool pres = !strcmp(topic, "pub") || !strcmp(topic, "pres");
	char pub[NODE_ADDR_MAX + 8], snap[NODE_ADDR_MAX + 8];
	int err;

	err = users_open(&st, conf->admin_db, true);
	err = err ? err : nodes_get(st, node, &n);
	mem_deref(st);
	if (err) {
		fprintf(stderr, "lamplightctl: node %s: %s\n", node,
			err == ENOENT ? "no such node" : strerror(err));
		return err;
	}
	err = conf_cluster_ep(pub, sizeof(pub), n.bus, pres ?
			      CONF_CLUSTER_PRES_PUB : CONF_CLUSTER_REG_PUB);
	err = err ? err : conf_cluster_ep(snap, sizeof(snap), n.bus, pres ?
					  CONF_CLUSTER_PRES_SNAP :
					  CONF_CLUSTER_REG_SNAP);
	if (err) {
		fprintf(stderr, "lamplightctl: node %s: bus '%s': %s\n", node,
			n.bus, strerror(err));
		return err;
	}
	err = store_mkdirs(conf->cluster_key, true);
	err = err ? err : bus_keys_load(&k, conf->cluster_key);
	if (err) {
		fprintf(stderr, "lamplightctl: %s: %s\n", conf->cluster_key,
			strerror(err));
		return err;
	}
	err = bus_secure(bus, &k, NULL, NULL);
	return err ? err : bus_sub_alloc_node(subp, bus, pub, snap, n.key,
					      topic, NULL, update_h, w);
}

int ctl_watch(const struct conf *conf, const char *topic, const char *node,
	      unsigned count, unsigned timeout_s)
{
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct watch w = { .count = count };
	int err;

	const char *pub_ep = conf->bus_registrar_pub;
	const char *snap_ep = conf->bus_registrar_snapshot;

	if (!strcmp(topic, "pres") || !strcmp(topic, "pub")) {
		pub_ep = conf->bus_presence_pub;
		snap_ep = conf->bus_presence_snapshot;
	}
	else if (strcmp(topic, "reg") && strcmp(topic, "dialog")) {
		fprintf(stderr, "lamplightctl: unknown topic '%s' (reg, "
			"dialog, pres, pub)\n", topic);
		return EINVAL;
	}
	tmr_init(&w.tmr);
	err = bus_alloc(&bus);
	if (!err && node)
		err = node_sub(&sub, bus, conf, node, topic, &w);
	else if (!err)
		err = bus_sub_alloc(&sub, bus, pub_ep, snap_ep, topic, NULL,
				    update_h, &w);
	if (err) {
		fprintf(stderr, "lamplightctl: bus: %s\n", strerror(err));
		goto out;
	}
	if (timeout_s)
		tmr_start(&w.tmr, timeout_s * 1000ULL, timeout_h, &w);
	re_main(signal_h);
	err = w.err;
 out:
	tmr_cancel(&w.tmr);
	mem_deref(sub);
	mem_deref(bus);
	return err;
}
