/* sipreply: stateless answers with a chosen To-tag (see sipreply.h). */
#include <errno.h>
#include <stdarg.h>
#include <re.h>
#include "sip/sipreply.h"

/* The top Via as the next hop back reads it: where the request came
 * from in received, and in rport if asked for (RFC 3581 §4); *rport
 * tells whether rport was asked for. */
int sipreply_top_via(struct mbuf *mb, const struct sip_msg *msg,
		     const struct sip_hdr *h, bool *rport)
{
	struct pl rp;
	int err;

	*rport = false;
	if (!msg_param_exists(&msg->via.params, "rport", &rp)) {
		/* everything but the empty rport, then ours */
		struct pl a = { h->val.p, (size_t)(rp.p - h->val.p) };
		struct pl b = { rp.p + rp.l,
				h->val.l - (size_t)(rp.p + rp.l - h->val.p) };

		*rport = true;
		err = mbuf_printf(mb, "%r: %r%r;rport=%u", &h->name, &a, &b,
				  sa_port(&msg->src));
	}
	else {
		err = mbuf_printf(mb, "%r: %r", &h->name, &h->val);
	}
	if (!err && (*rport || !sa_cmp(&msg->src, &msg->via.addr, SA_ADDR)))
		err = mbuf_printf(mb, ";received=%j", &msg->src);
	return err ? err : mbuf_write_str(mb, "\r\n");
}

int sipreply(struct sip *sip, const struct sip_msg *msg, uint64_t totag,
	     bool rec_route, uint16_t scode, const char *reason,
	     const char *fmt, ...)
{
	struct mbuf *mb;
	bool rport = false, first = true;
	struct sa dst;
	struct le *le;
	int err;

	if (!sip || !msg || !reason)
		return EINVAL;
	if (!pl_strcmp(&msg->met, "ACK"))
		return 0;              /* never answered */
	mb = mbuf_alloc(512 + msg->mb->end / 2);
	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, "SIP/2.0 %u %s\r\n", scode, reason);
	for (le = list_head(&msg->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;

		switch (h->id) {
		case SIP_HDR_VIA:
			if (first) {
				first = false;
				err = sipreply_top_via(mb, msg, h,
						       &rport);
			}
			else {
				err = mbuf_printf(mb, "%r: %r\r\n", &h->name,
						  &h->val);
			}
			break;
		case SIP_HDR_TO:
			err = mbuf_printf(mb, "%r: %r", &h->name, &h->val);
			if (!err && !pl_isset(&msg->to.tag) && scode > 100)
				err = mbuf_printf(mb, ";tag=%016llx",
						  (unsigned long long)
						  (totag ? totag : msg->tag));
			err = err ? err : mbuf_write_str(mb, "\r\n");
			break;
		case SIP_HDR_RECORD_ROUTE:
			if (!rec_route)
				break;
			/* fall through */
		case SIP_HDR_FROM:
		case SIP_HDR_CALL_ID:
		case SIP_HDR_CSEQ:
			err = mbuf_printf(mb, "%r: %r\r\n", &h->name, &h->val);
			break;
		default:
			break;
		}
	}
	if (!err && fmt) {
		va_list ap;

		va_start(ap, fmt);
		err = mbuf_vprintf(mb, fmt, ap);
		va_end(ap);
	}
	else if (!err) {
		err = mbuf_write_str(mb, "Content-Length: 0\r\n\r\n");
	}
	if (err)
		goto out;
	mb->pos = 0;
	sip_reply_addr(&dst, msg, rport);
	err = sip_send(sip, msg->sock, msg->tp, &dst, mb);
 out:
	mem_deref(mb);
	return err;
}
