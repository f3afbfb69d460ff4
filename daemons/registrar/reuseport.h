/* reuseport: the udp listen addresses the edge workers share
 * (SO_REUSEPORT, set as libre binds them: reuseport.c). */
#ifndef LP_REUSEPORT_H
#define LP_REUSEPORT_H

#include <re.h>

/* Bind these UDP addresses shared from now on (n = 0: none). */
void reuseport_share(const struct sa *addrs, unsigned n);

#endif
