/* call: the stateful proxy for INVITE between users (RFC 3261 §16). */
#ifndef LP_CALL_H
#define LP_CALL_H

#include <re.h>

struct registrar;

void call_invite(struct registrar *r, const struct sip_msg *msg);

#endif
