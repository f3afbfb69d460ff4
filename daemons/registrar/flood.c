/* flood: per-source token buckets (flood.h). */
#include <re.h>
#include "base/conf.h"
#include "base/log.h"
#include "base/lru.h"
#include "flood.h"

struct bucket {
	struct lru_entry lru;  /* least recently seen first */
	struct sa src;
	uint64_t last;         /* ms, the last refill */
	uint32_t tokens;       /* thousandths of a request */
	uint64_t authed_until; /* ms: a request authenticated lately */
	bool told;             /* this flood was logged */
};

struct flood {
	const struct conf *conf;
	struct lru tab;
	uint64_t dropped;
	struct log_every every;    /* one flood's line a second at most */
};

static void bucket_destructor(void *arg)
{
	struct bucket *b = arg;

	lru_unlink(&b->lru);
}

static void flood_destructor(void *arg)
{
	struct flood *f = arg;

	lru_close(&f->tab);
}

int flood_alloc(struct flood **fp, const struct conf *conf)
{
	struct flood *f = mem_zalloc(sizeof(*f), flood_destructor);
	int err;

	if (!f)
		return ENOMEM;
	f->conf = conf;
	err = lru_init(&f->tab, FLOOD_MAX, 4096);
	if (err) {
		mem_deref(f);
		return err;
	}
	*fp = f;
	return 0;
}

static bool cmp_h(struct le *le, void *arg)
{
	const struct bucket *b = le->data;

	return sa_cmp(&b->src, arg, SA_ALL);
}

static struct bucket *bucket(struct flood *f, const struct sa *src,
			     uint64_t now)
{
	const uint32_t h = sa_hash(src, SA_ALL);
	struct bucket *b;

	b = lru_find(&f->tab, h, cmp_h, (void *)src);
	if (!b) {
		b = mem_zalloc(sizeof(*b), bucket_destructor);
		if (!b)
			return NULL;
		b->src = *src;
		b->last = now;
		b->tokens = f->conf->flood_burst * 1000;
		lru_add(&f->tab, &b->lru, h, b);
	}
	return b;
}

void flood_authed(struct flood *f, const struct sa *src, uint64_t now,
		  uint64_t for_ms)
{
	struct bucket *b = f ? bucket(f, src, now) : NULL;

	if (b && now + for_ms > b->authed_until)
		b->authed_until = now + for_ms;
}

bool flood_over(struct flood *f, const struct sa *src, uint64_t now)
{
	const uint64_t burst = (uint64_t)f->conf->flood_burst * 1000;
	struct bucket *b;
	uint32_t unlogged;
	uint64_t t;

	if (!f->conf->flood_rate)
		return false;          /* off */
	b = bucket(f, src, now);
	if (!b || b->authed_until > now)
		return false;          /* authenticated flows go first */

	/* refill: flood_rate requests a second, in thousandths per ms */
	t = b->tokens + (now - b->last) * f->conf->flood_rate;
	b->tokens = (uint32_t)(t > burst ? burst : t);
	b->last = now;
	if (b->tokens >= 1000) {
		b->tokens -= 1000;
		if (b->tokens >= burst / 2)
			b->told = false;   /* calm again: a new flood is told */
		return false;
	}
	++f->dropped;
	if (!b->told && log_every(&f->every, now, 1000, &unlogged)) {
		log_notice("flood: %J sends over %u requests a second "
			   "(burst %u): dropping them unread%s", src,
			   f->conf->flood_rate, f->conf->flood_burst,
			   unlogged ? " (other floods not logged)" : "");
		b->told = true;
	}
	return true;
}

uint64_t flood_dropped(const struct flood *f)
{
	return f ? f->dropped : 0;
}
