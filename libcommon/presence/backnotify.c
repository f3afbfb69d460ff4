/* backnotify: a back daemon's notifier settings and start-up hold
 * (backnotify.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/daemon.h"
#include "base/log.h"
#include "bus/bus.h"
#include "presence/notifier.h"
#include "presence/backnotify.h"

void backnotify_opts(struct notifier_opts *no, const struct conf *c,
		     const char *contact)
{
	memset(no, 0, sizeof(*no));
	no->contact = contact;
	no->expires_min = c->subscribe_expires_min;
	no->expires_dfl = c->subscribe_expires_default;
	no->expires_max = c->subscribe_expires_max;
	no->max_per_watcher = c->subscribe_max_per_watcher;
	no->max_per_presentity = c->subscribe_max_per_presentity;
	no->min_interval = c->notify_min_interval;
	no->notify_timeout = c->notify_timeout;
	no->node = c->node_id;
	no->group_ms = c->store_group_ms;
}

void backnotify_report_h(int prio, const struct sip_msg *msg,
			 const char *text, void *arg)
{
	(void)arg;
	if (msg)
		log_sip(prio, msg, NULL, "%s", text);
	else
		log_msg(prio, "%s", text);
}

#define HOLD_MAX_SUBS 4

struct backnotify_hold {
	struct tmr tmr;
	struct notifier *n;
	struct bus_sub *subs[HOLD_MAX_SUBS];
	unsigned nsubs;
	uint64_t started;      /* jiffies */
	backnotify_known_h *h;
	void *arg;
};

static void hold_destructor(void *arg)
{
	struct backnotify_hold *hd = arg;

	tmr_cancel(&hd->tmr);
}

static void hold_h(void *arg)
{
	struct backnotify_hold *hd = arg;
	bool synced = true;

	for (unsigned i = 0; i < hd->nsubs; i++)
		synced = synced && bus_sub_synced(hd->subs[i]);
	if (!synced && tmr_jiffies() - hd->started < BACKNOTIFY_HOLD_MS) {
		tmr_start(&hd->tmr, 50, hold_h, hd);
		return;
	}
	log_info("the bus's state is %s: notifying",
		 synced ? "in" : "not all in after 3 s");
	if (hd->h)
		hd->h(synced, hd->arg);
	notifier_hold(hd->n, false);
}

int backnotify_hold(struct backnotify_hold **hp, struct notifier *n,
		    struct bus_sub *const *subs, unsigned nsubs,
		    backnotify_known_h *h, void *arg)
{
	struct backnotify_hold *hd;

	if (!hp || !n || nsubs > HOLD_MAX_SUBS)
		return EINVAL;
	hd = mem_zalloc(sizeof(*hd), hold_destructor);
	if (!hd)
		return ENOMEM;
	hd->n = n;
	memcpy(hd->subs, subs, nsubs * sizeof(*subs));
	hd->nsubs = nsubs;
	hd->started = tmr_jiffies();
	hd->h = h;
	hd->arg = arg;
	notifier_hold(n, true);
	tmr_start(&hd->tmr, 50, hold_h, hd);
	*hp = hd;
	return 0;
}

/* "<sip:HOST:PORT;transport=udp;lr;flow=TOKEN>", an address of ours */
static int hop(struct mbuf *mb, const struct conf_listen *l,
	       const struct pl *tok)
{
	return mbuf_printf(mb, strchr(l->addr, ':') ?
			   "<sip:[%s]:%u;transport=udp;lr;flow=%r>" :
			   "<sip:%s:%u;transport=udp;lr;flow=%r>",
			   l->addr, l->port, tok);
}

/* The route set our edge would have given it: the flow token of the
 * other node's edge (the nodes share the secret it is made with), on
 * our route_edge address (the back side, when set) and our first udp
 * listen address (the phone's side). Not the floating address the
 * phone may have known: we listen on it whether we hold it or not. */
static int adopt_route_h(char *buf, size_t sz, const char *old, void *arg)
{
	const struct conf *c = arg;
	const struct conf_listen *me = NULL;
	struct mbuf *mb;
	struct pl tok;
	int err;

	for (unsigned i = 0; i < c->listen_count && !me; i++)
		if (c->listen[i].tp == CONF_TP_UDP)
			me = &c->listen[i];
	if (!me || !old ||
	    re_regex(old, strlen(old), "flow=[^;>, \t]+", &tok))
		return EINVAL;
	mb = mbuf_alloc(256);
	if (!mb)
		return ENOMEM;
	err = c->route_edge.port ? hop(mb, &c->route_edge, &tok) : 0;
	err = err ? err : mbuf_printf(mb, c->route_edge.port ? ", " : "");
	err = err ? err : hop(mb, me, &tok);
	if (!err && mb->end >= sz)
		err = EOVERFLOW;
	if (!err) {
		memcpy(buf, mb->buf, mb->end);
		buf[mb->end] = '\0';
	}
	mem_deref(mb);
	return err;
}

int backnotify_fence(bool fenced, void *arg)
{
	int err = notifier_fence(arg, fenced);

	if (fenced)
		log_notice("cluster: NOTIFYs wait while this node is fenced");
	if (err == ESTALE) {
		log_err("cluster: another node took over our subscriptions "
			"while this node was fenced: stopping, to start again "
			"with what is still ours");
		daemon_stop(err);
		return err;    /* fenced until it stops: it takes nothing */
	}
	if (err)
		log_warn("cluster: back from fenced, but the store cannot say "
			 "yet which subscriptions are still ours (%m): NOTIFYs "
			 "wait on", err);
	return err;
}

int backnotify_adopt(struct notifier *n, const struct conf *c,
		     const char *from)
{
	unsigned count = 0;
	int err = notifier_adopt(n, from, adopt_route_h, (void *)c, &count);

	if (err)
		log_warn("cluster: cannot take over node %s's subscriptions "
			 "(again in 2 s): %m", from, err);
	else if (count)
		log_notice("cluster: took over %u subscription(s) of node %s",
			   count, from);
	return err;
}
