/* backend: the admission of a request at a back daemon (backend.h). */
#include <errno.h>
#include <re.h>
#include "base/conf.h"
#include "sip/backend.h"

/* The edge's own addresses: UDP by address and port (route_edge and,
 * with several edge workers, each one's port above it; or a listen
 * address), TCP by address (its connections come from any port). */
static bool from_edge(const struct conf *c, const struct sip_msg *msg)
{
	if (msg->tp == SIP_TRANSP_UDP && conf_edge_worker(c, &msg->src) >= 0)
		return true;
	for (unsigned i = 0; i < c->listen_count; i++) {
		const struct conf_listen *l = &c->listen[i];
		struct sa sa;

		if (sa_set_str(&sa, l->addr, l->port))
			continue;
		if (msg->tp == SIP_TRANSP_UDP && l->tp == CONF_TP_UDP &&
		    sa_cmp(&sa, &msg->src, SA_ALL))
			return true;
		if (msg->tp == SIP_TRANSP_TCP && l->tp == CONF_TP_TCP &&
		    sa_cmp(&sa, &msg->src, SA_ADDR))
			return true;
	}
	return false;
}

int backend_admit(const struct conf *c, const struct sip_msg *msg,
		  char *user, size_t sz, struct sipval_err *e)
{
	const struct sip_hdr *h;
	struct sip_addr a;

	if (!c || !msg || !user || !sz || !e)
		return EINVAL;
	if (!from_edge(c, msg)) {
		e->code = 403;
		e->reason = "Forbidden: Not From The Edge";
		return EPERM;
	}
	/* libre reads 8 KiB of a datagram: a longer one arrives cut short */
	if (pl_isset(&msg->clen) &&
	    pl_u32(&msg->clen) > mbuf_get_left(msg->mb)) {
		e->code = 513;
		e->reason = "Message Too Large";
		return EMSGSIZE;
	}
	/* <sip:USER@DOMAIN>, as the edge writes it */
	user[0] = '\0';
	h = sip_msg_hdr(msg, SIP_HDR_P_ASSERTED_IDENTITY);
	if (h && !sip_addr_decode(&a, &h->val) && a.uri.user.l &&
	    !pl_strcasecmp(&a.uri.host, c->domain) &&
	    pl_strcpy(&a.uri.user, user, sz))
		user[0] = '\0';
	return 0;
}
