/* sockage: how long the datagram just read from a socket waited in the
 * kernel's receive queue, from the time the kernel stamped it on arrival
 * (SIOCGSTAMPNS). A server that falls behind sees it grow long before
 * the queue overflows; the age of what it reads is the one measure of
 * its own overload that costs no bookkeeping. */
#ifndef LP_SOCKAGE_H
#define LP_SOCKAGE_H

#include <stdint.h>

/* Milliseconds the last datagram read on `fd` waited, or -1 when the
 * kernel has no stamp for it (the first call turns stamping on). */
int64_t sockage_ms(int fd);

#endif
