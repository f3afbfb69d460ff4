/* route: out-of-dialog requests from users to the back daemon that owns
 * them (DESIGN.md "Processes"), after authentication and with the
 * identity the edge asserts; requests with our Route on top along their
 * dialog (loose routing); a back daemon's requests to a user's devices. */
#ifndef LP_ROUTE_H
#define LP_ROUTE_H

#include <stdbool.h>
#include <re.h>

struct edge;
struct toproute;

bool route_handles(const struct sip_msg *msg);
void route_request(struct edge *r, const struct sip_msg *msg);
void route_loose(struct edge *r, const struct sip_msg *msg,
		 const struct toproute *top);
void route_to_user(struct edge *r, const struct sip_msg *msg);
void route_user_to_user(struct edge *r, const struct sip_msg *msg);

#endif
