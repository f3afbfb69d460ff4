/* peers: the other nodes of a cluster as this edge sees them: their SIP
 * addresses (from the admin database's nodes table: cluster/follow.h)
 * and which users have a reachable device on each (their `reg` topics,
 * over the CURVE bus between nodes). A call for a user
 * whose devices are on another node goes to that node's edge, which
 * takes it from here as from one of its own (one hop: never on to a
 * third). */
#ifndef LP_PEERS_H
#define LP_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <re.h>
#include "cluster/follow.h"

struct conf;
struct store;
struct bus;
struct nonce_ctx;
struct peers;

/* On each call or MESSAGE a node sends another: a flow token (flow.h)
 * of the sender's SIP address, made with the registrar's secret, which
 * the nodes share through their database, and bound to the Call-ID and
 * the asserted user. A forged source address is not enough to be
 * taken for a node. */
#define PEERS_HDR "X-Lamplight-Node"

/* Another node says `user` has devices there; reg: its `reg` message's
 * data (the contacts). */
typedef void (peers_user_h)(const char *user, const struct odict *reg,
			    void *arg);
/* Secures `bus` (follow.h). self: this node's SIP address (its
 * requests to other nodes leave from it); key: the registrar's
 * secret; goneh: told of each node that died (follow_gone_h). */
int  peers_alloc(struct peers **pp, const struct conf *conf,
		 struct store *admin, struct bus *bus, const struct sa *self,
		 struct nonce_ctx *key, follow_gone_h *goneh, void *arg);
/* Be told of each user another node reports devices for (same arg). */
void peers_on_user(struct peers *p, peers_user_h *userh);
/* The SIP addresses (UDP) of the running nodes where `user` has a
 * reachable device, at most `max`; how many. */
unsigned peers_where(const struct peers *p, const struct pl *user,
		     struct sa *dst, unsigned max);
/* Is `src` a running node's SIP address? */
bool peers_is_node(const struct peers *p, const struct sa *src);
/* The header line (with CRLF) for a request to another node, asserting
 * `user`. */
int  peers_sign(const struct peers *p, char *line, size_t sz,
		const struct sip_msg *msg, const char *user);
/* A request from another node: over UDP, from a running node's address,
 * with its PEERS_HDR good for that address, the Call-ID and the user of
 * its P-Asserted-Identity, which goes to `user`. ENOENT: not from a node
 * (a request like a phone's); EPERM: from a node's address but not
 * signed by one (refuse it). */
int  peers_verify(const struct peers *p, const struct sip_msg *msg,
		  char *user, size_t sz);

#endif
