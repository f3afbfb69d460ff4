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

/* Our own Routes on top of a request (RFC 3261 §16.4), read once. */
struct route_top {
	const struct registrar *r;
	unsigned ours;         /* consecutive top Routes that are us */
	bool done;
	struct pl flow;        /* the flow token among them */
	struct uri next;       /* the first Route that is not us */
	bool has_next;
};

bool route_handles(const struct sip_msg *msg);
void route_scan(struct route_top *t, const struct registrar *r,
		const struct sip_msg *msg);
void route_request(struct registrar *r, const struct sip_msg *msg);
bool route_is_ours(const struct route_top *t, const struct sip_msg *msg);
unsigned route_ours_on_top(const struct registrar *r,
			   const struct sip_msg *msg);
void route_loose(struct registrar *r, const struct sip_msg *msg,
		 const struct route_top *top);
bool route_is_backend(const struct registrar *r, const struct sa *a);
void route_to_user(struct registrar *r, const struct sip_msg *msg);
void route_user_to_user(struct registrar *r, const struct sip_msg *msg);

#endif
