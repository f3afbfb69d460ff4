/* follow: the other running nodes of a cluster, as one daemon of this
 * node follows them. Every FOLLOW_REFRESH_MS it reads the admin
 * database's nodes table; on each node seen running (in the last
 * NODE_LIST_ALIVE_S) it subscribes to the topics the daemon asks for,
 * over the CURVE bus between nodes; when a node stops running, or its
 * bus or key changes, or a subscription of it has been out of sync for
 * FOLLOW_RETRY_MS on end (ZeroMQ does not retry a refused handshake),
 * every key it had told of reaches the daemon as a `del` ("resync":
 * true) before it is followed again or forgotten.
 *
 * Each followed node is a source: a number from 1 to FOLLOW_NODES_MAX,
 * the same while it is followed; FOLLOW_LOCAL (0) is this node. What
 * two sources both report (a call that passes through two nodes has a
 * `dialog` key on each) is the daemon's to settle; follow_may says the
 * rule the daemons keep: this node's word wins, otherwise the first
 * source's.
 *
 * It also answers the ZAP handshakes of the node-facing sockets of this
 * daemon's bus (bus_secure): a running node's key is let in from
 * memory, another is looked up in the nodes table (a node just started,
 * `lamplightctl watch --node`), and a refusal is logged with the
 * address, one line a minute at most. */
#ifndef LP_FOLLOW_H
#define LP_FOLLOW_H

#include <stdbool.h>
#include <re.h>
#include "base/conf.h"
#include "store/store_nodes.h"

struct store;
struct bus;
struct bus_keys;
struct bus_msg;
struct follow;

#define FOLLOW_NODES_MAX 16    /* other nodes followed */
#define FOLLOW_TOPICS_MAX 4
#define FOLLOW_LOCAL 0
#define FOLLOW_REFRESH_MS 2000
#define FOLLOW_RETRY_MS 10000
#define FOLLOW_DEAD_MS 10000   /* NODE_LIST_ALIVE_S, by our own clock */
/* Our own node's row unchanged that long, by our reads (its edge dead or
 * cut off, or the database out of our reach): the others may take us
 * over soon (at FOLLOW_DEAD_MS of their reads, which began up to a
 * refresh after ours), so we stop speaking for our rows first. */
#define FOLLOW_FENCE_MS 4000

typedef void (follow_update_h)(unsigned src, const struct bus_msg *m,
			       void *arg);

struct follow_topic {
	const char *topic;
	enum conf_cluster_port port;   /* _REG_PUB or _PRES_PUB */
	follow_update_h *updh;
};

/* This node's key pair (cluster_key, made when missing); logs its
 * errors. */
int  follow_keys(const struct conf *conf, struct bus_keys *keys);
/* A node is dead: its row has said the same `seen` (not 0: a clean stop
 * is not a death) for FOLLOW_DEAD_MS of this daemon's own good reads of
 * the table, or its row was forgotten (lamplightctl node forget). What
 * it served is for the living to take over; an error: the handler is
 * called again at the next refresh. */
typedef int (follow_gone_h)(const struct node_rec *r, void *arg);
/* This node fenced (true: its own row has not changed for
 * FOLLOW_FENCE_MS of this daemon's reads, or they fail; what it holds
 * may be another node's soon) or back (false; was it taken over
 * meanwhile is the daemon's to find out: an error, it cannot say yet,
 * and the node stays fenced, told again at the next refresh). While
 * fenced, this daemon takes over nobody: its own view of the others'
 * rows is no better than theirs of ours. */
typedef int (follow_fence_h)(bool fenced, void *arg);
/* Secures `bus` with this node's key pair (cluster_key; before any
 * node-facing socket of it is made) and starts following. `topics`
 * must outlive the follower; goneh may be NULL. Logs its errors. */
int  follow_alloc(struct follow **fp, const struct conf *conf,
		  struct store *admin, struct bus *bus,
		  const struct follow_topic *topics, unsigned ntopics,
		  follow_gone_h *goneh, void *arg);
/* Be told when this node is fenced and when it is back. */
void follow_on_fence(struct follow *f, follow_fence_h *fenceh, void *arg);
/* May this node speak for its rows now (`arg`: the follower, NULL: no
 * cluster, yes)? Asked at the moment of sending, by the clock: a
 * process that was frozen (stopped, swapped out, its machine suspended)
 * learns it was out of touch before its timers' work goes out, not at
 * its next refresh; false fences it. */
bool follow_lease(void *arg);
/* Read the nodes table again now (done every FOLLOW_REFRESH_MS). */
int  follow_refresh(struct follow *f);
/* The node that is source `src` (NULL: none), and its SIP address
 * (udp:ADDRESS:PORT) when it has one. */
const struct node_rec *follow_node(const struct follow *f, unsigned src,
				   struct sa *sip);
/* The source whose SIP address `sa` is (0: none). */
unsigned follow_src_at(const struct follow *f, const struct sa *sa);
/* Is `key` the bus key of a node we follow? */
bool follow_key_known(const struct follow *f, const char *key);
/* May `src` change a key that `holder` reported? */
static inline bool follow_may(unsigned holder, unsigned src)
{
	return src == holder || src == FOLLOW_LOCAL;
}

#endif
