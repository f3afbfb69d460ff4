/* backsip: a back daemon's SIP socket and notifier settings (backsip.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "lp_config.h"
#include "conf.h"
#include "log.h"
#include "notifier.h"
#include "sockbuf.h"
#include "bus.h"
#include "backend.h"
#include "sipreply.h"
#include "backsip.h"

/* the answers to a fan-out of NOTIFYs arrive at once */
#define UDP_RCVBUF (8 * 1024 * 1024)

int backsip_listen(struct sip **sipp, const struct conf *c, int route,
		   const char *key, const char *name, char *contact,
		   size_t sz)
{
	const struct conf_listen *l = &c->routes[route];
	struct sa sa;
	int err;

	if (!l->port || l->tp != CONF_TP_UDP) {
		log_err("%s must be set to udp:ADDRESS:PORT: it is where the "
			"%s daemon listens", key, name);
		return EINVAL;
	}
	err = sa_set_str(&sa, l->addr, l->port);
	err = err ? err : sip_alloc(sipp, NULL, 4096, 4096, 4096,
				    conf_server_name(c), NULL, NULL);
	err = err ? err : sip_transp_add(*sipp, SIP_TRANSP_UDP, &sa);
	if (err) {
		log_err("listen udp:%J: %m", &sa, err);
		return err;
	}
	if (sockbuf_udp_rcvbuf(&sa, UDP_RCVBUF, NULL))
		log_warn("udp:%J: cannot enlarge the receive buffer, ignoring",
			 &sa);
	re_snprintf(contact, sz, "sip:%s@%J", name, &sa);
	log_info("listening on udp:%J", &sa);
	return 0;
}

void backsip_notifier_opts(struct notifier_opts *no, const struct conf *c,
			   const char *contact)
{
	memset(no, 0, sizeof(*no));
	no->contact = contact;
	no->expires_min = c->subscribe_expires_min;
	no->expires_dfl = c->subscribe_expires_default;
	no->expires_max = c->subscribe_expires_max;
	no->max_per_watcher = c->subscribe_max_per_watcher;
	no->max_per_presentity = c->subscribe_max_per_presentity;
	no->min_interval = c->notify_min_interval;
	no->notify_timeout = c->notify_timeout;
}

void backsip_report_h(int prio, const struct sip_msg *msg, const char *text,
		      void *arg)
{
	(void)arg;
	if (msg)
		log_sip(prio, msg, NULL, "%s", text);
	else
		log_msg(prio, "%s", text);
}

bool backsip_admit(struct sip *sip, const struct conf *c,
		   const struct sip_msg *msg, char *user, size_t sz)
{
	struct sipval_err e;

	if (!pl_strcmp(&msg->met, "ACK"))
		return false;
	if (backend_admit(c, msg, user, sz, &e)) {
		log_sip(LOG_NOTICE, msg, NULL, "%r from %J: %u %s", &msg->met,
			&msg->src, e.code, e.reason);
		(void)sipreply(sip, msg, 0, false, e.code, e.reason, NULL);
		return false;
	}
	return true;
}

void backsip_other(struct sip *sip, const struct sip_msg *msg,
		   const char *allow, const char *events)
{
	if (!pl_strcmp(&msg->met, "OPTIONS") && events)
		(void)sipreply(sip, msg, 0, false, 200, "OK",
			       "Allow: %s\r\nAllow-Events: %s\r\n"
			       "Content-Length: 0\r\n\r\n", allow, events);
	else if (!pl_strcmp(&msg->met, "OPTIONS"))
		(void)sipreply(sip, msg, 0, false, 200, "OK",
			       "Allow: %s\r\nContent-Length: 0\r\n\r\n",
			       allow);
	else
		(void)sipreply(sip, msg, 0, false, 405, "Method Not Allowed",
			       "Allow: %s\r\nContent-Length: 0\r\n\r\n",
			       allow);
}

#define HOLD_MAX_SUBS 4

struct backsip_hold {
	struct tmr tmr;
	struct notifier *n;
	struct bus_sub *subs[HOLD_MAX_SUBS];
	unsigned nsubs;
	uint64_t started;      /* jiffies */
	backsip_known_h *h;
	void *arg;
};

static void hold_destructor(void *arg)
{
	struct backsip_hold *hd = arg;

	tmr_cancel(&hd->tmr);
}

static void hold_h(void *arg)
{
	struct backsip_hold *hd = arg;
	bool synced = true;

	for (unsigned i = 0; i < hd->nsubs; i++)
		synced = synced && bus_sub_synced(hd->subs[i]);
	if (!synced && tmr_jiffies() - hd->started < BACKSIP_HOLD_MS) {
		tmr_start(&hd->tmr, 50, hold_h, hd);
		return;
	}
	log_info("the bus's state is %s: notifying",
		 synced ? "in" : "not all in after 3 s");
	if (hd->h)
		hd->h(synced, hd->arg);
	notifier_hold(hd->n, false);
}

int backsip_hold(struct backsip_hold **hp, struct notifier *n,
		 struct bus_sub *const *subs, unsigned nsubs,
		 backsip_known_h *h, void *arg)
{
	struct backsip_hold *hd;

	if (!hp || !n || nsubs > HOLD_MAX_SUBS)
		return EINVAL;
	hd = mem_zalloc(sizeof(*hd), hold_destructor);
	if (!hd)
		return ENOMEM;
	hd->n = n;
	memcpy(hd->subs, subs, nsubs * sizeof(*subs));
	hd->nsubs = nsubs;
	hd->started = tmr_jiffies();
	hd->h = h;
	hd->arg = arg;
	notifier_hold(n, true);
	tmr_start(&hd->tmr, 50, hold_h, hd);
	*hp = hd;
	return 0;
}
