/* lamplight-presence: the presence agent behind the edge. main() reads like
 * a table of contents: configuration, stores, bus, SIP, what survived the
 * last run, ready, loop, and the same in reverse. It takes SIP from the
 * edge alone (403 for anyone else) and reads the user from the edge's
 * P-Asserted-Identity (libcommon/backend.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "lp_config.h"
#include "conf.h"
#include "log.h"
#include "daemon.h"
#include "store.h"
#include "store_users.h"
#include "store_pubs.h"
#include "bus.h"
#include "pidf.h"
#include "notifier.h"
#include "presence.h"
#include "backend.h"
#include "sockbuf.h"
#include "sipreply.h"

#define ALLOW "SUBSCRIBE, PUBLISH, OPTIONS"
/* the answers to a fan-out of NOTIFYs arrive at once */
#define UDP_RCVBUF (8 * 1024 * 1024)

struct app {
	const char *conf_path;
	struct conf *conf;
	struct bus *bus;
	struct bus_sub *sub_reg;
	struct bus_sub *sub_dialog;
	struct lpdaemon *daemon;
	struct presence p;
};

static bool request_h(const struct sip_msg *msg, void *arg)
{
	struct presence *p = arg;
	struct sipval_err e;
	char user[80];

	if (!pl_strcmp(&msg->met, "ACK"))
		return true;
	if (backend_admit(p->conf, msg, user, sizeof(user), &e)) {
		log_sip(LOG_NOTICE, msg, NULL, "%r from %J: %u %s", &msg->met,
			&msg->src, e.code, e.reason);
		(void)sipreply(p->sip, msg, 0, false, e.code, e.reason,
			       NULL);
		return true;
	}
	if (!pl_strcmp(&msg->met, "SUBSCRIBE"))
		notifier_request(p->not, msg, user[0] ? user : NULL);
	else if (!pl_strcmp(&msg->met, "PUBLISH"))
		publish_request(p, msg, user[0] ? user : NULL);
	else if (!pl_strcmp(&msg->met, "OPTIONS"))
		(void)sipreply(p->sip, msg, 0, false, 200, "OK",
			       "Allow: " ALLOW "\r\n"
			       "Allow-Events: presence, presence.winfo\r\n"
			       "Content-Length: 0\r\n\r\n");
	else
		(void)sipreply(p->sip, msg, 0, false, 405,
			       "Method Not Allowed", "Allow: " ALLOW "\r\n"
			       "Content-Length: 0\r\n\r\n");
	return true;
}

static void report_h(int prio, const struct sip_msg *msg, const char *text,
		     void *arg)
{
	(void)arg;
	if (msg)
		log_sip(prio, msg, NULL, "%s", text);
	else
		log_msg(prio, "%s", text);
}

static void tick_h(void *arg)
{
	struct presence *p = arg;

	tmr_start(&p->tmr, 1000, tick_h, p);
	pres_tick(p);
	if (store_changed(p->rules))
		watchers_rules_changed(p);
}

static void reload_h(void *arg)
{
	struct app *a = arg;
	struct conf *nc = NULL;
	char *msg = NULL;

	if (conf_load(&nc, a->conf_path, &msg))
		log_warn("reload: %s, ignoring", msg ? msg : "error");
	else
		log_set_level(nc->log_level);
	mem_deref(nc);
	mem_deref(msg);
}

static int open_sip(struct presence *p)
{
	const struct conf_listen *l = &p->conf->routes[0];
	struct sa sa;
	int err;

	if (!l->port || l->tp != CONF_TP_UDP) {
		log_err("route_presence must be set to udp:ADDRESS:PORT: it "
			"is where the presence daemon listens");
		return EINVAL;
	}
	err = sa_set_str(&sa, l->addr, l->port);
	err = err ? err : sip_alloc(&p->sip, NULL, 4096, 4096, 4096,
				    "Lamplight/" LP_VERSION, NULL, NULL);
	err = err ? err : sip_transp_add(p->sip, SIP_TRANSP_UDP, &sa);
	if (err) {
		log_err("listen udp:%J: %m", &sa, err);
		return err;
	}
	if (sockbuf_udp_rcvbuf(&sa, UDP_RCVBUF, NULL))
		log_warn("udp:%J: cannot enlarge the receive buffer, ignoring",
			 &sa);
	re_snprintf(p->contact, sizeof(p->contact), "sip:presence@%J", &sa);
	log_info("listening on udp:%J", &sa);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: lamplight-presence [-c FILE]\n");
}

int main(int argc, char **argv)
{
	struct app a;
	struct presence *p = &a.p;
	struct store_opts so = { .bg_checkpoint = true };
	struct notifier_opts no;
	char *msg = NULL, *path = NULL;
	int opt, err;

	memset(&a, 0, sizeof(a));
	while ((opt = getopt(argc, argv, "c:hV")) != -1) {
		switch (opt) {
		case 'c': a.conf_path = optarg; break;
		case 'V': printf("lamplight-presence %s\n", LP_VERSION);
			  return 0;
		default:  usage(); return opt == 'h' ? 0 : 2;
		}
	}

	err = conf_load(&a.conf, a.conf_path, &msg);
	if (err) {
		fprintf(stderr, "lamplight-presence: %s\n",
			msg ? msg : "cannot read configuration");
		mem_deref(msg);
		return 1;
	}
	p->conf = a.conf;
	log_init("presence", a.conf->log_level);
	pidf_init();

	err = libre_init();
	if (err)
		goto out;
	fd_setsize(0);
	fd_setsize(65536);
	tmr_init(&p->tmr);

	err = store_mkdirs(a.conf->state_dir, false);
	err = err ? err : store_mkdirs(a.conf->runtime_dir, false);
	if (err) {
		log_err("cannot create state or runtime directory: %m", err);
		goto out;
	}

	/* stores */
	err = users_open(&p->admin, a.conf->admin_db, false);
	err = err ? err : users_open(&p->rules, a.conf->admin_db, false);
	err = err ? err : users_cache_alloc(&p->users, p->admin, 100000);
	if (err) {
		log_err("admin database '%s': %m", a.conf->admin_db, err);
		goto out;
	}
	err = re_sdprintf(&path, "%s/presence.db", a.conf->state_dir);
	if (err)
		goto out;
	so.sync_full = a.conf->store_sync_full;
	err = pres_open(&p->st, path, &so);
	if (err) {
		log_err("state database '%s': %m", path, err);
		goto out;
	}

	/* bus: ours to publish on, the registrar's to listen to */
	err = bus_alloc(&a.bus);
	err = err ? err : bus_pub_alloc(&p->pub, a.bus,
					a.conf->bus_presence_pub,
					a.conf->bus_presence_snapshot,
					a.conf->bus_heartbeat * 1000);
	err = err ? err : bus_pub_topic(p->pub, "pres");
	if (err) {
		log_err("bus '%s' / '%s': %m", a.conf->bus_presence_pub,
			a.conf->bus_presence_snapshot, err);
		goto out;
	}

	/* SIP and the notifier */
	p->salt = rand_u64();
	err = open_sip(p);
	err = err ? err : pres_init(p);
	if (err)
		goto out;
	memset(&no, 0, sizeof(no));
	no.contact = p->contact;
	no.expires_min = a.conf->subscribe_expires_min;
	no.expires_dfl = a.conf->subscribe_expires_default;
	no.expires_max = a.conf->subscribe_expires_max;
	no.max_per_watcher = a.conf->subscribe_max_per_watcher;
	no.max_per_presentity = a.conf->subscribe_max_per_presentity;
	no.min_interval = a.conf->notify_min_interval;
	no.notify_timeout = a.conf->notify_timeout;
	err = notifier_alloc(&p->not, p->sip, p->st, &no, watchers_pkgs,
			     watchers_npkgs, report_h, p);
	if (err)
		goto out;

	/* what survived the last run: publications, then subscriptions,
	 * each decided again by today's rules */
	err = pres_load(p);
	err = err ? err : notifier_load(p->not);
	if (err) {
		log_err("cannot load state: %m", err);
		goto out;
	}
	(void)store_changed(p->rules);
	watchers_rules_changed(p);

	err = bus_sub_alloc(&a.sub_reg, a.bus, a.conf->bus_registrar_pub,
			    a.conf->bus_registrar_snapshot, "reg", NULL,
			    pres_reg_h, p);
	err = err ? err : bus_sub_alloc(&a.sub_dialog, a.bus,
					a.conf->bus_registrar_pub,
					a.conf->bus_registrar_snapshot,
					"dialog", NULL, pres_dialog_h, p);
	err = err ? err : sip_listen(&p->lsnr, p->sip, true, request_h, p);
	if (err)
		goto out;
	tmr_start(&p->tmr, 1000, tick_h, p);

	err = daemon_alloc(&a.daemon, reload_h, &a);
	if (err)
		goto out;
	log_notice("ready: domain '%s', %u subscription(s) restored",
		   a.conf->domain, notifier_count(p->not));
	daemon_ready(a.daemon, "serving");

	err = daemon_run(a.daemon);

 out:
	if (err)
		log_err("exiting: %m", err);
	tmr_cancel(&p->tmr);
	a.daemon = mem_deref(a.daemon);
	a.sub_dialog = mem_deref(a.sub_dialog);
	a.sub_reg = mem_deref(a.sub_reg);
	p->lsnr = mem_deref(p->lsnr);
	if (p->sip)
		sip_close(p->sip, true);
	p->not = mem_deref(p->not);
	p->sip = mem_deref(p->sip);
	if (p->ents)
		pres_close(p);
	p->pub = mem_deref(p->pub);
	a.bus = mem_deref(a.bus);
	p->st = mem_deref(p->st);
	p->users = mem_deref(p->users);
	p->rules = mem_deref(p->rules);
	p->admin = mem_deref(p->admin);
	mem_deref(path);
	a.conf = mem_deref(a.conf);
	libre_close();
	return err ? 1 : 0;
}
