/* nodes: the nodes of a cluster sharing this admin database (node_id):
 * each one's state (running, stopped, silent), when it was last seen,
 * its bus and SIP addresses and its load, as its edge last said. Shown
 * in the navigation only on a node. */
#include <string.h>
#include <time.h>
#include <re.h>
#include "store/store_nodes.h"
#include "cgi.h"

static int node_h(const struct node_rec *n, void *arg)
{
	struct req *r = arg;
	uint64_t now = (uint64_t)time(NULL);
	const char *state = nodes_state(n, now);

	(void)mbuf_printf(r->body, "<tr><td>%H%s</td><td class=\"state-%s\">"
			  "%s</td><td>", xml_escape, n->id,
			  r->conf->node_id && !strcmp(n->id, r->conf->node_id)
			  ? " (this one)" : "", state, state);
	if (n->seen)
		(void)mbuf_printf(r->body, "%llu s ago", (unsigned long long)
				  (now > n->seen ? now - n->seen : 0));
	return mbuf_printf(r->body, "</td><td>%H</td><td>%H</td><td>%H</td>"
			   "</tr>", xml_escape, n->bus, xml_escape, n->sip,
			   xml_escape, n->load);
}

int page_nodes(struct req *r)
{
	int err;

	(void)page_begin(r, "Nodes");
	(void)mbuf_printf(r->body, "<table id=\"nodes\"><thead><tr><th>Node"
			  "</th><th>State</th><th>Last seen</th><th>Bus</th>"
			  "<th>SIP</th><th>Load</th></tr></thead><tbody>");
	err = nodes_foreach(r->admin, node_h, r);
	(void)mbuf_printf(r->body, "</tbody></table>");
	if (err)
		(void)mbuf_printf(r->body, "<p class=\"error\" role=\"alert\">"
				  "The nodes cannot be read now.</p>");
	(void)mbuf_printf(r->body, "<p>A node that is silent stopped saying "
			  "it is alive over 10 s ago. One gone for good is "
			  "removed with <code>lamplightctl node forget "
			  "ID</code>.</p>");
	(void)page_end(r);
	return cgi_send(r, err ? 503 : 200, "text/html; charset=utf-8");
}
