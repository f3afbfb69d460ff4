/* test_flow: the edge's flow tokens (daemons/registrar/flow.c): a
 * device's token names its transport and source and decodes for any
 * request; a call's token (RFC 5658 double Record-Route, one per leg) is
 * bound to its Call-ID and decodes for that Call-ID alone; a changed
 * byte, another secret or a truncated token decodes to nothing. */
#include <string.h>
#include <re.h>
#include "base/digest.h"
#include "flow.h"
#include "tap.h"

static bool decodes(const char *tok, struct nonce_ctx *key,
		    const char *callid, enum sip_transp *tp, struct sa *sa)
{
	struct pl t, c;

	pl_set_str(&t, tok);
	if (callid)
		pl_set_str(&c, callid);
	return !flow_token_decode(&t, key, callid ? &c : NULL, tp, sa);
}

int main(void)
{
	static const uint8_t s1[] = "one secret of the edge, 32 bytes";
	static const uint8_t s2[] = "another secret, of another edge!";
	struct nonce_ctx *key = NULL, *other = NULL;
	char dev[FLOW_TOKEN_MAX + 1], call[FLOW_TOKEN_MAX + 1], bad[160];
	enum sip_transp tp;
	struct sa src, got;
	struct pl cid, pl;
	char longid[400];

	if (nonce_ctx_alloc(&key, s1, 32, 300, 8) ||
	    nonce_ctx_alloc(&other, s2, 32, 300, 8))
		return 1;
	sa_set_str(&src, "192.0.2.7", 40123);
	pl_set_str(&cid, "a84b4c76e66710@pc33.atlanta.example.com");

	ok(!flow_token_make(dev, sizeof(dev), key, SIP_TRANSP_TCP, &src,
			    NULL), "a device's token is made");
	ok(decodes(dev, key, NULL, &tp, &got) && tp == SIP_TRANSP_TCP &&
	   sa_cmp(&got, &src, SA_ALL), "... and names TCP and its source");
	ok(decodes(dev, key, "any-call-id", &tp, &got),
	   "... for any request (SUBSCRIBE dialogs, Path)");
	pl_set_str(&pl, dev);
	ok(!flow_token_is_call(&pl), "... and is not a call's");

	ok(!flow_token_make(call, sizeof(call), key, SIP_TRANSP_UDP, &src,
			    &cid), "a call's token is made");
	pl_set_str(&pl, call);
	ok(flow_token_is_call(&pl), "... and says it is a call's");
	ok(decodes(call, key, "a84b4c76e66710@pc33.atlanta.example.com",
		   &tp, &got) && tp == SIP_TRANSP_UDP &&
	   sa_cmp(&got, &src, SA_ALL), "... decodes for its Call-ID");
	ok(!decodes(call, key, "a84b4c76e66710@pc33.atlanta.example.co",
		    &tp, &got), "... not for another Call-ID");
	ok(!decodes(call, key, NULL, &tp, &got),
	   "... nor without one (a back daemon's request)");
	ok(strcmp(call, dev) && strncmp(call, dev, 2),
	   "a call's token differs from the device's for the same flow");

	ok(!decodes(dev, other, NULL, &tp, &got) &&
	   !decodes(call, other, "a84b4c76e66710@pc33.atlanta.example.com",
		    &tp, &got), "another secret decodes neither");
	str_ncpy(bad, dev, sizeof(bad));
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	ok(!decodes(bad, key, NULL, &tp, &got), "a changed MAC digit: no");
	str_ncpy(bad, dev, sizeof(bad));
	bad[1] = bad[1] == '4' ? '5' : '4';   /* t -> u, or the reverse */
	ok(!decodes(bad, key, NULL, &tp, &got),
	   "a changed transport (TCP made UDP): no");
	str_ncpy(bad, call, sizeof(bad));
	bad[0] = '7';                          /* 'U' (0x55) -> 'u' (0x75) */
	ok(!decodes(bad, key, NULL, &tp, &got),
	   "a call's token made a device's (its letter lowered): no");
	str_ncpy(bad, dev, sizeof(bad));
	bad[strlen(bad) - 3] = '\0';
	ok(!decodes(bad, key, NULL, &tp, &got) &&
	   !decodes("", key, NULL, &tp, &got) &&
	   !decodes("zz.0123456789abcdef", key, NULL, &tp, &got),
	   "truncated, empty or not hex: no");

	/* a Call-ID longer than what is bound: the token still works */
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	pl_set_str(&cid, longid);
	ok(!flow_token_make(call, sizeof(call), key, SIP_TRANSP_TLS, &src,
			    &cid) &&
	   decodes(call, key, longid, &tp, &got) && tp == SIP_TRANSP_TLS,
	   "a 399-byte Call-ID: bound by its first %d bytes",
	   FLOW_CALLID_MAX);

	mem_deref(key);
	mem_deref(other);
	return tap_done();
}
