/* test_flood_buckets: the edge's per-source token buckets (flood.c),
 * with the clock given: a burst of flood_burst passes and the next is
 * over; the bucket refills at flood_rate; another port of the same
 * address has a bucket of its own; an authenticated source is not
 * limited for ten minutes, a registered one for its binding's lifetime,
 * and a shorter grant does not cut a longer one; flood_rate = 0 limits
 * nothing. */
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "flood.h"
#include "tap.h"

/* How many of n requests at `now` pass */
static unsigned pass(struct flood *f, const struct sa *src, unsigned n,
		     uint64_t now)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += !flood_over(f, src, now);
	return k;
}

int main(void)
{
	static const char text[] = "domain = t.test\n"
				   "flood_rate = 100\nflood_burst = 400\n";
	struct conf *c = NULL;
	struct flood *f = NULL;
	struct sa a, a2, b;
	uint64_t t = 1000000;
	char *msg = NULL;

	libre_init();
	ok(!conf_parse(&c, text, sizeof(text) - 1, "test", &msg), "configuration");
	ok(!flood_alloc(&f, c), "a flood table");
	sa_set_str(&a, "192.0.2.1", 5060);
	sa_set_str(&a2, "192.0.2.1", 5062);
	sa_set_str(&b, "192.0.2.2", 5060);

	ok(pass(f, &a, 400, t) == 400, "a burst of flood_burst (400) passes");
	ok(pass(f, &a, 10, t) == 0, "the next ones at once are over");
	ok(flood_dropped(f) == 10, "and counted as dropped");
	ok(pass(f, &a2, 400, t) == 400, "another port of the same address "
	   "has its own bucket");
	ok(pass(f, &a, 20, t + 100) == 10, "100 ms later, 10 more pass "
	   "(flood_rate 100 a second)");
	ok(pass(f, &a, 1000, t + 100000) == 400, "after a quiet while the "
	   "bucket is full again, not fuller");

	flood_authed(f, &b, t, FLOOD_AUTHED_MS);
	ok(pass(f, &b, 2000, t) == 2000, "an authenticated source is not "
	   "limited");
	ok(pass(f, &b, 2000, t + FLOOD_AUTHED_MS - 1) == 2000,
	   "nor just before ten minutes have passed");
	ok(pass(f, &b, 2000, t + FLOOD_AUTHED_MS + 1) < 2000,
	   "after them it is limited again");

	t += 2 * FLOOD_AUTHED_MS;
	flood_authed(f, &a, t, 3600 * 1000);      /* a binding of an hour */
	flood_authed(f, &a, t, FLOOD_AUTHED_MS);  /* then a digest: shorter */
	ok(pass(f, &a, 2000, t + 3599 * 1000) == 2000, "a source that "
	   "registered for an hour is not limited for the hour, a shorter "
	   "grant after it notwithstanding");
	ok(pass(f, &a, 2000, t + 3601 * 1000) < 2000, "then it is");

	c->flood_rate = 0;
	ok(pass(f, &a2, 5000, t) == 5000, "flood_rate = 0: nothing is "
	   "limited");

	mem_deref(f);
	mem_deref(c);
	mem_deref(msg);
	libre_close();
	return tap_done();
}
