/* regtopic: what the registrar's `reg` topic says of a user (docs/bus.md):
 * how many of the user's devices are reachable. Read by the presence
 * daemon and the BLF gateway. */
#ifndef LP_REGTOPIC_H
#define LP_REGTOPIC_H

#include <stdint.h>

struct bus_msg;

/* 0 and *n set for a `set` (reachable contacts) or a `del` (0); EINVAL
 * for anything else (heartbeats, a message without a key). */
int regtopic_devices(const struct bus_msg *m, uint32_t *n);

#endif
