/* edge: the edge's context, passed to every module of lamplight-registrar
 * (no globals), and how the edge knows itself in a message: a URI that is
 * one of its own, an address that is one of its back daemons. */
#ifndef LP_EDGE_H
#define LP_EDGE_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "base/tmrq.h"

struct conf;
struct users_cache;
struct nonce_ctx;
struct location;
struct dialogs;
struct store;
struct peers;

/* The back daemons, by their index in conf->routes (the keys
 * route_presence, route_imrelay, route_blf). */
enum route_service {
	ROUTE_PRESENCE,
	ROUTE_IMRELAY,
	ROUTE_BLF,
	ROUTE_COUNT
};

struct edge {
	const struct conf *conf;
	struct sip *sip;
	struct sip_lsnr *lsnr;
	struct sip_lsnr *lsnr_resp;  /* answers no transaction claims */
	struct users_cache *users;
	struct store *admin;        /* the admin database: watcher rules */
	struct nonce_ctx *nonces;
	struct location *loc;
	struct dialogs *dialogs;
	struct tmrq timer_c;        /* calls no device answered yet */
	struct tmrq route_tmr;      /* forwards waiting for an answer */
	struct hash *pending;       /* fwd_backend's, by branch */
	uint64_t pending_seed;      /* its buckets' secret (fwd.c) */
	struct hash *calls;         /* ringing calls, by Call-ID (pickup) */
	uint32_t ringing;           /* calls being set up (call_max_ringing) */
	struct fastpath *fast;      /* answers relayed before libre decodes */
	struct udpwide *wide;       /* whole datagrams, up to 64 KiB */
	struct guess *guess;        /* failed digest answers (guess.h) */
	uint64_t store_logged;      /* s, the last "database out of reach" */
	struct flood *flood;        /* requests per source (flood.h) */
	struct overload *ovl;       /* the receive queue's delay */
	/* route_edge: the back daemons' own way in, a UDP socket apart
	 * from the phones' (back_set), so that phones filling the public
	 * receive queue cannot make the kernel drop the back daemons'
	 * answers and requests. back_sock is libre's socket for it, known
	 * once the start-up probe (udpwide) came in on it; until then the
	 * edge sends to the back daemons as without route_edge. */
	bool back_set;
	struct sa back_laddr;
	struct udp_sock *back_sock;
	uint32_t npending;
	/* the edge as several processes (workers.c, handoff.c): this one's
	 * index (0: the one that takes calls, the bus, TCP and TLS), how
	 * many, and the datagram being read that another worker handed
	 * over (set by handoff_recv, for what comes next on it) */
	unsigned worker;
	unsigned nworkers;
	const struct mbuf *handed;
	struct sa handed_dst;       /* the address it was sent to */
	/* a back daemon that let a request go unanswered for route_timeout
	 * and answered none sent after it: its requests get 503 at once and
	 * are not sent on, but for one a second (back_probe, ms) whose
	 * answer says it is back */
	bool back_down[ROUTE_COUNT];
	uint64_t back_probe[ROUTE_COUNT];
	/* when each last answered a request of fwd_backend (jiffies): one
	 * that answers later requests is slow, not down */
	uint64_t back_seen[ROUTE_COUNT];
	/* requests a back daemon could not be sent (route.c): a line a
	 * second, with how many more */
	uint64_t unavail_logged;
	uint32_t unavail_more;
	/* a node of a cluster: the other nodes and where their users are
	 * (peers.h); NULL for a box of its own */
	struct peers *peers;
};

/* Our domain, or one of our listen addresses (and its port, if any). */
bool edge_is_local(const struct edge *r, const struct uri *uri);
/* Requests to a back daemon leave from route_edge's socket, so that
 * their answers come back there: true with its address and socket, once
 * known; false: from the transport libre picks. */
bool edge_back_out(const struct edge *r, struct sa *laddr,
		   struct udp_sock **sock);
/* The address the back daemons reach the edge on over UDP: route_edge,
 * else what libre picks for `dst`. */
int  edge_back_laddr(struct edge *r, const struct sa *dst, struct sa *laddr);
/* Note libre's socket of route_edge from a request that came in on it. */
void edge_back_seen(struct edge *r, const struct sip_msg *msg);
/* Is this address one of the back daemons? */
bool edge_is_backend(const struct edge *r, const struct sa *a);
/* Which (enum route_service), or -1. */
int edge_backend_index(const struct edge *r, const struct sa *a);

#endif
