/* registrar: the SIP side of lamplight-registrar: REGISTER with digest
 * authentication, OPTIONS to the server, and a precise answer to every
 * other request. */
#ifndef LP_REGISTRAR_H
#define LP_REGISTRAR_H

#include <re.h>
#include "base/tmrq.h"

struct conf;
struct users_cache;
struct nonce_ctx;
struct location;
struct dialogs;
struct store;

struct registrar {
	const struct conf *conf;
	struct sip *sip;
	struct sip_lsnr *lsnr;
	struct sip_lsnr *lsnr_resp;  /* answers no transaction claims */
	struct users_cache *users;
	struct store *admin;        /* the admin database: watcher rules */
	struct nonce_ctx *nonces;
	struct location *loc;
	struct dialogs *dialogs;
	struct tmrq timer_c;        /* calls no device answered yet */
	struct tmrq route_tmr;      /* forwards waiting for an answer */
	struct hash *pending;       /* fwd_backend's, by branch */
	struct hash *calls;         /* ringing calls, by Call-ID (pickup) */
	uint32_t ringing;           /* calls being set up (call_max_ringing) */
	struct fastpath *fast;      /* answers relayed before libre decodes */
	struct udpwide *wide;       /* whole datagrams, up to 64 KiB */
	struct guess *guess;        /* failed digest answers (guess.h) */
	struct flood *flood;        /* requests per source (flood.h) */
	uint32_t npending;
};

int  registrar_listen(struct registrar *r);
bool registrar_is_local(const struct registrar *r, const struct uri *uri);

#endif
