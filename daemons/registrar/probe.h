/* probe: asks every registered device, every probe_interval seconds,
 * whether it is still there (OPTIONS on its flow); one that stops
 * answering is marked unreachable until it answers or registers again. */
#ifndef LP_PROBE_H
#define LP_PROBE_H

struct edge;
struct prober;

int prober_alloc(struct prober **pp, struct edge *r);

#endif
