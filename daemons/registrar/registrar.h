/* registrar: the SIP side of lamplight-registrar: every request is
 * validated and either answered here (REGISTER with digest
 * authentication, OPTIONS to the server, a precise refusal) or handed to
 * the module that owns it (route, call); answers no transaction claims go
 * to fwd. */
#ifndef LP_REGISTRAR_H
#define LP_REGISTRAR_H

struct edge;

int registrar_listen(struct edge *r);

#endif
