/* flow: tokens that name the flow a device's requests came on (transport,
 * source address and port; RFC 5626 §5.2), carried in our Record-Route
 * and Path URIs as `flow=`, so that requests for the device can leave on
 * that flow. HMAC-signed: a forged token routes nowhere. */
#ifndef LP_FLOW_H
#define LP_FLOW_H

#include <stdbool.h>
#include <re.h>

struct nonce_ctx;

#define FLOW_TOKEN_MAX 128
#define FLOW_CALLID_MAX 256    /* of a Call-ID, bound into a call's token */

/* `callid` set: a call's token, good for that Call-ID alone; NULL: a
 * device's token (SUBSCRIBE dialogs, Path). Decoding a call's token
 * without its Call-ID fails. */
int flow_token_make(char *out, size_t sz, struct nonce_ctx *key,
		    enum sip_transp tp, const struct sa *src,
		    const struct pl *callid);
int flow_token_decode(const struct pl *tok, struct nonce_ctx *key,
		      const struct pl *callid, enum sip_transp *tp,
		      struct sa *addr);
/* A call's token (bound to a Call-ID), before or without decoding it. */
bool flow_token_is_call(const struct pl *tok);
/* Where a request leaves: its transport and our address on it. */
struct flow_out {
	enum sip_transp tp;
	struct sa laddr;
};

int flow_record_route(char *buf, size_t sz, struct nonce_ctx *key,
		      const struct sip_msg *msg, const struct flow_out *out);
/* The two Record-Route values of a call's branch to the device at `dst`
 * reached as `out` says (flow.c). */
int flow_call_record_route(char *callee, char *caller, size_t sz,
			   struct nonce_ctx *key, const struct sip_msg *msg,
			   const struct flow_out *out, const struct sa *dst);

#endif
