/* tmrq: timers that all run for the same time, kept in a queue. libre
 * keeps its timers in one list sorted at insertion, walked from the
 * latest: every long timer held makes each shorter one started after it
 * dearer, and a server holding thousands of calls for 180 s (Timer C)
 * would walk thousands of entries per transaction. Entries of one
 * duration arrive in expiry order, so a queue holds them in O(1), and
 * only its head has a libre timer. */
#ifndef LP_TMRQ_H
#define LP_TMRQ_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct tmrq {
	struct list q;         /* earliest first */
	struct tmr tmr;        /* for the head */
	uint64_t ms;
};

struct tmrq_entry {
	struct le le;
	uint64_t due;          /* tmr_jiffies() when it expires */
	tmr_h *th;
	void *arg;
};

void tmrq_init(struct tmrq *q, uint64_t ms);
void tmrq_close(struct tmrq *q);
void tmrq_start(struct tmrq *q, struct tmrq_entry *e, tmr_h *th,
		void *arg);
/* One of another length (a call's session interval): in its place,
 * found from the latest; O(1) while most entries share one length. */
void tmrq_start_in(struct tmrq *q, struct tmrq_entry *e, uint64_t ms,
		   tmr_h *th, void *arg);
void tmrq_cancel(struct tmrq_entry *e);
bool tmrq_isrunning(const struct tmrq_entry *e);
uint32_t tmrq_count(const struct tmrq *q);

#endif
