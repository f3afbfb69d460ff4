/* fuzz_sipmsg: what the edge does with a request before it acts on it,
 * from arbitrary bytes: the guard of the fast path (rawsip_head_ok and
 * the raw head reader), libre's decoder behind the address guard
 * (reguard), our validation (sipval: 400/416/420/505), the credentials
 * of Authorization and Proxy-Authorization (digest_cred_decode), URI
 * comparison (sipuri). */
#include <stdint.h>
#include <string.h>
#include <re.h>
#include "sip/rawsip.h"
#include "base/reguard.h"
#include "sip/sipval.h"
#include "sip/sipuri.h"
#include "base/digest.h"

static bool cred_h(const struct sip_hdr *hdr, const struct sip_msg *msg,
		   void *arg)
{
	struct digest_cred c;

	(void)msg;
	(void)arg;
	(void)digest_cred_decode(&c, &hdr->val);
	return false;
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
	return 0;
}
