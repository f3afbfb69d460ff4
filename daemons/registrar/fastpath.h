/* fastpath: answers to the edge's stateless forwards, and back daemons'
 * NOTIFYs to devices, passed on before libre decodes them (fastpath.c). */
#ifndef LP_FASTPATH_H
#define LP_FASTPATH_H

#include <re.h>

struct edge;
struct fastpath;

int  fastpath_alloc(struct fastpath **fpp);
/* Watch the UDP socket `msg` came on (once per socket). */
void fastpath_attach(struct edge *r, const struct sip_msg *msg);

#endif
