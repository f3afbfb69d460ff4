/* backsip: a back daemon's SIP socket and notifier settings (backsip.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "lp_config.h"
#include "conf.h"
#include "log.h"
#include "notifier.h"
#include "sockbuf.h"
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
				    "Lamplight/" LP_VERSION, NULL, NULL);
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
