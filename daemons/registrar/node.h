/* node: this edge as a node of a cluster (node_id, cluster_bus): it
 * claims its id in the shared admin database at start (an id held by
 * another key, or by another running instance, is refused: the edge
 * does not start), says it is alive every NODE_SEEN_MS with its load,
 * publishes its bus for the other nodes on cluster_bus over CURVE and
 * lets in only the keys of the nodes listed, and marks itself stopped
 * at a clean stop. */
#ifndef LP_NODE_H
#define LP_NODE_H

#include <stdint.h>
#include "store/store_nodes.h"

struct conf;
struct store;
struct bus;
struct bus_pub;
struct location;
struct nonce_ctx;
struct node;

#define NODE_SEEN_MS 2000
#define NODE_ALIVE_S NODE_LIST_ALIVE_S  /* silent longer: gone */

/* Before the bus publisher exists: the id is claimed with our key. */
int  node_claim(struct node **np, const struct conf *conf,
		struct store *admin, struct bus *bus);
/* Then: publish on cluster_bus, follow the other nodes (peers.h), take
 * over the bindings of those that die (location_adopt) and start saying
 * it is alive. */
int  node_publish(struct node *n, struct bus_pub *pub,
		  struct location *loc, struct nonce_ctx *key);
struct peers *node_peers(const struct node *n);

#endif
