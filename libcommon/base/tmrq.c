/* tmrq: a queue of timers with one libre timer for its head (why:
 * tmrq.h). Starting one of the queue's length and cancelling are O(1);
 * one of another length is put in its place walking from the latest. */
#include <string.h>
#include <re.h>
#include "base/tmrq.h"

static void arm(struct tmrq *q);

static void fire_h(void *arg)
{
	struct tmrq *q = arg;
	const uint64_t now = tmr_jiffies();
	struct tmrq_entry *e;

	/* one at a time: a handler may cancel or start others */
	while ((e = list_ledata(list_head(&q->q))) && e->due <= now) {
		tmr_h *th = e->th;

		list_unlink(&e->le);
		e->th = NULL;
		th(e->arg);
	}
	arm(q);
}

static void arm(struct tmrq *q)
{
	const struct tmrq_entry *e = list_ledata(list_head(&q->q));
	uint64_t now;

	if (!e) {
		tmr_cancel(&q->tmr);
		return;
	}
	now = tmr_jiffies();
	tmr_start(&q->tmr, e->due > now ? e->due - now : 0, fire_h, q);
}

void tmrq_init(struct tmrq *q, uint64_t ms)
{
	if (!q)
		return;
	memset(q, 0, sizeof(*q));
	list_init(&q->q);
	tmr_init(&q->tmr);
	q->ms = ms;
}

/* Forget every entry without calling it (their owners are going too). */
void tmrq_close(struct tmrq *q)
{
	struct le *le;

	if (!q)
		return;
	tmr_cancel(&q->tmr);
	while ((le = list_head(&q->q))) {
		struct tmrq_entry *e = le->data;

		list_unlink(le);
		e->th = NULL;
	}
}

void tmrq_start_in(struct tmrq *q, struct tmrq_entry *e, uint64_t ms,
		   tmr_h *th, void *arg)
{
	struct le *le;

	if (!q || !e || !th)
		return;
	tmrq_cancel(e);
	e->due = tmr_jiffies() + ms;
	e->th = th;
	e->arg = arg;
	/* after the latest entry due no later than this one */
	for (le = q->q.tail; le; le = le->prev) {
		const struct tmrq_entry *o = le->data;

		if (o->due <= e->due)
			break;
	}
	if (le) {
		list_insert_after(&q->q, le, &e->le, e);
		return;
	}
	list_prepend(&q->q, &e->le, e);
	arm(q);                /* a new head */
}

/* Of the queue's length: always after the latest, O(1); the head
 * expires first and re-arms for the next. */
void tmrq_start(struct tmrq *q, struct tmrq_entry *e, tmr_h *th,
		void *arg)
{
	if (q)
		tmrq_start_in(q, e, q->ms, th, arg);
}

/* The queue's timer may fire for a head that is gone: fire_h finds it not
 * due and re-arms. */
void tmrq_cancel(struct tmrq_entry *e)
{
	if (!e || !e->th)
		return;
	list_unlink(&e->le);
	e->th = NULL;
}

bool tmrq_isrunning(const struct tmrq_entry *e)
{
	return e && e->th;
}

uint32_t tmrq_count(const struct tmrq *q)
{
	return q ? list_count(&q->q) : 0;
}
