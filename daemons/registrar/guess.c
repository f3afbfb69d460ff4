/* guess: the table of failed digest answers per user and source address
 * (guess.h). Keyed by the user name and the address without its port:
 * a guesser changes ports at will. */
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/lru.h"
#include "guess.h"

#define FORGET_S 3600          /* a quiet hour forgets the failures */

struct entry {
	struct lru_entry lru;  /* least recently failed first */
	char user[65];
	struct sa addr;        /* port 0 */
	uint32_t fails;
	uint64_t last;         /* s, the last failure */
	uint64_t until;        /* s, blocked until */
	bool told;             /* a refusal in this block was logged */
};

struct guess {
	const struct conf *conf;
	struct lru tab;
};

static void entry_destructor(void *arg)
{
	struct entry *e = arg;

	lru_unlink(&e->lru);
}

static void guess_destructor(void *arg)
{
	struct guess *g = arg;

	lru_close(&g->tab);
}

int guess_alloc(struct guess **gp, const struct conf *conf)
{
	struct guess *g = mem_zalloc(sizeof(*g), guess_destructor);
	int err;

	if (!g)
		return ENOMEM;
	g->conf = conf;
	err = lru_init(&g->tab, GUESS_MAX, 4096);
	if (err) {
		mem_deref(g);
		return err;
	}
	*gp = g;
	return 0;
}

static uint32_t key_hash(const struct pl *user, const struct sa *a)
{
	return hash_joaat_pl(user) ^ sa_hash(a, SA_ADDR);
}

struct find {
	const struct pl *user;
	const struct sa *addr;
};

static bool cmp_h(struct le *le, void *arg)
{
	const struct entry *e = le->data;
	const struct find *f = arg;

	return !pl_strcmp(f->user, e->user) &&
	       sa_cmp(&e->addr, f->addr, SA_ADDR);
}

static struct entry *find(struct guess *g, const struct pl *user,
			  const struct sa *src)
{
	struct find f = { user, src };

	return lru_find(&g->tab, key_hash(user, src), cmp_h, &f);
}

uint32_t guess_wait(struct guess *g, const struct pl *user,
		    const struct sa *src, uint64_t now, bool *first)
{
	struct entry *e = g ? find(g, user, src) : NULL;

	if (!e || e->until <= now)
		return 0;
	*first = !e->told;
	e->told = true;
	return (uint32_t)(e->until - now);
}

static void count(struct guess *g, const struct pl *user,
		  const struct sa *src, uint64_t now, bool tell)
{
	const struct conf *c;
	struct entry *e;
	uint64_t block;

	if (!g || !user->l || user->l > 64)
		return;
	c = g->conf;
	e = find(g, user, src);
	if (e && now - e->last > FORGET_S) {
		e->fails = 0;
		e->until = 0;
	}
	if (!e) {
		e = mem_zalloc(sizeof(*e), entry_destructor);
		if (!e)
			return;
		(void)pl_strcpy(user, e->user, sizeof(e->user));
		e->addr = *src;
		sa_set_port(&e->addr, 0);
		lru_add(&g->tab, &e->lru, key_hash(user, src), e);
	}
	e->last = now;
	if (++e->fails < c->auth_fail_limit)
		return;
	/* the limit-th failure blocks for auth_block_min, each further one
	 * for twice as long, up to auth_block_max */
	block = c->auth_block_min;
	for (uint32_t i = c->auth_fail_limit; i < e->fails &&
	     block < c->auth_block_max; i++)
		block *= 2;
	if (block > c->auth_block_max)
		block = c->auth_block_max;
	e->until = now + block;
	e->told = false;
	if (tell)
		log_notice("auth: user '%s' from %j blocked for %u s after %u "
		   "failed attempts", e->user, src, (unsigned)block, e->fails);
}

void guess_failed(struct guess *g, const struct pl *user,
		  const struct sa *src, uint64_t now)
{
	count(g, user, src, now, true);
}

void guess_failed_elsewhere(struct guess *g, const struct pl *user,
			    const struct sa *src, uint64_t now)
{
	count(g, user, src, now, false);
}

bool guess_ok(struct guess *g, const struct pl *user, const struct sa *src)
{
	struct entry *e = g ? find(g, user, src) : NULL;

	mem_deref(e);
	return e != NULL;
}

uint32_t guess_count(const struct guess *g)
{
	return g ? g->tab.n : 0;
}
