/* test_tmrq: same-length timers fire in order, once, after their time;
 * a cancelled one never fires, also when it was the head; a handler may
 * start another; many entries cost one libre timer; entries of other
 * lengths (tmrq_start_in) fire in the order of their times, a shorter
 * one started last first. */
#include <string.h>
#include <re.h>
#include "base/tmrq.h"
#include "tap.h"

static struct tmrq q;
static struct tmrq_entry e[4];
static char order[16];
static uint64_t fired_at[4];
static uint64_t t0;
static unsigned restarts;

static void fire_h(void *arg)
{
	size_t i = (size_t)arg;
	char c[2] = { (char)('a' + i), 0 };

	strncat(order, c, sizeof(order) - strlen(order) - 1);
	fired_at[i] = tmr_jiffies() - t0;
	if (i == 3 && !restarts++)
		tmrq_start(&q, &e[3], fire_h, arg);   /* again, from inside */
	if (strlen(order) >= 3)
		re_cancel();
}

static struct tmr guard;

static void guard_h(void *arg)
{
	(void)arg;
	re_cancel();
}

int main(void)
{
	libre_init();
	tmr_init(&guard);
	tmrq_init(&q, 100);
	t0 = tmr_jiffies();
	for (size_t i = 0; i < 4; i++)
		tmrq_start(&q, &e[i], fire_h, (void *)i);
	ok(tmrq_count(&q) == 4 && tmrq_isrunning(&e[0]), "four queued");
	tmrq_cancel(&e[0]);            /* the head */
	tmrq_cancel(&e[2]);            /* one in the middle */
	ok(!tmrq_isrunning(&e[0]) && tmrq_count(&q) == 2,
	   "two cancelled, two left");
	tmr_start(&guard, 2000, guard_h, NULL);
	re_main(NULL);
	ok(!strcmp(order, "bdd"), "the live ones fired in order, and the one "
	   "started again from its handler fired again (%s)", order);
	ok(fired_at[1] >= 100 && fired_at[3] >= 200,
	   "none before its time (%llu, %llu ms)",
	   (unsigned long long)fired_at[1], (unsigned long long)fired_at[3]);
	ok(!fired_at[0] && !fired_at[2], "the cancelled ones never fired");
	ok(tmrq_count(&q) == 0 && !tmr_isrunning(&q.tmr),
	   "an empty queue holds no libre timer");

	for (size_t i = 0; i < 4; i++)
		tmrq_start(&q, &e[i], fire_h, (void *)i);
	tmrq_close(&q);
	ok(tmrq_count(&q) == 0 && !tmrq_isrunning(&e[1]) &&
	   !tmr_isrunning(&q.tmr), "closing forgets every entry");
	/* other lengths: 300, 150 (the new head), 300 again, 50 */
	order[0] = '\0';
	memset(fired_at, 0, sizeof(fired_at));
	restarts = 1;
	t0 = tmr_jiffies();
	tmrq_start_in(&q, &e[0], 300, fire_h, (void *)0);
	tmrq_start_in(&q, &e[1], 150, fire_h, (void *)1);
	tmrq_start_in(&q, &e[2], 300, fire_h, (void *)2);
	tmrq_start_in(&q, &e[3], 50, fire_h, (void *)3);
	tmr_start(&guard, 2000, guard_h, NULL);
	re_main(NULL);
	ok(!strncmp(order, "dba", 3), "other lengths fire by their times, the "
	   "shortest started last first (%s)", order);
	ok(fired_at[3] >= 50 && fired_at[1] >= 150 && fired_at[0] >= 300,
	   "none before its time (%llu, %llu, %llu ms)",
	   (unsigned long long)fired_at[3], (unsigned long long)fired_at[1],
	   (unsigned long long)fired_at[0]);
	tmrq_close(&q);
	tmr_cancel(&guard);
	libre_close();
	return tap_done();
}
