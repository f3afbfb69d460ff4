/* peers: the other nodes of a cluster as this edge sees them: their SIP
 * addresses (from the admin database's nodes table, read again every
 * NODE_SEEN_MS) and which users have a reachable device on each (their
 * `reg` topics, over the CURVE bus between nodes). A call for a user
 * whose devices are on another node goes to that node's edge, which
 * takes it from here as from one of its own (one hop: never on to a
 * third). */
#ifndef LP_PEERS_H
#define LP_PEERS_H

#include <stdbool.h>
#include <re.h>

struct conf;
struct store;
struct bus;
struct peers;

#define PEERS_MAX 16           /* other nodes followed */

int  peers_alloc(struct peers **pp, const struct conf *conf,
		 struct store *admin, struct bus *bus);
/* Read the nodes table again: follow new running nodes, drop those no
 * longer running (their users are then nowhere). */
int  peers_refresh(struct peers *p);
/* The SIP addresses (UDP) of the running nodes where `user` has a
 * reachable device, at most `max`; how many. */
unsigned peers_where(const struct peers *p, const struct pl *user,
		     struct sa *dst, unsigned max);
/* Is `src` a running node's SIP address? */
bool peers_is_node(const struct peers *p, const struct sa *src);
/* The user another node asserts a request comes from (it authenticated
 * them): P-Asserted-Identity's user part. */
int  peers_asserted(const struct sip_msg *msg, char *user, size_t sz);

#endif
