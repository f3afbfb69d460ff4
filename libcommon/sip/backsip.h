/* backsip: a back daemon's SIP side as the configuration sets it: the UDP
 * socket it listens on (its route_* address, where the edge sends), the
 * Contact it puts in its answers, the admission of each request, and the
 * answer to OPTIONS and to methods it does not serve. Shared by the
 * presence daemon, the BLF gateway and the IM relay; the notifier's side
 * of the first two is presence/backnotify. */
#ifndef LP_BACKSIP_H
#define LP_BACKSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <re.h>

struct conf;

/* Listen on conf->routes[route] (udp only) as `name` ("presence"):
 * *sipp allocated, `contact` set to sip:NAME@ADDRESS:PORT. Logs why not. */
int  backsip_listen(struct sip **sipp, const struct conf *c, int route,
		    const char *key, const char *name, char *contact,
		    size_t sz);

/* A request for this daemon: false when it needs nothing more (an ACK,
 * or one the edge did not send, refused with a log line); true with
 * `user` the asserted user ("" when none). */
bool backsip_admit(struct sip *sip, const struct conf *c,
		   const struct sip_msg *msg, char *user, size_t sz);
/* OPTIONS (200 with Allow, and Allow-Events unless `events` is NULL) or
 * any other method (405). */
void backsip_other(struct sip *sip, const struct sip_msg *msg,
		   const char *allow, const char *events);

#endif
