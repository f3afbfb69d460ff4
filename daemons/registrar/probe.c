/* probe: a 1 s tick walks the bindings, O(bindings), and sends OPTIONS to
 * those not heard from for probe_interval, at most PROBE_INFLIGHT at once,
 * so 20,000 devices at 30 s cost about 700 OPTIONS a second and the
 * backlog never grows without bound. Any answer, even 405 or 501, means
 * the device is there; silence for probe_timeout, or a transport error (a
 * TCP connection that is gone), means it is not. The OPTIONS leaves from
 * the edge's own socket on the device's flow, so it also keeps NAT
 * bindings open. Reachability is kept in memory: after a restart every
 * device is reachable until a probe says otherwise. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "location.h"
#include "edge.h"
#include "fwd.h"
#include "probe.h"

#define PROBE_INFLIGHT 1000

struct prober {
	struct edge *r;
	struct tmr tick;
	struct list inflight;
	uint32_t n;
};

struct probe {
	struct le le;
	struct prober *p;
	struct sip_request *req;
	struct tmr tmr;
	char *user;
	char *uri;
	char nexthop[128];
};

static void probe_destructor(void *arg)
{
	struct probe *pr = arg;

	list_unlink(&pr->le);
	if (pr->p)
		--pr->p->n;
	tmr_cancel(&pr->tmr);
	mem_deref(pr->req);
	mem_deref(pr->user);
	mem_deref(pr->uri);
}

static void prober_destructor(void *arg)
{
	struct prober *p = arg;
	struct le *le = p->inflight.head;

	tmr_cancel(&p->tick);
	while (le) {
		struct probe *pr = le->data;
		le = le->next;
		mem_deref(pr);
	}
}

static void verdict(struct probe *pr, bool reachable)
{
	location_set_reachable(pr->p->r->loc, pr->user, pr->uri, reachable);
	mem_deref(pr);
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct probe *pr = arg;

	pr->req = NULL;
	verdict(pr, !err && msg);
}

static void timeout_h(void *arg)
{
	verdict(arg, false);
}

static bool in_flight(const struct prober *p, const char *user,
		      const char *uri)
{
	struct le *le;

	for (le = p->inflight.head; le; le = le->next) {
		const struct probe *pr = le->data;
		if (!strcmp(pr->user, user) && !strcmp(pr->uri, uri))
			return true;
	}
	return false;
}

static void start(struct prober *p, const struct aor *a, struct binding *b,
		  uint64_t now)
{
	struct probe *pr;
	struct uri route;
	struct pl pl;
	int err;

	pr = mem_zalloc(sizeof(*pr), probe_destructor);
	if (!pr)
		return;
	tmr_init(&pr->tmr);
	err = str_dup(&pr->user, a->user);
	err = err ? err : str_dup(&pr->uri, b->uri);
	err = err ? err : fwd_nexthop_print(pr->nexthop, sizeof(pr->nexthop),
					    b->tp, &b->src);
	pl_set_str(&pl, pr->nexthop);
	if (err || uri_decode(&route, &pl)) {
		mem_deref(pr);
		return;
	}
	list_append(&p->inflight, &pr->le, pr);
	pr->p = p;
	++p->n;
	b->probed = now;
	err = sip_requestf(&pr->req, p->r->sip, true, "OPTIONS", b->uri,
			   &route, NULL, NULL, resp_h, pr,
			   "To: <%s>\r\n"
			   "From: <sip:lamplight@%s>;tag=%016llx\r\n"
			   "Call-ID: probe-%016llx\r\n"
			   "CSeq: 1 OPTIONS\r\n"
			   "Content-Length: 0\r\n\r\n", b->uri,
			   p->r->conf->domain,
			   (unsigned long long)rand_u64(),
			   (unsigned long long)rand_u64());
	if (err) {
		verdict(pr, false);
		return;
	}
	tmr_start(&pr->tmr, p->r->conf->probe_timeout, timeout_h, pr);
}

struct due_ctx {
	struct prober *p;
	uint64_t now;
};

static void due_h(const struct aor *a, const struct binding *cb, void *arg)
{
	struct due_ctx *c = arg;
	struct binding *b = (struct binding *)cb;
	uint64_t last = b->probed > b->updated ? b->probed : b->updated;

	if (c->p->n >= PROBE_INFLIGHT)
		return;
	if (c->now < last + c->p->r->conf->probe_interval)
		return;
	if (in_flight(c->p, a->user, b->uri))
		return;
	start(c->p, a, b, c->now);
}

static void tick_h(void *arg)
{
	struct prober *p = arg;
	struct due_ctx c = { p, (uint64_t)time(NULL) };

	/* probe_interval 0 turns probing off; a reload may turn it on */
	if (p->r->conf->probe_interval)
		location_foreach(p->r->loc, due_h, &c);
	tmr_start(&p->tick, 1000, tick_h, p);
}

int prober_alloc(struct prober **pp, struct edge *r)
{
	struct prober *p;

	if (!pp || !r)
		return EINVAL;
	p = mem_zalloc(sizeof(*p), prober_destructor);
	if (!p)
		return ENOMEM;
	p->r = r;
	tmr_init(&p->tick);
	tmr_start(&p->tick, 1000, tick_h, p);
	*pp = p;
	return 0;
}
