/* edge: how the edge knows itself in a message: its domain and listen
 * addresses in a URI, its back daemons by their source address, and the
 * address they reach it on (route_edge). */
#include <re.h>
#include "base/conf.h"
#include "edge.h"

bool edge_is_local(const struct edge *r, const struct uri *uri)
{
	const struct conf *c = r->conf;

	if (!pl_strcasecmp(&uri->host, c->domain))
		return true;
	for (unsigned i = 0; i < c->listen_count; i++) {
		if (!pl_strcasecmp(&uri->host, c->listen[i].addr) &&
		    (!uri->port || uri->port == c->listen[i].port))
			return true;
	}
	/* route_edge, each worker's port above it too */
	return r->back_set &&
		!pl_strcasecmp(&uri->host, c->route_edge.addr) &&
		uri->port >= c->route_edge.port &&
		uri->port < c->route_edge.port +
		(r->nworkers ? r->nworkers : 1);
}

bool edge_back_out(const struct edge *r, struct sa *laddr,
		   struct udp_sock **sock)
{
	if (!r->back_set || !r->back_sock)
		return false;
	*laddr = r->back_laddr;
	*sock = r->back_sock;
	return true;
}

int edge_back_laddr(struct edge *r, const struct sa *dst, struct sa *laddr)
{
	if (r->back_set) {
		*laddr = r->back_laddr;
		return 0;
	}
	return sip_transp_laddr(r->sip, laddr, SIP_TRANSP_UDP, dst);
}

void edge_back_seen(struct edge *r, const struct sip_msg *msg)
{
	if (r->back_set && !r->back_sock && msg->tp == SIP_TRANSP_UDP &&
	    msg->sock && sa_cmp(&msg->dst, &r->back_laddr, SA_ALL))
		r->back_sock = msg->sock;
}

int edge_backend_index(const struct edge *r, const struct sa *a)
{
	for (int i = 0; i < ROUTE_COUNT; i++) {
		const struct conf_listen *l = &r->conf->routes[i];
		struct sa sa;

		if (l->port && !sa_set_str(&sa, l->addr, l->port) &&
		    sa_cmp(&sa, a, SA_ALL))
			return i;
	}
	return -1;
}

bool edge_is_backend(const struct edge *r, const struct sa *a)
{
	return edge_backend_index(r, a) >= 0;
}
