/* flow: tokens that name the flow a device's requests came on (transport,
 * source address and port; RFC 5626 §5.2), carried in our Record-Route
 * and Path URIs as `flow=`, so that requests for the device can leave on
 * that flow. HMAC-signed: a forged token routes nowhere. */
#ifndef LP_FLOW_H
#define LP_FLOW_H

#include <re.h>

struct nonce_ctx;

#define FLOW_TOKEN_MAX 128

int flow_token_make(char *out, size_t sz, struct nonce_ctx *key,
		    enum sip_transp tp, const struct sa *src);
int flow_token_decode(const struct pl *tok, struct nonce_ctx *key,
		      enum sip_transp *tp, struct sa *addr);
/* Where a request leaves: its transport and our address on it. */
struct flow_out {
	enum sip_transp tp;
	struct sa laddr;
};

int flow_record_route(char *buf, size_t sz, struct nonce_ctx *key,
		      const struct sip_msg *msg, const struct flow_out *out);

#endif
