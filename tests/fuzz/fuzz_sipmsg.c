/* fuzz_sipmsg: what the edge does with a request before it acts on it,
 * from arbitrary bytes: the guard of the fast path (rawsip_head_ok and
 * the raw head reader), libre's decoder behind the address guard
 * (reguard), our validation (sipval: 400/416/420/505), the credentials
 * of Authorization and Proxy-Authorization (digest_cred_decode), URI
 * comparison (sipuri); and the branch an RFC 2543 request gets
 * (rfc2543.c, compiled in here as it is): once added, the top Via has a
 * branch, and an answer made of the marked request loses exactly what
 * was added. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "sip/rawsip.h"
#include "base/reguard.h"
#include "sip/sipval.h"
#include "sip/sipuri.h"
#include "base/digest.h"
#include "../../daemons/registrar/rfc2543.c"

static bool cred_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		   void *arg)
{
	struct digest_cred c;

	(void)msg;
	(void)arg;
	(void)digest_cred_decode(&c, &hdr->val);
	return false;
}

/* The '\n' of the first CRLF (lines end there for rawsip, not at a
 * bare LF) */
static const uint8_t *crlf(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return p + i + 1;
	return NULL;
}

/* The request marked, then the same bytes as an answer ("SIP/2.0 200
 * OK" for the request line) unmarked: the answer of the request as it
 * came, byte for byte */
static void branch_2543(const uint8_t *data, size_t size)
{
	static const char ok200[] = "SIP/2.0 200 OK\r\n";
	const uint8_t *eol = crlf(data, size);
	struct mbuf *mb = mbuf_alloc(size + 64), *want = NULL;
	size_t rest;

	if (!mb || !eol)
		goto out;
	(void)mbuf_write_mem(mb, data, size);
	mb->pos = 0;
	if (!rfc2543_mark(mb))
		goto out;
	if (rawsip_via_branchless((const char *)mb->buf, mb->end))
		abort();               /* still none */
	rest = size - (size_t)(eol + 1 - data);
	want = mbuf_alloc(size + 32);
	if (!want || mbuf_printf(want, "%s%b", ok200, eol + 1, rest))
		goto out;
	/* the marked request's lines after its first, as an answer */
	eol = crlf(mb->buf, mb->end);
	if (!eol)
		abort();
	rest = mb->end - (size_t)(eol + 1 - mb->buf);
	memmove(mb->buf + sizeof(ok200) - 1, eol + 1, rest);
	memcpy(mb->buf, ok200, sizeof(ok200) - 1);
	mb->end = sizeof(ok200) - 1 + rest;
	mb->pos = 0;
	rfc2543_unmark(mb);
	if (mb->end != want->end || memcmp(mb->buf, want->buf, mb->end))
		abort();               /* the answer is not the request's */
 out:
	mem_deref(want);
	mem_deref(mb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const supported[] = { "path", "outbound", NULL };
	static bool init;
	struct rawsip_limits lim = { 1024, 8192, 32768 };
	struct rawsip_excess ex;
	struct rawsip_line ln;
	struct sip_msg *msg = NULL;
	struct sipval_err e;
	struct mbuf *mb;
	struct pl v;

	if (!init) {
		(void)libre_init();
		reguard_init(1024);
		init = true;
	}
	if (size > 65535)
		return 0;
	(void)rawsip_head_ok((const char *)data, size, &lim, &ex);
	(void)rawsip_status((const char *)data, size);
	for (const char *p = (const char *)data;
	     rawsip_next_line(&ln, p, (const char *)data + size);
	     p = ln.next)
		(void)rawsip_hdr(&ln, "Via", 'v', &v);

	mb = mbuf_alloc(size + 1);
	if (!mb)
		return 0;
	(void)mbuf_write_mem(mb, data, size);
	mb->pos = 0;
	if (!sip_msg_decode(&msg, mb)) {
		(void)sipval_request(msg, supported, &e);
		sip_msg_hdr_apply(msg, true, SIP_HDR_AUTHORIZATION, cred_h,
				  NULL);
		sip_msg_hdr_apply(msg, true, SIP_HDR_PROXY_AUTHORIZATION,
				  cred_h, NULL);
		(void)sipuri_equal(&msg->uri, &msg->to.uri);
		mem_deref(msg);
	}
	mem_deref(mb);
	branch_2543(data, size);
	return 0;
}
