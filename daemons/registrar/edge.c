/* edge: how the edge knows itself in a message: its domain and listen
 * addresses in a URI, its back daemons by their source address. */
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
	return false;
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
