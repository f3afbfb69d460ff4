/* fastpath: the answers to the edge's stateless forwards, relayed before
 * libre decodes them (fastpath.c). */
#ifndef LP_FASTPATH_H
#define LP_FASTPATH_H

#include <re.h>

struct registrar;
struct fastpath;

int  fastpath_alloc(struct fastpath **fpp);
/* Watch the UDP socket `msg` came on (once per socket). */
void fastpath_attach(struct registrar *r, const struct sip_msg *msg);

#endif
