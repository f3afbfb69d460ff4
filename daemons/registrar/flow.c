/* flow: token = hex("T" "address:port") "." hex(HMAC-SHA256(secret, that
 * text))[:16], T being u, t or s for UDP, TCP or TLS. The secret is the
 * nonce secret, persisted, so tokens outlive a restart of the edge. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/digest.h"
#include "flow.h"

static int mac(struct nonce_ctx *key, const char *text, size_t len,
	       char hex[17])
{
	uint8_t m[32];
	int err = digest_hmac(key, (const uint8_t *)text, len, m);

	if (!err)
		re_snprintf(hex, 17, "%w", m, (size_t)8);
	return err;
}

int flow_token_make(char *out, size_t sz, struct nonce_ctx *key,
		    enum sip_transp tp, const struct sa *src)
{
	char text[64], m[17];
	int n, err;

	n = re_snprintf(text, sizeof(text), "%c%J",
			tp == SIP_TRANSP_TCP ? 't' :
			tp == SIP_TRANSP_TLS ? 's' : 'u', src);
	if (n <= 0 || (size_t)n >= sizeof(text))
		return EINVAL;
	err = mac(key, text, (size_t)n, m);
	if (err)
		return err;
	if (re_snprintf(out, sz, "%w.%s", text, (size_t)n, m) < 0)
		return ENOMEM;
	return 0;
}

int flow_token_decode(const struct pl *tok, struct nonce_ctx *key,
		      enum sip_transp *tp, struct sa *addr)
{
	char text[64], m[17];
	const char *dot;
	size_t hl;
	uint8_t diff = 0;

	if (!tok || !tok->l || tok->l > FLOW_TOKEN_MAX)
		return EINVAL;
	dot = pl_strchr(tok, '.');
	if (!dot)
		return EBADMSG;
	hl = (size_t)(dot - tok->p);
	if (!hl || hl % 2 || hl / 2 >= sizeof(text) ||
	    tok->l - hl - 1 != 16)
		return EBADMSG;
	for (size_t i = 0; i < hl / 2; i++) {
		char h[3] = { tok->p[2*i], tok->p[2*i + 1], 0 };
		uint8_t b;

		if (str_hex(&b, 1, h))
			return EBADMSG;
		text[i] = (char)b;
	}
	text[hl / 2] = '\0';
	if (mac(key, text, hl / 2, m))
		return EBADMSG;
	for (size_t i = 0; i < 16; i++)
		diff |= (uint8_t)(m[i] ^ dot[1 + i]);
	if (diff)
		return EBADMSG;
	switch (text[0]) {
	case 'u': *tp = SIP_TRANSP_UDP; break;
	case 't': *tp = SIP_TRANSP_TCP; break;
	case 's': *tp = SIP_TRANSP_TLS; break;
	default:  return EBADMSG;
	}
	return sa_decode(addr, text + 1, strlen(text + 1)) ? EBADMSG : 0;
}

static const char *tp_name(enum sip_transp tp)
{
	return tp == SIP_TRANSP_TCP ? "tcp" : tp == SIP_TRANSP_TLS ? "tls" :
		"udp";
}

/* <sip:EDGE;transport=T;lr;flow=TOKEN> for the address the request came
 * in on: what both ends send the dialog's requests to. When the request
 * leaves on another transport (a TCP phone's SUBSCRIBE to a back daemon
 * on UDP), the edge Record-Routes twice (RFC 5658): on top the address
 * the next hop reaches it on, then the one the phone does; each end then
 * sends on its own transport, and the edge pops both. `out` NULL: the
 * request leaves on the transport it came on. */
int flow_record_route(char *buf, size_t sz, struct nonce_ctx *key,
		      const struct sip_msg *msg, const struct flow_out *out)
{
	char tok[FLOW_TOKEN_MAX + 1];
	int err = flow_token_make(tok, sizeof(tok), key, msg->tp, &msg->src);

	if (err)
		return err;
	if (out && out->tp != msg->tp)
		return re_snprintf(buf, sz, "<sip:%J;transport=%s;lr;flow=%s>"
				   ", <sip:%J;transport=%s;lr;flow=%s>",
				   &out->laddr, tp_name(out->tp), tok,
				   &msg->dst, tp_name(msg->tp), tok) < 0 ?
			ENOMEM : 0;
	return re_snprintf(buf, sz, "<sip:%J;transport=%s;lr;flow=%s>",
			   &msg->dst, tp_name(msg->tp), tok) < 0 ? ENOMEM : 0;
}
