/* digest: HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616,
 * RFC 8760): HA1 hashes, response verification, stateless HMAC nonces and
 * a bounded nonce-count cache against replays. */
#ifndef LP_DIGEST_H
#define LP_DIGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "base/conf.h"

#define DIGEST_HEX_MAX 65      /* 64 hex digits of SHA-256 + NUL */
#define NONCE_LEN 64           /* 16 hex time, 16 hex random, 32 HMAC */
#define DIGEST_SECRET_LEN 32

size_t digest_hash_len(enum digest_alg alg);
const char *digest_alg_name(enum digest_alg alg);
int  digest_alg_decode(enum digest_alg *algp, const struct pl *name);
int  digest_ha1(char *hex, enum digest_alg alg, const char *user,
		const char *realm, const char *password);

/* A decoded Authorization / Proxy-Authorization header. */
struct digest_cred {
	struct httpauth_digest_resp r;
	enum digest_alg alg;
};

int  digest_cred_decode(struct digest_cred *c, const struct pl *hval);
int  digest_verify(const struct digest_cred *c, const char *ha1_hex,
		   const struct pl *method);

/* Challenge text without the header name; print with %H. */
struct digest_chall {
	const char *realm;
	const char *nonce;
	enum digest_alg alg;
	bool stale;
};
int  digest_chall_print(struct re_printf *pf, const struct digest_chall *c);

struct nonce_ctx;
int  nonce_ctx_alloc(struct nonce_ctx **ctxp, const uint8_t *secret,
		     size_t len, uint32_t lifetime, uint32_t cache_size);
int  nonce_make(struct nonce_ctx *ctx, const char *realm, uint64_t now,
		char out[NONCE_LEN + 1]);
int  nonce_check(struct nonce_ctx *ctx, const char *realm,
		 const struct pl *nonce, uint64_t now);
int  nonce_count_use(struct nonce_ctx *ctx, const struct pl *nonce,
		     const struct pl *nc, uint32_t req_hash, uint64_t now);
uint32_t nonce_cache_count(const struct nonce_ctx *ctx);
int  digest_hmac(struct nonce_ctx *ctx, const uint8_t *data, size_t len,
		 uint8_t out[32]);

#endif
