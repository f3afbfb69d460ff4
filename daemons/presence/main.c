/* lamplight-presence: the presence agent behind the edge. main() reads like
 * a table of contents: configuration, stores, bus, SIP, what survived the
 * last run, the registrar's topics, the other nodes, listeners, ready,
 * loop, and the same in reverse. It takes SIP from the edge alone (403 for anyone else) and
 * reads the user from the edge's P-Asserted-Identity
 * (libcommon/sip/backend.c). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/daemon.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_pubs.h"
#include "bus/bus.h"
#include "cluster/follow.h"
#include "presence/pidf.h"
#include "presence/notifier.h"
#include "presence.h"
#include "sip/backsip.h"
#include "presence/backnotify.h"
#include "rulebook.h"

#define ALLOW "SUBSCRIBE, PUBLISH, OPTIONS"

struct app {
	const char *conf_path;
	struct conf *conf;
	struct bus *bus;
	struct bus_sub *sub_reg;
	struct bus_sub *sub_dialog;
	struct lpdaemon *daemon;
	char *state_path;
	struct presence p;
	struct backnotify_hold *hold;
};

static bool request_h(const struct sip_msg *msg, void *arg)
{
	struct presence *p = arg;
	char user[80];

	if (!backsip_admit(p->sip, p->conf, msg, user, sizeof(user)))
		return true;
	if (!pl_strcmp(&msg->met, "SUBSCRIBE"))
		notifier_request(p->not, msg, user[0] ? user : NULL);
	else if (!pl_strcmp(&msg->met, "PUBLISH"))
		publish_request(p, msg, user[0] ? user : NULL);
	else
		backsip_other(p->sip, msg, ALLOW, "presence, presence.winfo");
	return true;
}

static void tick_h(void *arg)
{
	struct presence *p = arg;

	tmr_start(&p->tmr, 1000, tick_h, p);
	pres_tick(p);
	watchers_rules_read(p);
	if (!p->rules_moved)
		return;
	p->rules_moved = false;
	watchers_rules_changed(p);
}

static void reload_h(void *arg)
{
	struct app *a = arg;
	struct notifier_opts no;

	if (daemon_reload(a->conf_path, a->conf))
		return;
	backnotify_opts(&no, a->conf, a->p.contact);
	notifier_set_limits(a->p.not, &no);
	/* presence_default_policy may have changed: every subscription is
	 * decided again, as when a rule changes */
	watchers_rules_changed(&a->p);
}

/* The state and runtime directories, the admin database (users, and the
 * watcher rules on a connection of their own) and the state database
 * (publications and subscriptions). */
static int open_stores(struct app *a)
{
	struct presence *p = &a->p;
	struct store_opts so = { .bg_checkpoint = true };
	int err;

	err = store_mkdirs(a->conf->state_dir, false);
	err = err ? err : store_mkdirs(a->conf->runtime_dir, false);
	if (err) {
		log_err("cannot create state or runtime directory: %m", err);
		return err;
	}

	err = users_open(&p->admin, a->conf->admin_db, false);
	err = err ? err : users_open(&p->rules, a->conf->admin_db, false);
	err = err ? err : users_cache_alloc(&p->users, p->admin, 100000);
	err = err ? err : rulebook_alloc(&p->book);
	if (err) {
		log_err("admin database '%s': %m", a->conf->admin_db, err);
		return err;
	}
	err = conf_db(a->conf, "presence", &a->state_path);
	if (err)
		return err;
	so.sync_full = a->conf->store_sync_full;
	err = pres_open(&p->st, a->state_path, &so);
	if (err) {
		log_err("state database '%s': %m", a->state_path, err);
		return err;
	}
	return 0;
}

/* `pres` updates leave in batches at most this old: at a few thousand
 * PUBLISHes a second the BLF gateway then wakes once for many changes
 * instead of once for each (issue 20: its wake-ups were 17 % of a
 * PUBLISH's CPU). A lamp driven by presence lights up to 5 ms later. */
#define PRES_BATCH_MS 5

/* The bus: ours to publish `pres` on */
static int connect_bus(struct app *a)
{
	struct presence *p = &a->p;
	int err;

	err = bus_alloc(&a->bus);
	err = err ? err : bus_pub_alloc(&p->pub, a->bus,
					a->conf->bus_presence_pub,
					a->conf->bus_presence_snapshot,
					a->conf->bus_heartbeat * 1000);
	err = err ? err : bus_pub_topic(p->pub, "pres");
	if (!err && a->conf->node_id)
		err = bus_pub_topic(p->pub, "pub");
	if (!err)
		bus_pub_batch(p->pub, PRES_BATCH_MS);
	if (err)
		log_err("bus '%s' / '%s': %m", a->conf->bus_presence_pub,
			a->conf->bus_presence_snapshot, err);
	return err;
}

/* SIP and the notifier */
static int open_transports(struct app *a)
{
	struct presence *p = &a->p;
	struct notifier_opts no;
	int err;

	p->salt = rand_u64();
	err = backsip_listen(&p->sip, p->conf, 0,
			     "route_presence", "presence", p->contact,
			     sizeof(p->contact));
	err = err ? err : pres_init(p);
	if (err)
		return err;
	backnotify_opts(&no, a->conf, p->contact);
	return notifier_alloc(&p->not, p->sip, p->st, &no, watchers_pkgs,
			      watchers_npkgs, backnotify_report_h, p);
}

/* What survived the last run: publications, then subscriptions, each
 * decided again by today's rules */
static int load_state(struct presence *p)
{
	int err;

	err = pres_load(p);
	err = err ? err : notifier_load(p->not);
	if (err) {
		log_err("cannot load state: %m", err);
		return err;
	}
	(void)store_changed(p->rules);
	if (rulebook_load(p->book, p->rules)) {
		log_warn("watcher rules: cannot read them: asked of the "
			 "database for each SUBSCRIBE until they can be");
		p->rules_stale = true;    /* read again at each tick */
		p->rules_warned = true;
	}
	watchers_rules_changed(p);
	return 0;
}

static void reg_h(const struct bus_msg *m, void *arg)
{
	pres_reg_h(FOLLOW_LOCAL, m, arg);
}

static void dialog_h(const struct bus_msg *m, void *arg)
{
	pres_dialog_h(FOLLOW_LOCAL, m, arg);
}

/* The registrar's topics: registrations and calls */
static int subscribe_bus(struct app *a)
{
	struct presence *p = &a->p;
	int err;

	err = bus_sub_alloc(&a->sub_reg, a->bus, a->conf->bus_registrar_pub,
			    a->conf->bus_registrar_snapshot, "reg", NULL,
			    reg_h, p);
	err = err ? err : bus_sub_alloc(&a->sub_dialog, a->bus,
					a->conf->bus_registrar_pub,
					a->conf->bus_registrar_snapshot,
					"dialog", NULL, dialog_h, p);
	return err;
}

static const struct follow_topic node_topics[] = {
	{ "reg", CONF_CLUSTER_REG_PUB, pres_reg_h },
	{ "dialog", CONF_CLUSTER_REG_PUB, pres_dialog_h },
	{ "pub", CONF_CLUSTER_PRES_PUB, pres_pub_h },
};

/* A node killed or cut off: its watchers are ours now */
static int gone_h(const struct node_rec *r, void *arg)
{
	struct presence *p = arg;
	int err;

	err = backnotify_adopt(p->not, p->conf, r->id);
	if (!err)              /* each watcher decided by our rules */
		watchers_rules_changed(p);
	return err;
}

/* A node of a cluster: the other nodes' registrations, calls and
 * publications count as ours, and ours go to them (cluster_bus's
 * PORT + 2 and + 3). */
static int join_cluster(struct app *a)
{
	struct presence *p = &a->p;
	char pub[CONF_CLUSTER_BUS_MAX + 8], snap[CONF_CLUSTER_BUS_MAX + 8];
	int err;

	if (!a->conf->node_id)
		return 0;
	err = conf_cluster_ep(pub, sizeof(pub), a->conf->cluster_bus,
			      CONF_CLUSTER_PRES_PUB);
	err = err ? err : conf_cluster_ep(snap, sizeof(snap),
					  a->conf->cluster_bus,
					  CONF_CLUSTER_PRES_SNAP);
	err = err ? err : follow_alloc(&p->follow, a->conf, p->admin, a->bus,
				       node_topics, ARRAY_SIZE(node_topics),
				       gone_h, p);
	follow_on_fence(p->follow, backnotify_fence, p->not);
	notifier_set_lease(p->not, follow_lease, p->follow);
	err = err ? err : bus_pub_listen(p->pub, pub, snap);
	if (err)
		log_err("cluster: bus '%s' / '%s': %m", pub, snap, err);
	else
		log_info("cluster: node %s, presence bus %s (snapshots %s)",
			 a->conf->node_id, pub, snap);
	return err;
}

/* The listener that hands us requests, and the tick. A watcher must not
 * be told that a registered user went offline: NOTIFYs wait for the
 * registrations and calls. */
static int start_presence(struct app *a)
{
	struct presence *p = &a->p;
	struct bus_sub *const subs[] = { a->sub_reg, a->sub_dialog };
	int err;

	err = sip_listen(&p->lsnr, p->sip, true, request_h, p);
	if (err)
		return err;
	tmr_start(&p->tmr, 1000, tick_h, p);
	return backnotify_hold(&a->hold, p->not, subs, 2, NULL, NULL);
}

/* Everything, whatever was opened */
static void close_all(struct app *a)
{
	struct presence *p = &a->p;

	tmr_cancel(&p->tmr);
	notifier_flush(p->not);    /* answered while SIP is open */
	notifier_set_lease(p->not, NULL, NULL);   /* it asked the follower */
	a->hold = mem_deref(a->hold);
	p->follow = mem_deref(p->follow);
	a->daemon = mem_deref(a->daemon);
	a->sub_dialog = mem_deref(a->sub_dialog);
	a->sub_reg = mem_deref(a->sub_reg);
	p->lsnr = mem_deref(p->lsnr);
	if (p->sip)
		sip_close(p->sip, true);
	p->not = mem_deref(p->not);
	p->sip = mem_deref(p->sip);
	if (p->ents)
		pres_close(p);
	p->pub = mem_deref(p->pub);
	a->bus = mem_deref(a->bus);
	p->st = mem_deref(p->st);
	p->users = mem_deref(p->users);
	p->rules = mem_deref(p->rules);
	p->book = mem_deref(p->book);
	p->admin = mem_deref(p->admin);
	a->state_path = mem_deref(a->state_path);
	a->conf = mem_deref(a->conf);
}

int main(int argc, char **argv)
{
	struct app a;
	struct presence *p = &a.p;
	int err;

	memset(&a, 0, sizeof(a));
	err = daemon_args(argc, argv, "presence", &a.conf_path, &a.conf);
	if (err)
		return err < 0 ? 0 : err;
	p->conf = a.conf;
	pidf_init();

	err = libre_init();
	if (err)
		goto out;
	fd_setsize(0);
	fd_setsize(65536);
	tmr_init(&p->tmr);

	err = open_stores(&a);
	err = err ? err : connect_bus(&a);
	err = err ? err : open_transports(&a);
	err = err ? err : load_state(p);
	err = err ? err : subscribe_bus(&a);
	err = err ? err : join_cluster(&a);
	err = err ? err : start_presence(&a);
	err = err ? err : daemon_alloc(&a.daemon, reload_h, &a);
	if (err)
		goto out;

	log_notice("ready: domain '%s', %u subscription(s) restored",
		   a.conf->domain, notifier_count(p->not));
	daemon_ready(a.daemon, "serving");

	err = daemon_run(a.daemon);

 out:
	if (err)
		log_err("exiting: %m", err);
	close_all(&a);
	libre_close();
	return err ? 1 : 0;
}
