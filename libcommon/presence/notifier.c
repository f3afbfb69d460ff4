/* notifier: SUBSCRIBE and NOTIFY (RFC 6665) over libre's transactions,
 * with every dialog in the store (LIBRE.md §6.9 says why libre's own
 * sipevent cannot survive a restart).
 *
 * Memory: one block per subscription for all its strings. Indexes: by
 * dialog (Call-ID, our tag) for in-dialog SUBSCRIBE, by package and
 * presentity for fan-out, a count per watcher for the cap. Timing: one
 * 100 ms tick gives up on NOTIFYs unanswered for notify_timeout, moves
 * throttled and retried subscriptions back to the send queue and, every
 * second, ends the expired ones: O(N) a second over all
 * subscriptions, cheaper than libre's sorted timer list with one timer
 * each. Sending: a 0 ms timer takes everything queued in one loop pass,
 * writes each CSeq and version in one transaction, then sends. Group
 * commit: a new subscription's row waits group_ms for others' to be
 * written in one transaction, and its 200 and first NOTIFY go once that
 * commits (save_flush). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <re.h>
#include "store/store.h"
#include "store/store_subs.h"
#include "sip/sipval.h"
#include "presence/notifier.h"
#include "sip/reqtag.h"
#include "sip/sipreply.h"
#include "sip/rawsip.h"

#define TICK_MS 100
#define MAX_FAILS 5            /* NOTIFY failures in a row that end it */
#define MAX_ROUTE 1024
#define MAX_STR 512
#define MIN_RATE_FLOOR_MS 200  /* the fastest min-rate we keep to */
#define GROUP_MAX 64           /* a group this big commits at the next pass */

enum {
	F_CALLID, F_LTAG, F_RTAG, F_EVID, F_WATCHER, F_PRES, F_LURI,
	F_RURI, F_TARGET, F_ROUTE, F_COUNT
};

struct group {
	struct le he;
	char *key;             /* event "/" presentity */
	struct list subs;
	uint32_t n;
};

struct wcount {
	struct le he;
	char *watcher;
	uint32_t n;
};

struct nsub {
	struct le he;          /* n->dialogs */
	struct le le_grp;      /* grp->subs */
	struct le le_q;        /* n->ready, n->waiting or n->inflight */
	struct le le_min;      /* n->minrate, with an RFC 6446 min-rate */
	struct le le_unsaved;  /* n->unsaved: its CSeq not in the store */
	struct notifier *n;
	const struct evpkg *pkg;
	struct group *grp;
	struct wcount *wc;
	struct mbuf *out;      /* the NOTIFY in flight, for retransmission */
	struct sa hop;         /* where NOTIFYs go, once hop_ok */
	uint8_t hop_tp;
	bool hop_ok;
	char *strs;
	const char *f[F_COUNT];
	const char *reason;    /* with terminated: a static string */
	uint64_t expires;      /* s since 1970 */
	uint64_t next_ok;      /* jiffies: not before */
	uint64_t sent;         /* jiffies: the NOTIFY in flight left */
	uint64_t next_retx;    /* jiffies: send it again (UDP) */
	uint32_t retx_iv;      /* ms: Timer E's current interval */
	uint32_t rseq, lseq, version, min_interval;
	uint32_t max_interval; /* ms: a NOTIFY at least this often, 0: no */
	uint8_t state, fails;
	uint8_t mark;          /* the package's own */
	bool pending;          /* send again when the one in flight ends */
	bool queued;
	bool final_sent;       /* the NOTIFY in flight says terminated */
	bool was_active;
	bool authorizing;      /* inside the package's authorize */
	bool has_row;          /* notifier_fence: its row is still ours */
	struct le le_save;     /* n->saving: its row not committed yet */
	struct sip_msg *wait_msg;  /* and the SUBSCRIBE to answer then */
	uint32_t wait_granted;
};

struct notifier {
	struct sip *sip;
	struct sip_lsnr *lsnr_resp;  /* answers to our NOTIFYs */
	struct udp_helper *fast;     /* the same, read before libre */
	struct store *st;
	struct notifier_opts o;
	char *contact;
	char *node;                  /* node_id, or NULL */
	const struct evpkg *pkgs;
	unsigned npkgs;
	notifier_report_h *reporth;
	void *arg;
	struct hash *dialogs;
	struct hash *groups;
	struct hash *watchers;
	struct list ready;
	struct list waiting;
	struct list inflight;  /* NOTIFYs not answered yet, oldest first */
	struct list minrate;   /* subscriptions with a min-rate */
	/* subscriptions whose last NOTIFY's CSeq the store did not take
	 * (out of reach): written at the next flush or tick, so that one
	 * loaded after a restart never goes back */
	struct list unsaved;
	struct list saving;    /* new subscriptions: save_flush */
	struct tmr tmr_save;
	struct tmr tmr_flush;
	struct tmr tmr_tick;
	unsigned ticks;
	uint32_t count;
	uint64_t salt;         /* of our To-tags, see subscribe_new */
	bool held;             /* NOTIFYs wait: see notifier_hold */
	bool fenced;           /* and while fenced: notifier_fence */
	notifier_lease_h *leaseh;    /* may we send now (a node's lease) */
	void *lease_arg;
};

static void queue(struct nsub *s);

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

static void report(struct notifier *n, int prio, const struct sip_msg *msg,
		   const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	if (!n->reporth)
		return;
	va_start(ap, fmt);
	(void)re_vsdprintf(&text, fmt, ap);
	va_end(ap);
	if (text)
		n->reporth(prio, msg, text, n->arg);
	mem_deref(text);
}

/* ---- indexes ---- */

static void group_destructor(void *arg)
{
	struct group *g = arg;

	hash_unlink(&g->he);
	mem_deref(g->key);
}

static void wcount_destructor(void *arg)
{
	struct wcount *w = arg;

	hash_unlink(&w->he);
	mem_deref(w->watcher);
}

static bool group_cmp(struct le *le, void *arg)
{
	const struct group *g = le->data;
	return !strcmp(g->key, arg);
}

static bool wcount_cmp(struct le *le, void *arg)
{
	const struct wcount *w = le->data;
	return !strcmp(w->watcher, arg);
}

static struct group *group_find(struct notifier *n, const char *event,
				const char *pres, bool create)
{
	char key[MAX_STR];
	struct group *g;
	uint32_t h;

	if (re_snprintf(key, sizeof(key), "%s/%s", event, pres) < 0)
		return NULL;
	h = hash_joaat_str(key);
	g = list_ledata(hash_lookup(n->groups, h, group_cmp, key));
	if (g || !create)
		return g;
	g = mem_zalloc(sizeof(*g), group_destructor);
	if (!g || str_dup(&g->key, key))
		return mem_deref(g);
	hash_append(n->groups, h, &g->he, g);
	return g;
}

static struct wcount *wcount_find(struct notifier *n, const char *watcher,
				  bool create)
{
	uint32_t h = hash_joaat_str(watcher);
	struct wcount *w;

	w = list_ledata(hash_lookup(n->watchers, h, wcount_cmp,
				    (void *)watcher));
	if (w || !create)
		return w;
	w = mem_zalloc(sizeof(*w), wcount_destructor);
	if (!w || str_dup(&w->watcher, watcher))
		return mem_deref(w);
	hash_append(n->watchers, h, &w->he, w);
	return w;
}

static void sub_destructor(void *arg)
{
	struct nsub *s = arg;

	hash_unlink(&s->he);
	list_unlink(&s->le_q);
	list_unlink(&s->le_min);
	list_unlink(&s->le_unsaved);
	list_unlink(&s->le_save);
	mem_deref(s->wait_msg);
	if (s->grp) {
		list_unlink(&s->le_grp);
		if (!--s->grp->n)
			mem_deref(s->grp);
	}
	if (s->wc && !--s->wc->n)
		mem_deref(s->wc);
	if (s->n && s->n->count)
		--s->n->count;
	mem_deref(s->out);
	mem_deref(s->strs);
}

/* All strings of a subscription in one block (the values may point into
 * the old block: it goes only after the copy). */
static int sub_strings(struct nsub *s, const struct pl v[F_COUNT])
{
	size_t total = 0;
	char *blk, *p;

	for (int i = 0; i < F_COUNT; i++)
		total += v[i].l + 1;
	blk = mem_alloc(total, NULL);
	if (!blk)
		return ENOMEM;
	p = blk;
	for (int i = 0; i < F_COUNT; i++) {
		if (v[i].l)    /* an absent value has no pointer at all */
			memcpy(p, v[i].p, v[i].l);
		p[v[i].l] = '\0';
		s->f[i] = p;
		p += v[i].l + 1;
	}
	mem_deref(s->strs);
	s->strs = blk;
	return 0;
}

static uint32_t dialog_hash(const struct pl *callid, const struct pl *ltag)
{
	return hash_joaat_pl(callid) ^ hash_joaat_pl(ltag);
}

struct dlg_find {
	struct pl callid, ltag;
};

static bool dialog_cmp(struct le *le, void *arg)
{
	const struct nsub *s = le->data;
	const struct dlg_find *d = arg;

	return !pl_strcmp(&d->callid, s->f[F_CALLID]) &&
		!pl_strcmp(&d->ltag, s->f[F_LTAG]);
}

/* Index a subscription whose strings are set; counts toward the caps. */
static int sub_index(struct notifier *n, struct nsub *s)
{
	struct pl cid, tag;
	uint32_t h;

	s->grp = group_find(n, s->pkg->event, s->f[F_PRES], true);
	s->wc = wcount_find(n, s->f[F_WATCHER], true);
	if (!s->grp || !s->wc)
		return ENOMEM;
	list_append(&s->grp->subs, &s->le_grp, s);
	++s->grp->n;
	++s->wc->n;
	pl_set_str(&cid, s->f[F_CALLID]);
	pl_set_str(&tag, s->f[F_LTAG]);
	h = dialog_hash(&cid, &tag);
	hash_append(n->dialogs, h, &s->he, s);
	++n->count;
	return 0;
}

static void sub_rec(struct subs_rec *r, const struct nsub *s)
{
	r->callid = s->f[F_CALLID];
	r->ltag = s->f[F_LTAG];
	r->rtag = s->f[F_RTAG];
	r->event = s->pkg->event;
	r->event_id = s->f[F_EVID];
	r->watcher = s->f[F_WATCHER];
	r->presentity = s->f[F_PRES];
	r->local_uri = s->f[F_LURI];
	r->remote_uri = s->f[F_RURI];
	r->target = s->f[F_TARGET];
	r->route = s->f[F_ROUTE];
	r->ctype = s->pkg->ctype;
	r->rseq = s->rseq;
	r->lseq = s->lseq;
	r->version = s->version;
	r->expires = s->expires;
	r->state = s->state;
	r->min_interval = s->min_interval;
	r->node = s->n->node;
}

static int sub_save(struct nsub *s)
{
	struct subs_rec r;

	sub_rec(&r, s);
	return subs_put(s->n->st, &r);
}

/* The subscription is over: out of the store, and the package told,
 * unless it heard already (nsub_set_state told it of the termination). */
static void sub_end(struct nsub *s)
{
	struct notifier *n = s->n;
	bool told = s->state == NSUB_TERMINATED;

	(void)subs_del(n->st, n->node, s->f[F_CALLID], s->f[F_LTAG]);
	s->state = NSUB_TERMINATED;
	if (!told && s->pkg->changed)
		s->pkg->changed(s, n->arg);
	mem_deref(s);
}

/* ---- sending NOTIFY ---- */

static int print_substate(struct re_printf *pf, const struct nsub *s)
{
	uint64_t now = now_s();
	uint64_t left = s->expires > now ? s->expires - now : 0;

	switch (s->state) {
	case NSUB_ACTIVE:
		return re_hprintf(pf, "active;expires=%llu",
				  (unsigned long long)left);
	case NSUB_PENDING:
		return re_hprintf(pf, "pending;expires=%llu",
				  (unsigned long long)left);
	default:
		if (s->reason && !strcmp(s->reason, "probation") &&
		    s->n->o.retry_after)
			return re_hprintf(pf, "terminated;reason=probation;"
					  "retry-after=%u",
					  s->n->o.retry_after);
		return re_hprintf(pf, "terminated;reason=%s",
				  s->reason ? s->reason : "noresource");
	}
}

static int print_event(struct re_printf *pf, const struct nsub *s)
{
	if (s->f[F_EVID][0])
		return re_hprintf(pf, "%s;id=%s", s->pkg->event,
				  s->f[F_EVID]);
	return re_hprintf(pf, "%s", s->pkg->event);
}

/* A terminated NOTIFY carries the last state only when it ends a
 * subscription the watcher was entitled to (expiry, unsubscribe, fetch). */
static bool with_body(const struct nsub *s)
{
	if (s->state == NSUB_ACTIVE)
		return true;
	return s->state == NSUB_TERMINATED && s->was_active &&
		s->reason && !strcmp(s->reason, "timeout");
}

static int next_hop(struct uri *u, const struct nsub *s)
{
	struct pl pl;

	if (s->f[F_ROUTE][0]) {
		if (re_regex(s->f[F_ROUTE], strlen(s->f[F_ROUTE]),
			     "<[^>]+>", &pl))
			return EBADMSG;
	}
	else {
		pl_set_str(&pl, s->f[F_TARGET]);
	}
	return uri_decode(u, &pl) ? EBADMSG : 0;
}

/* Where the NOTIFY goes: the first Route (the edge), else the target;
 * worked out once per subscription and target. */
static int hop_addr(struct sa *dst, enum sip_transp *tp, struct nsub *s)
{
	struct uri hop;
	struct pl v;

	if (!s->hop_ok) {
		if (next_hop(&hop, s) || sa_set(&s->hop, &hop.host, hop.port ?
						hop.port : 5060))
			return EBADMSG;
		s->hop_tp = SIP_TRANSP_UDP;
		if (!msg_param_decode(&hop.params, "transport", &v))
			s->hop_tp = !pl_strcasecmp(&v, "tcp") ? SIP_TRANSP_TCP :
				!pl_strcasecmp(&v, "tls") ? SIP_TRANSP_TLS :
				SIP_TRANSP_UDP;
		s->hop_ok = true;
	}
	*dst = s->hop;
	*tp = (enum sip_transp)s->hop_tp;
	return 0;
}

static int send_out(struct nsub *s)
{
	enum sip_transp tp;
	struct sa dst;

	if (hop_addr(&dst, &tp, s))
		return EBADMSG;
	s->out->pos = 0;
	return sip_send(s->n->sip, NULL, tp, &dst, s->out);
}

/* Sent without a libre transaction: libre's timer list is sorted by
 * insertion, and a client transaction holds three timers (E, F, K) of
 * mixed lengths, so a fan-out of thousands made each one dearer. Ours:
 * the answer is matched by dialog and CSeq (resp_listen_h), Timer E and
 * notify_timeout run on the tick over the NOTIFYs in flight. */
static int send_notify(struct nsub *s)
{
	struct notifier *n = s->n;
	struct mbuf *mb = NULL, *body = NULL;
	enum sip_transp tp;
	struct sa dst, laddr;
	int err;

	err = hop_addr(&dst, &tp, s);
	err = err ? err : sip_transp_laddr(n->sip, &laddr, tp, &dst);
	if (err)
		return err;
	if (with_body(s)) {
		body = mbuf_alloc(1024);
		if (!body)
			return ENOMEM;
		err = s->pkg->body(body, s, n->arg);
		if (err)
			goto out;
	}
	mb = mbuf_alloc(1024 + (body ? body->end : 0));
	if (!mb) {
		err = ENOMEM;
		goto out;
	}
	err = mbuf_printf(mb, "NOTIFY %s SIP/2.0\r\n"
			  "Via: SIP/2.0/%s %J;branch=z9hG4bK%s.%x;rport\r\n"
			  "Max-Forwards: 70\r\n", s->f[F_TARGET],
			  sip_transp_name(tp), &laddr, s->f[F_LTAG], s->lseq);
	if (!err && s->f[F_ROUTE][0])
		err = mbuf_printf(mb, "Route: %s\r\n", s->f[F_ROUTE]);
	err = err ? err : mbuf_printf(mb,
		"To: <%s>;tag=%s\r\n"
		"From: <%s>;tag=%s\r\n"
		"Call-ID: %s\r\n"
		"CSeq: %u NOTIFY\r\n"
		"Contact: <%s>\r\n"
		"Event: %H\r\n"
		"Subscription-State: %H\r\n",
		s->f[F_RURI], s->f[F_RTAG], s->f[F_LURI], s->f[F_LTAG],
		s->f[F_CALLID], s->lseq, n->contact, print_event, s,
		print_substate, s);
	if (!err && body)
		err = mbuf_printf(mb, "Content-Type: %s\r\n"
				  "Content-Length: %zu\r\n\r\n%b",
				  s->pkg->ctype, body->end, body->buf,
				  body->end);
	else if (!err)
		err = mbuf_printf(mb, "Content-Length: 0\r\n\r\n");
	if (err)
		goto out;
	s->final_sent = s->state == NSUB_TERMINATED;
	mem_deref(s->out);
	s->out = mb;
	mb = NULL;
	err = send_out(s);
	if (err) {
		s->out = mem_deref(s->out);
		goto out;
	}
	s->sent = tmr_jiffies();
	s->retx_iv = tp == SIP_TRANSP_UDP ? 500 : 0;   /* T1 */
	s->next_retx = s->sent + s->retx_iv;
	list_append(&n->inflight, &s->le_q, s);
 out:
	mem_deref(body);
	mem_deref(mb);
	return err;
}

static void retry_later(struct nsub *s, const char *why)
{
	if (++s->fails >= MAX_FAILS) {
		report(s->n, LOG_NOTICE, NULL, "subscription of '%s' to "
		       "%s of '%s' ended after %u failed NOTIFYs (%s)",
		       s->f[F_WATCHER], s->pkg->event, s->f[F_PRES],
		       s->fails, why);
		sub_end(s);
		return;
	}
	/* 2, 4, 8, 16 s: a watcher that lost one NOTIFY is not lost */
	s->next_ok = tmr_jiffies() + (1000ULL << s->fails);
	s->pending = true;
	queue(s);
}

/* The final answer to the NOTIFY in flight: `code`, 0 when none came */
static void resp_code(struct nsub *s, uint16_t code)
{
	s->out = mem_deref(s->out);
	list_unlink(&s->le_q);
	if (s->final_sent) {
		sub_end(s);
		return;
	}
	if (code >= 200 && code < 300) {
		s->fails = 0;
		if (s->pending) {
			s->pending = false;
			queue(s);
		}
		return;
	}
	switch (code) {
	case 0: case 408: case 480: case 500: case 503: case 504:
		retry_later(s, code ? "temporary failure" : "no answer");
		return;
	default:
		report(s->n, LOG_INFO, NULL, "subscription of '%s' to %s of "
		       "'%s' ended: NOTIFY answered %u", s->f[F_WATCHER],
		       s->pkg->event, s->f[F_PRES], code);
		sub_end(s);
		return;
	}
}

static int save_seq(struct nsub *s)
{
	return subs_seq(s->n->st, s->n->node, s->f[F_CALLID], s->f[F_LTAG],
			s->lseq, s->version);
}

/* The CSeqs the store did not take before, into the transaction that
 * is open: whether every one went. */
static bool unsaved_write(struct notifier *n)
{
	bool ok = true;

	for (struct le *le = n->unsaved.head; le; le = le->next)
		ok = !save_seq(le->data) && ok;
	return ok;
}

/* The transaction ended: `ok`, it committed and every CSeq is saved;
 * otherwise the batch's join the unsaved. */
static void unsaved_done(struct notifier *n, bool ok, struct list *batch)
{
	struct le *le;

	if (ok) {
		while ((le = n->unsaved.head))
			list_unlink(le);
		return;
	}
	for (le = batch ? batch->head : NULL; le; le = le->next) {
		struct nsub *s = le->data;

		if (!s->le_unsaved.list)
			list_append(&n->unsaved, &s->le_unsaved, s);
	}
}

static void flush_h(void *arg)
{
	struct notifier *n = arg;
	struct list batch = LIST_INIT;
	struct le *le;
	bool tx, saved;

	if (list_isempty(&n->ready) || n->held || n->fenced)
		return;
	if (n->leaseh && !n->leaseh(n->lease_arg))
		return;        /* fenced now: notifier_fence was told */
	/* one transaction for every CSeq of this pass, before they leave */
	tx = !store_begin(n->st);
	saved = unsaved_write(n);
	for (le = n->ready.head; le; ) {
		struct nsub *s = le->data;

		le = le->next;
		list_unlink(&s->le_q);
		list_append(&batch, &s->le_q, s);
		++s->lseq;
		++s->version;
		saved = !save_seq(s) && saved;
	}
	saved = tx && saved && !store_commit(n->st);
	if (tx && !saved)
		store_rollback(n->st);
	/* the NOTIFYs go all the same: a watcher is not kept waiting for
	 * the store, and their CSeqs are written when it is back */
	unsaved_done(n, saved, &batch);

	while ((le = batch.head)) {
		struct nsub *s = le->data;
		int err;

		list_unlink(&s->le_q);
		s->queued = false;
		s->pending = false;
		if (s->state == NSUB_ACTIVE)
			s->was_active = true;
		err = send_notify(s);
		if (s->min_interval)
			s->next_ok = tmr_jiffies() + s->min_interval;
		if (err) {
			if (s->state == NSUB_TERMINATED)
				sub_end(s);
			else
				retry_later(s, "cannot send");
		}
	}
}

static void queue(struct nsub *s)
{
	struct notifier *n = s->n;

	if (s->wait_msg)
		return;        /* its first NOTIFY goes once it is stored */
	if (s->out) {
		s->pending = true;     /* coalesces: the latest state goes */
		return;
	}
	if (s->queued)
		return;
	s->queued = true;
	if (tmr_jiffies() < s->next_ok) {
		list_append(&n->waiting, &s->le_q, s);
		return;
	}
	list_append(&n->ready, &s->le_q, s);
	if (!tmr_isrunning(&n->tmr_flush))
		tmr_start(&n->tmr_flush, 0, flush_h, n);
}

void nsub_notify(struct nsub *s)
{
	if (s)
		queue(s);
}

static bool expire_h(struct le *le, void *arg)
{
	struct nsub *s = le->data;
	const uint64_t *now = arg;

	if (s->state != NSUB_TERMINATED && s->expires <= *now)
		nsub_set_state(s, NSUB_TERMINATED, "timeout");
	return false;
}

static void tick_h(void *arg)
{
	struct notifier *n = arg;
	uint64_t now = tmr_jiffies();
	struct le *le;

	tmr_start(&n->tmr_tick, TICK_MS, tick_h, n);
	if (!list_isempty(&n->unsaved) && !store_begin(n->st)) {
		bool ok = unsaved_write(n) && !store_commit(n->st);

		if (!ok)
			store_rollback(n->st);
		unsaved_done(n, ok, NULL);
	}
	/* NOTIFYs in flight: resent on Timer E (UDP: 0.5, 1, 2, 4, 4 s),
	 * given up after notify_timeout */
	for (le = n->inflight.head; le; ) {
		struct nsub *s = le->data;

		le = le->next;
		if (s->sent + n->o.notify_timeout <= now) {
			if (s->final_sent) {
				sub_end(s);
				continue;
			}
			resp_code(s, 0);
			continue;
		}
		if (s->retx_iv && s->next_retx <= now) {
			s->retx_iv = s->retx_iv * 2 > 4000 ? 4000 :
				s->retx_iv * 2;   /* T2 */
			s->next_retx = now + s->retx_iv;
			(void)send_out(s);
		}
	}
	for (le = n->waiting.head; le; ) {
		struct nsub *s = le->data;

		le = le->next;
		if (s->next_ok > now)
			continue;
		list_unlink(&s->le_q);
		s->queued = false;
		queue(s);
	}
	/* RFC 6446 min-rate: the state again when nothing changed */
	for (le = n->minrate.head; le; le = le->next) {
		struct nsub *s = le->data;

		if (s->state == NSUB_ACTIVE && !s->out && !s->queued &&
		    s->sent + s->max_interval <= now)
			queue(s);
	}
	if (++n->ticks % (1000 / TICK_MS) == 0) {
		uint64_t t = now_s();
		hash_apply(n->dialogs, expire_h, &t);
	}
}

/* Answers to our NOTIFYs: the From tag is our tag, so the dialog finds
 * the subscription; an answer to an older CSeq is absorbed. */
static bool resp_listen_h(const struct sip_msg *msg, void *arg)
{
	struct notifier *n = arg;
	struct dlg_find d = { msg->callid, msg->from.tag };
	struct nsub *s;

	if (pl_strcmp(&msg->cseq.met, "NOTIFY"))
		return false;
	s = list_ledata(hash_lookup(n->dialogs,
				    dialog_hash(&msg->callid, &msg->from.tag),
				    dialog_cmp, &d));
	if (!s || !s->out || msg->cseq.num != s->lseq || msg->scode < 200)
		return true;
	resp_code(s, msg->scode);
	return true;
}

/* ---- answers before libre decodes them ----
 *
 * A watcher's answer to a NOTIFY, read from the datagram: the status
 * code, the top Via's branch (ours: the local tag and the CSeq,
 * send_notify) and the Call-ID are all it takes; libre's full decode of
 * a thousand answers to one change (every header, and a random number
 * each) was most of the daemon's time in a fan-out. Anything not plainly
 * an answer to one of our NOTIFYs goes on to libre (resp_listen_h). */

static bool fast_h(struct sa *src, struct mbuf *mb, void *arg)
{
	struct notifier *n = arg;
	const char *p = (const char *)mbuf_buf(mb);
	const char *end = p + mbuf_get_left(mb);
	struct pl via = PL_INIT, callid = PL_INIT, cseq = PL_INIT, br, v;
	struct rawsip_line ln;
	struct dlg_find d;
	const char *dot;
	struct nsub *s;
	uint16_t code;
	uint32_t lseq;

	(void)src;
	code = rawsip_status(p, (size_t)(end - p));
	if (!code || !rawsip_next_line(&ln, p, end))
		return false;
	for (p = ln.next; rawsip_next_line(&ln, p, end); p = ln.next) {
		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;           /* folded: libre's */
		if (!via.p && rawsip_hdr(&ln, "Via", 'v', &v))
			via = v;
		else if (rawsip_hdr(&ln, "Call-ID", 'i', &v))
			callid = v;
		else if (rawsip_hdr(&ln, "CSeq", 0, &v))
			cseq = v;
	}
	if (!via.p || !callid.l || !cseq.l || cseq.l < 8 ||
	    strncasecmp(cseq.p + cseq.l - 6, "NOTIFY", 6))
		return false;
	{
		const char *c = memchr(via.p, ',', via.l);

		if (c)
			via.l = (size_t)(c - via.p);
	}
	if (msg_param_decode(&via, "branch", &br) || br.l < 8 ||
	    strncmp(br.p, "z9hG4bK", 7))
		return false;
	pl_advance(&br, 7);
	dot = memchr(br.p, '.', br.l);
	if (!dot)
		return false;
	d.callid = callid;
	d.ltag.p = br.p;
	d.ltag.l = (size_t)(dot - br.p);
	v.p = dot + 1;
	v.l = (size_t)(br.p + br.l - v.p);
	lseq = pl_x32(&v);
	s = list_ledata(hash_lookup(n->dialogs,
				    dialog_hash(&d.callid, &d.ltag),
				    dialog_cmp, &d));
	if (!s)
		return false;           /* not one of ours: libre's */
	if (s->out && lseq == s->lseq && code >= 200)
		resp_code(s, code);
	return true;
}

/* On the socket a request came in on (UDP, ours), once */
static void fast_attach(struct notifier *n, const struct sip_msg *msg)
{
	if (n->fast || msg->tp != SIP_TRANSP_UDP || !msg->sock)
		return;
	(void)udp_register_helper(&n->fast, msg->sock, 0, NULL, fast_h, n);
}

/* ---- state ---- */

void nsub_set_state(struct nsub *s, enum nsub_state st, const char *reason)
{
	if (!s || s->state == NSUB_TERMINATED)
		return;
	if (s->authorizing || s->wait_msg) {
		/* not indexed or not stored yet: save_flush writes it as it
		 * is then, and granted() tells the package once */
		s->state = (uint8_t)st;
		s->reason = reason;
		return;
	}
	if (s->state != st) {
		s->state = (uint8_t)st;
		s->reason = reason;
		if (st != NSUB_TERMINATED)
			(void)sub_save(s);
		if (s->pkg->changed)
			s->pkg->changed(s, s->n->arg);
	}
	queue(s);
}

enum nsub_state nsub_state(const struct nsub *s)
{
	return (enum nsub_state)s->state;
}

const char *nsub_watcher(const struct nsub *s)
{
	return s->f[F_WATCHER];
}

const char *nsub_presentity(const struct nsub *s)
{
	return s->f[F_PRES];
}

const char *nsub_event(const struct nsub *s)
{
	return s->pkg->event;
}

const char *nsub_id(const struct nsub *s)
{
	return s->f[F_LTAG];
}

const char *nsub_reason(const struct nsub *s)
{
	return s->reason;
}

uint32_t nsub_version(const struct nsub *s)
{
	return s->version;
}

uint64_t nsub_expires(const struct nsub *s)
{
	return s->expires;
}

uint8_t nsub_mark(const struct nsub *s)
{
	return s->mark;
}

void nsub_set_mark(struct nsub *s, uint8_t mark)
{
	s->mark = mark;
}

/* ---- SUBSCRIBE ---- */

static void answer(struct notifier *n, const struct sip_msg *msg,
		   uint16_t code, const char *reason)
{
	(void)sipreply(n->sip, msg, 0, false, code, reason, NULL);
}

/* The store failed: 503 with Retry-After when it is out of reach, 500
 * otherwise; the subscription is not granted or refreshed either way. */
static void store_failed(struct notifier *n, const struct sip_msg *msg,
			 int err)
{
	if (store_unavailable(err))
		(void)sipreply(n->sip, msg, 0, false, 503,
			       "Service Unavailable", "Retry-After: 5\r\n"
			       "Content-Length: 0\r\n\r\n");
	else
		answer(n, msg, 500, "Server Internal Error");
}

static const struct evpkg *pkg_find(const struct notifier *n,
				    const struct pl *event)
{
	for (unsigned i = 0; i < n->npkgs; i++)
		if (!pl_strcasecmp(event, n->pkgs[i].event))
			return &n->pkgs[i];
	return NULL;
}

static const struct evpkg *pkg_named(const struct notifier *n,
				     const char *event)
{
	struct pl pl;

	pl_set_str(&pl, event);
	return pkg_find(n, &pl);
}

struct accept_ctx {
	const char *ctype;
	unsigned seen;
	bool ok;
};

static bool accept_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		     void *arg)
{
	struct accept_ctx *a = arg;
	struct pl type, sub, want_t, want_s;
	struct pl ct;

	(void)msg;
	++a->seen;
	if (re_regex(hdr->val.p, hdr->val.l, "[^/ \t;]+/[^ \t;]+", &type,
		     &sub))
		return false;
	pl_set_str(&ct, a->ctype);
	if (re_regex(ct.p, ct.l, "[^/]+/[^]+", &want_t, &want_s))
		return false;
	if ((!pl_strcmp(&type, "*") && !pl_strcmp(&sub, "*")) ||
	    (!pl_casecmp(&type, &want_t) &&
	     (!pl_strcmp(&sub, "*") || !pl_casecmp(&sub, &want_s)))) {
		a->ok = true;
		return true;
	}
	return false;
}

/* 0 and the expiry to grant, or the status already answered */
static int want_expires(struct notifier *n, const struct sip_msg *msg,
			uint32_t *exp)
{
	int err = sipval_expiry(exp, &msg->expires, n->o.expires_dfl,
				n->o.expires_min, n->o.expires_max);

	if (err == EINVAL)
		answer(n, msg, 400, "Bad Request: Bad Expires");
	else if (err)
		(void)sipreply(n->sip, msg, 0, false, 423,
			       "Interval Too Brief", "Min-Expires: %u\r\n"
			       "Content-Length: 0\r\n\r\n",
			       n->o.expires_min);
	return err;
}

/* An RFC 6446 rate parameter (notifications a second, "0.5") as the
 * interval between NOTIFYs in ms, at most an hour; 0 when absent. */
static uint32_t rate_param(const struct sipevent_event *ev, const char *name)
{
	struct pl v, ip, fp;
	uint64_t milli, iv;

	if (msg_param_decode(&ev->params, name, &v) ||
	    re_regex(v.p, v.l, "[0-9]+[.]*[0-9]*", &ip, NULL, &fp))
		return 0;
	/* milli-notifications a second */
	milli = pl_u64(&ip) * 1000;
	for (size_t i = 0, m = 100; i < fp.l && m; i++, m /= 10)
		milli += (uint64_t)(fp.p[i] - '0') * m;
	if (!milli)
		return 0;
	iv = 1000000 / milli;
	return iv > 3600000 ? 3600000 : iv ? (uint32_t)iv : 1;
}

/* max-rate: the least interval between NOTIFYs, in ms; the configured
 * minimum applies to all. */
static uint32_t rate_interval(const struct notifier *n,
			      const struct sipevent_event *ev)
{
	uint32_t ms = rate_param(ev, "max-rate");

	return ms > n->o.min_interval ? ms : n->o.min_interval;
}

/* min-rate: a NOTIFY at least this often, even without a change, but
 * never more often than max-rate allows; at least MIN_RATE_FLOOR_MS. */
static uint32_t min_rate_interval(const struct sipevent_event *ev,
				  uint32_t min_interval)
{
	uint32_t ms = rate_param(ev, "min-rate");

	if (!ms)
		return 0;
	if (ms < MIN_RATE_FLOOR_MS)
		ms = MIN_RATE_FLOOR_MS;
	return ms < min_interval ? min_interval : ms;
}

struct rr_join {
	struct mbuf *mb;
	int err;
};

static bool rr_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		 void *arg)
{
	struct rr_join *j = arg;

	(void)msg;
	j->err = mbuf_printf(j->mb, "%s%r", j->mb->end ? ", " : "",
			     &hdr->val);
	return j->err != 0 || j->mb->end > MAX_ROUTE;
}

/* Answered without a server transaction: a retransmission of the
 * request finds the subscription it made (its To-tag is a function of
 * the request) and is answered again from it. */
/* Expires: what was just granted (`granted`), or for a retransmission
 * (UINT32_MAX) what is left: computed from the clock after a slow store
 * write, a grant of 600 would read 599. */
static void reply_ok(struct notifier *n, const struct sip_msg *msg,
		     const struct nsub *s, uint32_t granted)
{
	uint64_t now = now_s();
	uint64_t left = granted != UINT32_MAX ? granted :
		s->expires > now ? s->expires - now : 0;
	struct pl tag;

	pl_set_str(&tag, s->f[F_LTAG]);
	(void)sipreply(n->sip, msg, pl_x64(&tag), true,
		       s->state == NSUB_PENDING ? 202 : 200,
		       s->state == NSUB_PENDING ? "Accepted" : "OK",
		       "Contact: <%s>\r\nExpires: %llu\r\n"
		       "Content-Length: 0\r\n\r\n", n->contact,
		       (unsigned long long)left);
}

/* Our To-tag for a new subscription: the same for every retransmission
 * of the SUBSCRIBE that makes it, and salted, so that nobody else's
 * request (another watcher's) can name it. */
static uint64_t new_ltag(const struct notifier *n, const struct sip_msg *msg,
			 const struct evpkg *pkg,
			 const struct sipevent_event *ev, const char *watcher)
{
	struct reqtag t;

	reqtag_init(&t, n->salt);
	reqtag_str(&t, watcher);
	reqtag_pl(&t, &msg->callid);
	reqtag_pl(&t, &msg->from.tag);
	reqtag_str(&t, pkg->event);
	reqtag_pl(&t, &ev->id);
	return t.h ? t.h : 1;
}

static void subscribe_refresh(struct notifier *n, const struct sip_msg *msg,
			      struct nsub *s);

/* A new subscription stored: answered, then its first NOTIFY. */
static void granted(struct notifier *n, const struct sip_msg *msg,
		    struct nsub *s, uint32_t exp)
{
	reply_ok(n, msg, s, exp);
	if (s->max_interval && exp)
		list_append(&n->minrate, &s->le_min, s);
	if (s->pkg->changed && exp)
		s->pkg->changed(s, n->arg);
	queue(s);
}

/* The rows of `batch`'s subscriptions, or of `one`, in one transaction. */
static int save_rows(struct notifier *n, const struct list *batch,
		     struct nsub *one)
{
	struct le *le = batch ? batch->head : NULL;
	int err = store_begin(n->st);

	while (!err && (one || le)) {
		struct subs_rec r;

		sub_rec(&r, one ? one : le->data);
		err = subs_add(n->st, &r);
		if (one)
			break;
		le = le->next;
	}
	err = err ? err : store_commit(n->st);
	if (err)
		store_rollback(n->st);
	return err;
}

/* The new subscriptions' rows in one transaction; then each answered
 * (and notified) in the order they came, or, when it failed, refused
 * 503 (500) and forgotten: their watchers subscribe again. A failure
 * other than the store out of reach is some row's (which, the store
 * does not say): each is tried alone, so that it fails only its own. */
static void save_flush(struct notifier *n)
{
	struct list batch = LIST_INIT;
	struct le *le;
	bool alone;
	int err;

	if (list_isempty(&n->saving))
		return;
	tmr_cancel(&n->tmr_save);
	while ((le = n->saving.head)) {
		list_unlink(le);
		list_append(&batch, le, le->data);
	}
	err = save_rows(n, &batch, NULL);
	alone = err && !store_unavailable(err) && list_count(&batch) > 1;
	/* the batch's list may lose others as these are answered (a
	 * package's handler can end a subscription): one at a time */
	while ((le = batch.head)) {
		struct nsub *s = le->data;
		struct sip_msg *msg = s->wait_msg;
		int e = alone ? save_rows(n, NULL, s) : err;

		list_unlink(le);
		s->wait_msg = NULL;
		if (e) {
			report(n, LOG_ERR, msg, "SUBSCRIBE: cannot store: %m",
			       e);
			store_failed(n, msg, e);
			/* a winfo document may have listed it meanwhile */
			s->state = NSUB_TERMINATED;
			s->reason = "deactivated";
			if (s->pkg->changed)
				s->pkg->changed(s, n->arg);
			mem_deref(s);
		}
		else {
			granted(n, msg, s, s->wait_granted);
		}
		mem_deref(msg);
	}
}

static void save_h(void *arg)
{
	save_flush(arg);
}

static void subscribe_new(struct notifier *n, const struct sip_msg *msg,
			  const struct evpkg *pkg,
			  const struct sipevent_event *ev,
			  const char *watcher)
{
	const struct sip_hdr *ch = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct accept_ctx acc = { pkg->ctype, 0, false };
	struct rr_join rr = { NULL, 0 };
	struct pl v[F_COUNT];
	struct sip_addr contact;
	struct group *g;
	struct wcount *w;
	struct nsub *s = NULL;
	char ltag[17];
	uint32_t exp;
	uint16_t code;
	int err;

	if (!watcher || !watcher[0]) {
		report(n, LOG_NOTICE, msg, "SUBSCRIBE without an asserted "
		       "identity: 403");
		answer(n, msg, 403, "Forbidden: No Asserted Identity");
		return;
	}
	if (!ch || sip_addr_decode(&contact, &ch->val)) {
		report(n, LOG_NOTICE, msg, "SUBSCRIBE without a Contact: 400");
		answer(n, msg, 400, "Bad Request: Missing Contact");
		return;
	}
	sip_msg_hdr_apply(msg, true, SIP_HDR_ACCEPT, accept_h, &acc);
	if (acc.seen && !acc.ok) {
		report(n, LOG_NOTICE, msg, "SUBSCRIBE to %s accepting no %s: "
		       "406", pkg->event, pkg->ctype);
		(void)sipreply(n->sip, msg, 0, false, 406, "Not Acceptable",
			       "Accept: %s\r\nContent-Length: 0\r\n\r\n",
			       pkg->ctype);
		return;
	}
	if (want_expires(n, msg, &exp))
		return;
	if (!msg->uri.user.l) {
		answer(n, msg, 404, "Not Found");
		return;
	}

	rr.mb = mbuf_alloc(256);
	if (!rr.mb)
		goto fail;
	sip_msg_hdr_apply(msg, true, SIP_HDR_RECORD_ROUTE, rr_h, &rr);
	if (rr.err || rr.mb->end > MAX_ROUTE || contact.auri.l > MAX_STR ||
	    msg->callid.l > MAX_STR || msg->from.tag.l > MAX_STR ||
	    msg->to.auri.l > MAX_STR || msg->from.auri.l > MAX_STR ||
	    ev->id.l > 64) {
		answer(n, msg, 400, "Bad Request: Header Too Long");
		goto out;
	}

	re_snprintf(ltag, sizeof(ltag), "%016llx",
		    (unsigned long long)new_ltag(n, msg, pkg, ev, watcher));
	{
		/* the dialog this request makes exists: it is a
		 * retransmission (answered again), or the same dialog made
		 * again, which refreshes it */
		struct dlg_find d = { msg->callid, { ltag, 16 } };
		struct nsub *old = list_ledata(hash_lookup(n->dialogs,
			dialog_hash(&d.callid, &d.ltag), dialog_cmp, &d));

		if (old) {
			subscribe_refresh(n, msg, old);
			goto out;
		}
	}

	s = mem_zalloc(sizeof(*s), sub_destructor);
	if (!s)
		goto fail;
	s->n = n;
	s->pkg = pkg;
	v[F_CALLID] = msg->callid;
	pl_set_str(&v[F_LTAG], ltag);
	v[F_RTAG] = msg->from.tag;
	v[F_EVID] = ev->id;
	pl_set_str(&v[F_WATCHER], watcher);
	v[F_PRES] = msg->uri.user;
	v[F_LURI] = msg->to.auri;
	v[F_RURI] = msg->from.auri;
	v[F_TARGET] = contact.auri;
	v[F_ROUTE].p = (const char *)rr.mb->buf;
	v[F_ROUTE].l = rr.mb->end;
	if (sub_strings(s, v))
		goto fail;
	s->rseq = msg->cseq.num;
	s->expires = now_s() + exp;
	s->min_interval = rate_interval(n, ev);
	s->max_interval = min_rate_interval(ev, s->min_interval);
	s->state = NSUB_ACTIVE;

	g = group_find(n, pkg->event, s->f[F_PRES], false);
	w = wcount_find(n, watcher, false);
	if (exp && ((g && g->n >= n->o.max_per_presentity) ||
		    (w && w->n >= n->o.max_per_watcher))) {
		report(n, LOG_NOTICE, msg, "SUBSCRIBE of '%s' to %s of '%s': "
		       "too many subscriptions: 403", watcher, pkg->event,
		       s->f[F_PRES]);
		answer(n, msg, 403, "Forbidden: Too Many Subscriptions");
		goto out;
	}

	s->authorizing = true;
	code = pkg->authorize(s, n->arg);
	s->authorizing = false;
	if (code) {
		report(n, LOG_NOTICE, msg, "SUBSCRIBE of '%s' to %s of '%s': "
		       "%u", watcher, pkg->event, s->f[F_PRES], code);
		if (code == 503)
			store_failed(n, msg, ENOTCONN);
		else
			answer(n, msg, code, code == 404 ? "Not Found" :
			       code == 403 ? "Forbidden" : "Rejected");
		goto out;
	}
	if (!exp) {
		/* a fetch (RFC 6665 §4.4.3): the state once, then over */
		if (s->state == NSUB_ACTIVE)
			s->was_active = true;
		s->state = NSUB_TERMINATED;
		s->reason = "timeout";
	}
	err = sub_index(n, s);
	if (!err && exp && n->o.group_ms) {
		/* stored with the others of the next group_ms, answered
		 * when that commits; the indexes hold it meanwhile */
		s->wait_msg = mem_ref((void *)msg);
		s->wait_granted = exp;
		list_append(&n->saving, &s->le_save, s);
		if (list_count(&n->saving) >= GROUP_MAX)
			tmr_start(&n->tmr_save, 0, save_h, n);
		else if (!tmr_isrunning(&n->tmr_save))
			tmr_start(&n->tmr_save, n->o.group_ms, save_h, n);
		s = NULL;
		goto out;
	}
	if (!err && exp)
		err = sub_save(s);
	if (err) {
		report(n, LOG_ERR, msg, "SUBSCRIBE: cannot store: %m", err);
		store_failed(n, msg, err);
		goto out;
	}
	granted(n, msg, s, exp);
	s = NULL;              /* the indexes hold it */
	goto out;

 fail:
	answer(n, msg, 500, "Server Internal Error");
 out:
	mem_deref(s);
	mem_deref(rr.mb);
}

/* A SUBSCRIBE inside the subscription's dialog: a refresh, an
 * unsubscribe (Expires: 0), or a retransmission of the last one (the
 * same CSeq: answered again, nothing else). */
static void subscribe_refresh(struct notifier *n, const struct sip_msg *msg,
			      struct nsub *s)
{
	const struct sip_hdr *ch = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr contact;
	uint32_t exp;

	if (pl_strcmp(&msg->from.tag, s->f[F_RTAG])) {
		answer(n, msg, 481, "Subscription Does Not Exist");
		return;
	}
	if (s->wait_msg) {
		/* its row is not committed yet (a few ms): a retransmission
		 * is answered with the first, anything else waits for it */
		if (msg->cseq.num != s->rseq)
			answer(n, msg, 491, "Request Pending");
		return;
	}
	if (msg->cseq.num == s->rseq) {
		reply_ok(n, msg, s, UINT32_MAX);
		return;
	}
	if (msg->cseq.num < s->rseq) {
		answer(n, msg, 500, "Server Internal Error: CSeq Out Of "
		       "Order");
		return;
	}
	if (s->state == NSUB_TERMINATED) {
		answer(n, msg, 481, "Subscription Does Not Exist");
		return;
	}
	if (want_expires(n, msg, &exp))
		return;
	s->rseq = msg->cseq.num;
	if (ch && !sip_addr_decode(&contact, &ch->val) &&
	    contact.auri.l <= MAX_STR &&
	    pl_strcmp(&contact.auri, s->f[F_TARGET])) {
		struct pl v[F_COUNT];

		for (int i = 0; i < F_COUNT; i++)
			pl_set_str(&v[i], s->f[i]);
		v[F_TARGET] = contact.auri;
		(void)sub_strings(s, v);     /* target refresh */
		s->hop_ok = false;
	}
	s->expires = now_s() + exp;
	if (exp) {
		int err = sub_save(s);

		if (err == ESTALE) {
			/* taken over by another node, which thought us
			 * dead: the phone subscribes again, and this copy
			 * ends at its expiry */
			report(n, LOG_WARNING, msg, "SUBSCRIBE refresh of a "
			       "subscription another node has taken over: "
			       "481");
			answer(n, msg, 481, "Subscription Taken Over");
			return;
		}
		if (err) {
			report(n, LOG_ERR, msg, "SUBSCRIBE: cannot store: %m",
			       err);
			store_failed(n, msg, err);
			return;
		}
	}
	reply_ok(n, msg, s, exp);
	if (!exp)
		nsub_set_state(s, NSUB_TERMINATED, "timeout");
	else
		queue(s);  /* RFC 6665 §4.2.1.2: a NOTIFY after each refresh */
}

static void subscribe_in_dialog(struct notifier *n, const struct sip_msg *msg,
				const struct evpkg *pkg)
{
	struct dlg_find d = { msg->callid, msg->to.tag };
	struct nsub *s;

	s = list_ledata(hash_lookup(n->dialogs,
				    dialog_hash(&msg->callid, &msg->to.tag),
				    dialog_cmp, &d));
	if (!s || s->pkg != pkg) {
		answer(n, msg, 481, "Subscription Does Not Exist");
		return;
	}
	subscribe_refresh(n, msg, s);
}

void notifier_request(struct notifier *n, const struct sip_msg *msg,
		      const char *watcher)
{
	const struct sip_hdr *eh = sip_msg_hdr(msg, SIP_HDR_EVENT);
	struct sipevent_event ev;
	const struct evpkg *pkg = NULL;

	fast_attach(n, msg);
	if (eh && !sipevent_event_decode(&ev, &eh->val))
		pkg = pkg_find(n, &ev.event);
	if (!pkg) {
		struct mbuf *mb = mbuf_alloc(64);

		for (unsigned i = 0; mb && i < n->npkgs; i++)
			mbuf_printf(mb, "%s%s", i ? ", " : "",
				    n->pkgs[i].event);
		report(n, LOG_NOTICE, msg, "SUBSCRIBE for an event package we "
		       "do not serve: 489");
		(void)sipreply(n->sip, msg, 0, false, 489, "Bad Event",
			       "Allow-Events: %b\r\nContent-Length: 0\r\n\r\n",
			       mb ? mb->buf : NULL, mb ? mb->end : 0);
		mem_deref(mb);
		return;
	}
	if (pl_isset(&msg->to.tag))
		subscribe_in_dialog(n, msg, pkg);
	else
		subscribe_new(n, msg, pkg, &ev, watcher);
}

/* ---- fan-out ---- */

void notifier_foreach(struct notifier *n, const char *event,
		      const char *presentity, nsub_h *h, void *arg)
{
	struct group *g = group_find(n, event, presentity, false);
	struct le *le;

	for (le = g ? g->subs.head : NULL; le; ) {
		struct nsub *s = le->data;

		le = le->next;     /* h may end s */
		h(s, arg);
	}
}

bool notifier_watched(struct notifier *n, const char *event,
		      const char *presentity)
{
	const struct group *g = n ? group_find(n, event, presentity, false)
		: NULL;

	return g && !list_isempty(&g->subs);
}

static void notify_h(struct nsub *s, void *arg)
{
	(void)arg;
	if (s->state == NSUB_ACTIVE)
		queue(s);
}

void notifier_hold(struct notifier *n, bool hold)
{
	if (!n || n->held == hold)
		return;
	n->held = hold;
	if (!hold && !list_isempty(&n->ready))
		tmr_start(&n->tmr_flush, 0, flush_h, n);
}

static int row_h(const struct subs_rec *r, void *arg)
{
	struct notifier *n = arg;
	struct dlg_find d;
	struct nsub *s;

	pl_set_str(&d.callid, r->callid);
	pl_set_str(&d.ltag, r->ltag);
	s = list_ledata(hash_lookup(n->dialogs, dialog_hash(&d.callid,
							    &d.ltag),
				    dialog_cmp, &d));
	if (s)
		s->has_row = true;
	return 0;
}

static bool unmark_h(struct le *le, void *arg)
{
	(void)arg;
	((struct nsub *)le->data)->has_row = false;
	return false;
}

/* A live subscription (not a fetch, not ending) without its row */
static bool rowless_h(struct le *le, void *arg)
{
	const struct nsub *s = le->data;

	(void)arg;
	return s->state != NSUB_TERMINATED && !s->has_row;
}

void notifier_flush(struct notifier *n)
{
	if (n)
		save_flush(n);
}

void notifier_set_lease(struct notifier *n, notifier_lease_h *leaseh,
			void *arg)
{
	if (!n)
		return;
	n->leaseh = leaseh;
	n->lease_arg = arg;
}

int notifier_fence(struct notifier *n, bool fenced)
{
	int err;

	if (!n)
		return EINVAL;
	save_flush(n);         /* each live subscription with its row */
	if (fenced || !n->fenced) {
		n->fenced = fenced;
		return 0;
	}
	/* back: each live subscription in memory still has its row, ours,
	 * unless another node took them while we were fenced */
	hash_apply(n->dialogs, unmark_h, NULL);
	err = subs_foreach_node(n->st, n->node, row_h, n);
	if (err)
		return err;    /* still fenced; asked again */
	if (hash_apply(n->dialogs, rowless_h, NULL))
		return ESTALE;
	n->fenced = false;
	if (!n->held && !list_isempty(&n->ready))
		tmr_start(&n->tmr_flush, 0, flush_h, n);
	return 0;
}

bool notifier_held(const struct notifier *n)
{
	return n && n->held;
}

void notifier_changed(struct notifier *n, const char *event,
		      const char *presentity)
{
	notifier_foreach(n, event, presentity, notify_h, NULL);
}

struct all_ctx {
	nsub_h *h;
	void *arg;
};

static bool all_h(struct le *le, void *arg)
{
	struct all_ctx *a = arg;

	a->h(le->data, a->arg);
	return false;
}

/* h must not end subscriptions (use nsub_set_state: the end comes when
 * the NOTIFY is answered). */
void notifier_all(struct notifier *n, nsub_h *h, void *arg)
{
	struct all_ctx a = { h, arg };

	hash_apply(n->dialogs, all_h, &a);
}

uint32_t notifier_count(const struct notifier *n)
{
	return n ? n->count : 0;
}

/* ---- start ---- */

static int load_h(const struct subs_rec *r, void *arg)
{
	struct notifier *n = arg;
	const struct evpkg *pkg = pkg_named(n, r->event);
	struct pl v[F_COUNT];
	struct nsub *s;
	const char *src[F_COUNT] = { r->callid, r->ltag, r->rtag,
		r->event_id, r->watcher, r->presentity, r->local_uri,
		r->remote_uri, r->target, r->route };

	if (!pkg || r->expires <= now_s() || r->state == NSUB_TERMINATED) {
		(void)subs_del(n->st, n->node, r->callid, r->ltag);
		return 0;
	}
	s = mem_zalloc(sizeof(*s), sub_destructor);
	if (!s)
		return ENOMEM;
	s->n = n;
	s->pkg = pkg;
	for (int i = 0; i < F_COUNT; i++)
		pl_set_str(&v[i], src[i]);
	if (sub_strings(s, v) || sub_index(n, s)) {
		mem_deref(s);
		return ENOMEM;
	}
	s->rseq = r->rseq;
	s->lseq = r->lseq;
	s->version = r->version;
	s->expires = r->expires;
	s->state = (uint8_t)r->state;
	s->was_active = s->state == NSUB_ACTIVE;
	s->min_interval = r->min_interval;
	/* what changed while we were away: the next CSeq tells it */
	queue(s);
	return 0;
}

int notifier_load(struct notifier *n)
{
	int err;

	if (!n)
		return EINVAL;
	err = store_begin(n->st);
	if (err)
		return err;
	err = subs_foreach_node(n->st, n->node, load_h, n);
	if (err) {
		store_rollback(n->st);
		return err;
	}
	return store_commit(n->st);
}

struct adopt {
	struct notifier *n;
	notifier_route_h *rh;
	void *arg;
	unsigned count;
};

/* One of the other node's, moved to us: our route set and a CSeq past
 * any it may have sent after it last saved one, stored so. */
static int adopt_h(const struct subs_rec *r, void *arg)
{
	struct adopt *a = arg;
	struct subs_rec x = *r;
	char route[MAX_ROUTE];

	if (r->expires <= now_s() || r->state == NSUB_TERMINATED)
		return 0;      /* load_h deletes it */
	if (!a->rh(route, sizeof(route), r->route, a->arg))
		x.route = route;
	x.lseq = r->lseq + NOTIFIER_ADOPT_CSEQ_GAP;
	x.node = a->n->node;
	return subs_put(a->n->st, &x);
}

/* Ours in the store and not in memory (taken over just now): loaded,
 * as after a restart. */
static int missing_h(const struct subs_rec *r, void *arg)
{
	struct adopt *a = arg;
	struct dlg_find d;
	int err;

	pl_set_str(&d.callid, r->callid);
	pl_set_str(&d.ltag, r->ltag);
	if (hash_lookup(a->n->dialogs, dialog_hash(&d.callid, &d.ltag),
			dialog_cmp, &d))
		return 0;
	err = load_h(r, a->n);
	a->count += !err && r->expires > now_s() &&
		r->state != NSUB_TERMINATED;
	return err;
}

int notifier_adopt(struct notifier *n, const char *from,
		   notifier_route_h *rh, void *arg, unsigned *countp)
{
	struct adopt a = { n, rh, arg, 0 };
	int err;

	if (!n || !from || !n->node || !rh)
		return EINVAL;
	/* moved and rewritten in one transaction, loaded once it holds: a
	 * take that fails leaves nothing of it here, to be tried again */
	err = store_begin(n->st);
	if (err)
		return err;
	err = subs_take(n->st, from, n->node, adopt_h, &a);
	if (err) {
		store_rollback(n->st);
		return err;
	}
	err = store_commit(n->st);
	err = err ? err : subs_foreach_node(n->st, n->node, missing_h, &a);
	if (!err && countp)
		*countp = a.count;
	return err;
}

static void destructor(void *arg)
{
	struct notifier *n = arg;

	tmr_cancel(&n->tmr_flush);
	tmr_cancel(&n->tmr_tick);
	tmr_cancel(&n->tmr_save);  /* unanswered: their watchers resend */
	mem_deref(n->fast);
	mem_deref(n->lsnr_resp);
	/* subscriptions first: they unlink from groups and counts */
	hash_flush(n->dialogs);
	mem_deref(n->dialogs);
	hash_flush(n->groups);
	mem_deref(n->groups);
	hash_flush(n->watchers);
	mem_deref(n->watchers);
	mem_deref(n->contact);
	mem_deref(n->node);
}

void notifier_set_limits(struct notifier *n, const struct notifier_opts *o)
{
	if (!n || !o)
		return;
	n->o.expires_min = o->expires_min;
	n->o.expires_dfl = o->expires_dfl;
	n->o.expires_max = o->expires_max;
	n->o.max_per_watcher = o->max_per_watcher;
	n->o.max_per_presentity = o->max_per_presentity;
	n->o.min_interval = o->min_interval;
	n->o.notify_timeout = o->notify_timeout;
}

int notifier_alloc(struct notifier **np, struct sip *sip, struct store *st,
		   const struct notifier_opts *o, const struct evpkg *pkgs,
		   unsigned npkgs, notifier_report_h *reporth, void *arg)
{
	struct notifier *n;
	int err;

	if (!np || !sip || !st || !o || !o->contact || !pkgs || !npkgs)
		return EINVAL;
	n = mem_zalloc(sizeof(*n), destructor);
	if (!n)
		return ENOMEM;
	n->sip = sip;
	n->st = st;
	n->o = *o;
	if (!n->o.notify_timeout)
		n->o.notify_timeout = 32000;   /* RFC 3261 Timer F */
	n->pkgs = pkgs;
	n->npkgs = npkgs;
	n->reporth = reporth;
	n->arg = arg;
	n->salt = rand_u64();
	tmr_init(&n->tmr_flush);
	tmr_init(&n->tmr_tick);
	tmr_init(&n->tmr_save);
	err = str_dup(&n->contact, o->contact);
	n->o.contact = NULL;
	if (!err && o->node)
		err = str_dup(&n->node, o->node);
	n->o.node = NULL;
	err = err ? err : hash_alloc(&n->dialogs, 4096);
	err = err ? err : hash_alloc(&n->groups, 1024);
	err = err ? err : hash_alloc(&n->watchers, 1024);
	err = err ? err : sip_listen(&n->lsnr_resp, sip, false, resp_listen_h,
				     n);
	if (err)
		goto out;
	tmr_start(&n->tmr_tick, TICK_MS, tick_h, n);
 out:
	if (err)
		mem_deref(n);
	else
		*np = n;
	return err;
}
