/* rulebook: the watcher rules in memory. One hash of "owner\nwatcher" to
 * its action ("*" is the owner's rule for anyone); a load builds a new
 * hash and swaps it in only when the whole table was read. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "store/store.h"
#include "store/store_rules.h"
#include "base/log.h"
#include "rulebook.h"

struct rulebook {
	struct hash *rules;    /* NULL: not read whole, ask the store */
	uint32_t n;
	bool over;             /* over RULEBOOK_MAX at the last read */
};

struct rule {
	struct le he;
	enum rule_action a;
	char key[];            /* owner '\n' watcher */
};

static void book_destructor(void *arg)
{
	struct rulebook *rb = arg;

	hash_flush(rb->rules);
	mem_deref(rb->rules);
}

static void rule_destructor(void *arg)
{
	struct rule *r = arg;

	hash_unlink(&r->he);
}

int rulebook_alloc(struct rulebook **rbp)
{
	struct rulebook *rb;

	if (!rbp)
		return EINVAL;
	rb = mem_zalloc(sizeof(*rb), book_destructor);
	if (!rb)
		return ENOMEM;
	*rbp = rb;
	return 0;
}

static uint32_t key_hash(const char *owner, const char *watcher)
{
	return hash_joaat_str(owner) * 31 + hash_joaat_str(watcher);
}

struct find {
	const char *owner;
	const char *watcher;
};

static bool key_cmp(struct le *le, void *arg)
{
	const struct rule *r = le->data;
	const struct find *f = arg;
	size_t ol = strlen(f->owner);

	return !strncmp(r->key, f->owner, ol) && r->key[ol] == '\n' &&
		!strcmp(r->key + ol + 1, f->watcher);
}

struct load {
	struct hash *h;
	uint32_t n;
};

static int add_h(const char *owner, const char *watcher,
		 enum rule_action a, void *arg)
{
	struct load *l = arg;
	size_t ol = strlen(owner), wl = strlen(watcher);
	struct rule *r;

	if (++l->n > RULEBOOK_MAX)
		return EOVERFLOW;
	r = mem_zalloc(sizeof(*r) + ol + wl + 2, rule_destructor);
	if (!r)
		return ENOMEM;
	memcpy(r->key, owner, ol);
	r->key[ol] = '\n';
	memcpy(r->key + ol + 1, watcher, wl + 1);
	r->a = a;
	hash_append(l->h, key_hash(owner, watcher), &r->he, r);
	return 0;
}

int rulebook_load(struct rulebook *rb, struct store *st)
{
	struct load l = { NULL, 0 };
	int err;

	if (!rb || !st)
		return EINVAL;
	/* about one rule a bucket, as many as the last read found */
	err = hash_alloc(&l.h, hash_valid_size(MAX(1024, MIN(rb->n,
							 RULEBOOK_MAX))));
	err = err ? err : rules_foreach(st, NULL, add_h, &l);
	if (err == EOVERFLOW) {
		/* read whole all the same: the store decides, until the
		 * next change is read */
		if (!rb->over)
			log_warn("watcher rules: more than %u, asked of the "
				 "database for each SUBSCRIBE", RULEBOOK_MAX);
		rb->over = true;
		hash_flush(rb->rules);
		rb->rules = mem_deref(rb->rules);
		rb->n = 0;
		err = 0;
		goto out;
	}
	if (err)
		goto out;
	hash_flush(rb->rules);
	mem_deref(rb->rules);
	rb->rules = l.h;
	l.h = NULL;
	rb->n = l.n;
	rb->over = false;
 out:
	hash_flush(l.h);
	mem_deref(l.h);
	return err;
}

static enum rule_action lookup(const struct rulebook *rb, const char *owner,
			       const char *watcher)
{
	struct find f = { owner, watcher };
	const struct rule *r = list_ledata(hash_lookup(rb->rules,
		key_hash(owner, watcher), key_cmp, &f));

	return r ? r->a : RULE_NONE;
}

enum rule_action rulebook_decide(const struct rulebook *rb, struct store *st,
				 const char *default_policy,
				 const char *owner, const char *watcher)
{
	enum rule_action a;

	if (!rb || !rb->rules)
		return rules_decide(st, default_policy, owner, watcher);
	/* as rules_decide: the owner, the watcher's rule, the owner's "*"
	 * rule, the configured default (allow if unreadable) */
	if (!strcmp(owner, watcher))
		return RULE_ALLOW;
	a = lookup(rb, owner, watcher);
	if (a == RULE_NONE)
		a = lookup(rb, owner, "*");
	if (a == RULE_NONE && rule_action_parse(&a, default_policy))
		a = RULE_ALLOW;
	return a;
}
