/* lamplight-registrar: the SIP edge. main() reads like a table of
 * contents: configuration, stores, transports, bus, the edge's modules,
 * ready, loop, and the close. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <openssl/ssl.h>
/* libre declares it only when built with USE_OPENSSL, as Debian's is */
struct ssl_ctx_st *tls_openssl_context(const struct tls *tls);
#include "lp_config.h"
#include "base/conf.h"
#include "base/log.h"
#include "base/daemon.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_loc.h"
#include "bus/bus.h"
#include "base/digest.h"
#include "location.h"
#include "edge.h"
#include "registrar.h"
#include "call.h"
#include "fwd.h"
#include "fastpath.h"
#include "guess.h"
#include "flood.h"
#include "sip/overload.h"
#include "tcpguard.h"
#include "sip/udpwide.h"
#include "probe.h"
#include "gone.h"
#include "dialog.h"
#include "base/sockbuf.h"
#include "workers.h"
#include "handoff.h"
#include "reuseport.h"
#include "node.h"

/* Bursts of answers (a NOTIFY fan-out) and of REGISTERs: room for
 * thousands of datagrams (the kernel clamps it to rmem_max). */
#define UDP_RCVBUF (8 * 1024 * 1024)
#define READY_PROBE_MS 3000

struct app {
	const char *conf_path;
	struct conf *conf;
	struct store *admin;
	struct users_cache *users;
	struct store *state;
	struct bus *bus;
	struct bus_pub *pub;
	struct nonce_ctx *nonces;
	struct location *loc;
	struct sip *sip;
	struct tls *tls;
	struct lpdaemon *daemon;
	struct prober *prober;
	struct gone *gone;
	struct node *node;     /* a node of a cluster (node_id) */
	bool id_taken;         /* node_id is another node's: exit 78 */
	struct dialogs *dialogs;
	struct workers *workers;   /* this process among the edge's */
	struct tmr ready_tmr;      /* ready once its sockets saw their probe */
	uint64_t ready_by;
	int failed;
	char *state_path;       /* registrar.db */
	struct edge edge;
};

/* The nonce secret survives restarts, so outstanding nonces stay valid. */
static int load_secret(struct app *a)
{
	uint8_t secret[DIGEST_SECRET_LEN];
	char *hex = NULL;
	int err;

	err = store_meta_get(a->state, "nonce_secret", &hex);
	if (err == ENOENT) {
		/* the nodes of a cluster share it: the first one made wins */
		char fresh[2 * DIGEST_SECRET_LEN + 1];

		rand_bytes(secret, sizeof(secret));
		re_snprintf(fresh, sizeof(fresh), "%w", secret,
			    sizeof(secret));
		err = store_meta_first(a->state, "nonce_secret", fresh, &hex);
		memset(fresh, 0, sizeof(fresh));
	}
	if (!err) {
		if (strlen(hex) != 2 * DIGEST_SECRET_LEN ||
		    str_hex(secret, sizeof(secret), hex))
			err = EBADMSG;
	}
	mem_deref(hex);
	if (err)
		return err;
	err = nonce_ctx_alloc(&a->nonces, secret, sizeof(secret),
			      a->conf->nonce_lifetime,
			      a->conf->nonce_cache_size);
	memset(secret, 0, sizeof(secret));
	return err;
}

/* A UDP socket of ours gets a receive buffer for bursts */
static void udp_enlarge(const struct sa *sa)
{
	int got = 0;

	if (sockbuf_udp_rcvbuf(sa, UDP_RCVBUF, &got))
		log_warn("udp:%J: cannot enlarge the receive buffer, ignoring",
			 sa);
	else
		log_debug("udp:%J: receive buffer %d bytes", sa, got);
}

/* This worker's route_edge port: route_edge's own + its index. */
static uint16_t back_port(const struct app *a)
{
	return (uint16_t)(a->conf->route_edge.port +
			  workers_index(a->workers));
}

/* route_edge: the back daemons' way in, after the listen addresses, so
 * that libre, which sends from the first transport that fits, never
 * picks it for a phone (edge.h). */
static int open_back(struct app *a)
{
	const struct conf_listen *l = &a->conf->route_edge;
	const uint16_t port = back_port(a);
	struct sa sa;
	int err;

	err = sa_set_str(&sa, l->addr, port);
	err = err ? err : sip_transp_add(a->sip, SIP_TRANSP_UDP, &sa);
	if (err) {
		log_err("route_edge udp:%s:%u: %m", l->addr, port, err);
		return err;
	}
	udp_enlarge(&sa);
	log_info("listening for the back daemons on udp:%J", &sa);
	return 0;
}

/* SIP on every listen address of the configuration (UDP, TCP, TLS). */
static int open_transports(struct app *a)
{
	const struct conf *c = a->conf;
	int err = 0;

	err = sip_alloc(&a->sip, NULL, 4096, 4096, 4096,
			conf_server_name(c), NULL, NULL);
	if (err)
		return err;
	if (c->tls_certificate) {
		err = tls_alloc(&a->tls, TLS_METHOD_SSLV23,
				c->tls_certificate, NULL);
		if (err) {
			log_err("tls_certificate '%s': %m", c->tls_certificate,
				err);
			return err;
		}
		/* TLS 1.2 or newer, whatever the system's OpenSSL allows */
		if (!SSL_CTX_set_min_proto_version(
			    tls_openssl_context(a->tls), TLS1_2_VERSION)) {
			log_err("TLS: cannot require TLS 1.2");
			return EINVAL;
		}
	}
	for (unsigned i = 0; i < c->listen_count; i++) {
		const struct conf_listen *l = &c->listen[i];
		struct sa sa;

		err = sa_set_str(&sa, l->addr, l->port);
		if (err)
			return err;
		/* TCP and TLS connections are edge worker 0's (handoff.c) */
		if (l->tp != CONF_TP_UDP && workers_index(a->workers))
			continue;
		switch (l->tp) {
		case CONF_TP_UDP:
			err = sip_transp_add(a->sip, SIP_TRANSP_UDP, &sa);
			break;
		case CONF_TP_TCP:
			err = sip_transp_add(a->sip, SIP_TRANSP_TCP, &sa);
			break;
		case CONF_TP_TLS:
			err = sip_transp_add(a->sip, SIP_TRANSP_TLS, &sa,
					     a->tls);
			break;
		}
		if (err) {
			log_err("listen %s:%J: %m", conf_tp_name(l->tp), &sa,
				err);
			return err;
		}
		if (l->tp == CONF_TP_UDP)
			udp_enlarge(&sa);
		log_info("listening on %s:%J", conf_tp_name(l->tp), &sa);
	}
	return c->route_edge.port ? open_back(a) : 0;
}

static void reload_h(void *arg)
{
	struct app *a = arg;

	workers_signal(a->workers, SIGHUP);
	if (daemon_reload(a->conf_path, a->conf))
		return;
}

/* A MESSAGE of up to 64 KiB comes to a UDP address of ours from the IM
 * relay (and may from a phone): libre's UDP sockets are made to read
 * whole datagrams (libcommon/sip/udpwide.h). The probe also shows the
 * edge which of libre's sockets is route_edge's (edge_back_seen). */
static int wide_alloc(struct edge *r)
{
	const struct conf *c = r->conf;
	struct sa sa[8];
	unsigned n = 0;

	for (unsigned i = 0; i < c->listen_count && n < 8; i++) {
		const struct conf_listen *l = &c->listen[i];

		if (l->tp == CONF_TP_UDP && !sa_set_str(&sa[n], l->addr,
							 l->port))
			++n;
	}
	if (r->back_set && n < 8)
		sa[n++] = r->back_laddr;
	return udpwide_alloc(&r->wide, sa, n);
}

static int open_state(struct app *a)
{
	struct store_opts so;
	int err;

	so.readonly = false;
	so.sync_full = a->conf->store_sync_full;
	so.bg_checkpoint = true;
	err = loc_open(&a->state, a->state_path, &so);
	if (err)
		log_err("state database '%s': %m", a->state_path, err);
	return err;
}

/* The state and runtime directories, the admin database (users and
 * watcher rules), the state database (bindings) and its nonce secret. */
static int open_stores(struct app *a)
{
	int err;

	err = store_mkdirs(a->conf->state_dir, false);
	err = err ? err : store_mkdirs(a->conf->runtime_dir, false);
	if (err) {
		log_err("cannot create state or runtime directory: %m", err);
		return err;
	}

	err = users_open(&a->admin, a->conf->admin_db, false);
	err = err ? err : users_cache_alloc(&a->users, a->admin, 100000);
	if (err) {
		log_err("admin database '%s': %m", a->conf->admin_db, err);
		return err;
	}
	err = conf_db(a->conf, "registrar", &a->state_path);
	if (err)
		return err;
	err = open_state(a);
	if (err)
		return err;
	err = load_secret(a);
	if (err) {
		log_err("nonce secret: %m", err);
		return err;
	}
	return 0;
}

/* The publisher of `reg` (bindings) and `dialog` (calls). */
static int connect_bus(struct app *a)
{
	int err;

	if (workers_index(a->workers))
		return 0;      /* worker 0 publishes for every worker */
	err = bus_alloc(&a->bus);
	/* a node of a cluster claims its id before anything is published */
	if (!err && a->conf->node_id) {
		err = node_claim(&a->node, a->conf, a->admin, a->bus);
		a->id_taken = err == EEXIST;
	}
	err = err ? err : bus_pub_alloc(&a->pub, a->bus,
					a->conf->bus_registrar_pub,
					a->conf->bus_registrar_snapshot,
					a->conf->bus_heartbeat * 1000);
	err = err ? err : bus_pub_topic(a->pub, "reg");
	err = err ? err : bus_pub_topic(a->pub, "dialog");
	if (err)
		log_err("bus '%s' / '%s': %m", a->conf->bus_registrar_pub,
			a->conf->bus_registrar_snapshot, err);
	return err;
}

/* The location service, with what survived the last run. */
static int open_location(struct app *a)
{
	struct loc_opts lo;
	int err;

	lo.max_contacts = a->conf->reg_max_contacts;
	lo.domain = a->conf->domain;
	lo.changed = handoff_changed;
	lo.changed_arg = &a->edge;
	lo.shared = workers_count(a->workers) > 1;
	lo.node = a->conf->node_id;
	lo.group_ms = a->conf->store_group_ms;
	err = location_alloc(&a->loc, a->state, a->pub, &lo);
	err = err ? err : location_load(a->loc, (uint64_t)time(NULL));
	if (err) {
		log_err("location: cannot load bindings: %m", err);
		return err;
	}
	return a->node ? node_publish(a->node, a->pub, a->loc, a->nonces) : 0;
}

/* The edge's context (edge.h) and its modules, then the listeners that
 * hand it requests and answers. */
static int start_edge(struct app *a)
{
	struct edge *e = &a->edge;
	int err;

	e->conf = a->conf;
	e->sip = a->sip;
	e->users = a->users;
	e->admin = a->admin;
	e->nonces = a->nonces;
	e->loc = a->loc;
	e->peers = node_peers(a->node);
	e->back_set = a->conf->route_edge.port &&
		!sa_set_str(&e->back_laddr, a->conf->route_edge.addr,
			    back_port(a));
	handoff_init(e, workers_index(a->workers),
		     workers_count(a->workers));
	err = dialogs_alloc(&a->dialogs, e, a->pub);
	if (err)
		return err;
	e->dialogs = a->dialogs;
	tmrq_init(&e->timer_c, CALL_TIMER_C_MS);
	tmrq_init(&e->route_tmr, a->conf->route_timeout);
	err = fwd_open(e);
	err = err ? err : hash_alloc(&e->calls, 1024);
	err = err ? err : fastpath_alloc(&e->fast);
	err = err ? err : guess_alloc(&e->guess, a->conf);
	err = err ? err : flood_alloc(&e->flood, a->conf);
	err = err ? err : overload_alloc(&e->ovl, a->conf, true);
	err = err ? err : tcpguard_init(a->conf, e->flood);
	err = err ? err : registrar_listen(e);
	err = err ? err : wide_alloc(e);
	/* devices are probed by worker 0, where their answers go */
	if (!err && !e->worker)
		err = prober_alloc(&a->prober, e);
	err = err ? err : gone_alloc(&a->gone, e, a->conf->admin_db);
	return err;
}

/* Everything, whatever was opened. Not quite the reverse of the opening:
 * SIP closes before the dialogs and the bus, since closing it ends the
 * calls in progress, which tell the dialogs, which publish. */
static void close_all(struct app *a)
{
	location_flush(a->loc);    /* answered while SIP is open */
	a->daemon = mem_deref(a->daemon);
	a->prober = mem_deref(a->prober);
	a->gone = mem_deref(a->gone);
	a->edge.lsnr = mem_deref(a->edge.lsnr);
	a->edge.lsnr_resp = mem_deref(a->edge.lsnr_resp);
	a->edge.wide = mem_deref(a->edge.wide);
	a->edge.guess = mem_deref(a->edge.guess);
	a->edge.flood = mem_deref(a->edge.flood);
	a->edge.ovl = mem_deref(a->edge.ovl);
	/* its helpers, on SIP's sockets */
	a->edge.fast = mem_deref(a->edge.fast);
	/* closing SIP ends the calls in progress, which tell the dialogs */
	if (a->sip)
		sip_close(a->sip, true);
	a->sip = mem_deref(a->sip);
	tcpguard_close();      /* after the connections it guarded */
	a->dialogs = mem_deref(a->dialogs);
	fwd_close(&a->edge);
	a->edge.calls = mem_deref(a->edge.calls);
	tmrq_close(&a->edge.timer_c);
	tmrq_close(&a->edge.route_tmr);
	a->tls = mem_deref(a->tls);
	a->node = mem_deref(a->node);   /* stopped: seen 0 */
	a->loc = mem_deref(a->loc);
	a->pub = mem_deref(a->pub);
	a->bus = mem_deref(a->bus);
	a->nonces = mem_deref(a->nonces);
	a->state = mem_deref(a->state);
	a->users = mem_deref(a->users);
	a->admin = mem_deref(a->admin);
	a->state_path = mem_deref(a->state_path);
	a->workers = mem_deref(a->workers);  /* worker 0: stops the rest */
	a->conf = mem_deref(a->conf);
}

/* Ready once the start-up probe (udpwide) reached each UDP socket, which
 * attaches the fast path's guards to it (a request without branch, which
 * libre cannot decode, is read there first): with several workers
 * sharing an address that takes a few tries. Worker 0 is then ready when
 * the others are too. */
static void ready_h(void *arg)
{
	struct app *a = arg;
	int err;

	if (!udpwide_done(a->edge.wide) && tmr_jiffies() < a->ready_by) {
		tmr_start(&a->ready_tmr, 5, ready_h, a);
		return;
	}
	err = workers_ready(a->workers);
	if (err) {
		a->failed = err;
		re_cancel();
		return;
	}
	if (a->edge.worker)
		log_notice("edge worker %u ready", a->edge.worker);
	else
		log_notice("ready: domain '%s', %u binding(s) restored%s",
			   a->conf->domain, location_count(a->loc),
			   a->edge.nworkers > 1 ? ", several edge workers" : "");
	daemon_ready(a->daemon, "serving");
}

/* Several edge workers (workers.c): the nonce secret made once, before
 * they start, so that all of them hold the same; the udp listen
 * addresses shared among them (reuseport.c); then the others made. */
static int start_workers(struct app *a)
{
	const unsigned n = conf_workers(a->conf);
	struct sa shared[CONF_MAX_LISTEN];
	unsigned ns = 0;
	int err;

	if (n > 1) {
		/* made (and migrated) once, not by every worker at once */
		err = store_mkdirs(a->conf->state_dir, false);
		err = err ? err : users_open(&a->admin, a->conf->admin_db,
					     false);
		err = err ? err : conf_db(a->conf, "registrar",
					  &a->state_path);
		err = err ? err : open_state(a);
		err = err ? err : load_secret(a);
		a->nonces = mem_deref(a->nonces);
		a->state = mem_deref(a->state);
		a->admin = mem_deref(a->admin);
		a->state_path = mem_deref(a->state_path);
		if (err) {
			log_err("state database: %m", err);
			return err;
		}
		for (unsigned i = 0; i < a->conf->listen_count; i++) {
			const struct conf_listen *l = &a->conf->listen[i];

			if (l->tp == CONF_TP_UDP &&
			    !sa_set_str(&shared[ns], l->addr, l->port))
				++ns;
		}
		reuseport_share(shared, ns);
	}
	err = workers_fork(&a->workers, n);
	if (err)
		log_err("cannot start %u edge workers: %m", n, err);
	else if (workers_index(a->workers)) {
		static char name[32];

		re_snprintf(name, sizeof(name), "registrar/%u",
			    workers_index(a->workers));
		log_init(name, a->conf->log_level);
	}
	return err;
}

int main(int argc, char **argv)
{
	struct app a;
	int err;

	memset(&a, 0, sizeof(a));
	err = daemon_args(argc, argv, "registrar", &a.conf_path, &a.conf);
	if (err)
		return err < 0 ? 0 : err;

	err = start_workers(&a);
	if (err)
		goto out;
	err = libre_init();
	if (err)
		goto out;
	fd_setsize(0);
	fd_setsize(65536);

	err = open_stores(&a);
	err = err ? err : open_transports(&a);
	err = err ? err : connect_bus(&a);
	err = err ? err : open_location(&a);
	err = err ? err : start_edge(&a);
	err = err ? err : daemon_alloc(&a.daemon, reload_h, &a);
	if (err)
		goto out;

	tmr_init(&a.ready_tmr);
	a.ready_by = tmr_jiffies() + READY_PROBE_MS;
	tmr_start(&a.ready_tmr, 0, ready_h, &a);
	err = daemon_run(a.daemon);
	tmr_cancel(&a.ready_tmr);
	if (!err)
		err = a.failed;
	if (!err && workers_failed(a.workers))
		err = ECHILD;

 out:
	if (err)
		log_err("exiting: %m", err);
	close_all(&a);
	libre_close();
	/* node_id another node's: retrying cannot help */
	return a.id_taken ? DAEMON_EXIT_CONFIG : err ? 1 : 0;
}
