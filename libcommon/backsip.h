/* backsip: a back daemon's SIP side as the configuration sets it: the UDP
 * socket it listens on (its route_* address, where the edge sends), the
 * Contact it puts in its answers, its notifier's settings, and the log
 * line for what the notifier reports. Shared by the presence daemon and
 * the BLF gateway. */
#ifndef LP_BACKSIP_H
#define LP_BACKSIP_H

#include <stddef.h>
#include <re.h>

struct conf;
struct notifier_opts;

/* Listen on conf->routes[route] (udp only) as `name` ("presence"):
 * *sipp allocated, `contact` set to sip:NAME@ADDRESS:PORT. Logs why not. */
int  backsip_listen(struct sip **sipp, const struct conf *c, int route,
		    const char *key, const char *name, char *contact,
		    size_t sz);
void backsip_notifier_opts(struct notifier_opts *no, const struct conf *c,
			   const char *contact);
void backsip_report_h(int prio, const struct sip_msg *msg, const char *text,
		      void *arg);

#endif
