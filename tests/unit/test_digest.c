/* test_digest: RFC 7616 §3.9.1 (MD5 and SHA-256 vectors), HA1 hashes,
 * nonces (validity, expiry as stale, forgery), nonce-count replay and the
 * cache cap. */
#include <string.h>
#include <re.h>
#include "base/digest.h"
#include "tap.h"

/* RFC 7616 §3.9.1: Mufasa / "Circle of Life" / http-auth@example.org */
static void rfc7616(void)
{
	static const char *hdr_fmt =
		"Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
		"uri=\"/dir/index.html\", algorithm=%s, "
		"nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		"nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
		"qop=auth, response=\"%s\", "
		"opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
	static const struct {
		const char *alg;
		enum digest_alg a;
		const char *resp;
	} v[] = {
		{"MD5", DIGEST_MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", DIGEST_SHA256,
		 "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	};
	struct pl get = PL("GET"), post = PL("POST");

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char ha1[DIGEST_HEX_MAX], hv[512];
		struct digest_cred c;
		struct pl pl;

		ok(!digest_ha1(ha1, v[i].a, "Mufasa", "http-auth@example.org",
			       "Circle of Life"), "%s HA1", v[i].alg);
		re_snprintf(hv, sizeof(hv), hdr_fmt, v[i].alg, v[i].resp);
		pl_set_str(&pl, hv);
		ok(!digest_cred_decode(&c, &pl) && c.alg == v[i].a,
		   "%s credentials decode", v[i].alg);
		ok(!digest_verify(&c, ha1, &get), "%s RFC 7616 vector verifies",
		   v[i].alg);
		ok(digest_verify(&c, ha1, &post) == EACCES,
		   "%s another method fails", v[i].alg);
		ha1[0] = ha1[0] == '0' ? '1' : '0';
		ok(digest_verify(&c, ha1, &get) == EACCES,
		   "%s another password fails", v[i].alg);
	}
}

static void known_ha1(void)
{
	char ha1[DIGEST_HEX_MAX];

	/* computed independently with Python's hashlib */
	digest_ha1(ha1, DIGEST_MD5, "alice", "example.com", "secret");
	ok(!strcmp(ha1, "b1726872c344b6dc8365b774f8fd6412"),
	   "MD5 HA1 of alice:example.com:secret");
	digest_ha1(ha1, DIGEST_SHA512_256, "alice", "example.com", "secret");
	ok(!strcmp(ha1, "9e413627514b03d0753229d450617d94"
		   "a9b2a2a635222e49bad90404c29e97ad"),
	   "SHA-512-256 HA1 (RFC 8760)");
}

static void decode_errors(void)
{
	struct digest_cred c;
	struct pl a = PL("Digest username=\"a\", realm=\"r\", nonce=\"n\", "
			 "uri=\"sip:x\", response=\"00\", algorithm=SHA-1");
	struct pl b = PL("Digest realm=\"r\"");
	struct pl q = PL("Digest username=\"a\", realm=\"r\", nonce=\"n\", "
			 "uri=\"sip:x\", response=\"0123456789abcdef0123456789abcdef\"");
	struct pl reg = PL("REGISTER");

	ok(digest_cred_decode(&c, &a) == ENOTSUP,
	   "an unknown algorithm is refused");
	ok(digest_cred_decode(&c, &b) != 0, "missing fields are refused");
	ok(!digest_cred_decode(&c, &q) && c.alg == DIGEST_MD5,
	   "no algorithm means MD5");
	ok(digest_verify(&c, "0123456789abcdef0123456789abcdef", &reg) ==
	   EPROTO, "no qop (RFC 2069 form) is refused");
	{
		struct pl basic = PL("Basic YWxhZGRpbjpvcGVuc2VzYW1l");
		struct pl lws = PL("Digest  username = \"a\\\"b\" ,realm=\"r\","
				   "\r\n nonce=n1,uri=\"sip:x\",  response="
				   "\"00\",algorithm=\"SHA-256\"");
		struct pl open_q = PL("Digest username=\"a, realm=\"r\"");
		ok(digest_cred_decode(&c, &basic) == EBADMSG,
		   "another scheme is refused");
		ok(!digest_cred_decode(&c, &lws) &&
		   !pl_strcmp(&c.r.username, "a\\\"b") &&
		   !pl_strcmp(&c.r.nonce, "n1") &&
		   !pl_strcmp(&c.r.uri, "sip:x") && c.alg == DIGEST_SHA256,
		   "LWS, folding, escaped quotes, unquoted and quoted values "
		   "(RFC 7616 §3.4)");
		ok(digest_cred_decode(&c, &open_q) == EBADMSG,
		   "an unterminated quoted string is refused");
	}
}

static void nonces(void)
{
	uint8_t secret[32] = {1, 2, 3};
	struct nonce_ctx *ctx = NULL, *other = NULL;
	char n1[NONCE_LEN + 1], n2[NONCE_LEN + 1];
	struct pl p1, p2, nc1 = PL("00000001"), nc2 = PL("00000002");
	uint8_t s2[32] = {9};

	ok(!nonce_ctx_alloc(&ctx, secret, sizeof(secret), 300, 3),
	   "nonce context");
	ok(!nonce_ctx_alloc(&other, s2, sizeof(s2), 300, 3),
	   "a second context with another secret");
	nonce_make(ctx, "example.com", 1000000, n1);
	nonce_make(ctx, "example.com", 1000000, n2);
	pl_set_str(&p1, n1);
	pl_set_str(&p2, n2);
	ok(strlen(n1) == NONCE_LEN, "nonce length");
	ok(strcmp(n1, n2), "two challenges in one second differ");
	ok(!nonce_check(ctx, "example.com", &p1, 1000000), "valid at once");
	ok(!nonce_check(ctx, "example.com", &p1, 1000300), "valid at 300 s");
	ok(nonce_check(ctx, "example.com", &p1, 1000301) == ETIMEDOUT,
	   "expired after its lifetime: stale");
	ok(nonce_check(ctx, "other.com", &p1, 1000000) == EBADMSG,
	   "not valid for another realm");
	ok(nonce_check(other, "example.com", &p1, 1000000) == EBADMSG,
	   "not valid with another secret (restart with a new secret)");
	n1[40] = n1[40] == 'a' ? 'b' : 'a';
	ok(nonce_check(ctx, "example.com", &p1, 1000000) == EBADMSG,
	   "a forged nonce is refused");
	n1[40] = n2[40];
	nonce_make(ctx, "example.com", 1000000, n1);

	ok(!nonce_count_use(ctx, &p1, &nc1, 7, 1000000), "nc 1 accepted");
	ok(nonce_count_use(ctx, &p1, &nc1, 8, 1000001) == EALREADY,
	   "nc 1 again in another request: replay");
	ok(!nonce_count_use(ctx, &p1, &nc1, 7, 1000001),
	   "nc 1 again in the same request (a retransmission): accepted");
	ok(!nonce_count_use(ctx, &p1, &nc2, 7, 1000002), "nc 2 accepted");
	ok(nonce_count_use(ctx, &p1, &nc1, 7, 1000003) == EALREADY,
	   "a lower nc: replay");
	ok(!nonce_count_use(ctx, &p2, &nc1, 7, 1000003),
	   "nc 1 with another nonce is fine");

	/* the cache is capped at 3: the oldest falls out */
	for (int i = 0; i < 5; i++) {
		char n[NONCE_LEN + 1];
		struct pl p;
		nonce_make(ctx, "example.com", 1000000, n);
		pl_set_str(&p, n);
		nonce_count_use(ctx, &p, &nc1, 7, 1000004);
	}
	ok(nonce_cache_count(ctx) == 3, "nonce cache capped (%u)",
	   nonce_cache_count(ctx));
	/* entries expire with their nonce */
	{
		char n[NONCE_LEN + 1];
		struct pl p;
		nonce_make(ctx, "example.com", 2000000, n);
		pl_set_str(&p, n);
		nonce_count_use(ctx, &p, &nc1, 7, 2000000);
		ok(nonce_cache_count(ctx) == 1, "expired entries dropped");
	}
	mem_deref(ctx);
	mem_deref(other);
}

/* RFC 4231 §4.3, test case 2: key "Jefe" */
static void hmac(void)
{
	static const char want[] = "5bdcc146bf60754e6a042426089575c7"
				   "5a003f089d2739839dec58b964ec3843";
	const char *data = "what do ya want for nothing?";
	struct nonce_ctx *ctx = NULL;
	uint8_t out[32];
	char hex[65];

	nonce_ctx_alloc(&ctx, (const uint8_t *)"Jefe", 4, 300, 10);
	ok(ctx && !digest_hmac(ctx, (const uint8_t *)data, strlen(data), out),
	   "HMAC-SHA256 computes");
	re_snprintf(hex, sizeof(hex), "%w", out, sizeof(out));
	ok(!strcmp(hex, want), "HMAC-SHA256 = RFC 4231 test case 2");
	ok(!digest_hmac(ctx, (const uint8_t *)data, strlen(data), out),
	   "and again from the same precomputed pads");
	re_snprintf(hex, sizeof(hex), "%w", out, sizeof(out));
	ok(!strcmp(hex, want), "with the same result");
	mem_deref(ctx);
}

int main(void)
{
	libre_init();
	hmac();
	rfc7616();
	known_ha1();
	decode_errors();
	nonces();
	libre_close();
	return tap_done();
}
