/* store_nodes: the nodes of a cluster in the admin database (shared by
 * every node when the store is PostgreSQL): each node's id, the public
 * key of its bus (ZeroMQ CURVE), where its bus and its SIP edge listen,
 * and when it was last seen alive. A node claims its id when its edge
 * starts, and keeps it by being seen; an id held by another key, or by a
 * running instance, is refused. */
#ifndef LP_STORE_NODES_H
#define LP_STORE_NODES_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"

#define NODE_ID_MAX 32         /* CONF_NODE_ID_MAX */
#define NODE_KEY_LEN 40        /* Z85 of 32 bytes */
#define NODE_ADDR_MAX 127
#define NODE_INSTANCE_LEN 16
/* A node not seen for longer is no longer running (its edge says it is
 * alive every 2 s). */
#define NODE_LIST_ALIVE_S 10

struct node_rec {
	char id[NODE_ID_MAX + 1];
	char key[NODE_KEY_LEN + 1];        /* its bus's public key */
	char bus[NODE_ADDR_MAX + 1];       /* tcp://ADDRESS:PORT */
	char sip[NODE_ADDR_MAX + 1];       /* udp:ADDRESS:PORT */
	char instance[NODE_INSTANCE_LEN + 1]; /* new at each start */
	uint64_t started;
	uint64_t seen;                     /* 0: stopped */
	char load[64];                     /* what its edge says of itself */
};

/* conf_node_id_valid: 1 to NODE_ID_MAX of [a-z0-9-], no leading '-'. */
bool nodes_id_valid(const char *id);

/* Take `n->id` for this start (n->instance), seen now. EEXIST: another
 * key holds the id (*holder says which); EBUSY: an instance with the
 * same key was seen less than `alive_s` ago (a second node started with
 * the same id and key). Nothing is written then. */
int  nodes_claim(struct store *st, const struct node_rec *n, uint64_t now,
		 uint32_t alive_s, struct node_rec *holder);
/* Seen alive now, with its load. ESTALE: another instance has claimed
 * the id since. */
int  nodes_seen(struct store *st, const char *id, const char *instance,
		uint64_t now, const char *load);
/* Stopped (seen 0), if still this instance's. */
int  nodes_leave(struct store *st, const char *id, const char *instance);
/* ENOENT: no such node. */
int  nodes_forget(struct store *st, const char *id);
int  nodes_get(struct store *st, const char *id, struct node_rec *n);
/* The node whose bus key this is (ENOENT: none). */
int  nodes_get_by_key(struct store *st, const char *key, struct node_rec *n);

/* "running" (seen in the last NODE_LIST_ALIVE_S), "stopped" (a clean
 * stop) or "silent" (killed, cut off, its machine dead). */
const char *nodes_state(const struct node_rec *n, uint64_t now);

typedef int (nodes_h)(const struct node_rec *n, void *arg);
/* In id order; a handler's error stops the walk and is returned. */
int  nodes_foreach(struct store *st, nodes_h *h, void *arg);

#endif
