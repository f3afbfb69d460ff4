/* rawreply: an answer written from the request's datagram (rawreply.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "sip/rawsip.h"
#include "sip/rawreply.h"

/* The top Via again, without a bare ";rport", then received and rport */
static int top_via(struct mbuf *out, const struct pl *v, const struct sa *src)
{
	const char *semi = memchr(v->p, ';', v->l);
	struct pl rest;
	int err;

	err = mbuf_printf(out, "Via: %b", v->p,
			  (size_t)((semi ? semi : v->p + v->l) - v->p));
	rest.p = semi ? semi : v->p + v->l;
	rest.l = (size_t)(v->p + v->l - rest.p);
	while (!err && rest.l) {
		const char *next = memchr(rest.p + 1, ';', rest.l - 1);
		struct pl prm;

		prm.p = rest.p;
		prm.l = (size_t)((next ? next : rest.p + rest.l) - rest.p);
		pl_advance(&rest, prm.l);
		/* prm is ";name[=value]" */
		if (prm.l >= 6 && !pl_strcasecmp(&(struct pl){ prm.p + 1,
						   prm.l - 1 }, "rport"))
			continue;
		err = mbuf_write_pl(out, &prm);
	}
	return err ? err : mbuf_printf(out, ";received=%j;rport=%u\r\n", src,
				      sa_port(src));
}

int rawreply(struct mbuf *out, const char *p, size_t n,
	     const struct sa *src, uint16_t scode, const char *reason,
	     uint64_t totag, const char *extra)
{
	const char *end = p + n;
	struct rawsip_line ln;
	unsigned vias = 0, from = 0, to = 0, callid = 0, cseq = 0;
	int err;

	if (!out || !p || !src || rawsip_status(p, n) ||
	    !rawsip_next_line(&ln, p, end))
		return EINVAL;
	err = mbuf_printf(out, "SIP/2.0 %u %s\r\n", scode, reason);
	for (const char *q = ln.next; !err && rawsip_next_line(&ln, q, end);
	     q = ln.next) {
		struct pl v;

		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return EINVAL;         /* folded */
		if (rawsip_hdr(&ln, "Via", 'v', &v)) {
			if (vias++)
				err = mbuf_printf(out, "Via: %r\r\n", &v);
			else if (memchr(v.p, ',', v.l))
				return EINVAL;
			else
				err = top_via(out, &v, src);
		}
		else if (rawsip_hdr(&ln, "From", 'f', &v)) {
			++from;
			err = mbuf_printf(out, "From: %r\r\n", &v);
		}
		else if (rawsip_hdr(&ln, "To", 't', &v)) {
			++to;
			err = mbuf_printf(out, "To: %r", &v);
			if (!err && !rawsip_to_tagged(&v))
				err = mbuf_printf(out, ";tag=%016llx",
						  (unsigned long long)totag);
			err = err ? err : mbuf_write_str(out, "\r\n");
		}
		else if (rawsip_hdr(&ln, "Call-ID", 'i', &v)) {
			++callid;
			err = mbuf_printf(out, "Call-ID: %r\r\n", &v);
		}
		else if (rawsip_hdr(&ln, "CSeq", 0, &v)) {
			++cseq;
			err = mbuf_printf(out, "CSeq: %r\r\n", &v);
		}
	}
	if (err)
		return err;
	if (!vias || from != 1 || to != 1 || callid != 1 || cseq != 1)
		return EINVAL;
	if (extra)
		err = mbuf_write_str(out, extra);
	return err ? err : mbuf_write_str(out, "Content-Length: 0\r\n\r\n");
}
