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
#include "cluster/follow.h"
#include "flow.h"
#include "peers.h"

#define PEER_USERS_MAX 1000000 /* users followed per node */

struct puser {
	struct le he;
	char *user;
	uint32_t *n;           /* the node's count */
};

struct peers {
	struct follow *follow;
	struct hash *users[FOLLOW_NODES_MAX];  /* struct puser: a reachable
						* device on source i + 1 */
	uint32_t nusers[FOLLOW_NODES_MAX];
	struct sa self;
	struct nonce_ctx *key;
	follow_gone_h *goneh;
	peers_user_h *userh;
	void *arg;
};

static void puser_destructor(void *arg)
{
	struct puser *u = arg;

	hash_unlink(&u->he);
	mem_deref(u->user);
	if (u->n)
		--*u->n;
}

static void destructor(void *arg)
{
	struct peers *p = arg;

	p->follow = mem_deref(p->follow);
	for (unsigned i = 0; i < FOLLOW_NODES_MAX; i++) {
		hash_flush(p->users[i]);
		mem_deref(p->users[i]);
	}
	mem_deref(p->key);
}

static bool user_cmp(struct le *le, void *arg)
{
	const struct puser *u = le->data;

	return !pl_strcmp(arg, u->user);
}

static struct puser *user_find(const struct hash *h, const struct pl *user)
{
	struct le *le = hash_lookup(h, hash_joaat_ci(user->p, user->l),
				    user_cmp, (void *)user);

	return le ? le->data : NULL;
}

/* Node `src`'s `reg`: the users with a reachable device there. A node
 * that stops running reports each as gone (follow.h). */
static void update_h(unsigned src, const struct bus_msg *m, void *arg)
{
	struct peers *p = arg;
	struct hash **h;
	struct puser *u;
	struct pl key;
	uint32_t n = 0;

	if (src == FOLLOW_LOCAL || src > FOLLOW_NODES_MAX ||
	    regtopic_devices(m, &n) || !users_name_valid(m->key))
		return;
	h = &p->users[src - 1];
	pl_set_str(&key, m->key);
	u = *h ? user_find(*h, &key) : NULL;
	if (!n) {
		mem_deref(u);
		return;
	}
	if (p->userh)
		p->userh(m->key, m->data, p->arg);
	if (u || p->nusers[src - 1] >= PEER_USERS_MAX)
		return;
	if (!*h && hash_alloc(h, 1024))
		return;
	u = mem_zalloc(sizeof(*u), puser_destructor);
	if (!u || str_dup(&u->user, m->key)) {
		mem_deref(u);
		return;
	}
	u->n = &p->nusers[src - 1];
	++*u->n;
	hash_append(*h, hash_joaat_ci(key.p, key.l), &u->he, u);
}

static int gone_h(const struct node_rec *r, void *arg)
{
	struct peers *p = arg;

	return p->goneh ? p->goneh(r, p->arg) : 0;
}

static const struct follow_topic topics_reg[] = {
	{ "reg", CONF_CLUSTER_REG_PUB, update_h },
};

int peers_alloc(struct peers **pp, const struct conf *conf,
		struct store *admin, struct bus *bus, const struct sa *self,
		struct nonce_ctx *key, follow_gone_h *goneh, void *arg)
{
	struct peers *p;
	int err;

	if (!pp || !conf || !admin || !bus || !self || !key)
		return EINVAL;
	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;
	p->self = *self;
	p->key = mem_ref(key);
	p->goneh = goneh;
	p->arg = arg;
	/* the topics' handlers and the gone handler take one argument */
	err = follow_alloc(&p->follow, conf, admin, bus, topics_reg,
			   ARRAY_SIZE(topics_reg), gone_h, p);
	if (err)
		mem_deref(p);
	else
		*pp = p;
	return err;
}

unsigned peers_where(const struct peers *p, const struct pl *user,
		     struct sa *dst, unsigned max)
{
	unsigned n = 0;

	if (!p || !user)
		return 0;
	for (unsigned src = 1; src <= FOLLOW_NODES_MAX && n < max; src++) {
		const struct hash *h = p->users[src - 1];

		if (h && user_find(h, user) &&
		    follow_node(p->follow, src, &dst[n]) &&
		    sa_isset(&dst[n], SA_ALL))
			++n;
	}
	return n;
}

void peers_on_user(struct peers *p, peers_user_h *userh)
{
	if (p)
		p->userh = userh;
}

bool peers_is_node(const struct peers *p, const struct sa *src)
{
	return p && follow_src_at(p->follow, src) != 0;
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
