/* flow: token = hex("T" "address:port") "." hex(HMAC-SHA256(secret, that
 * text))[:16], T being u, t or s for UDP, TCP or TLS. A call's tokens
 * (U, T, S) are bound to its Call-ID: their HMAC covers the text, a NUL
 * and the Call-ID, so a token lifted from one call routes no other. The
 * secret is the nonce secret, persisted, so tokens outlive a restart of
 * the edge. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/digest.h"
#include "flow.h"

/* The MAC of `text`, and of a NUL and the Call-ID after it when
 * `callid` is set (its first FLOW_CALLID_MAX bytes: phones' Call-IDs are
 * far shorter, and a longer one is bound by its start). */
static int mac(struct nonce_ctx *key, const char *text, size_t len,
	       const struct pl *callid, char hex[17])
{
	uint8_t buf[64 + 1 + FLOW_CALLID_MAX], m[32];
	size_t n = len;
	int err;

	if (len > 64)
		return EINVAL;
	memcpy(buf, text, len);
	if (callid) {
		size_t cl = min(callid->l, (size_t)FLOW_CALLID_MAX);

		buf[n++] = 0;
		memcpy(buf + n, callid->p, cl);
		n += cl;
	}
	err = digest_hmac(key, buf, n, m);
	if (!err)
		re_snprintf(hex, 17, "%w", m, (size_t)8);
	return err;
}

int flow_token_make(char *out, size_t sz, struct nonce_ctx *key,
		    enum sip_transp tp, const struct sa *src,
		    const struct pl *callid)
{
	char text[64], m[17];
	int n, err;
	char t = tp == SIP_TRANSP_TCP ? 't' : tp == SIP_TRANSP_TLS ? 's' :
		'u';

	n = re_snprintf(text, sizeof(text), "%c%J",
			callid ? t - 'a' + 'A' : t, src);
	if (n <= 0 || (size_t)n >= sizeof(text))
		return EINVAL;
	err = mac(key, text, (size_t)n, callid, m);
	if (err)
		return err;
	if (re_snprintf(out, sz, "%w.%s", text, (size_t)n, m) < 0)
		return ENOMEM;
	return 0;
}

int flow_token_decode(const struct pl *tok, struct nonce_ctx *key,
		      const struct pl *callid, enum sip_transp *tp,
		      struct sa *addr)
{
	bool bound;
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
	/* a call's token is good for that call alone */
	bound = text[0] >= 'A' && text[0] <= 'Z';
	if (bound && !pl_isset(callid))
		return EBADMSG;
	if (mac(key, text, hl / 2, bound ? callid : NULL, m))
		return EBADMSG;
	for (size_t i = 0; i < 16; i++)
		diff |= (uint8_t)(m[i] ^ dot[1 + i]);
	if (diff)
		return EBADMSG;
	switch (text[0]) {
	case 'u': case 'U': *tp = SIP_TRANSP_UDP; break;
	case 't': case 'T': *tp = SIP_TRANSP_TCP; break;
	case 's': case 'S': *tp = SIP_TRANSP_TLS; break;
	default:  return EBADMSG;
	}
	return sa_decode(addr, text + 1, strlen(text + 1)) ? EBADMSG : 0;
}

bool flow_token_is_call(const struct pl *tok)
{
	/* the first byte of the text, in hex: 'U', 'T' or 'S' */
	return tok && tok->l >= 2 && tok->p[0] == '5' &&
		(tok->p[1] == '5' || tok->p[1] == '4' || tok->p[1] == '3');
}

static const char *tp_name(enum sip_transp tp)
{
	return tp == SIP_TRANSP_TCP ? "tcp" : tp == SIP_TRANSP_TLS ? "tls" :
		"udp";
}

/* <sip:EDGE;transport=T;lr;flow=TOKEN> for the address the request came
 * in on: what both ends send the dialog's requests to. When the request
 * leaves on another transport or address (a TCP phone's SUBSCRIBE to a
 * back daemon on UDP; any SUBSCRIBE to one, with route_edge), the edge
 * Record-Routes twice (RFC 5658): on top the address the next hop
 * reaches it on, then the one the phone does; each end then sends to
 * its own, and the edge pops both. `out` NULL: the request leaves on the
 * address it came in on. */
int flow_record_route(char *buf, size_t sz, struct nonce_ctx *key,
		      const struct sip_msg *msg, const struct flow_out *out)
{
	char tok[FLOW_TOKEN_MAX + 1];
	int err = flow_token_make(tok, sizeof(tok), key, msg->tp, &msg->src,
				  NULL);

	if (err)
		return err;
	if (out && (out->tp != msg->tp ||
		    !sa_cmp(&out->laddr, &msg->dst, SA_ALL)))
		return re_snprintf(buf, sz, "<sip:%J;transport=%s;lr;flow=%s>"
				   ", <sip:%J;transport=%s;lr;flow=%s>",
				   &out->laddr, tp_name(out->tp), tok,
				   &msg->dst, tp_name(msg->tp), tok) < 0 ?
			ENOMEM : 0;
	return re_snprintf(buf, sz, "<sip:%J;transport=%s;lr;flow=%s>",
			   &msg->dst, tp_name(msg->tp), tok) < 0 ? ENOMEM : 0;
}

/* A call's two Record-Routes (RFC 5658), one per leg, each with the token
 * of its leg's flow bound to the Call-ID: `callee` (on top) is the
 * address the callee reaches the edge on, with the callee's flow; `caller`
 * the address the caller sent to, with the caller's. The callee's route
 * set keeps this order and the caller's is its reverse (RFC 3261 §12.1),
 * so in either direction the last of the edge's Routes names the flow of
 * the party the request is for, whatever its Contact says. */
int flow_call_record_route(char *callee, char *caller, size_t sz,
			   struct nonce_ctx *key, const struct sip_msg *msg,
			   const struct flow_out *out, const struct sa *dst)
{
	char ta[FLOW_TOKEN_MAX + 1], tb[FLOW_TOKEN_MAX + 1];
	int err;

	err = flow_token_make(ta, sizeof(ta), key, out->tp, dst, &msg->callid);
	err = err ? err : flow_token_make(tb, sizeof(tb), key, msg->tp,
					  &msg->src, &msg->callid);
	if (err)
		return err;
	if (re_snprintf(callee, sz, "<sip:%J;transport=%s;lr;flow=%s>",
			&out->laddr, tp_name(out->tp), ta) < 0 ||
	    re_snprintf(caller, sz, "<sip:%J;transport=%s;lr;flow=%s>",
			&msg->dst, tp_name(msg->tp), tb) < 0)
		return ENOMEM;
	return 0;
}
