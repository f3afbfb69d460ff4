/* relay: a MESSAGE from a user (RFC 3428 pager mode), as the edge sends
 * it with the sender asserted. Checked (target, size, Content-Type),
 * then given to deliver.c, whose handler (done_h) says how it ended:
 * the sender hears 200 when a device of the target took it, 202 when it
 * was kept for later, or why not. One that must wait behind messages
 * kept for the user waits in memory for its turn, its sender with it
 * (deliver.c); only when the wait ends undelivered is it kept (202).
 *
 * Answers go without a libre server transaction (libcommon/sip/sipreply.c).
 * A retransmission of the sender's request is known by its Call-ID,
 * From-tag, CSeq and sender: while the first is in delivery it is
 * absorbed; after the answer it gets the same answer again, for 32 s
 * (Timer J). Its To-tag is a function of the same parts. The key is
 * also the online delivery's Call-ID and branch seed, so a relay
 * restarted while a delivery was in flight, given the retransmission,
 * sends the very same copies, which the edge's transactions absorb. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "sip/overload.h"
#include "sip/reqtag.h"
#include "sip/sipreply.h"
#include "store/store.h"
#include "store/store_users.h"
#include "imrelay.h"
#include "deliver.h"
#include "relay.h"

#define MAX_NAME 64
#define MAX_CTYPE 255
#define MAX_DATE 64
#define ISCOMPOSING "application/im-iscomposing+xml"

/* What a message in delivery needs; freed with the answer */
struct inmsg {
	struct sip_msg *msg;   /* the body is in it */
	char user[MAX_NAME + 1];
	char sender[MAX_NAME + 1];
	char from_name[MAX_NAME + 1];
	char date[MAX_DATE + 1];
	char ctype[MAX_CTYPE + 1];
	char origin[80];
	bool iscomposing;
};

/* A sender's request: in delivery, then (answered) its answer, for a
 * retransmission */
struct incoming {
	struct le he;          /* r->incoming */
	struct le lq;          /* r->waiting, then r->answered */
	struct imrelay *r;
	uint64_t key;
	struct inmsg *m;       /* until answered */
	struct delivery *d;
	uint64_t since;        /* jiffies: arrival, then the answer */
	uint16_t code;
	char reason[48];
	bool answered;
	bool quiet;            /* its answer is counted, not logged */
};

static void inmsg_destructor(void *arg)
{
	struct inmsg *m = arg;

	mem_deref(m->msg);
}

static void incoming_destructor(void *arg)
{
	struct incoming *in = arg;

	hash_unlink(&in->he);
	list_unlink(&in->lq);
	deliver_detach(in->d);
	mem_deref(in->m);
	if (in->answered)
		--in->r->nanswered;
	else
		--in->r->nincoming;
}

static bool key_cmp(struct le *le, void *arg)
{
	const struct incoming *in = le->data;

	return in->key == *(const uint64_t *)arg;
}

static uint64_t key_of(const struct imrelay *r, const struct sip_msg *msg,
		       const char *sender)
{
	struct reqtag t;

	reqtag_init(&t, r->salt);
	reqtag_str(&t, sender);
	reqtag_pl(&t, &msg->callid);
	reqtag_pl(&t, &msg->from.tag);
	reqtag_u32(&t, msg->cseq.num);
	return t.h;
}

static void reply(struct imrelay *r, const struct sip_msg *msg,
		  uint64_t key, uint16_t code, const char *reason)
{
	(void)sipreply(r->sip, msg, key ^ 0x9e3779b97f4a7c15ULL, false, code,
		       reason, code == 503 ? "Retry-After: 5\r\n"
		       "Content-Length: 0\r\n\r\n" : NULL);
}

static void im_of(struct im_msg *m, const struct inmsg *im)
{
	m->user = im->user;
	m->sender = im->sender;
	m->from_name = im->from_name;
	m->date = im->date;
	m->ctype = im->ctype;
	m->origin = im->origin;
	m->body = mbuf_buf(im->msg->mb);
	m->bodylen = mbuf_get_left(im->msg->mb);
}

static void answer(struct incoming *in, uint16_t code, const char *reason)
{
	struct imrelay *r = in->r;

	if (in->answered)
		return;
	reply(r, in->m->msg, in->key, code, reason);
	if (!in->quiet)
		log_sip(code < 300 ? LOG_INFO : LOG_NOTICE, in->m->msg,
			in->m->sender, "MESSAGE from '%s' to '%s': %u %s",
			in->m->sender, in->m->user, code, reason);
	in->answered = true;
	--r->nincoming;
	++r->nanswered;
	in->code = code;
	str_ncpy(in->reason, reason, sizeof(in->reason));
	in->m = mem_deref(in->m);
	deliver_detach(in->d);
	in->d = NULL;
	in->since = tmr_jiffies();
	list_unlink(&in->lq);
	list_append(&r->answered, &in->lq, in);
	/* past the cap, the oldest answers are forgotten before Timer J */
	while (r->nanswered > IM_MAX_ANSWERED && r->answered.head)
		mem_deref(r->answered.head->data);
}

/* Not delivered now: kept (202), or why not */
static void keep(struct incoming *in, struct delivery *d)
{
	struct im_msg m;
	int err;

	in->d = NULL;      /* d is the kept one's now, or dropped */

	if (in->m->iscomposing) {
		/* RFC 3994: a typing indication is worth nothing later */
		deliver_detach(d);
		answer(in, 480, "Temporarily Unavailable");
		return;
	}
	im_of(&m, in->m);
	err = deliver_keep(in->r, &m, d);
	if (err == EOVERFLOW) {
		deliver_detach(d);
		answer(in, 486, "Busy Here: Too Many Stored Messages");
	}
	else if (store_unavailable(err)) {
		/* not kept: the sender's phone tries again */
		deliver_detach(d);
		answer(in, 503, "Service Unavailable");
	}
	else if (err) {
		deliver_detach(d);
		answer(in, 500, "Server Internal Error");
	}
	else {
		answer(in, 202, "Accepted");
	}
}

/* Behind (deliver.h, DELIVER_BUSY): 503, counted, a line a second */
static void busy(struct incoming *in)
{
	struct imrelay *r = in->r;
	const uint64_t now = tmr_jiffies();

	++r->nbusy;
	if (now - r->busy_logged >= 1000) {
		log_warn("behind: %u MESSAGEs to users whose earlier ones "
			 "waited their turn over %u ms, or more of them than "
			 "went in that time: 503 with Retry-After",
			 r->nbusy, r->conf->im_deliver_wait / 3);
		r->busy_logged = now;
		r->nbusy = 0;
	}
	in->quiet = true;
	answer(in, 503, "Service Unavailable");
}

/* The online delivery for `in` ended (deliver_done_h): 200, or the best
 * failure of its copies, after which it is kept or the sender hears why
 * not. */
static void done_h(uint16_t code, void *arg)
{
	struct incoming *in = arg;
	char reason[64];

	in->d = NULL;      /* it ends or is kept: not ours to detach */
	if (code >= 200 && code < 300) {
		answer(in, 200, "OK");
		return;
	}
	if (im_temporary(code)) {
		keep(in, NULL);
		return;
	}
	/* the recipient's devices refused it: the sender hears so */
	re_snprintf(reason, sizeof(reason), "Refused By The Recipient (%u)",
		    code);
	answer(in, code >= 600 ? 603 : code == 415 ? 415 : 488, reason);
}

/* The sender's own device: its Via after the edge's, where the edge
 * wrote received and rport (RFC 3581). */
static bool via_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		  void *arg)
{
	unsigned *n = arg;

	(void)msg;
	(void)hdr;
	return ++*n == 2;
}

static void origin_of(char *buf, size_t sz, const struct sip_msg *msg)
{
	const struct sip_hdr *h;
	struct sip_via v;
	struct pl rcv, rport;
	unsigned n = 0;
	struct sa sa;
	uint16_t port;

	buf[0] = '\0';
	h = sip_msg_hdr_apply(msg, true, SIP_HDR_VIA, via_h, &n);
	if (!h || sip_via_decode(&v, &h->val))
		return;
	port = sa_port(&v.addr) ? sa_port(&v.addr) :
		sip_transp_port(v.tp, 0);
	if (!msg_param_decode(&v.params, "rport", &rport) && rport.l)
		port = (uint16_t)pl_u32(&rport);
	if (!msg_param_decode(&v.params, "received", &rcv)) {
		if (sa_set(&sa, &rcv, port))
			return;
	}
	else {
		sa = v.addr;
		sa_set_port(&sa, port);
	}
	re_snprintf(buf, sz, "%s:%J", sip_transp_name(v.tp), &sa);
}

static int copy_hdr(char *buf, size_t sz, const struct sip_msg *msg,
		    enum sip_hdrid id)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	buf[0] = '\0';
	if (!h)
		return 0;
	if (h->val.l >= sz || memchr(h->val.p, '\r', h->val.l) ||
	    memchr(h->val.p, '\n', h->val.l))
		return EOVERFLOW;
	return pl_strcpy(&h->val, buf, sz);
}

void relay_request(struct imrelay *r, const struct sip_msg *msg,
		   const char *sender)
{
	const struct conf *c = r->conf;
	struct user_rec *target = NULL;
	struct incoming *in = NULL, *old;
	struct inmsg *im;
	struct delivery *d = NULL;
	struct im_msg m;
	size_t bodylen = mbuf_get_left(msg->mb);
	char reason[64];
	uint64_t key;
	int err;

	if (!sender[0]) {
		log_sip(LOG_NOTICE, msg, NULL, "MESSAGE without an asserted "
			"sender: 403");
		reply(r, msg, 0, 403, "Forbidden");
		return;
	}
	key = key_of(r, msg, sender);
	old = list_ledata(hash_lookup(r->incoming, IM_BUCKET(key), key_cmp,
				      &key));
	if (old) {
		/* a retransmission: absorbed while in delivery, then the
		 * same answer again */
		if (old->answered)
			reply(r, msg, key, old->code, old->reason);
		return;
	}
	err = !msg->uri.user.l || msg->uri.user.l > MAX_NAME ? ENOENT :
		users_cache_get(r->users, &msg->uri.user, &target);
	if (store_unavailable(err)) {
		log_sip(LOG_WARNING, msg, sender, "MESSAGE from '%s' to "
			"'%r': the admin database is out of reach: 503",
			sender, &msg->uri.user);
		reply(r, msg, key, 503, "Service Unavailable");
		return;
	}
	if (err) {
		log_sip(LOG_INFO, msg, sender, "MESSAGE from '%s' to unknown "
			"'%r': 404", sender, &msg->uri.user);
		reply(r, msg, key, 404, "Not Found");
		return;
	}
	mem_deref(target);
	if (bodylen > c->im_max_size) {
		log_sip(LOG_NOTICE, msg, sender, "MESSAGE from '%s': %zu "
			"bytes, over im_max_size %u: 413", sender, bodylen,
			c->im_max_size);
		re_snprintf(reason, sizeof(reason), "Request Entity Too Large "
			    "(at most %u bytes)", c->im_max_size);
		reply(r, msg, key, 413, reason);
		return;
	}
	if (r->nincoming >= IM_MAX_INCOMING) {
		log_sip(LOG_WARNING, msg, sender, "MESSAGE: %u waiting "
			"already: 503", r->nincoming);
		reply(r, msg, key, 503, "Service Unavailable");
		return;
	}
	in = mem_zalloc(sizeof(*in), incoming_destructor);
	if (!in) {
		reply(r, msg, key, 500, "Server Internal Error");
		return;
	}
	++r->nincoming;
	in->r = r;
	in->key = key;
	in->since = tmr_jiffies();
	in->m = im = mem_zalloc(sizeof(*im), inmsg_destructor);
	if (!im) {
		reply(r, msg, key, 500, "Server Internal Error");
		goto out;
	}
	str_ncpy(im->sender, sender, sizeof(im->sender));
	(void)pl_strcpy(&msg->uri.user, im->user, sizeof(im->user));
	if (msg->from.dname.l <= MAX_NAME)
		(void)pl_strcpy(&msg->from.dname, im->from_name,
				sizeof(im->from_name));
	if (copy_hdr(im->ctype, sizeof(im->ctype), msg,
		     SIP_HDR_CONTENT_TYPE) ||
	    copy_hdr(im->date, sizeof(im->date), msg, SIP_HDR_DATE)) {
		reply(r, msg, key, 400, "Bad Content-Type Or Date");
		goto out;
	}
	if (bodylen && !im->ctype[0]) {
		reply(r, msg, key, 400, "Missing Content-Type");
		goto out;
	}
	im->iscomposing = !strncasecmp(im->ctype, ISCOMPOSING,
				       sizeof(ISCOMPOSING) - 1);
	if (!strcmp(im->user, im->sender))   /* only to self is one left out */
		origin_of(im->origin, sizeof(im->origin), msg);
	im->msg = mem_ref((void *)msg);
	hash_append(r->incoming, IM_BUCKET(key), &in->he, in);
	list_append(&r->waiting, &in->lq, in);

	im_of(&m, im);
	switch (deliver_online(r, &m, key, done_h, in, &d)) {

	case DELIVER_SENT:
		in->d = d;
		in = NULL;     /* answered when it ends */
		break;

	case DELIVER_TOO_BIG:
		answer(in, 513, "Message Too Large For UDP");
		in = NULL;
		break;

	case DELIVER_BUSY:
		busy(in);
		in = NULL;
		break;

	case DELIVER_NOWHERE:
		answer(in, 480, "Temporarily Unavailable");
		in = NULL;
		break;

	case DELIVER_KEEP:
		keep(in, NULL);
		in = NULL;
		break;
	}
 out:
	mem_deref(in);
}

void relay_tick(struct imrelay *r, uint64_t now)
{
	/* the sender's wait: kept, the copies in flight go on as the kept
	 * message's (a late 2xx takes it out of the store again) */
	while (r->waiting.head) {
		struct incoming *in = r->waiting.head->data;

		if (in->since + r->conf->im_deliver_wait > now)
			break;
		keep(in, in->d);
	}
	while (r->answered.head) {
		struct incoming *in = r->answered.head->data;

		if (in->since + IM_KEEP_ANSWER_MS > now)
			break;
		mem_deref(in);
	}
}

/* A MESSAGE that waited in our receive queue past overload_delay gets
 * 503 before libre decodes it (sip/overload.h); the edge passes it back
 * to the sender. */
static bool shed_h(struct sa *src, struct mbuf *mb, void *arg)
{
	struct imrelay *r = arg;

	return overload_shed(r->ovl, r->sock, src, mb, false);
}

void relay_attach(struct imrelay *r, void *sock)
{
	if (r->shed || !sock)
		return;
	r->sock = sock;
	(void)udp_register_helper(&r->shed, sock, 0, NULL, shed_h, r);
}

int relay_init(struct imrelay *r)
{
	int err = hash_alloc(&r->incoming, IM_INCOMING_BUCKETS);

	return err ? err : overload_alloc(&r->ovl, r->conf, true);
}

void relay_close(struct imrelay *r)
{
	r->shed = mem_deref(r->shed);
	r->ovl = mem_deref(r->ovl);
	if (r->incoming)
		hash_flush(r->incoming);
	r->incoming = mem_deref(r->incoming);
}
