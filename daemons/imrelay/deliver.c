/* deliver: each user's mailbox, and getting messages to its devices.
 *
 * A mailbox holds the user's reachable devices (from the registrar's
 * `reg` topic) and the user's kept messages in the order they came. A
 * delivery sends one message to every device the mailbox allows, each
 * copy through the edge (Request-URI: the device's contact, which the
 * edge sends on the device's flow), and ends at the first 2xx or when
 * every copy failed.
 *
 * - Online (relay.c): a sender waits; the first 2xx answers it 200,
 *   through the handler the delivery was given (deliver_done_h).
 * - Kept: sent in the order they came, IM_WINDOW at a time (one at a
 *   time after a failure, until one goes through). A kept message
 *   leaves the store only on a 2xx; when every copy fails it is tried
 *   again after 2, 4, 8 ... 300 s, and at once when a device registers.
 * - Waiting: an online message for a user with kept ones waits in
 *   memory behind them (wait_turn), its sender with it; it is kept only
 *   if its sender's wait ends first, and refused with 503 while nothing
 *   fails when we are behind: those before it have waited long, or more
 *   wait before it than the user's devices took in that time (an
 *   overload would otherwise fill the store with messages kept behind
 *   each other, and everything after it would wait for them).
 *
 * Copies go without a libre client transaction: each has a branch that
 * is a function of (message, attempt, device), and the attempt number is
 * in the store before the copy leaves. The edge sends a copy for one
 * device on statelessly, with a branch that is a function of ours. So
 * after a restart of the relay (which sends the attempt that was in
 * flight again, the same) or of the edge (whose successor gets our
 * retransmissions), the device sees a retransmission of what it may
 * have answered already, and its transaction absorbs it and answers
 * again, instead of a second message. (Over TCP a device's transaction
 * ends with its answer, RFC 3261 §17.2.2: a copy it answered just before
 * a crash comes again, with the same Call-ID and CSeq.) Another attempt
 * is another CSeq, so that no device takes it for a
 * merged request (RFC 3261 §8.2.2.2). */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "bus/bus.h"
#include "sip/reqtag.h"
#include "store/store.h"
#include "store/store_msgs.h"
#include "sip/overload.h"
#include "sip/rawsip.h"
#include "imrelay.h"
#include "deliver.h"

#define BRANCH_PREFIX "z9hG4bKim"
#define HDR_SPARE 400          /* request line, Via, Max-Forwards, CSeq and
				* the edge's Via, on top of the head */

struct device {
	struct le le;
	char *uri;
	enum sip_transp tp;
	struct sa addr;        /* where its REGISTER came from */
};

struct qent {
	struct le le;
	uint64_t id;
	uint64_t expires;      /* s since 1970 */
	uint32_t attempt;      /* the last one begun */
	bool resend;           /* loaded at start with an attempt begun */
	struct delivery *live;
};

struct mbox {
	struct le he;
	struct imrelay *r;
	char *user;
	struct list devices;
	struct list queue;     /* struct qent, oldest first */
	struct list waiters;   /* struct delivery: online ones waiting for
				* their turn behind the queue, oldest first */
	uint32_t nkept;
	uint32_t nlive;        /* deliveries that point here */
	uint32_t nsent;        /* ... of which sent and not ended */
	uint64_t next_try;     /* jiffies */
	unsigned fails;
	/* deliveries that went, per second (mbox_rate) */
	uint64_t done_sec;     /* the second done_now counts (jiffies/1000) */
	uint32_t done_now;
	uint32_t done_last;    /* in the second before it */
};

struct delivery {
	struct le wle;         /* mb->waiters, while waiting */
	struct imrelay *r;
	struct mbox *mb;
	deliver_done_h *doneh; /* the sender waiting; NULL when none */
	void *arg;
	struct qent *q;        /* the kept copy, when there is one */
	struct mbuf *head;     /* To ... body */
	uint64_t cid;
	uint32_t attempt;
	struct list attempts;
	unsigned pending;
	uint16_t best;         /* the best failure so far */
	bool ok;
	bool waiting;          /* unsent, in mb->waiters */
	bool sent;             /* counted in mb->nsent */
	char origin[80];       /* the sender's own device, while waiting */
	uint64_t since;        /* jiffies: when it began to wait */
};

struct attempt {
	struct le le;          /* delivery->attempts */
	struct le he;          /* r->attempts */
	struct le lq;          /* r->inflight */
	struct delivery *d;
	uint64_t branch;
	struct mbuf *out;
	uint64_t sent;
	uint64_t next_retx;
	uint32_t retx_iv;
	uint16_t code;
};

static void mbox_run(struct mbox *mb);

bool im_temporary(uint16_t code)
{
	return code == 0 || code == 404 || code == 408 || code == 480 ||
		code == 481 || (code >= 500 && code < 600);
}

/* ---- mailboxes ---- */

static void device_destructor(void *arg)
{
	struct device *dv = arg;

	list_unlink(&dv->le);
	mem_deref(dv->uri);
}

static void mbox_destructor(void *arg)
{
	struct mbox *mb = arg;

	hash_unlink(&mb->he);
	list_flush(&mb->devices);
	list_flush(&mb->queue);
	mem_deref(mb->user);
}

static bool mbox_cmp(struct le *le, void *arg)
{
	const struct mbox *mb = le->data;

	return !strcmp(mb->user, arg);
}

static struct mbox *mbox_find(struct imrelay *r, const char *user,
			      bool create)
{
	struct mbox *mb = list_ledata(hash_lookup(r->mboxes,
						  hash_joaat_str(user),
						  mbox_cmp, (void *)user));

	if (mb || !create)
		return mb;
	mb = mem_zalloc(sizeof(*mb), mbox_destructor);
	if (!mb || str_dup(&mb->user, user))
		return mem_deref(mb);
	mb->r = r;
	hash_append(r->mboxes, hash_joaat_str(user), &mb->he, mb);
	return mb;
}

/* A mailbox with nothing in it and nothing pointing at it goes */
static void mbox_tidy(struct mbox *mb)
{
	if (mb && list_isempty(&mb->devices) && list_isempty(&mb->queue) &&
	    !mb->nlive)
		mem_deref(mb);
}

static void qent_destructor(void *arg)
{
	struct qent *q = arg;

	list_unlink(&q->le);
}

static void qent_drop(struct mbox *mb, struct qent *q)
{
	--mb->nkept;
	mem_deref(q);
}

/* ---- the request ---- */

static bool dname_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static int head_build(struct delivery *d, const struct im_msg *m)
{
	const struct conf *c = d->r->conf;
	bool dname = m->from_name[0] && dname_ok(m->from_name);
	int err;

	d->head = mbuf_alloc(512 + m->bodylen);
	if (!d->head)
		return ENOMEM;
	err = mbuf_printf(d->head, "To: <sip:%s@%s>\r\n"
			  "From: %s%s%s<sip:%s@%s>;tag=%016llx\r\n"
			  "Call-ID: im%016llx@%J\r\n",
			  m->user, c->domain, dname ? "\"" : "",
			  dname ? m->from_name : "", dname ? "\" " : "",
			  m->sender, c->domain,
			  (unsigned long long)(d->cid ^ 0x5bd1e995u),
			  (unsigned long long)d->cid, &d->r->laddr);
	if (!err && m->date[0])
		err = mbuf_printf(d->head, "Date: %s\r\n", m->date);
	if (!err && m->ctype[0])
		err = mbuf_printf(d->head, "Content-Type: %s\r\n", m->ctype);
	err = err ? err : mbuf_printf(d->head, "Content-Length: %zu\r\n\r\n",
				      m->bodylen);
	if (!err && m->bodylen)
		err = mbuf_write_mem(d->head, m->body, m->bodylen);
	return err;
}

static bool fits(const struct delivery *d, const struct device *dv)
{
	return dv->tp != SIP_TRANSP_UDP ||
		d->head->end + HDR_SPARE + strlen(dv->uri) <=
		d->r->conf->im_udp_max;
}

static bool is_origin(const struct device *dv, const char *origin)
{
	char s[80];

	if (!origin[0])
		return false;
	re_snprintf(s, sizeof(s), "%s:%J", sip_transp_name(dv->tp),
		    &dv->addr);
	return !strcasecmp(s, origin);
}

/* ---- attempts ---- */

static void attempt_destructor(void *arg)
{
	struct attempt *a = arg;

	list_unlink(&a->le);
	list_unlink(&a->lq);
	hash_unlink(&a->he);
	mem_deref(a->out);
}

static void delivery_destructor(void *arg)
{
	struct delivery *d = arg;

	list_flush(&d->attempts);
	list_unlink(&d->wle);
	if (d->q && d->q->live == d)
		d->q->live = NULL;
	mem_deref(d->head);
	if (d->mb) {
		if (d->sent)
			--d->mb->nsent;
		--d->mb->nlive;
		mbox_tidy(d->mb);
	}
}

static int attempt_send(struct attempt *a)
{
	a->out->pos = 0;
	return sip_send(a->d->r->sip, NULL, SIP_TRANSP_UDP, &a->d->r->edge,
			a->out);
}

static int attempt_new(struct delivery *d, const struct device *dv)
{
	struct imrelay *r = d->r;
	struct attempt *a;
	struct reqtag t;
	int err;

	a = mem_zalloc(sizeof(*a), attempt_destructor);
	if (!a)
		return ENOMEM;
	a->d = d;
	reqtag_init(&t, r->salt);
	reqtag_u32(&t, (uint32_t)d->cid);
	reqtag_u32(&t, (uint32_t)(d->cid >> 32));
	reqtag_u32(&t, d->attempt);
	reqtag_str(&t, dv->uri);
	a->branch = t.h;
	a->out = mbuf_alloc(d->head->end + 512);
	if (!a->out) {
		mem_deref(a);
		return ENOMEM;
	}
	err = mbuf_printf(a->out, "MESSAGE %s SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP %J;branch=" BRANCH_PREFIX
			  "%016llx;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "CSeq: %u MESSAGE\r\n",
			  dv->uri, &r->laddr, (unsigned long long)a->branch,
			  d->attempt + 1);
	err = err ? err : mbuf_write_mem(a->out, d->head->buf,
					 d->head->end);
	if (err) {
		mem_deref(a);
		return err;
	}
	list_append(&d->attempts, &a->le, a);
	hash_append(r->attempts, IM_BUCKET(a->branch), &a->he, a);
	a->sent = tmr_jiffies();
	a->retx_iv = 500;      /* T1: UDP to the edge */
	a->next_retx = a->sent + a->retx_iv;
	list_append(&r->inflight, &a->lq, a);
	++d->pending;
	(void)attempt_send(a);
	return 0;
}

/* A copy to each device the message may go to: the number sent (with
 * `dry`, the number it would be sent to) */
static unsigned delivery_send(struct delivery *d, const char *origin,
			      bool *too_big, bool dry)
{
	unsigned n = 0;

	*too_big = false;
	for (struct le *le = d->mb ? d->mb->devices.head : NULL; le;
	     le = le->next) {
		const struct device *dv = le->data;

		if (is_origin(dv, origin))
			continue;
		if (!fits(d, dv)) {
			*too_big = true;
			continue;
		}
		if (dry || !attempt_new(d, dv))
			++n;
	}
	if (n && !dry && !d->sent && d->mb) {
		d->sent = true;
		++d->mb->nsent;
	}
	return n;
}

static struct delivery *delivery_alloc(struct imrelay *r, struct mbox *mb,
				       const struct im_msg *m, uint64_t cid,
				       uint32_t attempt)
{
	struct delivery *d = mem_zalloc(sizeof(*d), delivery_destructor);

	if (!d)
		return NULL;
	d->r = r;
	d->cid = cid;
	d->attempt = attempt;
	if (head_build(d, m))
		return mem_deref(d);
	d->mb = mb;
	++mb->nlive;
	return d;
}

/* The sender waiting hears how it ended, once */
static void delivery_done(struct delivery *d, uint16_t code)
{
	deliver_done_h *doneh = d->doneh;
	void *arg = d->arg;

	deliver_detach(d);
	doneh(code, arg);
}

/* One more delivery to the user went */
static void mbox_done(struct mbox *mb)
{
	const uint64_t sec = tmr_jiffies() / 1000;

	if (sec != mb->done_sec) {
		mb->done_last = sec == mb->done_sec + 1 ? mb->done_now : 0;
		mb->done_now = 0;
		mb->done_sec = sec;
	}
	++mb->done_now;
}

/* Deliveries a second to the user lately: the last whole second's, or
 * this one's so far when more */
static uint32_t mbox_rate(const struct mbox *mb)
{
	const uint64_t sec = tmr_jiffies() / 1000;

	if (sec == mb->done_sec)
		return MAX(mb->done_last, mb->done_now);
	return sec == mb->done_sec + 1 ? mb->done_now : 0;
}

/* The first 2xx */
static void delivery_ok(struct delivery *d)
{
	struct imrelay *r = d->r;
	struct qent *q = d->q;

	d->ok = true;
	if (d->mb)
		mbox_done(d->mb);
	if (d->doneh)
		delivery_done(d, 200);
	if (q) {
		int err = msgs_del(r->st, r->conf->node_id, q->id);

		if (err)
			log_err("imrelay.db: cannot delete message %llu: %m",
				(unsigned long long)q->id, err);
		log_info("message %llu delivered to '%s'",
			 (unsigned long long)q->id, d->mb->user);
		d->q = NULL;
		d->mb->fails = 0;
		qent_drop(d->mb, q);
		mbox_run(d->mb);
	}
}

/* Every copy has its final answer */
static void delivery_end(struct delivery *d)
{
	struct mbox *mb = d->mb;
	uint16_t code = d->best ? d->best : 408;

	if (!d->ok && d->doneh) {
		delivery_done(d, code);   /* may keep it: a new copy */
	}
	else if (!d->ok && d->q) {
		struct qent *q = d->q;

		if (!im_temporary(code)) {
			log_notice("message %llu for '%s' refused by every "
				   "device (%u): dropped",
				   (unsigned long long)q->id, mb->user, code);
			(void)msgs_del(d->r->st, d->r->conf->node_id,
				       q->id);
			d->q = NULL;
			qent_drop(mb, q);
		}
		else if (!d->attempt) {
			/* an online copy that became the kept one: the queue
			 * sends it again in its turn; its failure under load
			 * says nothing of the device, so no back-off */
		}
		else if (tmr_jiffies() >= mb->next_try) {
			/* the first failure of a window backs off; those
			 * in flight with it add nothing */
			++mb->fails;
			mb->next_try = tmr_jiffies() + 1000ULL *
				(mb->fails >= 9 ? IM_RETRY_MAX_S :
				 MIN(1u << mb->fails, IM_RETRY_MAX_S));
			log_info("message %llu for '%s' not delivered (%u), "
				 "again in %llu s", (unsigned long long)q->id,
				 mb->user, code, (unsigned long long)
				 ((mb->next_try - tmr_jiffies()) / 1000));
		}
	}
	++mb->nlive;           /* mb outlives d */
	mem_deref(d);
	--mb->nlive;
	mbox_run(mb);
	mbox_tidy(mb);
}

static void attempt_final(struct attempt *a, uint16_t code)
{
	struct delivery *d = a->d;

	a->code = code;
	list_unlink(&a->lq);
	hash_unlink(&a->he);
	a->out = mem_deref(a->out);
	--d->pending;
	if (code >= 200 && code < 300) {
		if (!d->ok)
			delivery_ok(d);
	}
	else if (!d->best || (im_temporary(d->best) &&
			      !im_temporary(code)) ||
		 (im_temporary(d->best) == im_temporary(code) &&
		  code < d->best)) {
		d->best = code;  /* a refusal says more than a silence */
	}
	if (!d->pending)
		delivery_end(d);
}

static bool branch_cmp(struct le *le, void *arg)
{
	const struct attempt *a = le->data;

	return a->branch == *(const uint64_t *)arg;
}

/* ---- answers before libre decodes them ----
 *
 * A device's answer to a copy, relayed by the edge, is read here from
 * the datagram: the status code and the top Via's branch are all a copy
 * needs, and libre's full decode (every header, and a random number) was
 * a third of the relay's time. Anything not plainly ours goes to libre
 * (deliver_resp_h). */

/* Our branch in the top Via of an answer: the hex after BRANCH_PREFIX */
static bool our_branch(const char *p, const char *end, uint64_t *b)
{
	const size_t plen = sizeof(BRANCH_PREFIX) - 1;
	struct rawsip_line ln;
	struct pl via, br;

	for (; rawsip_next_line(&ln, p, end); p = ln.next) {
		const char *c;

		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;           /* folded: libre's */
		if (!rawsip_hdr(&ln, "Via", 'v', &via))
			continue;
		c = memchr(via.p, ',', via.l);
		if (c)
			via.l = (size_t)(c - via.p);   /* the top value */
		if (msg_param_decode(&via, "branch", &br) ||
		    br.l != plen + 16 || strncmp(br.p, BRANCH_PREFIX, plen))
			return false;
		pl_advance(&br, plen);
		for (size_t i = 0; i < br.l; i++)
			if (!isxdigit((unsigned char)br.p[i]))
				return false;
		*b = pl_x64(&br);
		return true;
	}
	return false;
}

static bool fast_h(struct sa *src, struct mbuf *mb, void *arg)
{
	struct imrelay *r = arg;
	const char *p = (const char *)mbuf_buf(mb);
	const char *end = p + mbuf_get_left(mb);
	struct rawsip_line ln;
	struct attempt *a;
	uint16_t code;
	uint64_t b;

	(void)src;
	code = rawsip_status(p, mbuf_get_left(mb));
	if (!code || !rawsip_next_line(&ln, p, end) ||
	    !our_branch(ln.next, end, &b))
		return false;
	a = list_ledata(hash_lookup(r->attempts, IM_BUCKET(b), branch_cmp,
				    &b));
	if (a && code >= 200)
		attempt_final(a, code);
	return true;     /* ours: a provisional, or one answered already */
}

void deliver_attach(struct imrelay *r, void *sock)
{
	if (!r->fast && sock)
		(void)udp_register_helper(&r->fast, sock, 0, NULL, fast_h, r);
}

bool deliver_resp_h(const struct sip_msg *msg, void *arg)
{
	struct imrelay *r = arg;
	struct attempt *a;
	struct pl hex;
	uint64_t b;

	if (pl_strcmp(&msg->cseq.met, "MESSAGE"))
		return false;
	if (msg->via.branch.l != sizeof(BRANCH_PREFIX) - 1 + 16 ||
	    memcmp(msg->via.branch.p, BRANCH_PREFIX,
		   sizeof(BRANCH_PREFIX) - 1))
		return true;
	hex.p = msg->via.branch.p + sizeof(BRANCH_PREFIX) - 1;
	hex.l = 16;
	b = pl_x64(&hex);
	a = list_ledata(hash_lookup(r->attempts, IM_BUCKET(b), branch_cmp,
				    &b));
	if (!a || msg->scode < 200)
		return true;
	attempt_final(a, msg->scode);
	return true;
}

/* ---- online ---- */

/* Kept messages, and senders that came before, go first: the delivery
 * waits, unsent, for its turn (mbox_run), its sender with it. Nothing
 * is written meanwhile: only when the sender's wait ends undelivered is
 * it kept (deliver_keep), in the same place in the user's order. */
static enum deliver_verdict wait_turn(struct mbox *mb,
				      const struct im_msg *m, uint64_t key,
				      deliver_done_h *doneh, void *arg,
				      struct delivery **dp)
{
	const uint32_t turn = mb->r->conf->im_deliver_wait / 3;
	struct delivery *d;
	bool too_big;

	/* behind while nothing fails (the relay, the edge or the box is
	 * slow, not the devices): refused now, 503, rather than kept in
	 * the end, which costs the store and makes us slower still. Behind
	 * is: the first one waiting has waited over `turn`, or more wait
	 * before this one than the devices took in `turn` lately (at least
	 * IM_AHEAD_MIN), so that an overload's first second cannot queue
	 * more than we deliver in it */
	if (!mb->fails) {
		const uint32_t ahead = MAX(IM_AHEAD_MIN,
					   (uint64_t)mbox_rate(mb) * turn /
					   1000);
		uint32_t n = mb->nkept;

		if (mb->waiters.head) {
			const struct delivery *old = mb->waiters.head->data;

			if (tmr_jiffies() - old->since > turn)
				return DELIVER_BUSY;
		}
		for (struct le *le = mb->waiters.head; le && n < ahead;
		     le = le->next)
			++n;
		if (n >= ahead)
			return DELIVER_BUSY;
	}
	d = delivery_alloc(mb->r, mb, m, key, 0);
	if (!d)
		return DELIVER_KEEP;
	if (!delivery_send(d, m->origin, &too_big, true)) {
		mem_deref(d);
		return too_big ? DELIVER_TOO_BIG : DELIVER_NOWHERE;
	}
	d->doneh = doneh;
	d->arg = arg;
	str_ncpy(d->origin, m->origin ? m->origin : "", sizeof(d->origin));
	d->waiting = true;
	d->since = tmr_jiffies();
	list_append(&mb->waiters, &d->wle, d);
	*dp = d;
	mbox_run(mb);
	return DELIVER_SENT;
}

enum deliver_verdict deliver_online(struct imrelay *r,
				    const struct im_msg *m, uint64_t key,
				    deliver_done_h *doneh, void *arg,
				    struct delivery **dp)
{
	struct mbox *mb;
	struct delivery *d;
	bool too_big;

	*dp = NULL;
	if (!r->reg_known)
		return DELIVER_KEEP;
	mb = mbox_find(r, m->user, false);
	if (!mb)
		return DELIVER_KEEP;
	if (!list_isempty(&mb->queue) || !list_isempty(&mb->waiters))
		return list_isempty(&mb->devices) ? DELIVER_KEEP :
			wait_turn(mb, m, key, doneh, arg, dp);
	d = delivery_alloc(r, mb, m, key, 0);
	if (!d)
		return DELIVER_KEEP;
	d->doneh = doneh;
	d->arg = arg;
	if (!delivery_send(d, m->origin, &too_big, false)) {
		deliver_detach(d);
		mem_deref(d);
		return too_big ? DELIVER_TOO_BIG :
			list_isempty(&mb->devices) ? DELIVER_KEEP :
			DELIVER_NOWHERE;
	}
	*dp = d;
	return DELIVER_SENT;
}

void deliver_detach(struct delivery *d)
{
	if (d) {
		d->doneh = NULL;
		d->arg = NULL;
	}
}

/* ---- kept ---- */

static int keep_date(char *buf, size_t sz, const char *date)
{
	time_t now = time(NULL);

	if (date[0])
		return re_snprintf(buf, sz, "%s", date) < 0 ? EOVERFLOW : 0;
	return re_snprintf(buf, sz, "%H", fmt_gmtime, &now) < 0 ?
		EOVERFLOW : 0;
}

int deliver_keep(struct imrelay *r, const struct im_msg *m,
		 struct delivery *d)
{
	const struct conf *c = r->conf;
	struct msgs_rec rec;
	struct mbox *mb;
	struct qent *q;
	char date[80];
	int err;

	mb = mbox_find(r, m->user, true);
	if (!mb)
		return ENOMEM;
	if (mb->nkept >= c->im_store_max) {
		mbox_tidy(mb);
		return EOVERFLOW;
	}
	q = mem_zalloc(sizeof(*q), qent_destructor);
	err = q ? keep_date(date, sizeof(date), m->date) : ENOMEM;
	if (err)
		goto out;
	memset(&rec, 0, sizeof(rec));
	rec.user = m->user;
	rec.sender = m->sender;
	rec.from_name = m->from_name;
	rec.date = date;
	rec.ctype = m->ctype;
	rec.origin = m->origin;
	rec.body = m->body;
	rec.bodylen = m->bodylen;
	rec.created = (uint64_t)time(NULL) * 1000;
	rec.expires = (uint64_t)time(NULL) + c->im_store_expiry;
	rec.attempt = 0;
	rec.node = c->node_id;
	err = msgs_add(r->st, &rec);
	if (err) {
		log_err("imrelay.db: cannot keep a message for '%s': %m",
			m->user, err);
		goto out;
	}
	q->id = rec.id;
	q->expires = rec.expires;
	list_append(&mb->queue, &q->le, q);
	++mb->nkept;
	log_info("message %llu from '%s' kept for '%s' (%u kept)",
		 (unsigned long long)q->id, m->sender, m->user, mb->nkept);
	if (d && d->waiting) {
		/* never sent: the kept copy takes its place, and goes in
		 * its turn (it is the oldest waiting: the order holds) */
		mem_deref(d);
	}
	else if (d && !d->ok) {
		/* the online copies still in flight are now the kept one's */
		q->live = d;
		d->q = q;
		deliver_detach(d);
	}
	q = NULL;
	/* a new message for the user tries the queue's head again now,
	 * whatever the back-off said: a device that is back (or was only
	 * slow, under load) takes the queue on at once */
	mb->next_try = 0;
	mbox_run(mb);
 out:
	mem_deref(q);
	if (err)
		mbox_tidy(mb);
	return err;
}

struct run_ctx {
	struct mbox *mb;
	struct qent *q;
	int err;
};

static int kept_h(const struct msgs_rec *rec, void *arg)
{
	struct run_ctx *x = arg;
	struct mbox *mb = x->mb;
	struct imrelay *r = mb->r;
	struct qent *q = x->q;
	struct im_msg m = {
		rec->user, rec->sender, rec->from_name, rec->date,
		rec->ctype, rec->origin, rec->body, rec->bodylen,
	};
	struct reqtag t;
	struct delivery *d;
	uint32_t attempt;
	bool too_big;
	int err;

	/* after a restart, the attempt in flight is sent again as it was;
	 * otherwise a new one, written down before it leaves */
	attempt = q->resend ? q->attempt : q->attempt + 1;
	reqtag_init(&t, r->salt);
	reqtag_str(&t, "kept");
	reqtag_u32(&t, (uint32_t)q->id);
	reqtag_u32(&t, (uint32_t)(q->id >> 32));
	d = delivery_alloc(r, mb, &m, t.h, attempt);
	if (!d)
		return ENOMEM;
	if (!q->resend) {
		err = msgs_set_attempt(r->st, r->conf->node_id, q->id,
				       attempt);
		if (err) {
			mem_deref(d);
			return err;
		}
	}
	q->attempt = attempt;
	q->resend = false;
	d->q = q;
	q->live = d;
	if (!delivery_send(d, m.origin, &too_big, false)) {
		/* too big for every device there is: it waits for one it
		 * fits; otherwise all there is, is the sender's own */
		mem_deref(d);
		x->err = too_big ? ENODEV : ESRCH;
	}
	return 0;
}

/* The user's messages go in order, IM_WINDOW at a time (one at a time
 * after a failure, until one goes): first the kept ones, then the
 * senders waiting behind them (wait_turn). A kept one too big for every
 * device the user has now (all UDP) waits for one it fits, and the next
 * goes meanwhile; one sent to self, when the user has no other device,
 * has nowhere to go and is dropped. A waiting one whose sender gave up
 * is dropped unsent (the sender heard why: it was kept, or refused). */
static void mbox_run(struct mbox *mb)
{
	unsigned window;
	struct le *le;

	if (!mb || !mb->r->reg_known || list_isempty(&mb->devices) ||
	    tmr_jiffies() < mb->next_try)
		return;
	window = mb->fails ? 1 : IM_WINDOW;
	for (le = mb->queue.head; le; ) {
		struct run_ctx x = { mb, le->data, 0 };
		int err;

		le = le->next;
		if (x.q->live)
			continue;
		if (mb->nsent >= window)
			return;
		err = msgs_get(mb->r->st, mb->r->conf->node_id, x.q->id,
			       kept_h, &x);
		if (err == ENOENT) {
			log_warn("message %llu for '%s' is no longer in "
				 "imrelay.db", (unsigned long long)x.q->id,
				 mb->user);
			qent_drop(mb, x.q);
			continue;
		}
		if (err) {
			log_err("imrelay.db: message %llu: %m",
				(unsigned long long)x.q->id, err);
			mb->next_try = tmr_jiffies() + 5000;
			return;
		}
		if (x.err == ESRCH) {
			log_notice("message %llu from '%s' to self: no other "
				   "device: dropped",
				   (unsigned long long)x.q->id, mb->user);
			(void)msgs_del(mb->r->st, mb->r->conf->node_id,
				       x.q->id);
			qent_drop(mb, x.q);
			continue;
		}
		if (x.err == ENODEV)
			continue;      /* waits for a device it fits */
		if (x.err)
			return;
	}
	while (mb->waiters.head && mb->nsent < window) {
		struct delivery *d = mb->waiters.head->data;
		bool too_big;

		if (!d->doneh) {
			mem_deref(d);
			continue;
		}
		list_unlink(&d->wle);
		d->waiting = false;
		if (!delivery_send(d, d->origin, &too_big, false)) {
			/* its devices went meanwhile: it waits on, until
			 * its sender's wait ends and it is kept */
			d->waiting = true;
			list_prepend(&mb->waiters, &d->wle, d);
			return;
		}
	}
}

static bool count_kept_h(struct le *le, void *arg)
{
	*(unsigned *)arg += ((const struct mbox *)le->data)->nkept;
	return false;
}

static int load_h(const struct msgs_rec *rec, void *arg)
{
	struct imrelay *r = arg;
	struct mbox *mb = mbox_find(r, rec->user, true);
	struct qent *q;
	struct le *le;

	if (!mb)
		return ENOMEM;
	q = mem_zalloc(sizeof(*q), qent_destructor);
	if (!q)
		return ENOMEM;
	q->id = rec->id;
	q->expires = rec->expires;
	q->attempt = rec->attempt;
	q->resend = rec->attempt > 0;
	/* in the order they came (another node's, taken over, among ours;
	 * not before one on its way) */
	le = mb->queue.tail;
	while (le && ((struct qent *)le->data)->id > q->id &&
	       !((struct qent *)le->data)->live)
		le = le->prev;
	if (le)
		list_insert_after(&mb->queue, le, &q->le, q);
	else
		list_prepend(&mb->queue, &q->le, q);
	++mb->nkept;
	return 0;
}

/* A node takes the messages kept before the box became one (no node
 * loads those otherwise, and they are not sent again), if no other node
 * did first. */
int deliver_load(struct imrelay *r)
{
	int err = r->conf->node_id ?
		msgs_claim_box(r->st, r->conf->node_id) : 0;

	return err ? err : msgs_foreach_node(r->st, r->conf->node_id,
					     load_h, r);
}

static bool queued(struct imrelay *r, const struct msgs_rec *rec)
{
	struct mbox *mb = mbox_find(r, rec->user, false);

	for (struct le *le = mb ? mb->queue.head : NULL; le; le = le->next)
		if (((struct qent *)le->data)->id == rec->id)
			return true;
	return false;
}

/* Ours in the store and not in memory (taken over just now, or a take
 * whose answer was lost): loaded. */
static int missing_h(const struct msgs_rec *rec, void *arg)
{
	return queued(arg, rec) ? 0 : load_h(rec, arg);
}

static int nothing_h(const struct msgs_rec *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0;
}

unsigned deliver_kept(const struct imrelay *r)
{
	unsigned n = 0;

	hash_apply(r->mboxes, count_kept_h, &n);
	return n;
}

int deliver_adopt(struct imrelay *r, const char *from)
{
	unsigned before = 0, after = 0;
	int err;

	if (!r->conf->node_id)
		return 0;
	hash_apply(r->mboxes, count_kept_h, &before);
	err = msgs_take(r->st, from, r->conf->node_id, nothing_h, NULL);
	err = err ? err : msgs_foreach_node(r->st, r->conf->node_id,
					    missing_h, r);
	hash_apply(r->mboxes, count_kept_h, &after);
	if (err)
		log_warn("cluster: cannot take over node %s's kept messages "
			 "(again in 2 s): %m", from, err);
	else if (after > before)
		log_notice("cluster: took over %u kept message(s) of node %s",
			   after - before, from);
	return err;
}

/* ---- devices, from `reg` ---- */

static int device_add(struct mbox *mb, const struct odict *c)
{
	const char *uri = odict_string(c, "uri");
	const char *rcv = odict_string(c, "received");
	struct device *dv;
	struct pl tp, addr;
	bool reach = true;

	(void)odict_get_boolean(c, &reach, "reachable");
	if (!reach || !uri || !rcv || strlen(uri) > 512 ||
	    re_regex(rcv, strlen(rcv), "[A-Za-z]+:[^]+", &tp, &addr))
		return 0;
	dv = mem_zalloc(sizeof(*dv), device_destructor);
	if (!dv)
		return ENOMEM;
	dv->tp = !pl_strcasecmp(&tp, "TCP") ? SIP_TRANSP_TCP :
		!pl_strcasecmp(&tp, "TLS") ? SIP_TRANSP_TLS : SIP_TRANSP_UDP;
	if (str_dup(&dv->uri, uri) || sa_decode(&dv->addr, addr.p, addr.l)) {
		mem_deref(dv);
		return 0;
	}
	list_append(&mb->devices, &dv->le, dv);
	return 0;
}

static bool known_device(const struct list *old, const struct device *dv)
{
	for (struct le *le = old->head; le; le = le->next) {
		const struct device *o = le->data;

		if (!strcmp(o->uri, dv->uri) && o->tp == dv->tp &&
		    sa_cmp(&o->addr, &dv->addr, SA_ALL))
			return true;
	}
	return false;
}

void deliver_reg_h(const struct bus_msg *m, void *arg)
{
	struct imrelay *r = arg;
	const struct odict_entry *ce;
	struct list old = LIST_INIT;
	struct mbox *mb;
	bool fresh = false;
	unsigned n = 0;

	if (!m->key || !m->key[0] || strlen(m->key) > 64 ||
	    (strcmp(m->type, "set") && strcmp(m->type, "del")))
		return;
	mb = mbox_find(r, m->key, !strcmp(m->type, "set"));
	if (!mb)
		return;
	while (mb->devices.head) {
		struct le *le = mb->devices.head;

		list_unlink(le);
		list_append(&old, le, le->data);
	}
	ce = !strcmp(m->type, "set") && m->data ?
		odict_get_type(m->data, ODICT_ARRAY, "contacts") : NULL;
	for (struct le *le = ce ? ce->u.odict->lst.head : NULL;
	     le && n < IM_MAX_DEVICES; le = le->next, ++n) {
		const struct odict_entry *c = le->data;

		if (c->type == ODICT_OBJECT)
			(void)device_add(mb, c->u.odict);
	}
	for (struct le *le = mb->devices.head; le; le = le->next)
		if (!known_device(&old, le->data))
			fresh = true;
	list_flush(&old);
	if (fresh) {
		/* a device came: kept messages go now, whatever the
		 * back-off said */
		mb->fails = 0;
		mb->next_try = 0;
		mbox_run(mb);
	}
	mbox_tidy(mb);
}

/* ---- time ---- */

static bool tick_mbox_h(struct le *le, void *arg)
{
	struct mbox *mb = le->data;
	uint64_t now_s = *(const uint64_t *)arg;
	struct le *qe;

	for (qe = mb->queue.head; qe; ) {
		struct qent *q = qe->data;

		qe = qe->next;
		if (q->live || q->expires > now_s)
			continue;
		log_notice("message %llu for '%s' expired undelivered",
			   (unsigned long long)q->id, mb->user);
		(void)msgs_del(mb->r->st, mb->r->conf->node_id,
			       q->id);
		qent_drop(mb, q);
	}
	mbox_run(mb);
	mbox_tidy(mb);     /* hash_apply has read the next one already */
	return false;
}

void deliver_tick(struct imrelay *r, uint64_t now)
{
	/* the box's overload just ended (no datagram late here and no UDP
	 * datagram dropped on the box for IM_OVERLOAD_QUIET_MS): the copies
	 * in flight, or their answers, may have been dropped in it, and
	 * Timer E has backed off up to 4 s; they go again now instead, and
	 * the devices' transactions absorb those that had arrived */
	const bool ovl = overload_since(r->ovl, now > IM_OVERLOAD_QUIET_MS ?
					now - IM_OVERLOAD_QUIET_MS : 0);
	const bool resend = r->ovl_seen && !ovl;
	unsigned resent = 0;

	r->ovl_seen = ovl;
	for (struct le *le = r->inflight.head; le; ) {
		struct attempt *a = le->data;

		le = le->next;
		if (a->sent + IM_ATTEMPT_MS <= now) {
			attempt_final(a, 408);
			continue;
		}
		if (resend && a->next_retx > now) {
			a->retx_iv = 500;
			a->next_retx = now + a->retx_iv;
			if (!attempt_send(a))
				++resent;
			continue;
		}
		if (a->next_retx <= now) {
			/* Timer E: 0.5, 1, 2, 4, 4 ... s */
			a->retx_iv = MIN(a->retx_iv * 2, 4000u);
			a->next_retx = now + a->retx_iv;
			(void)attempt_send(a);
		}
	}
	if (resent)
		log_notice("overload over: %u copies in flight sent again "
			   "now", resent);
	if (++r->ticks % (1000 / IM_TICK_MS) == 0) {
		uint64_t now_s = (uint64_t)time(NULL);

		(void)hash_apply(r->mboxes, tick_mbox_h, &now_s);
	}
}

static bool unwait_h(struct le *le, void *arg)
{
	struct mbox *mb = le->data;

	(void)arg;
	while (mb->waiters.head) {
		struct delivery *d = mb->waiters.head->data;

		d->mb = NULL;          /* the mailbox goes next, as it is */
		mem_deref(d);
	}
	return false;
}

static bool kick_h(struct le *le, void *arg)
{
	(void)arg;
	mbox_run(le->data);
	return false;
}

void deliver_kick_all(struct imrelay *r)
{
	(void)hash_apply(r->mboxes, kick_h, NULL);
}

int deliver_init(struct imrelay *r)
{
	int err = hash_alloc(&r->mboxes, 1024);

	return err ? err : hash_alloc(&r->attempts, IM_ATTEMPT_BUCKETS);
}

void deliver_close(struct imrelay *r)
{
	r->fast = mem_deref(r->fast);
	/* attempts first: they point at deliveries, which point at
	 * mailboxes */
	while (r->inflight.head) {
		struct attempt *a = r->inflight.head->data;
		struct delivery *d = a->d;

		deliver_detach(d);
		mem_deref(d);  /* and its attempts */
	}
	if (r->mboxes) {
		(void)hash_apply(r->mboxes, unwait_h, NULL);
		hash_flush(r->mboxes);
	}
	r->mboxes = mem_deref(r->mboxes);
	r->attempts = mem_deref(r->attempts);
}
