/* probe: a 1 s tick walks the bindings, O(bindings), and sends OPTIONS to
 * those not heard from for probe_interval, at most PROBE_INFLIGHT at once,
 * so 20,000 devices at 30 s cost about 700 OPTIONS a second and the
 * backlog never grows without bound. Any answer, even 405 or 501, means
 * the device is there; a transport error (a TCP connection that is gone)
 * means it is not; silence for probe_timeout means it is not, unless the
 * box was overloaded meanwhile (overload.h): an answer lost in our own
 * overload says nothing of the device, which is asked again instead. A
 * device marked unreachable, or left unsure, is asked again after 1, 2,
 * 4 ... 30 s (at most probe_interval) instead of probe_interval, so it
 * is reachable within one probe of answering again, and the messages
 * kept for it meanwhile go (the IM relay takes `reachable` on the bus as
 * a device come back). The OPTIONS leaves from the edge's own socket on
 * the device's flow, so it also keeps NAT bindings open. Reachability is
 * kept in memory: after a restart every device is reachable until a
 * probe says otherwise. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "location.h"
#include "edge.h"
#include "fwd.h"
#include "sip/overload.h"
#include "probe.h"

#define PROBE_INFLIGHT 1000
#define PROBE_BACKOFF_MAX 30   /* s */
#define PROBE_UNSURE_MAX 6

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
	uint64_t sent;         /* jiffies */
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

enum verdict { UNREACHABLE, REACHABLE, UNSURE };

static void verdict(struct probe *pr, enum verdict v)
{
	struct edge *r = pr->p->r;
	struct binding *b = location_binding(r->loc, pr->user, pr->uri);
	uint32_t cap = MIN(PROBE_BACKOFF_MAX, r->conf->probe_interval);

	/* unsure PROBE_UNSURE_MAX times on end (at the default interval
	 * over a minute): an overload that long, or UDP drops on the box
	 * that never stop, cannot keep a device that is gone from being
	 * found out */
	if (v == UNSURE && b && ++b->unsure >= PROBE_UNSURE_MAX)
		v = UNREACHABLE;
	if (b) {
		b->probing = false;
		if (v != UNSURE)
			b->unsure = 0;
		b->backoff = v == REACHABLE ? 0 :
			MAX(1, MIN(b->backoff * 2, cap));
	}
	if (v == UNSURE)
		log_debug("'%s': binding '%s' did not answer while the box "
			  "was overloaded: asked again in %u s", pr->user,
			  pr->uri, b ? b->backoff : 0);
	else
		location_set_reachable(r->loc, pr->user, pr->uri,
				       v == REACHABLE);
	mem_deref(pr);
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	struct probe *pr = arg;

	pr->req = NULL;
	verdict(pr, !err && msg ? REACHABLE : UNREACHABLE);
}

static void timeout_h(void *arg)
{
	struct probe *pr = arg;

	verdict(pr, overload_since(pr->p->r->ovl, pr->sent) ? UNSURE :
		UNREACHABLE);
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
	b->probing = true;
	pr->sent = tmr_jiffies();
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
		verdict(pr, UNREACHABLE);
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

	uint32_t every = b->backoff ? b->backoff :
		c->p->r->conf->probe_interval;

	if (c->p->n >= PROBE_INFLIGHT || b->probing || c->now < last + every)
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
