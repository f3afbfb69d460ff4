/* bus: ZeroMQ sockets driven from libre's loop. ZMQ_FD is edge-triggered,
 * so every socket is drained until ZMQ_EVENTS has no POLLIN, with a budget
 * per pass and a 0 ms timer to carry on (LIBRE.md §9), and drained again
 * after each send on it. The publisher's key/value table makes snapshots:
 * O(N) in the keys of the topic asked for, once per subscriber start or
 * gap, never per update. A publisher may hold its updates for a few
 * milliseconds and send them together (bus_pub_batch). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <re.h>
#include "bus/bus.h"

#define DRAIN_BUDGET 256
#define MAX_FRAMES 8            /* a ZAP request has 7 */
#define BACKLOG_CAP 100000     /* HWM and pending updates while syncing */
#define SNAP_TIMEOUT_MS 2000
#define BATCH_MAX 512          /* held updates that make a batch leave now */
#define BUS_NODE_MSG_MAX 65536 /* a frame from another node, at most */

struct bus;
struct zsock;
typedef void (zsock_recv_h)(struct zsock *z, unsigned n,
			    const struct pl *frames, void *arg);

struct zsock {
	void *sock;
	int fd;
	struct tmr cont;
	zsock_recv_h *recvh;
	void *arg;
};

struct bus {
	void *zctx;
	bool secure;           /* tcp:// sockets use CURVE (bus_secure) */
	struct bus_keys keys;
	bus_auth_h *authh;
	void *auth_arg;
	struct zsock zap;      /* ZeroMQ's authentication handler (ZAP) */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- sockets in the loop ---- */

static void zsock_drain(struct zsock *z);

static void cont_h(void *arg)
{
	zsock_drain(arg);
}

static void zsock_drain(struct zsock *z)
{
	for (unsigned n = 0; ; n++) {
		zmq_msg_t m[MAX_FRAMES];
		struct pl frames[MAX_FRAMES];
		unsigned nf = 0;
		int ev = 0, more = 1;
		size_t len = sizeof(ev);

		if (!z->sock)
			return;
		if (zmq_getsockopt(z->sock, ZMQ_EVENTS, &ev, &len) ||
		    !(ev & ZMQ_POLLIN))
			return;
		if (n >= DRAIN_BUDGET) {
			tmr_start(&z->cont, 0, cont_h, z);
			return;
		}
		while (more) {
			zmq_msg_t tmp;
			size_t ml = sizeof(more);
			zmq_msg_t *cur = nf < MAX_FRAMES ? &m[nf] : &tmp;

			zmq_msg_init(cur);
			if (zmq_msg_recv(cur, z->sock, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(cur);
				break;
			}
			if (zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &ml))
				more = 0;
			if (cur == &tmp) {
				zmq_msg_close(&tmp);   /* too many frames */
				continue;
			}
			frames[nf].p = zmq_msg_data(cur);
			frames[nf].l = zmq_msg_size(cur);
			++nf;
		}
		if (nf && z->recvh)
			z->recvh(z, nf, frames, z->arg);
		for (unsigned i = 0; i < nf; i++)
			zmq_msg_close(&m[i]);
	}
}

static void zsock_fd_h(int flags, void *arg)
{
	(void)flags;
	zsock_drain(arg);
}

static void zsock_close(struct zsock *z)
{
	tmr_cancel(&z->cont);
	if (z->fd >= 0)
		fd_close(z->fd);       /* never close(): it is ZeroMQ's */
	z->fd = -1;
	if (z->sock)
		zmq_close(z->sock);
	z->sock = NULL;
}

static int zsock_open(struct zsock *z, struct bus *bus, int type,
		      zsock_recv_h *recvh, void *arg)
{
	int linger = 1000, hwm = BACKLOG_CAP;
	size_t len = sizeof(z->fd);

	tmr_init(&z->cont);
	z->fd = -1;
	z->recvh = recvh;
	z->arg = arg;
	z->sock = zmq_socket(bus->zctx, type);
	if (!z->sock)
		return errno ? errno : ENOMEM;
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(z->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(z->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (!recvh)
		return 0;              /* PUB: nothing to read */
	if (zmq_getsockopt(z->sock, ZMQ_FD, &z->fd, &len))
		return errno;
	return fd_listen(z->fd, FD_READ, zsock_fd_h, z);
}

/* After a send the edge may be gone: look again on the next pass. */
static void zsock_sent(struct zsock *z)
{
	if (z->recvh)
		tmr_start(&z->cont, 0, cont_h, z);
}

static int zsock_send(struct zsock *z, unsigned n, const struct pl *frames)
{
	int err = 0;

	for (unsigned i = 0; i < n; i++) {
		int fl = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
		if (zmq_send(z->sock, frames[i].p, frames[i].l, fl) < 0) {
			err = errno;
			break;
		}
	}
	zsock_sent(z);
	return err;
}

/* CURVE on a socket about to bind (server_key NULL: it is the server)
 * or connect to a server of that public key, when the bus is secured
 * and the endpoint is tcp://. ipc:// stays plain: the folder's
 * permissions guard it. */
static int zsock_curve(struct zsock *z, const struct bus *bus,
		       const char *ep, const char *server_key)
{
	static const char domain[] = "lamplight";
	int64_t max = BUS_NODE_MSG_MAX;
	int one = 1;

	if (!bus->secure || strncmp(ep, "tcp://", 6))
		return 0;
	/* what another node may make us read at once */
	if (zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)))
		return errno ? errno : EINVAL;
	if (!server_key) {
		if (zmq_setsockopt(z->sock, ZMQ_ZAP_DOMAIN, domain,
				   sizeof(domain) - 1) ||
		    zmq_setsockopt(z->sock, ZMQ_CURVE_SERVER, &one,
				   sizeof(one)) ||
		    zmq_setsockopt(z->sock, ZMQ_CURVE_SECRETKEY,
				   bus->keys.sec, BUS_KEY_LEN))
			return errno ? errno : EINVAL;
		return 0;
	}
	if (strlen(server_key) != BUS_KEY_LEN ||
	    zmq_setsockopt(z->sock, ZMQ_CURVE_SERVERKEY, server_key,
			   BUS_KEY_LEN) ||
	    zmq_setsockopt(z->sock, ZMQ_CURVE_PUBLICKEY, bus->keys.pub,
			   BUS_KEY_LEN) ||
	    zmq_setsockopt(z->sock, ZMQ_CURVE_SECRETKEY, bus->keys.sec,
			   BUS_KEY_LEN))
		return errno ? errno : EINVAL;
	return 0;
}

/* ---- bus ---- */

static void bus_destructor(void *arg)
{
	struct bus *bus = arg;

	zsock_close(&bus->zap);
	if (bus->zctx)
		zmq_ctx_term(bus->zctx);
}

int bus_alloc(struct bus **busp)
{
	struct bus *bus;

	if (!busp)
		return EINVAL;
	bus = mem_zalloc(sizeof(*bus), bus_destructor);
	if (!bus)
		return ENOMEM;
	bus->zap.fd = -1;
	bus->zctx = zmq_ctx_new();
	if (!bus->zctx) {
		mem_deref(bus);
		return ENOMEM;
	}
	*busp = bus;
	return 0;
}

int bus_keys_make(struct bus_keys *k)
{
	if (!k)
		return EINVAL;
	if (zmq_curve_keypair(k->pub, k->sec))
		return errno ? errno : ENOTSUP;   /* libzmq without CURVE */
	return 0;
}

int bus_keys_public(char pub[BUS_KEY_LEN + 1], const char *sec)
{
	if (!sec || strlen(sec) != BUS_KEY_LEN)
		return EINVAL;
	return zmq_curve_public(pub, sec) ? EINVAL : 0;
}

/* ZAP (ZeroMQ RFC 27): [version, request id, domain, address, identity,
 * mechanism, credentials...]; answered [version, request id, status,
 * text, user id, metadata]. With CURVE the credential is the client's
 * 32-byte public key; it reaches us only after the client proved it
 * holds the matching secret key and knew ours. */
static void zap_recv_h(struct zsock *z, unsigned n, const struct pl *fr,
		       void *arg)
{
	struct bus *bus = arg;
	char key[BUS_KEY_LEN + 1] = "", addr[64] = "";
	bool allow = false;
	struct pl out[6];

	if (n >= 7 && !pl_strcmp(&fr[0], "1.0") &&
	    !pl_strcmp(&fr[5], "CURVE") && fr[6].l == 32) {
		(void)pl_strcpy(&fr[3], addr, sizeof(addr));
		if (zmq_z85_encode(key, (const uint8_t *)fr[6].p, 32))
			allow = bus->authh ?
				bus->authh(key, addr, bus->auth_arg) :
				!strcmp(key, bus->keys.pub);
	}
	pl_set_str(&out[0], "1.0");
	out[1] = n >= 2 ? fr[1] : pl_null;
	pl_set_str(&out[2], allow ? "200" : "400");
	pl_set_str(&out[3], allow ? "OK" : "not a node of this cluster");
	pl_set_str(&out[4], allow ? key : "");
	out[5] = pl_null;
	(void)zsock_send(z, 6, out);
}

int bus_secure(struct bus *bus, const struct bus_keys *keys,
	       bus_auth_h *authh, void *arg)
{
	char pub[BUS_KEY_LEN + 1];
	int err;

	if (!bus || !keys || bus->secure)
		return EINVAL;
	if (bus_keys_public(pub, keys->sec) || strcmp(pub, keys->pub))
		return EINVAL;    /* the halves do not match */
	bus->keys = *keys;
	bus->authh = authh;
	bus->auth_arg = arg;
	err = zsock_open(&bus->zap, bus, ZMQ_REP, zap_recv_h, bus);
	if (!err && zmq_bind(bus->zap.sock, "inproc://zeromq.zap.01"))
		err = errno ? errno : EADDRINUSE;
	if (err) {
		zsock_close(&bus->zap);
		return err;
	}
	bus->secure = true;
	zsock_drain(&bus->zap);
	return 0;
}

/* ---- messages ---- */

static int data_print(struct re_printf *pf, const struct odict *data)
{
	return data ? re_hprintf(pf, ",\"data\":%H", json_encode_odict,
				 data) : 0;
}

/* Printed as it stands, not built as an odict first: a publisher encodes
 * one of these for every change (the presence daemon one per PUBLISH),
 * and the envelope's odict was a tenth of its CPU. The same bytes as
 * json_encode_odict of the envelope (test_bus checks it). */
int bus_msg_encode(char **jsonp, const char *topic, const char *key,
		   const char *type, uint64_t seq, const char *epoch,
		   uint64_t time, const struct odict *data)
{
	if (!jsonp || !topic || !type || !epoch)
		return EINVAL;
	return re_sdprintf(jsonp, "{\"v\":%d,\"topic\":\"%H\","
			   "\"key\":\"%H\",\"type\":\"%H\",\"seq\":%lld,"
			   "\"epoch\":\"%H\",\"time\":%lld%H}",
			   BUS_VERSION, utf8_encode, topic, utf8_encode,
			   key ? key : "", utf8_encode, type,
			   (long long)seq, utf8_encode, epoch,
			   (long long)time, data_print, data);
}

int bus_msg_decode(struct bus_msg *m, const char *json, size_t len)
{
	const struct odict_entry *e;
	uint64_t v = 0;
	int err;

	if (!m || !json)
		return EINVAL;
	memset(m, 0, sizeof(*m));
	if (!len || json[0] != '{')
		return EBADMSG;      /* objects only (LIBRE.md §7) */
	err = json_decode_odict(&m->root, 16, json, len, 8);
	if (err)
		return err;
	if (!odict_get_number(m->root, &v, "v") || v != BUS_VERSION)
		goto bad;
	m->topic = odict_string(m->root, "topic");
	m->key = odict_string(m->root, "key");
	m->type = odict_string(m->root, "type");
	m->epoch = odict_string(m->root, "epoch");
	if (!m->topic || !m->key || !m->type || !m->epoch)
		goto bad;
	if (!odict_get_number(m->root, &m->seq, "seq"))
		goto bad;
	(void)odict_get_number(m->root, &m->time, "time");
	e = odict_get_type(m->root, ODICT_OBJECT, "data");
	m->data = e ? e->u.odict : NULL;
	return 0;
 bad:
	m->root = mem_deref(m->root);
	return EBADMSG;
}

enum bus_seq_verdict bus_seq_check(const struct bus_seqstate *s,
				   const char *epoch, uint64_t seq,
				   bool heartbeat)
{
	if (!epoch || strcmp(s->epoch, epoch))
		return BUS_SEQ_NEWEPOCH;
	if (heartbeat)
		return seq > s->seq ? BUS_SEQ_GAP : BUS_SEQ_OK;
	if (seq <= s->seq)
		return BUS_SEQ_DUP;
	if (seq == s->seq + 1)
		return BUS_SEQ_OK;
	return BUS_SEQ_GAP;
}

/* ---- publisher ---- */

struct topic {
	struct le le;
	char *name;
	uint64_t seq;
};

struct kv {
	struct le he;
	char *topic;           /* NULL in a subscriber's view: one topic */
	char *key;
	char *json;
	bool fresh;            /* subscriber: seen in the current snapshot */
};

struct bus_pub {
	struct bus *bus;
	struct zsock pub;
	struct zsock router;
	struct zsock npub;     /* the same, for other nodes (bus_pub_listen) */
	struct zsock nrouter;
	struct hash *kv;
	struct list topics;
	char epoch[BUS_EPOCH_LEN + 1];
	struct tmr hb;
	uint32_t hb_ms;
	struct list held;      /* struct held: updates waiting for the batch */
	unsigned nheld;
	struct tmr batch;
	uint32_t batch_ms;     /* 0: each update leaves at once */
};

/* An update numbered and in the table, not yet on the PUB socket. */
struct held {
	struct le le;
	char *name;            /* TOPIC:KEY */
	char *json;
};

static void kv_destructor(void *arg)
{
	struct kv *kv = arg;

	hash_unlink(&kv->he);
	mem_deref(kv->topic);
	mem_deref(kv->key);
	mem_deref(kv->json);
}

static void topic_destructor(void *arg)
{
	struct topic *t = arg;

	list_unlink(&t->le);
	mem_deref(t->name);
}

static bool kv_apply_deref(struct le *le, void *arg)
{
	(void)arg;
	mem_deref(le->data);
	return false;
}

static void held_destructor(void *arg)
{
	struct held *h = arg;

	list_unlink(&h->le);
	mem_deref(h->name);
	mem_deref(h->json);
}

static void pub_flush(struct bus_pub *pub);

static void pub_destructor(void *arg)
{
	struct bus_pub *pub = arg;
	struct le *le;

	pub_flush(pub);            /* ZMQ_LINGER lets them still go out */
	tmr_cancel(&pub->batch);
	tmr_cancel(&pub->hb);
	zsock_close(&pub->pub);
	zsock_close(&pub->router);
	zsock_close(&pub->npub);
	zsock_close(&pub->nrouter);
	hash_apply(pub->kv, kv_apply_deref, NULL);
	mem_deref(pub->kv);
	le = pub->topics.head;
	while (le) {
		struct topic *t = le->data;
		le = le->next;
		mem_deref(t);
	}
	mem_deref(pub->bus);
}

static struct topic *topic_get(struct bus_pub *pub, const char *name,
			       bool create)
{
	struct topic *t;
	struct le *le;

	for (le = pub->topics.head; le; le = le->next) {
		t = le->data;
		if (!strcmp(t->name, name))
			return t;
	}
	if (!create)
		return NULL;
	t = mem_zalloc(sizeof(*t), topic_destructor);
	if (!t)
		return NULL;
	if (str_dup(&t->name, name)) {
		mem_deref(t);
		return NULL;
	}
	list_append(&pub->topics, &t->le, t);
	return t;
}

uint64_t bus_pub_seq(const struct bus_pub *pub, const char *topic)
{
	struct topic *t = topic_get((struct bus_pub *)pub, topic, false);

	return t ? t->seq : 0;
}

struct kv_find {
	const char *topic;
	const char *key;
};

static bool kv_cmp(struct le *le, void *arg)
{
	const struct kv *kv = le->data;
	const struct kv_find *f = arg;

	return !strcmp(kv->topic, f->topic) && !strcmp(kv->key, f->key);
}

static int send_frames(struct bus_pub *pub, const char *name,
		       const char *json)
{
	struct pl fr[2];

	pl_set_str(&fr[0], name);
	pl_set_str(&fr[1], json);
	if (pub->npub.sock)
		(void)zsock_send(&pub->npub, 2, fr);
	return zsock_send(&pub->pub, 2, fr);
}

/* The held updates leave, in the order they were numbered. */
static void pub_flush(struct bus_pub *pub)
{
	struct le *le;

	tmr_cancel(&pub->batch);
	while ((le = pub->held.head)) {
		struct held *h = le->data;

		(void)send_frames(pub, h->name, h->json);
		mem_deref(h);
	}
	pub->nheld = 0;
}

static void batch_h(void *arg)
{
	pub_flush(arg);
}

/* With batching, an update is held until the batch's time is up (or
 * BATCH_MAX are held): the subscribers' I/O threads and event loops wake
 * once for many updates instead of once for each. */
static int pub_send(struct bus_pub *pub, const char *topic, const char *key,
		    char *json)
{
	struct held *h;
	char *name = NULL;
	int err;

	err = re_sdprintf(&name, "%s:%s", topic, key);
	if (err)
		return err;
	if (!pub->batch_ms) {
		err = send_frames(pub, name, json);
		mem_deref(name);
		return err;
	}
	h = mem_zalloc(sizeof(*h), held_destructor);
	if (!h) {
		mem_deref(name);
		return ENOMEM;
	}
	h->name = name;
	h->json = mem_ref(json);
	list_append(&pub->held, &h->le, h);
	if (++pub->nheld >= BATCH_MAX)
		pub_flush(pub);
	else if (!tmr_isrunning(&pub->batch))
		tmr_start(&pub->batch, pub->batch_ms, batch_h, pub);
	return 0;
}

static int pub_change(struct bus_pub *pub, const char *topic, const char *key,
		      const struct odict *data, bool del)
{
	struct kv_find f = { topic, key };
	struct topic *t;
	struct kv *kv;
	char *json = NULL;
	uint32_t h;
	int err;

	if (!pub || !topic || !key)
		return EINVAL;
	t = topic_get(pub, topic, true);
	if (!t)
		return ENOMEM;

	err = bus_msg_encode(&json, topic, key, del ? "del" : "set",
			     t->seq + 1, pub->epoch, now_ms(), data);
	if (err)
		return err;
	++t->seq;

	h = hash_joaat_str(key);
	kv = list_ledata(hash_lookup(pub->kv, h, kv_cmp, &f));
	if (del) {
		mem_deref(kv);
	}
	else {
		if (!kv) {
			kv = mem_zalloc(sizeof(*kv), kv_destructor);
			if (!kv || str_dup(&kv->topic, topic) ||
			    str_dup(&kv->key, key)) {
				mem_deref(kv);
				mem_deref(json);
				return ENOMEM;
			}
			hash_append(pub->kv, h, &kv->he, kv);
		}
		mem_deref(kv->json);
		kv->json = mem_ref(json);
	}

	err = pub_send(pub, topic, key, json);
	mem_deref(json);
	return err;
}

void bus_pub_batch(struct bus_pub *pub, uint32_t ms)
{
	if (!pub)
		return;
	pub->batch_ms = ms;
	if (!ms)
		pub_flush(pub);
}

int bus_pub_topic(struct bus_pub *pub, const char *topic)
{
	if (!pub || !topic)
		return EINVAL;
	return topic_get(pub, topic, true) ? 0 : ENOMEM;
}

int bus_pub_set(struct bus_pub *pub, const char *topic, const char *key,
		const struct odict *data)
{
	return pub_change(pub, topic, key, data, false);
}

int bus_pub_del(struct bus_pub *pub, const char *topic, const char *key,
		const struct odict *data)
{
	return pub_change(pub, topic, key, data, true);
}

static void hb_h(void *arg)
{
	struct bus_pub *pub = arg;
	struct le *le;

	/* a heartbeat's seq counts the held updates: they go first, or a
	 * subscriber would see a gap */
	pub_flush(pub);
	for (le = pub->topics.head; le; le = le->next) {
		struct topic *t = le->data;
		char *json = NULL, *name = NULL;

		if (bus_msg_encode(&json, t->name, "", "hb", t->seq,
				   pub->epoch, now_ms(), NULL))
			continue;
		if (!re_sdprintf(&name, "%s:", t->name))
			(void)send_frames(pub, name, json);
		mem_deref(name);
		mem_deref(json);
	}
	tmr_start(&pub->hb, pub->hb_ms, hb_h, pub);
}

struct snap_ctx {
	struct zsock *router;
	struct pl id;
	struct pl req;
	const char *topic;
};

static bool snap_apply(struct le *le, void *arg)
{
	const struct kv *kv = le->data;
	struct snap_ctx *c = arg;
	struct pl fr[3];

	if (strcmp(kv->topic, c->topic))
		return false;
	fr[0] = c->id;
	fr[1] = c->req;
	pl_set_str(&fr[2], kv->json);
	(void)zsock_send(c->router, 3, fr);
	return false;
}

/* [identity, "snapshot", topic, request id] */
static void router_recv_h(struct zsock *z, unsigned n,
			  const struct pl *frames, void *arg)
{
	struct bus_pub *pub = arg;
	struct snap_ctx c;
	struct topic *t;
	char *topic = NULL, *json = NULL;
	struct pl fr[3];

	if (n != 4 || pl_strcmp(&frames[1], "snapshot") ||
	    frames[2].l > 64 || frames[3].l > 32)
		return;
	if (pl_strdup(&topic, &frames[2]))
		return;
	c.router = z;
	c.id = frames[0];
	c.req = frames[3];
	c.topic = topic;
	hash_apply(pub->kv, snap_apply, &c);

	/* another node makes no topic of ours by asking for it (each
	 * would get heartbeats for ever) */
	t = topic_get(pub, topic, z != &pub->nrouter);
	if ((t || z == &pub->nrouter) &&
	    !bus_msg_encode(&json, topic, "", "snap-end", t ? t->seq : 0,
			    pub->epoch, now_ms(), NULL)) {
		fr[0] = c.id;
		fr[1] = c.req;
		pl_set_str(&fr[2], json);
		(void)zsock_send(z, 3, fr);
	}
	mem_deref(json);
	mem_deref(topic);
}

int bus_pub_alloc(struct bus_pub **pubp, struct bus *bus,
		  const char *pub_ep, const char *snap_ep,
		  uint32_t heartbeat_ms)
{
	struct bus_pub *pub;
	int err;

	if (!pubp || !bus || !pub_ep || !snap_ep)
		return EINVAL;
	pub = mem_zalloc(sizeof(*pub), pub_destructor);
	if (!pub)
		return ENOMEM;
	pub->bus = mem_ref(bus);
	pub->pub.fd = pub->router.fd = pub->npub.fd = pub->nrouter.fd = -1;
	tmr_init(&pub->hb);
	tmr_init(&pub->batch);
	re_snprintf(pub->epoch, sizeof(pub->epoch), "%016llx",
		    (unsigned long long)rand_u64());
	pub->hb_ms = heartbeat_ms ? heartbeat_ms : 5000;

	err = hash_alloc(&pub->kv, 4096);
	if (err)
		goto out;
	err = zsock_open(&pub->pub, bus, ZMQ_PUB, NULL, NULL);
	if (err)
		goto out;
	err = zsock_open(&pub->router, bus, ZMQ_ROUTER, router_recv_h, pub);
	if (err)
		goto out;
	/* the local endpoints stay plain, tcp:// too (bus_registrar_pub):
	 * the nodes' are bus_pub_listen's */
	if (zmq_bind(pub->pub.sock, pub_ep) ||
	    zmq_bind(pub->router.sock, snap_ep)) {
		err = errno ? errno : EADDRINUSE;
		goto out;
	}
	zsock_drain(&pub->router);
	tmr_start(&pub->hb, pub->hb_ms, hb_h, pub);

 out:
	if (err)
		mem_deref(pub);
	else
		*pubp = pub;
	return err;
}

int bus_pub_listen(struct bus_pub *pub, const char *pub_ep,
		   const char *snap_ep)
{
	int err;

	if (!pub || !pub_ep || !snap_ep || pub->npub.sock)
		return EINVAL;
	err = zsock_open(&pub->npub, pub->bus, ZMQ_PUB, NULL, NULL);
	err = err ? err : zsock_open(&pub->nrouter, pub->bus, ZMQ_ROUTER,
				     router_recv_h, pub);
	err = err ? err : zsock_curve(&pub->npub, pub->bus, pub_ep, NULL);
	err = err ? err : zsock_curve(&pub->nrouter, pub->bus, snap_ep, NULL);
	if (!err && (zmq_bind(pub->npub.sock, pub_ep) ||
		     zmq_bind(pub->nrouter.sock, snap_ep)))
		err = errno ? errno : EADDRINUSE;
	if (err) {
		zsock_close(&pub->npub);
		zsock_close(&pub->nrouter);
		return err;
	}
	zsock_drain(&pub->nrouter);
	return 0;
}

/* ---- subscriber ---- */

struct pending {
	struct le le;
	char *json;
};

struct bus_sub {
	struct bus *bus;
	struct zsock sub;
	struct zsock dealer;
	char *topic;
	struct bus_seqstate st;
	bool synced;
	uint32_t req_id;
	struct list snap;      /* snapshot entries of the current request */
	struct list pending;   /* live updates that came while syncing */
	uint32_t npending;
	struct tmr req_tmr;
	uint32_t resyncs;
	struct hash *view;     /* key -> last message: what we were told */
	bus_reset_h *reseth;
	bus_update_h *updh;
	void *arg;
};

static void pending_destructor(void *arg)
{
	struct pending *p = arg;

	list_unlink(&p->le);
	mem_deref(p->json);
}

static void plist_clear(struct list *l)
{
	struct le *le = l->head;

	while (le) {
		void *d = le->data;
		le = le->next;
		mem_deref(d);
	}
}

static void sub_destructor(void *arg)
{
	struct bus_sub *sub = arg;

	tmr_cancel(&sub->req_tmr);
	zsock_close(&sub->sub);
	zsock_close(&sub->dealer);
	plist_clear(&sub->snap);
	plist_clear(&sub->pending);
	hash_apply(sub->view, kv_apply_deref, NULL);
	mem_deref(sub->view);
	mem_deref(sub->topic);
	mem_deref(sub->bus);
}

static bool view_cmp(struct le *le, void *arg)
{
	const struct kv *kv = le->data;

	return !strcmp(kv->key, arg);
}

/* Keep the subscriber's view in step with a message it applies. */
static void view_apply(struct bus_sub *sub, const struct bus_msg *m,
		       const struct pl *json)
{
	uint32_t h = hash_joaat_str(m->key);
	struct kv *kv = list_ledata(hash_lookup(sub->view, h, view_cmp,
						(void *)m->key));

	if (!strcmp(m->type, "del")) {
		mem_deref(kv);
		return;
	}
	if (strcmp(m->type, "set"))
		return;
	if (!kv) {
		kv = mem_zalloc(sizeof(*kv), kv_destructor);
		if (!kv || str_dup(&kv->key, m->key)) {
			mem_deref(kv);
			return;
		}
		hash_append(sub->view, h, &kv->he, kv);
	}
	kv->json = mem_deref(kv->json);
	(void)pl_strdup(&kv->json, json);
	kv->fresh = true;
}

static bool view_unmark(struct le *le, void *arg)
{
	struct kv *kv = le->data;

	(void)arg;
	kv->fresh = false;
	return false;
}

/* A key that the new snapshot does not hold is gone: say so with a `del`
 * carrying its last value and "resync": true, then forget it. */
static bool view_sweep(struct le *le, void *arg)
{
	struct bus_sub *sub = arg;
	struct kv *kv = le->data;
	struct bus_msg m;

	if (kv->fresh)
		return false;
	if (kv->json && !bus_msg_decode(&m, kv->json, strlen(kv->json))) {
		odict_entry_del(m.root, "type");
		if (!odict_entry_add(m.root, "type", ODICT_STRING, "del") &&
		    !odict_entry_add(m.root, "resync", ODICT_BOOL, true)) {
			m.type = "del";
			sub->updh(&m, sub->arg);
		}
		mem_deref(m.root);
	}
	mem_deref(kv);
	return false;
}

static void request_snapshot(struct bus_sub *sub);

static void req_timeout_h(void *arg)
{
	request_snapshot(arg);   /* the publisher may have died: ask again */
}

static void request_snapshot(struct bus_sub *sub)
{
	char req[16];
	struct pl fr[3];

	sub->synced = false;
	++sub->resyncs;
	plist_clear(&sub->snap);
	re_snprintf(req, sizeof(req), "%u", ++sub->req_id);
	pl_set_str(&fr[0], "snapshot");
	pl_set_str(&fr[1], sub->topic);
	pl_set_str(&fr[2], req);
	(void)zsock_send(&sub->dealer, 3, fr);
	tmr_start(&sub->req_tmr, SNAP_TIMEOUT_MS, req_timeout_h, sub);
}

static void add_pending(struct bus_sub *sub, const struct pl *json)
{
	struct pending *p;

	if (sub->npending >= BACKLOG_CAP)
		return;  /* a gap: found and repaired by the next resync */
	p = mem_zalloc(sizeof(*p), pending_destructor);
	if (!p || pl_strdup(&p->json, json)) {
		mem_deref(p);
		return;
	}
	list_append(&sub->pending, &p->le, p);
	++sub->npending;
}

/* Apply one live update; false if a resync was started. */
static bool live(struct bus_sub *sub, const struct bus_msg *m,
		 const struct pl *json)
{
	bool hb = !strcmp(m->type, "hb");

	switch (bus_seq_check(&sub->st, m->epoch, m->seq, hb)) {
	case BUS_SEQ_OK:
		if (hb)
			return true;
		sub->st.seq = m->seq;
		view_apply(sub, m, json);
		sub->updh(m, sub->arg);
		return true;
	case BUS_SEQ_DUP:
		return true;
	default:
		request_snapshot(sub);
		return false;
	}
}

static void sub_recv_h(struct zsock *z, unsigned n, const struct pl *frames,
		       void *arg)
{
	struct bus_sub *sub = arg;
	struct bus_msg m;

	(void)z;
	if (n != 2)
		return;
	if (!sub->synced) {
		add_pending(sub, &frames[1]);
		return;
	}
	if (bus_msg_decode(&m, frames[1].p, frames[1].l))
		return;
	if (!strcmp(m.topic, sub->topic) && !live(sub, &m, &frames[1]))
		add_pending(sub, &frames[1]);
	mem_deref(m.root);
}

static void finish_sync(struct bus_sub *sub, const struct bus_msg *end)
{
	struct le *le;

	tmr_cancel(&sub->req_tmr);
	str_ncpy(sub->st.epoch, end->epoch, sizeof(sub->st.epoch));
	sub->st.seq = end->seq;
	sub->synced = true;

	if (sub->reseth)
		sub->reseth(sub->arg);
	hash_apply(sub->view, view_unmark, NULL);
	for (le = sub->snap.head; le; le = le->next) {
		struct pending *p = le->data;
		struct bus_msg m;
		struct pl json;

		if (bus_msg_decode(&m, p->json, strlen(p->json)))
			continue;
		pl_set_str(&json, p->json);
		view_apply(sub, &m, &json);
		sub->updh(&m, sub->arg);
		mem_deref(m.root);
	}
	plist_clear(&sub->snap);
	hash_apply(sub->view, view_sweep, sub);

	/* what came while we waited, in order; a gap here starts over */
	while ((le = sub->pending.head)) {
		struct pending *p = le->data;
		struct bus_msg m;
		bool ok = true;

		if (!bus_msg_decode(&m, p->json, strlen(p->json))) {
			struct pl json;

			pl_set_str(&json, p->json);
			if (!strcmp(m.topic, sub->topic))
				ok = live(sub, &m, &json);
			mem_deref(m.root);
		}
		if (!ok)
			return;        /* keep the rest for the next sync */
		mem_deref(p);
		--sub->npending;
	}
}

/* [request id, json] */
static void dealer_recv_h(struct zsock *z, unsigned n,
			  const struct pl *frames, void *arg)
{
	struct bus_sub *sub = arg;
	struct bus_msg m;
	char req[16];

	(void)z;
	if (n != 2 || sub->synced)
		return;
	re_snprintf(req, sizeof(req), "%u", sub->req_id);
	if (pl_strcmp(&frames[0], req))
		return;                /* an answer to an older request */
	if (bus_msg_decode(&m, frames[1].p, frames[1].l))
		return;
	if (!strcmp(m.type, "snap-end")) {
		finish_sync(sub, &m);
	}
	else {
		struct pending *p = mem_zalloc(sizeof(*p), pending_destructor);
		if (p && !pl_strdup(&p->json, &frames[1]))
			list_append(&sub->snap, &p->le, p);
		else
			mem_deref(p);
	}
	mem_deref(m.root);
}

int bus_sub_alloc(struct bus_sub **subp, struct bus *bus,
		  const char *pub_ep, const char *snap_ep, const char *topic,
		  bus_reset_h *reseth, bus_update_h *updh, void *arg)
{
	return bus_sub_alloc_node(subp, bus, pub_ep, snap_ep, NULL, topic,
				  reseth, updh, arg);
}

int bus_sub_alloc_node(struct bus_sub **subp, struct bus *bus,
		       const char *pub_ep, const char *snap_ep,
		       const char *server_key, const char *topic,
		       bus_reset_h *reseth, bus_update_h *updh, void *arg)
{
	struct bus_sub *sub;
	char *prefix = NULL;
	int err;

	if (!subp || !bus || !pub_ep || !snap_ep || !topic || !updh)
		return EINVAL;
	sub = mem_zalloc(sizeof(*sub), sub_destructor);
	if (!sub)
		return ENOMEM;
	sub->bus = mem_ref(bus);
	sub->sub.fd = sub->dealer.fd = -1;
	sub->reseth = reseth;
	sub->updh = updh;
	sub->arg = arg;
	tmr_init(&sub->req_tmr);

	err = str_dup(&sub->topic, topic);
	err = err ? err : hash_alloc(&sub->view, 1024);
	err = err ? err : re_sdprintf(&prefix, "%s:", topic);
	if (err)
		goto out;
	err = zsock_open(&sub->sub, bus, ZMQ_SUB, sub_recv_h, sub);
	if (err)
		goto out;
	err = zsock_open(&sub->dealer, bus, ZMQ_DEALER, dealer_recv_h, sub);
	if (err)
		goto out;
	/* a tcp:// publisher of a secured bus is another node: CURVE,
	 * with its key */
	if (bus->secure && !strncmp(pub_ep, "tcp://", 6) && !server_key) {
		err = EINVAL;
		goto out;
	}
	if (server_key) {
		err = zsock_curve(&sub->sub, bus, pub_ep, server_key);
		err = err ? err : zsock_curve(&sub->dealer, bus, snap_ep,
					      server_key);
		if (err)
			goto out;
	}
	if (zmq_setsockopt(sub->sub.sock, ZMQ_SUBSCRIBE, prefix,
			   strlen(prefix)) ||
	    zmq_connect(sub->sub.sock, pub_ep) ||
	    zmq_connect(sub->dealer.sock, snap_ep)) {
		err = errno ? errno : EINVAL;
		goto out;
	}
	zsock_sent(&sub->sub);
	sub->resyncs = 0;
	request_snapshot(sub);
	sub->resyncs = 0;

 out:
	mem_deref(prefix);
	if (err)
		mem_deref(sub);
	else
		*subp = sub;
	return err;
}

bool bus_sub_synced(const struct bus_sub *sub)
{
	return sub && sub->synced;
}

void bus_sub_forget(struct bus_sub *sub)
{
	if (!sub)
		return;
	hash_apply(sub->view, view_unmark, NULL);
	hash_apply(sub->view, view_sweep, sub);
}

uint32_t bus_sub_resyncs(const struct bus_sub *sub)
{
	return sub ? sub->resyncs : 0;
}
