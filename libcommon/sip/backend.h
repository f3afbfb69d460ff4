/* backend: what every back daemon (presence, IM relay, BLF) checks of a
 * request before acting on it (DESIGN.md: back daemons trust only the
 * edge): that the edge sent it, that it arrived whole, and which user the
 * edge asserted. */
#ifndef LP_BACKEND_H
#define LP_BACKEND_H

#include <stddef.h>
#include <re.h>
#include "sip/sipval.h"

struct conf;

/* 0: admitted, `user` holds the asserted user ("" when none); otherwise
 * EPERM or EMSGSIZE, and `e` the answer to send (403, 513). */
int backend_admit(const struct conf *c, const struct sip_msg *msg,
		  char *user, size_t sz, struct sipval_err *e);

#endif
