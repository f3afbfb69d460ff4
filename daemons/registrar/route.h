/* route: out-of-dialog requests from users to the back daemon that owns
 * them (DESIGN.md "Processes"), after authentication and with the
 * identity the edge asserts. */
#ifndef LP_ROUTE_H
#define LP_ROUTE_H

#include <stdbool.h>
#include <re.h>

struct registrar;

enum route_service {
	ROUTE_PRESENCE,
	ROUTE_IMRELAY,
	ROUTE_BLF,
	ROUTE_COUNT
};

bool route_handles(const struct sip_msg *msg);
void route_request(struct registrar *r, const struct sip_msg *msg);
bool route_is_ours(const struct registrar *r, const struct sip_msg *msg);
unsigned route_ours_on_top(const struct registrar *r,
			   const struct sip_msg *msg);
void route_loose(struct registrar *r, const struct sip_msg *msg);
bool route_from_backend(const struct registrar *r, const struct sip_msg *msg);
void route_to_user(struct registrar *r, const struct sip_msg *msg);
void route_user_to_user(struct registrar *r, const struct sip_msg *msg);

#endif
