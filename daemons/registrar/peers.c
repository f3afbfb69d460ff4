/* peers: the other nodes of a cluster as this edge sees them (peers.h). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "store/store_nodes.h"
#include "bus/bus.h"
#include "bus/regtopic.h"
#include "store/store_users.h"
#include "flow.h"
#include "peers.h"

#define PEER_USERS_MAX 1000000 /* users followed per node */

struct peer;

struct puser {
	struct le he;
	char *user;
	struct peer *pe;
};

struct peer {
	struct le le;
	struct peers *p;
	char id[NODE_ID_MAX + 1];
	char key[NODE_KEY_LEN + 1];
	char bus[NODE_ADDR_MAX + 1];
	struct sa sip;
	bool sip_ok;
	bool seen;             /* in this refresh */
	struct bus_sub *sub;
	uint64_t since;        /* jiffies: when sub was made */
	struct hash *users;    /* struct puser: a reachable device here */
	uint32_t nusers;
};

struct peers {
	const struct conf *conf;
	struct store *admin;
	struct bus *bus;
	struct list list;      /* struct peer */
	unsigned n;
	struct sa self;
	struct nonce_ctx *key;
};

static void puser_destructor(void *arg)
{
	struct puser *u = arg;

	hash_unlink(&u->he);
	mem_deref(u->user);
	if (u->pe)
		--u->pe->nusers;
}

static bool flush_h(struct le *le, void *arg)
{
	(void)arg;
	mem_deref(le->data);
	return false;
}

static void peer_destructor(void *arg)
{
	struct peer *pe = arg;

	list_unlink(&pe->le);
	mem_deref(pe->sub);
	hash_apply(pe->users, flush_h, NULL);
	mem_deref(pe->users);
}

static void destructor(void *arg)
{
	struct peers *p = arg;

	list_flush(&p->list);
	mem_deref(p->admin);
	mem_deref(p->bus);
	mem_deref(p->key);
}

static bool user_cmp(struct le *le, void *arg)
{
	const struct puser *u = le->data;

	return !pl_strcmp(arg, u->user);
}

static struct puser *user_find(const struct peer *pe, const struct pl *user)
{
	struct le *le = hash_lookup(pe->users, hash_joaat_ci(user->p,
							    user->l),
				    user_cmp, (void *)user);

	return le ? le->data : NULL;
}

static void reset_h(void *arg)
{
	struct peer *pe = arg;

	hash_apply(pe->users, flush_h, NULL);
}

static void update_h(const struct bus_msg *m, void *arg)
{
	struct peer *pe = arg;
	struct puser *u;
	struct pl key;
	uint32_t n = 0;

	if (regtopic_devices(m, &n) || !users_name_valid(m->key))
		return;
	pl_set_str(&key, m->key);
	u = user_find(pe, &key);
	if (!n) {
		mem_deref(u);
		return;
	}
	if (u)
		return;
	if (pe->nusers >= PEER_USERS_MAX)
		return;
	u = mem_zalloc(sizeof(*u), puser_destructor);
	if (!u || str_dup(&u->user, m->key)) {
		mem_deref(u);
		return;
	}
	u->pe = pe;
	++pe->nusers;
	hash_append(pe->users, hash_joaat_ci(key.p, key.l), &u->he, u);
}

int peers_alloc(struct peers **pp, const struct conf *conf,
		struct store *admin, struct bus *bus, const struct sa *self,
		struct nonce_ctx *key)
{
	struct peers *p;

	if (!pp || !conf || !admin || !bus || !self || !key)
		return EINVAL;
	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;
	p->conf = conf;
	p->admin = mem_ref(admin);
	p->bus = mem_ref(bus);
	p->self = *self;
	p->key = mem_ref(key);
	*pp = p;
	return 0;
}

static struct peer *peer_find(const struct peers *p, const char *id)
{
	for (struct le *le = p->list.head; le; le = le->next) {
		struct peer *pe = le->data;

		if (!strcmp(pe->id, id))
			return pe;
	}
	return NULL;
}

/* Follow node `n`'s reg topic (again, if its bus or key changed, or if
 * it has not synced for FOLLOW_RETRY_MS: a CURVE handshake the other
 * node refused, its database out of reach, is not tried again by
 * ZeroMQ). */
#define FOLLOW_RETRY_MS 10000

static int follow(struct peer *pe, const struct node_rec *n)
{
	struct pl host, port;
	char snap[NODE_ADDR_MAX + 8];

	if (pe->sub && !strcmp(pe->bus, n->bus) && !strcmp(pe->key, n->key) &&
	    (bus_sub_synced(pe->sub) ||
	     tmr_jiffies() < pe->since + FOLLOW_RETRY_MS))
		return 0;
	pe->sub = mem_deref(pe->sub);
	reset_h(pe);
	str_ncpy(pe->bus, n->bus, sizeof(pe->bus));
	str_ncpy(pe->key, n->key, sizeof(pe->key));
	if (conf_tcp_split(n->bus, &host, &port))
		return EINVAL;
	re_snprintf(snap, sizeof(snap), "tcp://%r:%u", &host,
		    pl_u32(&port) + 1);
	pe->since = tmr_jiffies();
	return bus_sub_alloc_node(&pe->sub, pe->p->bus, n->bus, snap, n->key,
				  "reg", reset_h, update_h, pe);
}

static int node_h(const struct node_rec *n, void *arg)
{
	struct peers *p = arg;
	uint64_t now = (uint64_t)time(NULL);
	struct peer *pe;
	struct pl sip;
	int err;

	if (!strcmp(n->id, p->conf->node_id) || !n->seen ||
	    n->seen + NODE_LIST_ALIVE_S <= now)
		return 0;      /* ourselves, or not running */
	pe = peer_find(p, n->id);
	if (!pe) {
		if (p->n >= PEERS_MAX)
			return 0;
		pe = mem_zalloc(sizeof(*pe), peer_destructor);
		if (!pe || hash_alloc(&pe->users, 1024)) {
			mem_deref(pe);
			return ENOMEM;
		}
		pe->p = p;
		str_ncpy(pe->id, n->id, sizeof(pe->id));
		list_append(&p->list, &pe->le, pe);
		++p->n;
		log_info("cluster: following node %s (bus %s, SIP %s)", n->id,
			 n->bus, n->sip);
	}
	pe->seen = true;
	pe->sip_ok = false;
	if (!strncmp(n->sip, "udp:", 4)) {
		pl_set_str(&sip, n->sip + 4);
		pe->sip_ok = !sa_decode(&pe->sip, sip.p, sip.l);
	}
	err = follow(pe, n);
	if (err)
		log_warn("cluster: node %s: its bus %s: %m", n->id, n->bus,
			 err);
	return 0;
}

int peers_refresh(struct peers *p)
{
	struct le *le;
	int err;

	if (!p)
		return EINVAL;
	for (le = p->list.head; le; le = le->next)
		((struct peer *)le->data)->seen = false;
	err = nodes_foreach(p->admin, node_h, p);
	if (err)
		return err;        /* the database out of reach: as we were */
	le = p->list.head;
	while (le) {
		struct peer *pe = le->data;

		le = le->next;
		if (pe->seen)
			continue;
		log_info("cluster: node %s is no longer running", pe->id);
		--p->n;
		mem_deref(pe);
	}
	return 0;
}

unsigned peers_where(const struct peers *p, const struct pl *user,
		     struct sa *dst, unsigned max)
{
	unsigned n = 0;

	if (!p || !user)
		return 0;
	for (struct le *le = p->list.head; le && n < max; le = le->next) {
		const struct peer *pe = le->data;

		if (pe->sip_ok && user_find(pe, user))
			dst[n++] = pe->sip;
	}
	return n;
}

bool peers_key_known(const struct peers *p, const char *key)
{
	if (!p || !key)
		return false;
	for (struct le *le = p->list.head; le; le = le->next) {
		const struct peer *pe = le->data;

		if (!strcmp(pe->key, key))
			return true;
	}
	return false;
}

bool peers_is_node(const struct peers *p, const struct sa *src)
{
	if (!p || !src)
		return false;
	for (struct le *le = p->list.head; le; le = le->next) {
		const struct peer *pe = le->data;

		if (pe->sip_ok && sa_cmp(&pe->sip, src, SA_ALL))
			return true;
	}
	return false;
}

static int asserted(const struct sip_msg *msg, char *user, size_t sz)
{
	const struct sip_hdr *h = sip_msg_xhdr(msg, "P-Asserted-Identity");
	struct sip_addr addr;

	if (!h || sip_addr_decode(&addr, &h->val) || !addr.uri.user.l ||
	    addr.uri.user.l >= sz || pl_strcpy(&addr.uri.user, user, sz) ||
	    !users_name_valid(user))
		return EBADMSG;
	return 0;
}

/* What a node's token is bound to: the Call-ID and the user (a Call-ID
 * holds no line break, so no call's flow token is one). */
static int binding(char *buf, size_t sz, const struct pl *callid,
		   const char *user, struct pl *out)
{
	int n = re_snprintf(buf, sz, "%r\nnode\n%s", callid, user);

	if (n <= 0 || (size_t)n >= sz)
		return EOVERFLOW;
	out->p = buf;
	out->l = (size_t)n;
	return 0;
}

int peers_sign(const struct peers *p, char *line, size_t sz,
	       const struct sip_msg *msg, const char *user)
{
	char tok[FLOW_TOKEN_MAX + 1], b[FLOW_CALLID_MAX + 80];
	struct pl bound;
	int err;

	if (!p || !msg || !user)
		return EINVAL;
	err = binding(b, sizeof(b), &msg->callid, user, &bound);
	err = err ? err : flow_token_make(tok, sizeof(tok), p->key,
					  SIP_TRANSP_UDP, &p->self, &bound);
	if (err)
		return err;
	return re_snprintf(line, sz, PEERS_HDR ": %s\r\n", tok) < 0 ?
		EOVERFLOW : 0;
}

int peers_verify(const struct peers *p, const struct sip_msg *msg,
		 char *user, size_t sz)
{
	char b[FLOW_CALLID_MAX + 80];
	const struct sip_hdr *h;
	enum sip_transp tp;
	struct pl bound;
	struct sa from;

	if (!p || !msg || msg->tp != SIP_TRANSP_UDP ||
	    !peers_is_node(p, &msg->src))
		return ENOENT;
	h = sip_msg_xhdr(msg, PEERS_HDR);
	if (!h || asserted(msg, user, sz) ||
	    binding(b, sizeof(b), &msg->callid, user, &bound) ||
	    flow_token_decode(&h->val, p->key, &bound, &tp, &from) ||
	    tp != SIP_TRANSP_UDP || !sa_cmp(&from, &msg->src, SA_ALL))
		return EPERM;
	return 0;
}
