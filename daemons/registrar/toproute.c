/* toproute: which Routes on top of a request name the edge (loose
 * routing, RFC 3261 §16.4), read once per request; every later step
 * reads the result. */
#include <string.h>
#include <re.h>
#include "edge.h"
#include "toproute.h"

static bool route_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		    void *arg)
{
	struct toproute *s = arg;
	struct sip_addr a;
	struct pl v;

	(void)msg;
	if (sip_addr_decode(&a, &hdr->val))
		return true;
	if (!s->done && edge_is_local(s->r, &a.uri) &&
	    !msg_param_exists(&a.uri.params, "lr", &v)) {
		++s->ours;
		if (!msg_param_decode(&a.uri.params, "flow", &v)) {
			if (!pl_isset(&s->flow))
				s->flow_first = v;
			s->flow = v;
		}
		return false;
	}
	s->done = true;
	s->next = a.uri;
	s->has_next = true;
	return true;
}

/* Once per request: every later step reads the result. */
void toproute_scan(struct toproute *t, const struct edge *r,
		   const struct sip_msg *msg)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	sip_msg_hdr_apply(msg, true, SIP_HDR_ROUTE, route_h, t);
}

/* Our Route on top of a request inside a dialog, or carrying a flow
 * token: loose routing. Our Route on a new request without a token is an
 * outbound-proxy route set preloaded by the phone (RFC 3261 §8.1.2): the
 * request is ours to handle like any other, and fwd_build drops the
 * Route. */
bool toproute_is_ours(const struct toproute *t, const struct sip_msg *msg)
{
	return t->ours > 0 && (pl_isset(&msg->to.tag) || pl_isset(&t->flow));
}

unsigned toproute_count(const struct edge *r, const struct sip_msg *msg)
{
	struct toproute t;

	toproute_scan(&t, r, msg);
	return t.ours;
}
