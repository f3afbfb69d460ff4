/* lamplight-imrelay: the IM relay behind the edge: pager-mode MESSAGE
 * (RFC 3428) to every device of the target user, kept when it cannot be
 * delivered and sent when the user comes back (relay.c, deliver.c).
 * main() reads like a table of contents: configuration, stores, SIP,
 * what was kept, bus, listeners, ready, loop, and the same in reverse.
 * Modules, from the bottom: imrelay.h (the shared state), deliver.c
 * (mailboxes, deliveries), relay.c (the senders), main.c. It takes SIP
 * from the edge alone (403 for anyone else) and reads the sender from
 * the edge's P-Asserted-Identity (libcommon/sip/backend.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/daemon.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_msgs.h"
#include "bus/bus.h"
#include "cluster/follow.h"
#include "sip/backsip.h"
#include "sip/udpwide.h"
#include "imrelay.h"
#include "deliver.h"
#include "relay.h"

#define ALLOW "MESSAGE, OPTIONS"

struct app {
	const char *conf_path;
	struct conf *conf;
	struct bus *bus;
	struct bus_sub *sub_reg;
	struct follow *follow;     /* the other nodes (a node of a cluster) */
	struct lpdaemon *daemon;
	char *state_path;
	struct imrelay r;
};

static bool request_h(const struct sip_msg *msg, void *arg)
{
	struct imrelay *r = arg;
	char user[80];

	if (udpwide_take(r->wide, msg)) {
		deliver_attach(r, msg->sock);    /* the socket, at last */
		relay_attach(r, msg->sock);
		return true;
	}
	if (!backsip_admit(r->sip, r->conf, msg, user, sizeof(user)))
		return true;
	if (!pl_strcmp(&msg->met, "MESSAGE"))
		relay_request(r, msg, user);
	else
		backsip_other(r->sip, msg, ALLOW, NULL);
	return true;
}

static void tick_h(void *arg)
{
	struct app *a = arg;
	struct imrelay *r = &a->r;
	uint64_t now = tmr_jiffies();

	tmr_start(&r->tmr, IM_TICK_MS, tick_h, a);
	if (!r->reg_known && bus_sub_synced(a->sub_reg)) {
		/* who is registered is known: kept messages may go */
		r->reg_known = true;
		log_info("registrations known: delivering kept messages");
		deliver_kick_all(r);
	}
	relay_tick(r, now);
	deliver_tick(r, now);
}

static void reload_h(void *arg)
{
	struct app *a = arg;

	if (daemon_reload(a->conf_path, a->conf))
		return;
}

/* The salt of the relay's tags and branches, the same after a restart */
static int salt_load(struct imrelay *r)
{
	char *v = NULL, buf[24];
	int err;

	err = store_meta_get(r->st, "salt", &v);
	if (!err && v) {
		r->salt = strtoull(v, NULL, 16);
		v = mem_deref(v);
		if (r->salt)
			return 0;
	}
	r->salt = rand_u64() | 1;
	re_snprintf(buf, sizeof(buf), "%016llx",
		    (unsigned long long)r->salt);
	/* the nodes of a cluster share it: the first one made wins */
	err = store_meta_first(r->st, "salt", buf, &v);
	if (!err && v)
		r->salt = strtoull(v, NULL, 16) | 1;
	mem_deref(v);
	return err;
}

/* Deliveries go to route_edge, else the edge's first UDP address */
static int edge_addr(struct sa *sa, const struct conf *c)
{
	if (c->route_edge.port)
		return sa_set_str(sa, c->route_edge.addr, c->route_edge.port);
	for (unsigned i = 0; i < c->listen_count; i++) {
		const struct conf_listen *l = &c->listen[i];

		if (l->tp == CONF_TP_UDP)
			return sa_set_str(sa, l->addr, l->port);
	}
	return ENOENT;
}

/* What the relay needs of the configuration beyond the file's checks:
 * the edge's UDP address, where deliveries go. */
static int check_conf(struct imrelay *r, const struct conf *c)
{
	if (c->im_deliver_wait + 500 > c->route_timeout)
		log_warn("im_deliver_wait (%u ms) should be at least 500 ms "
			 "below route_timeout (%u ms): the edge answers 503 "
			 "first", c->im_deliver_wait, c->route_timeout);
	if (edge_addr(&r->edge, c)) {
		log_err("the edge has no udp listen address: deliveries go "
			"to it over UDP");
		return EINVAL;
	}
	return 0;
}

/* The state and runtime directories, the admin database (users) and the
 * state database (kept messages) with the salt of our tags. */
static int open_stores(struct app *a)
{
	struct imrelay *r = &a->r;
	struct store_opts so = { .bg_checkpoint = true };
	int err;

	err = store_mkdirs(a->conf->state_dir, false);
	err = err ? err : store_mkdirs(a->conf->runtime_dir, false);
	if (err) {
		log_err("cannot create state or runtime directory: %m", err);
		return err;
	}

	err = users_open(&r->admin, a->conf->admin_db, false);
	err = err ? err : users_cache_alloc(&r->users, r->admin, 100000);
	if (err) {
		log_err("admin database '%s': %m", a->conf->admin_db, err);
		return err;
	}
	err = conf_db(a->conf, "imrelay", &a->state_path);
	if (err)
		return err;
	so.sync_full = a->conf->store_sync_full;
	err = msgs_open(&r->st, a->state_path, &so);
	err = err ? err : salt_load(r);
	if (err) {
		log_err("state database '%s': %m", a->state_path, err);
		return err;
	}
	return 0;
}

/* SIP: whole datagrams (a MESSAGE is up to 64 KiB); the senders'
 * requests (relay.c) and the mailboxes (deliver.c), still empty. */
static int open_transports(struct app *a)
{
	struct imrelay *r = &a->r;
	char contact[96];
	int err;

	err = backsip_listen(&r->sip, a->conf, 1, "route_imrelay", "imrelay",
			     contact, sizeof(contact));
	err = err ? err : sa_set_str(&r->laddr, a->conf->routes[1].addr,
				     a->conf->routes[1].port);
	err = err ? err : udpwide_alloc(&r->wide, &r->laddr, 1);
	err = err ? err : relay_init(r);
	err = err ? err : deliver_init(r);
	return err;
}

/* What was kept in the last run */
static int load_kept(struct imrelay *r)
{
	int err = deliver_load(r);

	if (err)
		log_err("cannot load kept messages: %m", err);
	return err;
}

/* The registrar's `reg` topic: each user's devices. */
static int connect_bus(struct app *a)
{
	int err;

	err = bus_alloc(&a->bus);
	err = err ? err : bus_sub_alloc(&a->sub_reg, a->bus,
					a->conf->bus_registrar_pub,
					a->conf->bus_registrar_snapshot,
					"reg", NULL, deliver_reg_h, &a->r);
	return err;
}

/* A node killed or cut off: what its relay kept is ours now */
static int gone_h(const struct node_rec *n, void *arg)
{
	return deliver_adopt(arg, n->id);
}

/* A node of a cluster: the other nodes, to take over a dead one's kept
 * messages (their topics it does not need: each relay delivers to the
 * devices of its own node). */
static int join_cluster(struct app *a)
{
	if (!a->conf->node_id)
		return 0;
	return follow_alloc(&a->follow, a->conf, a->r.admin, a->bus, NULL, 0,
			    gone_h, &a->r);
}

/* The listeners that hand us requests and devices' answers, and the
 * tick. */
static int start_relay(struct app *a)
{
	struct imrelay *r = &a->r;
	int err;

	err = sip_listen(&r->lsnr_req, r->sip, true, request_h, r);
	err = err ? err : sip_listen(&r->lsnr_resp, r->sip, false,
				     deliver_resp_h, r);
	if (err)
		return err;
	tmr_start(&r->tmr, IM_TICK_MS, tick_h, a);
	return 0;
}

/* Everything, whatever was opened */
static void close_all(struct app *a)
{
	struct imrelay *r = &a->r;

	tmr_cancel(&r->tmr);
	a->daemon = mem_deref(a->daemon);
	a->follow = mem_deref(a->follow);
	a->sub_reg = mem_deref(a->sub_reg);
	r->lsnr_req = mem_deref(r->lsnr_req);
	r->lsnr_resp = mem_deref(r->lsnr_resp);
	relay_close(r);
	deliver_close(r);
	if (r->sip)
		sip_close(r->sip, true);
	r->sip = mem_deref(r->sip);
	r->wide = mem_deref(r->wide);
	a->bus = mem_deref(a->bus);
	r->st = mem_deref(r->st);
	r->users = mem_deref(r->users);
	r->admin = mem_deref(r->admin);
	a->state_path = mem_deref(a->state_path);
	a->conf = mem_deref(a->conf);
}

int main(int argc, char **argv)
{
	struct app a;
	struct imrelay *r = &a.r;
	int err;

	memset(&a, 0, sizeof(a));
	err = daemon_args(argc, argv, "imrelay", &a.conf_path, &a.conf);
	if (err)
		return err < 0 ? 0 : err;
	r->conf = a.conf;
	err = libre_init();
	if (err)
		goto out;
	fd_setsize(0);
	fd_setsize(65536);
	tmr_init(&r->tmr);

	err = check_conf(r, a.conf);
	err = err ? err : open_stores(&a);
	err = err ? err : open_transports(&a);
	err = err ? err : load_kept(r);
	err = err ? err : connect_bus(&a);
	err = err ? err : join_cluster(&a);
	err = err ? err : start_relay(&a);
	err = err ? err : daemon_alloc(&a.daemon, reload_h, &a);
	if (err)
		goto out;

	log_notice("ready: domain '%s', %u message(s) kept", a.conf->domain,
		   deliver_kept(r));
	daemon_ready(a.daemon, "serving");

	err = daemon_run(a.daemon);

 out:
	if (err)
		log_err("exiting: %m", err);
	close_all(&a);
	libre_close();
	return err ? 1 : 0;
}
