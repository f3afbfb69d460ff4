/* ctl_node: `lamplightctl node`, the nodes of a cluster as the shared
 * admin database lists them: list (each node's state, bus, SIP address,
 * load), forget (a node gone for good, so that its id may be claimed by
 * another key) and key (this box's public bus key, made if missing). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "bus/bus.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_nodes.h"
#include "ctl.h"

static int list_h(const struct node_rec *n, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;

	printf("%-12s %-8s %-28s %-24s %s\n", n->id, nodes_state(n, now), n->bus,
	       n->sip, n->load);
	return 0;
}

static int open_admin(struct store **stp, const struct conf *conf, bool ro)
{
	int err = users_open(stp, conf->admin_db, ro);

	if (err)
		fprintf(stderr, "lamplightctl: admin database '%s': %s\n",
			conf->admin_db, strerror(err));
	return err;
}

int ctl_node(const struct conf *conf, int argc, char **argv, int i)
{
	struct store *st = NULL;
	uint64_t now = (uint64_t)time(NULL);
	int err;

	if (!strcmp(argv[i], "key") && i + 1 == argc) {
		struct bus_keys k;

		err = store_mkdirs(conf->cluster_key, true);
		err = err ? err : bus_keys_load(&k, conf->cluster_key);
		if (err)
			fprintf(stderr, "lamplightctl: %s: %s\n",
				conf->cluster_key, strerror(err));
		else
			printf("%s\n", k.pub);
		return err;
	}
	if (!strcmp(argv[i], "list") && i + 1 == argc) {
		err = open_admin(&st, conf, true);
		if (err)
			return err;
		printf("%-12s %-8s %-28s %-24s %s\n", "NODE", "STATE", "BUS",
		       "SIP", "LOAD");
		err = nodes_foreach(st, list_h, &now);
		mem_deref(st);
		return err;
	}
	if (!strcmp(argv[i], "forget") && i + 2 == argc) {
		struct node_rec n;

		err = open_admin(&st, conf, false);
		if (err)
			return err;
		err = nodes_get(st, argv[i + 1], &n);
		if (!err && n.seen && n.seen + NODE_LIST_ALIVE_S > now) {
			fprintf(stderr, "lamplightctl: node %s is running "
				"(seen %llu s ago): stop it first\n", n.id,
				(unsigned long long)(now - n.seen));
			err = EBUSY;
		}
		else if (!err)
			err = nodes_forget(st, argv[i + 1]);
		if (err == ENOENT)
			fprintf(stderr, "lamplightctl: no node %s\n",
				argv[i + 1]);
		mem_deref(st);
		return err;
	}
	fprintf(stderr, "usage: lamplightctl node list | node forget ID | "
		"node key\n");
	return EINVAL;
}
