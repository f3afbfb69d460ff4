/* backsip: a back daemon's SIP side as the configuration sets it: the UDP
 * socket it listens on (its route_* address, where the edge sends), the
 * Contact it puts in its answers, its notifier's settings, and the log
 * line for what the notifier reports, the admission of each request,
 * and holding NOTIFYs after a start until the bus's state is in. Shared
 * by the presence daemon and the BLF gateway. */
#ifndef LP_BACKSIP_H
#define LP_BACKSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <re.h>

struct conf;
struct notifier;
struct notifier_opts;
struct bus_sub;
struct backsip_hold;

/* Listen on conf->routes[route] (udp only) as `name` ("presence"):
 * *sipp allocated, `contact` set to sip:NAME@ADDRESS:PORT. Logs why not. */
int  backsip_listen(struct sip **sipp, const struct conf *c, int route,
		    const char *key, const char *name, char *contact,
		    size_t sz);
void backsip_notifier_opts(struct notifier_opts *no, const struct conf *c,
			   const char *contact);
void backsip_report_h(int prio, const struct sip_msg *msg, const char *text,
		      void *arg);

/* A request for this daemon: false when it needs nothing more (an ACK,
 * or one the edge did not send, refused with a log line); true with
 * `user` the asserted user ("" when none). */
bool backsip_admit(struct sip *sip, const struct conf *c,
		   const struct sip_msg *msg, char *user, size_t sz);
/* OPTIONS (200 with Allow, and Allow-Events unless `events` is NULL) or
 * any other method (405). */
void backsip_other(struct sip *sip, const struct sip_msg *msg,
		   const char *allow, const char *events);

/* After a start, the notifier's NOTIFYs wait until every one of `subs`
 * has its snapshot (or BACKSIP_HOLD_MS), so that no watcher is told a
 * state that was never true; then `h` hears whether they all synced. */
#define BACKSIP_HOLD_MS 3000
typedef void (backsip_known_h)(bool synced, void *arg);
int  backsip_hold(struct backsip_hold **hp, struct notifier *n,
		  struct bus_sub *const *subs, unsigned nsubs,
		  backsip_known_h *h, void *arg);

#endif
