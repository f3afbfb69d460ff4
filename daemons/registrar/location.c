/* location: bindings in a hash of AORs. An update is staged first (every
 * check of RFC 3261 §10.3 steps 6-7 on every Contact), then written to the
 * store in one transaction, then applied in memory: a REGISTER that fails
 * on its third Contact leaves nothing half-applied, and a failed commit
 * leaves memory as it was. Group commit: the updates staged within
 * group_ms share that transaction (one round trip and one fsync for all),
 * and each caller is told once it commits; an update of an address-of-
 * record already in the group, and anything else that changes memory
 * (a reload, an expiry, a takeover), commits the group first, so that
 * what was staged is never staged against memory that moved. Expiry is
 * one sweep when the earliest binding is due: O(AORs) per sweep, no
 * timer per binding. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "store/store.h"
#include "store/store_loc.h"
#include "bus/bus.h"
#include "sip/sipuri.h"
#include "base/log.h"
#include "location.h"

#define SWEEP_MS 1000
#define LOC_GROUP_MAX 64   /* a group this big commits at the next pass */

struct location {
	struct hash *aors;
	uint32_t naors;
	uint32_t nbindings;
	struct store *st;
	struct bus_pub *pub;
	struct loc_opts opts;
	struct tmr sweep;
	uint64_t next_expiry;
	struct list pend;      /* updates waiting for the group's commit */
	struct tmr tmr_group;
};

static void pend_cancel(struct location *loc);

static void binding_destructor(void *arg)
{
	struct binding *b = arg;

	list_unlink(&b->le);
	mem_deref(b->uri);
	mem_deref(b->params);
	mem_deref(b->callid);
	mem_deref(b->path);
	mem_deref(b->user_agent);
	mem_deref(b->instance);
}

static void aor_destructor(void *arg)
{
	struct aor *a = arg;
	struct le *le = a->bindings.head;

	hash_unlink(&a->he);
	while (le) {
		struct binding *b = le->data;
		le = le->next;
		mem_deref(b);
	}
	mem_deref(a->user);
}

static bool aor_deref_h(struct le *le, void *arg)
{
	(void)arg;
	mem_deref(le->data);
	return false;
}

static void location_destructor(void *arg)
{
	struct location *loc = arg;

	tmr_cancel(&loc->sweep);
	tmr_cancel(&loc->tmr_group);
	pend_cancel(loc);
	hash_apply(loc->aors, aor_deref_h, NULL);
	mem_deref(loc->aors);
}

static bool aor_cmp(struct le *le, void *arg)
{
	const struct aor *a = le->data;

	return 0 == pl_strcmp(arg, a->user);
}

const struct aor *location_find(const struct location *loc,
				const struct pl *user)
{
	return list_ledata(hash_lookup(loc->aors, hash_joaat_pl(user),
				       aor_cmp, (void *)user));
}

static struct aor *aor_get(struct location *loc, const char *user)
{
	struct pl pl;
	struct aor *a;

	pl_set_str(&pl, user);
	a = (struct aor *)location_find(loc, &pl);
	if (a)
		return a;
	a = mem_zalloc(sizeof(*a), aor_destructor);
	if (!a || str_dup(&a->user, user))
		return mem_deref(a);
	hash_append(loc->aors, hash_joaat_pl(&pl), &a->he, a);
	++loc->naors;
	return a;
}

static void aor_drop_if_empty(struct location *loc, struct aor *a)
{
	if (a->bindings.head)
		return;
	mem_deref(a);
	--loc->naors;
}

/* keep bindings sorted by q, highest first (RFC 3261 §16.6 fork order) */
static void insert_sorted(struct aor *a, struct binding *b)
{
	struct le *le;

	for (le = a->bindings.head; le; le = le->next) {
		const struct binding *o = le->data;
		if (b->q > o->q) {
			list_insert_before(&a->bindings, le, &b->le, b);
			return;
		}
	}
	list_append(&a->bindings, &b->le, b);
}

static void note_expiry(struct location *loc, uint64_t exp)
{
	if (!loc->next_expiry || exp < loc->next_expiry)
		loc->next_expiry = exp;
}

/* ---- the bus ---- */

static int print_src(struct re_printf *pf, const struct binding *b)
{
	return re_hprintf(pf, "%s:%J", sip_transp_name(b->tp), &b->src);
}

static int publish(struct location *loc, const struct aor *a,
		   const char *user, const char *event)
{
	struct odict *o = NULL, *arr = NULL;
	struct le *le;
	char *aor = NULL;
	unsigned i = 0;
	int err;

	if (!loc->pub)
		return 0;
	err = odict_alloc(&o, 8);
	err = err ? err : odict_alloc(&arr, 8);
	err = err ? err : re_sdprintf(&aor, "sip:%s@%s", user,
				      loc->opts.domain);
	if (err)
		goto out;
	err = odict_entry_add(o, "aor", ODICT_STRING, aor);
	err = err ? err : odict_entry_add(o, "user", ODICT_STRING, user);
	err = err ? err : odict_entry_add(o, "event", ODICT_STRING, event);

	for (le = a ? a->bindings.head : NULL; le && !err; le = le->next) {
		const struct binding *b = le->data;
		struct odict *c = NULL;
		char key[16], *src = NULL;

		err = odict_alloc(&c, 8);
		err = err ? err : re_sdprintf(&src, "%H", print_src, b);
		err = err ? err : odict_entry_add(c, "uri", ODICT_STRING,
						  b->uri);
		err = err ? err : odict_entry_add(c, "expires", ODICT_INT,
						  (int64_t)b->expires);
		err = err ? err : odict_entry_add(c, "q", ODICT_INT,
						  (int64_t)b->q);
		err = err ? err : odict_entry_add(c, "received", ODICT_STRING,
						  src);
		if (!err && b->instance)
			err = odict_entry_add(c, "instance", ODICT_STRING,
					      b->instance);
		if (!err && b->user_agent)
			err = odict_entry_add(c, "user_agent", ODICT_STRING,
					      b->user_agent);
		if (!err && b->path)
			err = odict_entry_add(c, "path", ODICT_STRING,
					      b->path);
		if (!err)
			err = odict_entry_add(c, "reachable", ODICT_BOOL,
					      !b->unreachable);
		re_snprintf(key, sizeof(key), "%u", i++);
		if (!err)
			err = odict_entry_add(arr, key, ODICT_OBJECT, c);
		mem_deref(c);
		mem_deref(src);
	}
	if (!err)
		err = odict_entry_add(o, "contacts", ODICT_ARRAY, arr);
	if (err)
		goto out;

	if (a && a->bindings.head)
		err = bus_pub_set(loc->pub, "reg", user, o);
	else
		err = bus_pub_del(loc->pub, "reg", user, o);
 out:
	if (err)
		log_warn("bus: cannot publish reg for '%s': %m, ignoring",
			 user, err);
	mem_deref(aor);
	mem_deref(arr);
	mem_deref(o);
	return err;
}

/* A change this process wrote to the store: the other edge workers read
 * it again (loc_opts.changed). */
static void tell(struct location *loc, const char *user)
{
	if (loc->opts.changed)
		loc->opts.changed(user, loc->opts.changed_arg);
}

/* ---- store ---- */

static int store_put(struct location *loc, const char *user,
		     const struct binding *b)
{
	char tp[8], src[64];
	struct loc_rec r = {
		.aor = user, .uri = b->uri, .params = b->params,
		.callid = b->callid, .cseq = b->cseq, .expires = b->expires,
		.q = b->q, .tp = tp, .src = src, .path = b->path,
		.user_agent = b->user_agent, .instance = b->instance,
		.reg_id = b->reg_id, .updated = b->updated,
		.node = loc->opts.node,
	};

	str_ncpy(tp, sip_transp_name(b->tp), sizeof(tp));
	re_snprintf(src, sizeof(src), "%J", &b->src);
	return loc_put(loc->st, &r);
}

static enum sip_transp tp_decode(const char *s)
{
	if (!str_casecmp(s, "TCP")) return SIP_TRANSP_TCP;
	if (!str_casecmp(s, "TLS")) return SIP_TRANSP_TLS;
	return SIP_TRANSP_UDP;
}

struct load_ctx {
	struct location *loc;
	uint64_t now;
	int err;
};

static int dup_opt(char **dst, const char *s)
{
	return s && *s ? str_dup(dst, s) : 0;
}

static int load_h(const struct loc_rec *r, void *arg)
{
	struct load_ctx *c = arg;
	struct binding *b;
	struct aor *a;
	int err;

	if (r->expires <= c->now)
		return 0;  /* expired while we were down: swept below */
	a = aor_get(c->loc, r->aor);
	if (!a)
		return ENOMEM;
	b = mem_zalloc(sizeof(*b), binding_destructor);
	if (!b)
		return ENOMEM;
	err = str_dup(&b->uri, r->uri);
	err |= dup_opt(&b->params, r->params);
	err |= str_dup(&b->callid, r->callid);
	err |= dup_opt(&b->path, r->path);
	err |= dup_opt(&b->user_agent, r->user_agent);
	err |= dup_opt(&b->instance, r->instance);
	if (err || sa_decode(&b->src, r->src, strlen(r->src))) {
		mem_deref(b);
		return err ? ENOMEM : EBADMSG;
	}
	b->cseq = r->cseq;
	b->expires = r->expires;
	b->q = r->q;
	b->tp = tp_decode(r->tp);
	b->reg_id = r->reg_id;
	b->updated = r->updated;
	insert_sorted(a, b);
	++c->loc->nbindings;
	note_expiry(c->loc, b->expires);
	return 0;
}

static int reload(struct location *loc, const char *user, uint64_t now,
		  const char *event);

/* ---- expiry ---- */

struct sweep_ctx {
	struct location *loc;
	uint64_t now;
	struct list changed;   /* of struct changed */
};

struct changed {
	struct le le;
	struct le he;          /* location_adopt's, by user */
	char *user;
};

static void changed_destructor(void *arg)
{
	struct changed *c = arg;

	list_unlink(&c->le);
	hash_unlink(&c->he);
	mem_deref(c->user);
}

static bool sweep_aor_h(struct le *le, void *arg)
{
	struct sweep_ctx *c = arg;
	struct aor *a = le->data;
	struct le *ble = a->bindings.head;
	bool any = false;

	while (ble) {
		struct binding *b = ble->data;
		ble = ble->next;
		if (b->expires > c->now) {
			note_expiry(c->loc, b->expires);
			continue;
		}
		if (loc_del_expired(c->loc->st, c->loc->opts.node, a->user,
				    b->uri, c->now))
			continue;  /* kept; tried again next sweep */
		log_info("'%s': binding '%s' expired", a->user, b->uri);
		mem_deref(b);
		--c->loc->nbindings;
		any = true;
	}
	if (any) {
		struct changed *ch = mem_zalloc(sizeof(*ch),
						changed_destructor);
		if (ch && !str_dup(&ch->user, a->user))
			list_append(&c->changed, &ch->le, ch);
		else
			mem_deref(ch);
	}
	return false;
}

void location_expire(struct location *loc, uint64_t now)
{
	struct sweep_ctx c = { .loc = loc, .now = now };
	struct le *le;

	if (!loc->next_expiry || now < loc->next_expiry)
		return;
	loc->next_expiry = 0;
	location_flush(loc);
	if (store_begin(loc->st))
		return;
	hash_apply(loc->aors, sweep_aor_h, &c);
	if (store_commit(loc->st)) {
		log_err("location: cannot commit expiries: %s",
			store_errmsg(loc->st));
		/* memory already dropped them; the store keeps rows that
		 * the next load discards as expired */
	}

	/* publish and drop empty AORs after the walk: never change a hash
	 * while hash_apply walks it */
	le = c.changed.head;
	while (le) {
		struct changed *ch = le->data;
		struct pl pl;
		struct aor *a;

		le = le->next;
		pl_set_str(&pl, ch->user);
		a = (struct aor *)location_find(loc, &pl);
		/* each edge worker sweeps its own copy, nobody is told;
		 * with a shared store, what it says: another worker may have
		 * refreshed a binding this one saw expire (the row is then
		 * kept: loc_del_expired) */
		if (loc->opts.shared) {
			(void)reload(loc, ch->user, now, "expired");
		}
		else {
			publish(loc, a, ch->user, "expired");
			if (a)
				aor_drop_if_empty(loc, a);
		}
		mem_deref(ch);
	}
}

static void sweep_h(void *arg)
{
	struct location *loc = arg;

	location_expire(loc, (uint64_t)time(NULL));
	tmr_start(&loc->sweep, SWEEP_MS, sweep_h, loc);
}

/* ---- public ---- */

int location_alloc(struct location **locp, struct store *st,
		   struct bus_pub *pub, const struct loc_opts *opts)
{
	struct location *loc;
	int err;

	if (!locp || !st || !opts)
		return EINVAL;
	loc = mem_zalloc(sizeof(*loc), location_destructor);
	if (!loc)
		return ENOMEM;
	loc->st = st;
	loc->pub = pub;
	loc->opts = *opts;
	tmr_init(&loc->sweep);
	tmr_init(&loc->tmr_group);
	list_init(&loc->pend);
	err = hash_alloc(&loc->aors, 16384);
	if (err) {
		mem_deref(loc);
		return err;
	}
	tmr_start(&loc->sweep, SWEEP_MS, sweep_h, loc);
	*locp = loc;
	return 0;
}

static bool publish_all_h(struct le *le, void *arg)
{
	struct location *loc = arg;
	const struct aor *a = le->data;

	publish(loc, a, a->user, "registered");
	return false;
}

int location_load(struct location *loc, uint64_t now)
{
	struct load_ctx c = { .loc = loc, .now = now };
	int err;

	err = loc_foreach_node(loc->st, loc->opts.node, load_h, &c);
	if (err)
		return err;
	if (!loc->next_expiry)
		loc->next_expiry = now;    /* sweep stale rows at once */
	location_expire(loc, now);
	hash_apply(loc->aors, publish_all_h, loc);
	return 0;
}

static bool streq(const char *a, const char *b);

/* What lived only in memory (a probe's verdict) goes over to the binding
 * of the same Contact read again. */
static void carry(struct aor *a, const struct list *old)
{
	for (struct le *le = a ? a->bindings.head : NULL; le; le = le->next) {
		struct binding *b = le->data;

		for (struct le *o = old->head; o; o = o->next) {
			const struct binding *ob = o->data;

			if (!streq(ob->uri, b->uri))
				continue;
			b->unreachable = ob->unreachable;
			b->probed = ob->probed;
			b->backoff = ob->backoff;
			b->probing = ob->probing;
			b->unsure = ob->unsure;
			break;
		}
	}
}

static int reload(struct location *loc, const char *user, uint64_t now,
		  const char *event)
{
	struct load_ctx c = { .loc = loc, .now = now };
	struct list old = LIST_INIT;
	struct aor *a;
	struct pl pl;
	int err;

	if (!loc || !user)
		return EINVAL;
	location_flush(loc);
	pl_set_str(&pl, user);
	a = (struct aor *)location_find(loc, &pl);
	while (a && a->bindings.head) {
		struct binding *b = a->bindings.head->data;

		list_unlink(&b->le);
		list_append(&old, &b->le, b);
		--loc->nbindings;
	}
	err = loc_foreach_aor(loc->st, loc->opts.node, user, load_h, &c);
	a = (struct aor *)location_find(loc, &pl);
	if (err) {
		log_warn("location: cannot read '%s' again: %m", user, err);
		if (a) {       /* what was read and what was held: the old */
			while (a->bindings.head) {
				mem_deref(a->bindings.head->data);
				--loc->nbindings;
			}
			while (old.head) {
				struct binding *b = old.head->data;

				list_unlink(&b->le);
				insert_sorted(a, b);
				++loc->nbindings;
			}
		}
	}
	else {
		carry(a, &old);
		publish(loc, a, user, event ? event : a && a->bindings.head ?
			"registered" : "unregistered");
	}
	list_flush(&old);
	if (a)
		aor_drop_if_empty(loc, a);
	return err;
}

int location_reload(struct location *loc, const char *user, uint64_t now)
{
	return reload(loc, user, now, NULL);
}

int location_moved(struct location *loc, const char *user, uint64_t now)
{
	int err = reload(loc, user, now, NULL);

	tell(loc, user);
	return err;
}

/* ---- a dead node's bindings ---- */

struct adopt_ctx {
	struct hash *users;    /* struct changed, by user */
	struct list list;
	uint32_t n;
	struct load_ctx load;  /* the rows into memory, as at a start */
};

static bool changed_cmp(struct le *le, void *arg)
{
	const struct changed *ch = le->data;

	return 0 == pl_strcmp(arg, ch->user);
}

static int adopt_h(const struct loc_rec *r, void *arg)
{
	struct adopt_ctx *c = arg;
	struct changed *ch;
	struct binding *b;
	struct pl pl;
	int err;

	++c->n;
	pl_set_str(&pl, r->aor);
	/* a copy of the same binding in memory (it was ours, and moved
	 * there and back) is the row's now */
	b = location_binding(c->load.loc, r->aor, r->uri);
	if (b) {
		mem_deref(b);
		--c->load.loc->nbindings;
	}
	err = load_h(r, &c->load);
	if (err == ENOMEM)
		return err;
	if (err)
		log_warn("location: '%s': binding '%s' of node %s unreadable "
			 "(%m): skipped", r->aor, r->uri, r->node, err);
	if (hash_lookup(c->users, hash_joaat_pl(&pl), changed_cmp, &pl))
		return 0;
	ch = mem_zalloc(sizeof(*ch), changed_destructor);
	if (!ch || str_dup(&ch->user, r->aor)) {
		mem_deref(ch);
		return ENOMEM;
	}
	list_append(&c->list, &ch->le, ch);
	hash_append(c->users, hash_joaat_pl(&pl), &ch->he, ch);
	return 0;
}

int location_adopt(struct location *loc, const char *from, uint64_t now,
		   uint32_t *np)
{
	struct adopt_ctx c = { .list = LIST_INIT,
			       .load = { .loc = loc, .now = now } };
	int err;

	if (!loc || !from || !loc->opts.node || !loc->opts.node[0])
		return EINVAL;
	location_flush(loc);
	err = hash_alloc(&c.users, 256);
	err = err ? err : loc_take(loc->st, from, loc->opts.node, now,
				   adopt_h, &c);
	if (err && c.n)
		log_err("location: %u binding(s) of node %s are ours in the "
			"store, some not in memory until a restart: %m", c.n,
			from, err);
	/* whatever was taken is in memory: published, and told to the
	 * other edge workers (who read it from the store) */
	for (struct le *le = c.list.head; le; le = le->next) {
		struct changed *ch = le->data;
		struct aor *a;
		struct pl pl;

		pl_set_str(&pl, ch->user);
		a = (struct aor *)location_find(loc, &pl);
		publish(loc, a, ch->user, "registered");
		tell(loc, ch->user);
		if (a)
			aor_drop_if_empty(loc, a);
	}
	if (np)
		*np = c.n;
	list_flush(&c.list);
	mem_deref(c.users);
	return err;
}

uint32_t location_count(const struct location *loc)
{
	return loc ? loc->nbindings : 0;
}

/* What happens to one Contact of an update. */
struct staged {
	struct binding *old;   /* existing binding it matches, if any */
	const struct loc_contact *c;
	struct binding *nb;    /* the new binding, when expires > 0 */
};

static struct binding *match(const struct aor *a, const struct loc_contact *c)
{
	struct le *le;
	struct uri cu;

	/* a refresh sends the same URI string: no decoding (O(1) each) */
	for (le = a ? a->bindings.head : NULL; le; le = le->next) {
		struct binding *b = le->data;
		if (!pl_strcmp(&c->uri, b->uri))
			return b;
	}
	if (uri_decode(&cu, &c->uri))
		return NULL;
	for (le = a ? a->bindings.head : NULL; le; le = le->next) {
		struct binding *b = le->data;
		struct uri bu;
		struct pl bpl;

		/* RFC 5626 §6: same instance and reg-id replace the flow */
		if (b->instance && c->instance.l && b->reg_id && c->reg_id &&
		    !pl_strcmp(&c->instance, b->instance) &&
		    b->reg_id == c->reg_id)
			return b;
		pl_set_str(&bpl, b->uri);
		if (!uri_decode(&bu, &bpl) && sipuri_equal(&bu, &cu))
			return b;
	}
	return NULL;
}

static int build(struct binding **bp, const struct loc_update *u,
		 const struct loc_contact *c, uint64_t now)
{
	struct binding *b = mem_zalloc(sizeof(*b), binding_destructor);
	int err;

	if (!b)
		return ENOMEM;
	err = pl_strdup(&b->uri, &c->uri);
	err |= pl_strdup(&b->callid, &u->callid);
	if (c->params && *c->params)
		err |= str_dup(&b->params, c->params);
	if (u->path)
		err |= str_dup(&b->path, u->path);
	if (pl_isset(&u->user_agent))
		err |= pl_strdup(&b->user_agent, &u->user_agent);
	if (pl_isset(&c->instance))
		err |= pl_strdup(&b->instance, &c->instance);
	if (err) {
		mem_deref(b);
		return ENOMEM;
	}
	b->cseq = u->cseq;
	b->expires = now + c->expires;
	b->q = c->q;
	b->tp = u->tp;
	b->src = u->src;
	b->reg_id = c->reg_id;
	b->updated = now;
	b->probed = now;
	*bp = b;
	return 0;
}

/* libre's str_cmp() says two NULLs differ */
static bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

static bool same_binding(const struct binding *a, const struct binding *b)
{
	return streq(a->uri, b->uri) && streq(a->params, b->params) &&
		a->q == b->q && a->tp == b->tp &&
		sa_cmp(&a->src, &b->src, SA_ALL) &&
		streq(a->path, b->path) && streq(a->instance, b->instance);
}

/* RFC 3261 §10.3 step 7 for one existing binding: a lower CSeq in the
 * same Call-ID fails the request. An equal one is the retransmission of
 * the request that wrote the binding (we reply statelessly): a no-op. */
static bool cseq_ok(const struct binding *b, const struct loc_update *u)
{
	if (pl_strcmp(&u->callid, b->callid))
		return true;
	return u->cseq >= b->cseq;
}

static bool is_retransmission(const struct binding *b,
			      const struct loc_update *u)
{
	return !pl_strcmp(&u->callid, b->callid) && u->cseq == b->cseq;
}

/* An update between its staging and its commit (location_update). The
 * caller keeps `u` and what it points at until `dh` is called. */
struct pend {
	struct le le;
	const struct loc_update *u;
	uint64_t now;
	struct staged *sg;     /* nsg of them; NULL for remove_all */
	unsigned nsg;          /* u->n: `u` may go before this does */
	loc_done_h *dh;
	void *arg;
};

static void pend_destructor(void *arg)
{
	struct pend *p = arg;

	list_unlink(&p->le);
	for (unsigned i = 0; p->sg && i < p->nsg; i++)
		mem_deref(p->sg[i].nb);
	mem_deref(p->sg);
}

static struct aor *aor_of(struct location *loc, const char *user)
{
	struct pl upl;

	pl_set_str(&upl, user);
	return (struct aor *)location_find(loc, &upl);
}

/* Every RFC 3261 §10.3 step 6-7 check, and the new bindings built; with
 * nothing to write (a refusal, a query, a retransmission), *scode says
 * the answer at once. */
static int stage(struct location *loc, struct pend *p, uint16_t *scode,
		 const char **reason)
{
	const struct loc_update *u = p->u;
	struct aor *a = aor_of(loc, u->user);
	struct staged *sg;
	unsigned remaining = 0, i;
	bool writes = false;
	struct le *le;
	int err;

	if (u->remove_all) {
		for (le = a ? a->bindings.head : NULL; le; le = le->next) {
			if (!cseq_ok(le->data, u)) {
				*scode = 400;
				*reason = "Out of order CSeq";
				return 0;
			}
		}
		if (!a)
			*scode = 200;
		return 0;
	}
	if (!u->n) {
		*scode = 200;  /* a query: the caller lists the bindings */
		return 0;
	}

	sg = p->sg = mem_zalloc(u->n * sizeof(*sg), NULL);
	if (!sg)
		return ENOMEM;
	p->nsg = u->n;
	for (i = 0; i < u->n; i++) {
		sg[i].c = &u->c[i];
		sg[i].old = match(a, &u->c[i]);
		if (sg[i].old && !cseq_ok(sg[i].old, u)) {
			*scode = 400;
			*reason = "Out of order CSeq";
			return 0;
		}
		if (sg[i].old && is_retransmission(sg[i].old, u)) {
			sg[i].c = NULL;
			sg[i].old = NULL;
			continue;
		}
		/* a later Contact of the same request for the same binding
		 * wins; the earlier one becomes a no-op */
		for (unsigned j = 0; j < i; j++) {
			if (sg[j].old && sg[j].old == sg[i].old)
				sg[j].c = NULL;
		}
	}
	for (le = a ? a->bindings.head : NULL; le; le = le->next) {
		bool touched = false;
		for (i = 0; i < u->n; i++)
			if (sg[i].old == le->data && sg[i].c)
				touched = true;
		if (!touched)
			++remaining;
	}
	for (i = 0; i < u->n; i++) {
		if (!sg[i].c || !sg[i].c->expires)
			continue;
		bool dup = false;
		for (unsigned j = i + 1; j < u->n; j++) {
			if (!sg[j].old && sg[j].c && !sg[i].old &&
			    !pl_cmp(&sg[j].c->uri, &sg[i].c->uri))
				dup = true;
		}
		if (!dup)
			++remaining;
	}
	if (remaining > loc->opts.max_contacts) {
		*scode = 403;
		*reason = "Too Many Contacts";
		return 0;
	}

	/* build the new bindings */
	for (i = 0; i < u->n; i++) {
		writes = writes || sg[i].c;
		if (!sg[i].c || !sg[i].c->expires)
			continue;
		err = build(&sg[i].nb, u, sg[i].c, p->now);
		if (err)
			return err;
	}
	if (!writes)
		*scode = 200;  /* every Contact a retransmission's */
	return 0;
}

/* One update's rows, inside the group's transaction. */
static int pend_write(struct location *loc, const struct pend *p)
{
	const struct loc_update *u = p->u;
	const struct staged *sg = p->sg;
	int err = 0;

	if (u->remove_all) {
		const struct aor *a = aor_of(loc, u->user);

		for (struct le *le = a ? a->bindings.head : NULL;
		     le && !err; le = le->next) {
			const struct binding *b = le->data;

			err = loc_del(loc->st, loc->opts.node, a->user,
				      b->uri);
		}
		return err;
	}
	for (unsigned i = 0; i < u->n && !err; i++) {
		if (!sg[i].c)
			continue;
		if (sg[i].old && (!sg[i].nb ||
				  !streq(sg[i].old->uri, sg[i].nb->uri)))
			err = loc_del(loc->st, loc->opts.node, u->user,
				      sg[i].old->uri);
		if (!err && sg[i].nb)
			err = store_put(loc, u->user, sg[i].nb);
	}
	return err;
}

/* Committed: the same in memory, where nothing can fail but aor_get. */
static int pend_apply(struct location *loc, struct pend *p)
{
	const struct loc_update *u = p->u;
	struct staged *sg = p->sg;
	struct aor *a = aor_of(loc, u->user);
	bool changed = false, added = false, removed = false;

	if (u->remove_all) {
		if (!a)
			return 0;
		loc->nbindings -= list_count(&a->bindings);
		while (a->bindings.head)
			mem_deref(a->bindings.head->data);
		publish(loc, NULL, u->user, "unregistered");
		tell(loc, u->user);
		aor_drop_if_empty(loc, a);
		return 0;
	}
	if (!a) {
		a = aor_get(loc, u->user);
		if (!a)
			return ENOMEM;
	}
	for (unsigned i = 0; i < u->n; i++) {
		if (!sg[i].c)
			continue;
		if (sg[i].old) {
			if (!sg[i].nb || !same_binding(sg[i].old, sg[i].nb) ||
			    sg[i].old->unreachable)
				changed = true;
			if (!sg[i].nb)
				removed = true;
			mem_deref(sg[i].old);
			--loc->nbindings;
			/* later stages may point at the same old binding */
			for (unsigned j = i + 1; j < u->n; j++)
				if (sg[j].old == sg[i].old)
					sg[j].old = NULL;
		}
		else if (sg[i].nb) {
			changed = true;
			added = true;
		}
		if (sg[i].nb) {
			/* a second Contact with the same new URI replaces */
			struct binding *dupb = match(a, sg[i].c);
			if (dupb) {
				mem_deref(dupb);
				--loc->nbindings;
			}
			insert_sorted(a, sg[i].nb);
			++loc->nbindings;
			note_expiry(loc, sg[i].nb->expires);
			sg[i].nb = NULL;
		}
	}
	if (changed) {
		publish(loc, a, u->user, added ? "registered" :
			removed ? "unregistered" : "refreshed");
		tell(loc, u->user);
	}
	aor_drop_if_empty(loc, a);
	return 0;
}

static bool pending(const struct location *loc, const char *user)
{
	for (struct le *le = loc->pend.head; le; le = le->next) {
		const struct pend *p = le->data;

		if (!strcmp(p->u->user, user))
			return true;
	}
	return false;
}

/* The rows of `batch`'s updates, or of `one`, in one transaction. */
static int write_group(struct location *loc, const struct list *batch,
		       const struct pend *one)
{
	struct le *le = batch ? batch->head : NULL;
	int err = store_begin(loc->st);

	while (!err && (one || le)) {
		err = pend_write(loc, one ? one : le->data);
		if (one)
			break;
		le = le->next;
	}
	err = err ? err : store_commit(loc->st);
	if (err)
		store_rollback(loc->st);
	return err;
}

/* The group's rows in one transaction; then, in the order they came,
 * each update applied in memory and its caller told. The database out
 * of reach fails them all, with nothing changed: their phones try again;
 * any other failure is some row's (which, the store does not say): each
 * is tried alone, so that it fails only its own. */
void location_flush(struct location *loc)
{
	struct list batch = LIST_INIT;
	struct le *le;
	unsigned n;
	bool alone;
	int err;

	if (!loc || list_isempty(&loc->pend))
		return;
	tmr_cancel(&loc->tmr_group);
	while ((le = loc->pend.head)) {
		list_unlink(le);
		list_append(&batch, le, le->data);
	}
	n = list_count(&batch);
	err = write_group(loc, &batch, NULL);
	alone = err && !store_unavailable(err) && n > 1;
	while ((le = batch.head)) {
		struct pend *p = le->data;
		int e = alone ? write_group(loc, NULL, p) : err;
		uint16_t c = 200;
		const char *reason = "OK";

		list_unlink(le);
		if (e) {
			/* nothing was changed (a commit whose answer was lost
			 * may have been applied: the next load reads it) */
			log_err("location: cannot store bindings of '%s' "
				"(one of a group of %u): %m (%s)", p->u->user,
				n, e, store_errmsg(loc->st));
			c = store_unavailable(e) ? 503 : 500;
		}
		else if (pend_apply(loc, p)) {
			log_err("location: '%s': stored, not in memory "
				"until it is read again", p->u->user);
			c = 500;
		}
		if (c == 503)
			reason = "Service Unavailable";
		else if (c == 500)
			reason = "Server Internal Error";
		p->dh(c, reason, p->arg);
		mem_deref(p);
	}
}

/* Closing with updates uncommitted (location_flush was not called):
 * their callers are told, to answer nothing. */
static void pend_cancel(struct location *loc)
{
	struct le *le;

	while ((le = loc->pend.head)) {
		struct pend *p = le->data;

		list_unlink(le);
		p->dh(0, NULL, p->arg);
		mem_deref(p);
	}
}

static void group_h(void *arg)
{
	location_flush(arg);
}

int location_update(struct location *loc, const struct loc_update *u,
		    uint64_t now, loc_done_h *dh, void *arg, uint16_t *scode,
		    const char **reason)
{
	struct pend *p;
	int err;

	if (!loc || !u || !u->user || !dh || !scode || !reason)
		return EINVAL;
	*scode = 0;
	*reason = "OK";
	/* staged against memory as the group before it leaves it */
	if (pending(loc, u->user))
		location_flush(loc);
	p = mem_zalloc(sizeof(*p), pend_destructor);
	if (!p)
		return ENOMEM;
	p->u = u;
	p->now = now;
	p->dh = dh;
	p->arg = arg;
	err = stage(loc, p, scode, reason);
	if (err || *scode) {
		mem_deref(p);
		return err;
	}
	list_append(&loc->pend, &p->le, p);
	if (!loc->opts.group_ms) {
		location_flush(loc);
		return 0;
	}
	if (list_count(&loc->pend) >= LOC_GROUP_MAX)
		tmr_start(&loc->tmr_group, 0, group_h, loc);
	else if (!tmr_isrunning(&loc->tmr_group))
		tmr_start(&loc->tmr_group, loc->opts.group_ms, group_h, loc);
	return 0;
}

struct sync_res {
	uint16_t scode;
	const char *reason;
};

static void sync_h(uint16_t scode, const char *reason, void *arg)
{
	struct sync_res *r = arg;

	r->scode = scode;
	r->reason = reason;
}

int location_apply(struct location *loc, const struct loc_update *u,
		   uint64_t now, uint16_t *scode, const char **reason)
{
	struct sync_res r = { 500, "Server Internal Error" };
	int err = location_update(loc, u, now, sync_h, &r, scode, reason);

	if (err || *scode)
		return err;
	location_flush(loc);
	*scode = r.scode;
	*reason = r.reason;
	return 0;
}

struct foreach_ctx {
	location_binding_h *h;
	void *arg;
};

static bool foreach_aor_h(struct le *le, void *arg)
{
	struct foreach_ctx *c = arg;
	const struct aor *a = le->data;
	struct le *ble;

	for (ble = a->bindings.head; ble; ble = ble->next)
		c->h(a, ble->data, c->arg);
	return false;
}

/* O(bindings). The handler must not add or remove bindings. */
void location_foreach(struct location *loc, location_binding_h *h,
		      void *arg)
{
	struct foreach_ctx c = { h, arg };

	hash_apply(loc->aors, foreach_aor_h, &c);
}

struct binding *location_binding(struct location *loc, const char *user,
				 const char *uri)
{
	struct pl upl;
	const struct aor *a;
	struct le *le;

	pl_set_str(&upl, user);
	a = location_find(loc, &upl);
	for (le = a ? a->bindings.head : NULL; le; le = le->next) {
		struct binding *b = le->data;
		if (streq(b->uri, uri))
			return b;
	}
	return NULL;
}

/* A probe's verdict; published when it changes what we said before. */
void location_set_reachable(struct location *loc, const char *user,
			    const char *uri, bool reachable)
{
	struct binding *b = location_binding(loc, user, uri);
	struct pl upl;

	if (!b || b->unreachable == !reachable)
		return;
	b->unreachable = !reachable;
	log_info("'%s': binding '%s' %s", user, uri,
		 reachable ? "answers again" : "stopped answering");
	pl_set_str(&upl, user);
	publish(loc, location_find(loc, &upl), user,
		reachable ? "reachable" : "unreachable");
}
