/* auth: digest authentication of requests from users (RFC 3261 §22). */
#ifndef LP_AUTH_H
#define LP_AUTH_H

#include <re.h>

struct edge;
struct user_rec;

enum auth_kind {
	AUTH_WWW,      /* REGISTER: 401, WWW-Authenticate, Authorization */
	AUTH_PROXY,    /* others: 407, Proxy-Authenticate, Proxy-Authorization */
};

int auth_request(struct edge *r, const struct sip_msg *msg,
		 enum auth_kind kind, const struct pl *claimed,
		 struct user_rec **userp);
int auth_from_user(struct edge *r, const struct sip_msg *msg,
		   struct user_rec **userp);

#endif
