/* conf: the one configuration file every Lamplight program reads. */
#ifndef LP_CONF_H
#define LP_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include "lp_config.h"

struct pl;

#define CONF_DEFAULT_PATH LP_SYSCONFDIR "/lamplight/lamplight.conf"
#define CONF_MAX_LISTEN 8
#define CONF_MAX_WORKERS 16

enum conf_transport {
	CONF_TP_UDP,
	CONF_TP_TCP,
	CONF_TP_TLS,
};

struct conf_listen {
	enum conf_transport tp;
	char addr[64];         /* a concrete IPv4 or IPv6 address */
	uint16_t port;
};

/* Digest algorithms, in the order a challenge lists them. */
enum digest_alg {
	DIGEST_MD5 = 0,
	DIGEST_SHA256,
	DIGEST_SHA512_256,
	DIGEST_ALG_COUNT
};
#define DIGEST_ALGS_MAX DIGEST_ALG_COUNT

struct conf {
	char *domain;
	struct conf_listen listen[CONF_MAX_LISTEN];
	unsigned listen_count;
	char *tls_certificate;

	char *state_dir;
	char *runtime_dir;
	char *admin_db;
	char *store;           /* sqlite, or a postgresql:// address */

	/* a node of a cluster (docs/admin-guide.md, "Several nodes") */
	char *node_id;         /* NULL: a box of its own */
	char *cluster_bus;     /* tcp://ADDRESS:PORT, PORT to PORT + 3 */
	char *cluster_key;     /* its CURVE key pair (state_dir/cluster.key) */

	char *log_level;

	/* registrar */
	uint32_t reg_expires_default;
	uint32_t reg_expires_min;
	uint32_t reg_expires_max;
	uint32_t reg_max_contacts;
	uint32_t call_max_ringing;     /* calls set up at once at the edge */
	uint32_t session_expires;      /* s, RFC 4028, put in INVITEs; 0: no */
	uint32_t session_min_se;       /* s, shorter ones get 422 */
	uint32_t call_max_duration;    /* s, calls without a session timer */
	enum digest_alg auth_algs[DIGEST_ALGS_MAX];
	unsigned auth_alg_count;
	uint32_t nonce_lifetime;
	uint32_t auth_fail_limit;      /* failed digests before a block */
	uint32_t auth_block_min;       /* s, the first block */
	uint32_t auth_block_max;       /* s, the longest */
	uint32_t flood_rate;           /* requests/s per source, 0: off */
	uint32_t flood_burst;          /* requests at once per source */
	uint32_t tcp_max_connections;  /* TCP and TLS, accepted, at once */
	uint32_t tcp_max_unauthenticated; /* per address, not yet trusted */
	uint32_t tcp_auth_timeout;     /* s to authenticate, 0: none */
	uint32_t tcp_message_timeout;  /* s a message may stay unfinished */
	uint32_t nonce_cache_size;
	uint32_t sip_max_message;
	uint32_t sip_max_address_header; /* bytes of a From, Via, ... line */
	bool store_sync_full;
	uint32_t store_group_ms;       /* a registration or new subscription
					* waits this long to share its
					* commit (0: alone) */
	bool server_version;   /* Server/User-Agent carry the version */

	/* back daemons the edge routes to: presence, imrelay, blf */
	struct conf_listen routes[3];
	/* where the back daemons send to the edge, apart from the phones
	 * (port 0: unset, the edge's first udp listen address) */
	struct conf_listen route_edge;
	uint32_t route_timeout;  /* ms without an answer before 503 */
	uint32_t probe_interval; /* s between OPTIONS to a device, 0: off */
	uint32_t probe_timeout;  /* ms of silence that make it unreachable */
	uint32_t overload_delay; /* ms a new request may wait queued, 0: any */
	/* edge workers: processes sharing the udp listen addresses
	 * (SO_REUSEPORT), 0: auto, one per core (conf_workers) */
	uint32_t workers;

	/* bus endpoints of the registrar */
	char *bus_registrar_pub;
	char *bus_registrar_snapshot;
	uint32_t bus_heartbeat;

	/* presence */
	uint32_t publish_expires_min;
	uint32_t publish_expires_default;
	uint32_t publish_expires_max;
	uint32_t subscribe_expires_min;
	uint32_t subscribe_expires_default;
	uint32_t subscribe_expires_max;
	uint32_t subscribe_max_per_watcher;
	uint32_t subscribe_max_per_presentity;
	uint32_t notify_min_interval;  /* ms */
	uint32_t notify_timeout;       /* ms */
	uint32_t pidf_max_size;
	char *presence_default_policy; /* allow, confirm, block, ... */
	char *bus_presence_pub;
	char *bus_presence_snapshot;
	char *blf_busy_activities;     /* RPID activities: the lamp is busy */
	char *pickup_prefix;           /* dialled before a user: pickup */
	char *blf_unregistered;        /* idle, offline */
	bool blf_single_dialog;        /* phone quirks, docs/configuration */
	bool blf_initiator_confirmed;
	bool blf_idle_between;
	bool blf_early_while_busy;
	uint32_t im_max_size;          /* bytes of a MESSAGE body */
	uint32_t im_udp_max;           /* bytes of a MESSAGE to a UDP device */
	uint32_t im_deliver_wait;      /* ms before an undelivered one is kept */
	uint32_t im_store_expiry;      /* s a kept message waits */
	uint32_t im_store_max;         /* kept messages per user */
};

int conf_load(struct conf **confp, const char *path, char **errmsg);
int conf_parse(struct conf **confp, const char *text, size_t len,
	       const char *name, char **errmsg);
int conf_parse_algs(enum digest_alg *algs, unsigned *count, const char *s);
const char *conf_tp_name(enum conf_transport tp);
const char *conf_server_name(const struct conf *c);
/* The edge's workers: `workers`, or for auto the cores online (at most
 * CONF_MAX_WORKERS). */
unsigned conf_workers(const struct conf *c);
/* Which edge worker's route_edge address (route_edge's port + i) this
 * is: i, or -1 for none. */
int conf_edge_worker(const struct conf *c, const struct sa *a);
/* The file again into the running `live`: keys that take effect at once
 * are changed in place (*changed counts them); the others, when the file
 * changed them, keep their running value and are named in `restart`
 * (comma separated, "" when none). A bad file changes nothing: the error
 * and *errmsg as conf_load. */
int conf_reload(struct conf *live, const char *path, char **errmsg,
		char *restart, size_t sz, unsigned *changed);
/* Whether `store` is a PostgreSQL address. */
bool conf_store_pg(const struct conf *c);
#define CONF_NODE_ID_MAX 32
#define CONF_CLUSTER_BUS_MAX 120
/* 1 to CONF_NODE_ID_MAX of a-z, 0-9 and '-', not starting with '-'. */
bool conf_node_id_valid(const char *id);
/* tcp://HOST:PORT into its host (brackets kept) and port (digits). */
int  conf_tcp_split(const char *ep, struct pl *host, struct pl *port);
/* The ports a node serves other nodes on: cluster_bus's PORT and the
 * next three (docs/bus.md, "Between nodes"). */
enum conf_cluster_port {
	CONF_CLUSTER_REG_PUB = 0,      /* the edge: reg and dialog */
	CONF_CLUSTER_REG_SNAP = 1,     /* their snapshots */
	CONF_CLUSTER_PRES_PUB = 2,     /* the presence daemon: pub */
	CONF_CLUSTER_PRES_SNAP = 3,    /* its snapshots */
	CONF_CLUSTER_PORTS = 4,
};
/* The endpoint tcp://HOST:(PORT + which) of a cluster_bus `bus`. */
int  conf_cluster_ep(char *buf, size_t sz, const char *bus,
		     enum conf_cluster_port which);
/* Where the database `name` (registrar, presence, blf, imrelay) lives:
 * state_dir/name.db, or the schema `name` of the store's PostgreSQL
 * database (its address, '#', the name: store.h). */
int conf_db(const struct conf *c, const char *name, char **pathp);

#endif
