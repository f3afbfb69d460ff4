/* digest: HA1 = H(user:realm:password) is what the admin database keeps;
 * the response is H(HA1:nonce:nc:cnonce:qop:H(method:uri)), computed with
 * OpenSSL EVP for every algorithm alike (libre 1.1.0 verifies MD5 only).
 * Nonces are hex(time) hex(counter) hex(HMAC-SHA256(secret,
 * time counter:realm))[:32], unique per challenge so that nonce counts of
 * two clients never collide; any
 * edge with the secret can check them, and a restart does not invalidate
 * them when the secret is persisted. Nonce counts live in a hash with an
 * LRU list in first-use order, capped; the oldest entries fall out first,
 * which are also the first to expire. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <re.h>
#include "base/lex.h"
#include "base/digest.h"

static const EVP_MD *md(enum digest_alg alg)
{
	switch (alg) {
	case DIGEST_MD5:        return EVP_md5();
	case DIGEST_SHA256:     return EVP_sha256();
	case DIGEST_SHA512_256: return EVP_sha512_256();
	default:                return NULL;
	}
}

size_t digest_hash_len(enum digest_alg alg)
{
	return alg == DIGEST_MD5 ? 16 : 32;
}

const char *digest_alg_name(enum digest_alg alg)
{
	switch (alg) {
	case DIGEST_MD5:        return "MD5";
	case DIGEST_SHA256:     return "SHA-256";
	case DIGEST_SHA512_256: return "SHA-512-256";
	default:                return "?";
	}
}

int digest_alg_decode(enum digest_alg *algp, const struct pl *name)
{
	if (!name || !pl_isset(name) || !pl_strcasecmp(name, "MD5"))
		*algp = DIGEST_MD5;
	else if (!pl_strcasecmp(name, "SHA-256"))
		*algp = DIGEST_SHA256;
	else if (!pl_strcasecmp(name, "SHA-512-256"))
		*algp = DIGEST_SHA512_256;
	else
		return ENOTSUP;
	return 0;
}

static void tohex(char *out, const uint8_t *d, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2*i]   = hx[d[i] >> 4];
		out[2*i+1] = hx[d[i] & 0xf];
	}
	out[2*n] = '\0';
}

/* hex = H(formatted text) */
static int hash_hex(char *hex, enum digest_alg alg, const char *fmt, ...)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char *text = NULL;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = re_vsdprintf(&text, fmt, ap);
	va_end(ap);
	if (err)
		return err;
	if (!EVP_Digest(text, strlen(text), d, &dl, md(alg), NULL))
		err = EPROTO;
	else
		tohex(hex, d, dl);
	mem_deref(text);
	return err;
}

int digest_ha1(char *hex, enum digest_alg alg, const char *user,
	       const char *realm, const char *password)
{
	if (!hex || !user || !realm || !password || !md(alg))
		return EINVAL;
	return hash_hex(hex, alg, "%s:%s:%s", user, realm, password);
}

/* One pass over `Digest name=value, name="value", ...` (RFC 7616 §3.4);
 * libre's decoder runs a regular expression per field over the whole
 * header, which showed as the largest cost of a REGISTER. */
int digest_cred_decode(struct digest_cred *c, const struct pl *hval)
{
	struct pl alg = PL("MD5");
	size_t i = 0, l;
	const char *p;

	if (!c || !hval)
		return EINVAL;
	memset(c, 0, sizeof(*c));
	p = hval->p;
	l = hval->l;
	while (i < l && lex_is_lws(p[i]))
		++i;
	if (l - i < 6 || strncasecmp(p + i, "Digest", 6) ||
	    (l - i > 6 && !lex_is_lws(p[i + 6])))
		return EBADMSG;
	i += 6;

	while (i < l) {
		struct pl name, val;

		while (i < l && (lex_is_lws(p[i]) || p[i] == ','))
			++i;
		if (i >= l)
			break;
		name.p = p + i;
		while (i < l && p[i] != '=' && !lex_is_lws(p[i]) && p[i] != ',')
			++i;
		name.l = (size_t)(p + i - name.p);
		while (i < l && lex_is_lws(p[i]))
			++i;
		if (i >= l || p[i] != '=' || !name.l)
			return EBADMSG;
		++i;
		while (i < l && lex_is_lws(p[i]))
			++i;
		if (i < l && p[i] == '"') {
			size_t end = lex_skip_quoted(p, l, i);

			if (!end)
				return EBADMSG;
			val.p = p + i + 1;
			val.l = end - i - 2;
			i = end;
		}
		else {
			val.p = p + i;
			while (i < l && p[i] != ',' && !lex_is_lws(p[i]))
				++i;
			val.l = (size_t)(p + i - val.p);
		}

		if (!pl_strcasecmp(&name, "username"))    c->r.username = val;
		else if (!pl_strcasecmp(&name, "realm"))  c->r.realm = val;
		else if (!pl_strcasecmp(&name, "nonce"))  c->r.nonce = val;
		else if (!pl_strcasecmp(&name, "uri"))    c->r.uri = val;
		else if (!pl_strcasecmp(&name, "response")) c->r.response = val;
		else if (!pl_strcasecmp(&name, "nc"))     c->r.nc = val;
		else if (!pl_strcasecmp(&name, "cnonce")) c->r.cnonce = val;
		else if (!pl_strcasecmp(&name, "qop"))    c->r.qop = val;
		else if (!pl_strcasecmp(&name, "algorithm")) alg = val;
	}
	if (!pl_isset(&c->r.username) || !pl_isset(&c->r.realm) ||
	    !pl_isset(&c->r.nonce) || !pl_isset(&c->r.uri) ||
	    !pl_isset(&c->r.response))
		return EBADMSG;
	return digest_alg_decode(&c->alg, &alg);
}

int digest_verify(const struct digest_cred *c, const char *ha1_hex,
		  const struct pl *method)
{
	char ha2[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
	size_t hl;
	int err;

	if (!c || !ha1_hex || !method)
		return EINVAL;

	/* qop=auth only; auth-int and the RFC 2069 form are refused */
	if (!pl_isset(&c->r.qop) || pl_strcasecmp(&c->r.qop, "auth") ||
	    !pl_isset(&c->r.nc) || !pl_isset(&c->r.cnonce))
		return EPROTO;

	hl = 2 * digest_hash_len(c->alg);
	if (strlen(ha1_hex) != hl || c->r.response.l != hl)
		return EACCES;

	err = hash_hex(ha2, c->alg, "%r:%r", method, &c->r.uri);
	if (err)
		return err;
	err = hash_hex(resp, c->alg, "%s:%r:%r:%r:%r:%s", ha1_hex,
		       &c->r.nonce, &c->r.nc, &c->r.cnonce, &c->r.qop, ha2);
	if (err)
		return err;

	/* constant time, case-insensitive hex */
	{
		uint8_t diff = 0;
		for (size_t i = 0; i < hl; i++) {
			char a = c->r.response.p[i];
			if (a >= 'A' && a <= 'F')
				a = (char)(a - 'A' + 'a');
			diff |= (uint8_t)(a ^ resp[i]);
		}
		return diff ? EACCES : 0;
	}
}

int digest_chall_print(struct re_printf *pf, const struct digest_chall *c)
{
	return re_hprintf(pf, "Digest realm=\"%s\", nonce=\"%s\", "
			  "algorithm=%s, qop=\"auth\"%s",
			  c->realm, c->nonce, digest_alg_name(c->alg),
			  c->stale ? ", stale=true" : "");
}

/* ---- nonces ---- */

struct nonce_ctx;

struct nc_entry {
	struct nonce_ctx *ctx;
	struct le he;          /* in ctx->ht */
	struct le le;          /* in ctx->lru, oldest first */
	char nonce[NONCE_LEN + 1];
	uint32_t nc;
	uint32_t req_hash;     /* of the request that used nc */
	uint64_t expires;
};

struct nonce_ctx {
	uint8_t secret[DIGEST_SECRET_LEN];
	size_t secret_len;
	uint32_t lifetime;
	uint32_t cap;
	struct hash *ht;
	struct list lru;
	uint32_t count;        /* list_count() is O(N) */
	uint64_t counter;      /* makes each nonce unique; the HMAC makes it
				* unforgeable, so no RAND_bytes per challenge */
	/* HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed
	 * once: each MAC is two context copies and two short hashes, where
	 * OpenSSL 3's one-shot HMAC() fetches the algorithm every time */
	EVP_MD *sha256;
	EVP_MD_CTX *inner, *outer, *tmp;
};

static void nc_destructor(void *arg)
{
	struct nc_entry *e = arg;

	hash_unlink(&e->he);
	list_unlink(&e->le);
	if (e->ctx)
		--e->ctx->count;
}

static void ctx_destructor(void *arg)
{
	struct nonce_ctx *ctx = arg;
	struct le *le = ctx->lru.head;

	/* unlink one by one: LIBRE.md §3 on list_flush in 1.1.0 */
	while (le) {
		struct nc_entry *e = le->data;
		le = le->next;
		mem_deref(e);
	}
	mem_deref(ctx->ht);
	EVP_MD_CTX_free(ctx->inner);
	EVP_MD_CTX_free(ctx->outer);
	EVP_MD_CTX_free(ctx->tmp);
	EVP_MD_free(ctx->sha256);
	memset(ctx->secret, 0, sizeof(ctx->secret));
}

static int hmac_init(struct nonce_ctx *ctx)
{
	uint8_t ipad[64], opad[64];

	ctx->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx->inner = EVP_MD_CTX_new();
	ctx->outer = EVP_MD_CTX_new();
	ctx->tmp = EVP_MD_CTX_new();
	if (!ctx->sha256 || !ctx->inner || !ctx->outer || !ctx->tmp)
		return ENOMEM;
	/* keys are at most 32 bytes here: no hashing of long keys */
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (size_t i = 0; i < ctx->secret_len; i++) {
		ipad[i] ^= ctx->secret[i];
		opad[i] ^= ctx->secret[i];
	}
	if (!EVP_DigestInit_ex(ctx->inner, ctx->sha256, NULL) ||
	    !EVP_DigestUpdate(ctx->inner, ipad, sizeof(ipad)) ||
	    !EVP_DigestInit_ex(ctx->outer, ctx->sha256, NULL) ||
	    !EVP_DigestUpdate(ctx->outer, opad, sizeof(opad)))
		return EPROTO;
	memset(ipad, 0, sizeof(ipad));
	memset(opad, 0, sizeof(opad));
	return 0;
}

int digest_hmac(struct nonce_ctx *ctx, const uint8_t *data, size_t len,
		uint8_t out[32])
{
	uint8_t ih[EVP_MAX_MD_SIZE];
	unsigned int il = 0, ol = 0;

	if (!EVP_MD_CTX_copy_ex(ctx->tmp, ctx->inner) ||
	    !EVP_DigestUpdate(ctx->tmp, data, len) ||
	    !EVP_DigestFinal_ex(ctx->tmp, ih, &il) ||
	    !EVP_MD_CTX_copy_ex(ctx->tmp, ctx->outer) ||
	    !EVP_DigestUpdate(ctx->tmp, ih, il) ||
	    !EVP_DigestFinal_ex(ctx->tmp, out, &ol))
		return EPROTO;
	return 0;
}

int nonce_ctx_alloc(struct nonce_ctx **ctxp, const uint8_t *secret,
		    size_t len, uint32_t lifetime, uint32_t cache_size)
{
	struct nonce_ctx *ctx;
	int err;

	if (!ctxp || !secret || !len || len > DIGEST_SECRET_LEN)
		return EINVAL;
	ctx = mem_zalloc(sizeof(*ctx), ctx_destructor);
	if (!ctx)
		return ENOMEM;
	memcpy(ctx->secret, secret, len);
	ctx->secret_len = len;
	ctx->lifetime = lifetime;
	ctx->cap = cache_size;
	ctx->counter = rand_u64();
	err = hmac_init(ctx);
	err = err ? err : hash_alloc(&ctx->ht, 4096);
	if (err)
		mem_deref(ctx);
	else
		*ctxp = ctx;
	return err;
}

static int nonce_mac(struct nonce_ctx *ctx, const char *realm,
		     const char *ts32, char out[33])
{
	uint8_t mac[32];
	char data[256];
	int n, err;

	n = re_snprintf(data, sizeof(data), "%s:%s", ts32, realm);
	if (n < 0 || (size_t)n >= sizeof(data))
		return EINVAL;     /* a realm over 200 bytes: not ours */
	err = digest_hmac(ctx, (uint8_t *)data, (size_t)n, mac);
	if (!err)
		tohex(out, mac, 16);
	return err;
}

int nonce_make(struct nonce_ctx *ctx, const char *realm, uint64_t now,
	       char out[NONCE_LEN + 1])
{
	char ts[33], mac[33];
	int err;

	if (!ctx || !realm || !out)
		return EINVAL;
	re_snprintf(ts, sizeof(ts), "%016llx%016llx", (unsigned long long)now,
		    (unsigned long long)ctx->counter++);
	err = nonce_mac(ctx, realm, ts, mac);
	if (err)
		return err;
	re_snprintf(out, NONCE_LEN + 1, "%s%s", ts, mac);
	return 0;
}

/* 0: valid, ETIMEDOUT: ours but expired (stale), EBADMSG: not ours */
int nonce_check(struct nonce_ctx *ctx, const char *realm,
		const struct pl *nonce, uint64_t now)
{
	char ts[33], mac[33];
	struct pl tpl;
	uint64_t t;
	uint8_t diff = 0;

	if (!ctx || !nonce || nonce->l != NONCE_LEN)
		return EBADMSG;
	for (size_t i = 0; i < NONCE_LEN; i++) {
		char ch = nonce->p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return EBADMSG;
	}
	memcpy(ts, nonce->p, 32);
	ts[32] = '\0';
	if (nonce_mac(ctx, realm, ts, mac))
		return EBADMSG;
	for (size_t i = 0; i < 32; i++)
		diff |= (uint8_t)(mac[i] ^ nonce->p[32 + i]);
	if (diff)
		return EBADMSG;

	tpl.p = nonce->p;
	tpl.l = 16;
	t = pl_x64(&tpl);
	if (t > now + 5 || now - t > ctx->lifetime)
		return ETIMEDOUT;
	return 0;
}

static bool nc_cmp(struct le *le, void *arg)
{
	const struct nc_entry *e = le->data;
	const struct pl *n = arg;

	return 0 == pl_strcmp(n, e->nonce);
}

/* Record nonce-count nc for a valid nonce; EALREADY if it is not higher
 * than every count seen before with that nonce (a replay), unless it is
 * the very request that used it (same req_hash, e.g. of the Via branch):
 * a retransmission, which must get the same answer. */
int nonce_count_use(struct nonce_ctx *ctx, const struct pl *nonce,
		    const struct pl *ncpl, uint32_t req_hash, uint64_t now)
{
	struct nc_entry *e;
	uint32_t nc;
	struct pl tpl;

	if (!ctx || !nonce || nonce->l != NONCE_LEN || !ncpl ||
	    ncpl->l != 8)
		return EINVAL;
	nc = (uint32_t)pl_x32(ncpl);
	if (!nc)
		return EINVAL;

	/* expire from the old end */
	while (ctx->lru.head) {
		e = ctx->lru.head->data;
		if (e->expires > now)
			break;
		mem_deref(e);
	}

	e = list_ledata(hash_lookup(ctx->ht, hash_joaat_pl(nonce), nc_cmp,
				    (void *)nonce));
	if (e) {
		if (nc == e->nc && req_hash == e->req_hash)
			return 0;
		if (nc <= e->nc)
			return EALREADY;
		e->nc = nc;
		e->req_hash = req_hash;
		return 0;
	}

	if (ctx->cap && ctx->count >= ctx->cap && ctx->lru.head)
		mem_deref(ctx->lru.head->data);

	e = mem_zalloc(sizeof(*e), nc_destructor);
	if (!e)
		return ENOMEM;
	pl_strcpy(nonce, e->nonce, sizeof(e->nonce));
	e->nc = nc;
	e->req_hash = req_hash;
	tpl.p = nonce->p;
	tpl.l = 16;
	e->expires = pl_x64(&tpl) + ctx->lifetime + 1;
	hash_append(ctx->ht, hash_joaat_pl(nonce), &e->he, e);
	list_append(&ctx->lru, &e->le, e);
	e->ctx = ctx;
	++ctx->count;
	return 0;
}

uint32_t nonce_cache_count(const struct nonce_ctx *ctx)
{
	return ctx ? ctx->count : 0;
}
