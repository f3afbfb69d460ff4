/* backsip: a back daemon's SIP socket and admission (backsip.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "lp_config.h"
#include "base/conf.h"
#include "base/log.h"
#include "base/sockbuf.h"
#include "sip/backend.h"
#include "sip/sipreply.h"
#include "sip/backsip.h"

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
