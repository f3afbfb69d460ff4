/* lamplight-blf: the BLF gateway behind the edge: SUBSCRIBE for the
 * dialog event package (RFC 4235), its NOTIFYs composed from the calls and
 * the presence on the bus (lamps.c). main() reads like a table of
 * contents: configuration, stores, SIP, what survived the last run, bus,
 * listeners, ready, loop, and the same in reverse. It takes SIP from the
 * edge alone (403 for anyone else) and reads the user from the edge's
 * P-Asserted-Identity (libcommon/sip/backend.c). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/daemon.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_subs.h"
#include "bus/bus.h"
#include "cluster/follow.h"
#include "presence/notifier.h"
#include "blf.h"
#include "sip/backsip.h"
#include "presence/backnotify.h"

#define ALLOW "SUBSCRIBE, OPTIONS"
#define TICK_MS 100

struct app {
	const char *conf_path;
	struct conf *conf;
	struct bus *bus;
	struct bus_sub *sub_dialog;
	struct bus_sub *sub_pres;
	struct bus_sub *sub_reg;
	struct lpdaemon *daemon;
	char *state_path;
	struct blf b;
	struct backnotify_hold *hold;
	unsigned ticks;
};

static bool request_h(const struct sip_msg *msg, void *arg)
{
	struct blf *b = arg;
	char user[80];

	if (!backsip_admit(b->sip, b->conf, msg, user, sizeof(user)))
		return true;
	if (!pl_strcmp(&msg->met, "SUBSCRIBE"))
		notifier_request(b->not, msg, user[0] ? user : NULL);
	else
		backsip_other(b->sip, msg, ALLOW, "dialog");
	return true;
}

/* The bus's state is in (or 3 s passed): with the registrations known,
 * the lamps of users without a device may go offline. */
static void known_h(bool synced, void *arg)
{
	struct app *a = arg;

	(void)synced;
	a->b.reg_known = bus_sub_synced(a->sub_reg);
	if (a->b.reg_known)
		lamps_sweep_offline(&a->b);
}

static void tick_h(void *arg)
{
	struct app *a = arg;
	struct blf *b = &a->b;

	tmr_start(&b->tmr, TICK_MS, tick_h, a);
	if (!b->reg_known && !notifier_held(b->not) &&
	    bus_sub_synced(a->sub_reg)) {
		b->reg_known = true;   /* later than the hold waited */
		lamps_sweep_offline(b);
	}
	lamps_owed(b);
	if (++a->ticks % (1000 / TICK_MS) == 0) {
		lamps_tick(b);
		if (store_changed(b->admin_watch))
			lamps_users_changed(b);
	}
}

/* blf_busy_activities: "busy, do-not-disturb" */
static int busy_list(struct blf *b, const char *list)
{
	struct pl rest, word;

	pl_set_str(&rest, list ? list : "");
	b->nbusy = 0;
	while (!re_regex(rest.p, rest.l, "[^, \t]+", &word)) {
		if (b->nbusy >= BLF_MAX_BUSY ||
		    word.l >= sizeof(b->busy[0]))
			return EOVERFLOW;
		pl_strcpy(&word, b->busy[b->nbusy++], sizeof(b->busy[0]));
		rest.l -= (size_t)(word.p + word.l - rest.p);
		rest.p = word.p + word.l;
	}
	return 0;
}

static void reload_h(void *arg)
{
	struct app *a = arg;
	struct notifier_opts no;

	if (daemon_reload(a->conf_path, a->conf))
		return;
	backnotify_opts(&no, a->conf, a->b.contact);
	notifier_set_limits(a->b.not, &no);
	if (busy_list(&a->b, a->conf->blf_busy_activities))
		log_warn("reload: blf_busy_activities: at most %u names of "
			 "at most 31 characters; the list is cut",
			 BLF_MAX_BUSY);
}

/* The state and runtime directories, the admin database (users; a second
 * connection for store_changed) and the state database (subscriptions). */
static int open_stores(struct app *a)
{
	struct blf *b = &a->b;
	struct store_opts so = { .bg_checkpoint = true };
	int err;

	err = store_mkdirs(a->conf->state_dir, false);
	err = err ? err : store_mkdirs(a->conf->runtime_dir, false);
	if (err) {
		log_err("cannot create state or runtime directory: %m", err);
		return err;
	}

	err = users_open(&b->admin, a->conf->admin_db, false);
	err = err ? err : users_open(&b->admin_watch, a->conf->admin_db,
				     false);
	err = err ? err : users_cache_alloc(&b->users, b->admin, 100000);
	if (err) {
		log_err("admin database '%s': %m", a->conf->admin_db, err);
		return err;
	}
	err = conf_db(a->conf, "blf", &a->state_path);
	if (err)
		return err;
	so.sync_full = a->conf->store_sync_full;
	err = subs_open(&b->st, a->state_path, &so);
	if (err) {
		log_err("state database '%s': %m", a->state_path, err);
		return err;
	}
	return 0;
}

/* SIP and the notifier */
static int open_transports(struct app *a)
{
	struct blf *b = &a->b;
	struct notifier_opts no;
	int err;

	err = backsip_listen(&b->sip, b->conf, 2, "route_blf", "blf",
			     b->contact, sizeof(b->contact));
	err = err ? err : lamps_init(b);
	if (err)
		return err;
	backnotify_opts(&no, a->conf, b->contact);
	no.retry_after = BLF_OFFLINE_RETRY;
	return notifier_alloc(&b->not, b->sip, b->st, &no, &lamps_pkg, 1,
			      backnotify_report_h, b);
}

/* The subscriptions that survived the last run; the calls and presence
 * come from the snapshots of the bus */
static int load_state(struct blf *b)
{
	int err = notifier_load(b->not);

	if (err) {
		log_err("cannot load state: %m", err);
		return err;
	}
	(void)store_changed(b->admin_watch);
	lamps_users_changed(b);
	return 0;
}

static void dialog_h(const struct bus_msg *m, void *arg)
{
	lamps_dialog_h(FOLLOW_LOCAL, m, arg);
}

static void reg_h(const struct bus_msg *m, void *arg)
{
	lamps_reg_h(FOLLOW_LOCAL, m, arg);
}

static const struct follow_topic node_topics[] = {
	{ "dialog", CONF_CLUSTER_REG_PUB, lamps_dialog_h },
	{ "reg", CONF_CLUSTER_REG_PUB, lamps_reg_h },
};

/* A node killed or cut off: its watchers are ours now */
static int gone_h(const struct node_rec *r, void *arg)
{
	struct blf *b = arg;
	int err;

	err = backnotify_adopt(b->not, b->conf, r->id);
	if (!err)              /* each watcher decided by our rules */
		lamps_users_changed(b);
	return err;
}

/* A node of a cluster: the other nodes' calls and registrations light
 * our lamps too (their presence reaches us through our presence
 * daemon's `pres`, which counts it). */
static int join_cluster(struct app *a)
{
	int err;

	if (!a->conf->node_id)
		return 0;
	err = follow_alloc(&a->b.follow, a->conf, a->b.admin, a->bus,
			   node_topics, ARRAY_SIZE(node_topics), gone_h,
			   &a->b);
	follow_on_fence(a->b.follow, backnotify_fence, a->b.not);
	notifier_set_lease(a->b.not, follow_lease, a->b.follow);
	return err;
}

/* The calls and registrations (the registrar's) and presence */
static int connect_bus(struct app *a)
{
	struct blf *b = &a->b;
	int err;

	err = bus_alloc(&a->bus);
	err = err ? err : bus_sub_alloc(&a->sub_dialog, a->bus,
					a->conf->bus_registrar_pub,
					a->conf->bus_registrar_snapshot,
					"dialog", NULL, dialog_h, b);
	err = err ? err : bus_sub_alloc(&a->sub_pres, a->bus,
					a->conf->bus_presence_pub,
					a->conf->bus_presence_snapshot,
					"pres", NULL, lamps_pres_h, b);
	err = err ? err : bus_sub_alloc(&a->sub_reg, a->bus,
					a->conf->bus_registrar_pub,
					a->conf->bus_registrar_snapshot,
					"reg", NULL, reg_h, b);
	return err;
}

/* The listener that hands us requests, and the tick. A lamp must not
 * show idle for a call that rings: NOTIFYs wait for the calls, presence
 * and registrations. */
static int start_blf(struct app *a)
{
	struct blf *b = &a->b;
	int err;

	err = sip_listen(&b->lsnr, b->sip, true, request_h, b);
	if (!err) {
		struct bus_sub *const subs[] = { a->sub_dialog, a->sub_pres,
						 a->sub_reg };

		err = backnotify_hold(&a->hold, b->not, subs, 3, known_h, a);
	}
	if (err)
		return err;
	tmr_start(&b->tmr, TICK_MS, tick_h, a);
	return 0;
}

/* Everything, whatever was opened */
static void close_all(struct app *a)
{
	struct blf *b = &a->b;

	tmr_cancel(&b->tmr);
	notifier_flush(b->not);    /* answered while SIP is open */
	notifier_set_lease(b->not, NULL, NULL);   /* it asked the follower */
	a->daemon = mem_deref(a->daemon);
	a->hold = mem_deref(a->hold);
	b->follow = mem_deref(b->follow);
	a->sub_pres = mem_deref(a->sub_pres);
	a->sub_reg = mem_deref(a->sub_reg);
	a->sub_dialog = mem_deref(a->sub_dialog);
	b->lsnr = mem_deref(b->lsnr);
	if (b->sip)
		sip_close(b->sip, true);
	b->not = mem_deref(b->not);
	b->sip = mem_deref(b->sip);
	lamps_close(b);
	a->bus = mem_deref(a->bus);
	b->st = mem_deref(b->st);
	b->users = mem_deref(b->users);
	b->admin = mem_deref(b->admin);
	b->admin_watch = mem_deref(b->admin_watch);
	a->state_path = mem_deref(a->state_path);
	a->conf = mem_deref(a->conf);
}

int main(int argc, char **argv)
{
	struct app a;
	struct blf *b = &a.b;
	int err;

	memset(&a, 0, sizeof(a));
	err = daemon_args(argc, argv, "blf", &a.conf_path, &a.conf);
	if (err)
		return err < 0 ? 0 : err;
	b->conf = a.conf;
	err = libre_init();
	if (err)
		goto out;
	if (busy_list(b, a.conf->blf_busy_activities)) {
		log_err("blf_busy_activities: at most %u names of at most "
			"31 characters", BLF_MAX_BUSY);
		err = EINVAL;
		goto out;
	}
	fd_setsize(0);
	fd_setsize(65536);
	tmr_init(&b->tmr);

	err = open_stores(&a);
	err = err ? err : open_transports(&a);
	err = err ? err : load_state(b);
	err = err ? err : connect_bus(&a);
	err = err ? err : join_cluster(&a);
	err = err ? err : start_blf(&a);
	err = err ? err : daemon_alloc(&a.daemon, reload_h, &a);
	if (err)
		goto out;

	log_notice("ready: domain '%s', %u subscription(s) restored",
		   a.conf->domain, notifier_count(b->not));
	daemon_ready(a.daemon, "serving");

	err = daemon_run(a.daemon);

 out:
	if (err)
		log_err("exiting: %m", err);
	close_all(&a);
	libre_close();
	return err ? 1 : 0;
}
