/* workers: the edge's processes (workers.c). */
#ifndef LP_WORKERS_H
#define LP_WORKERS_H

#include <stdbool.h>

struct workers;

/* Before anything is opened: n - 1 more processes. Each returns here,
 * with its index (0: the first). */
int  workers_fork(struct workers **wp, unsigned n);
unsigned workers_index(const struct workers *w);
unsigned workers_count(const struct workers *w);
/* A worker: tell worker 0 it is ready. Worker 0: wait until every other
 * worker is, then watch for their end. */
int  workers_ready(struct workers *w);
/* Did a worker end (worker 0, after its loop returned)? */
bool workers_failed(const struct workers *w);
/* Worker 0: pass a signal on to the others (SIGHUP: reload). */
void workers_signal(struct workers *w, int sig);
/* Worker 0: stop the others and wait for them. */
void workers_stop(struct workers *w);

#endif
