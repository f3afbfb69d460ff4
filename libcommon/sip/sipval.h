/* sipval: the checks libre 1.1.0 leaves to us before a request is acted on
 * (LIBRE.md §6.3): essential headers present, single and well formed, CSeq
 * method matching the request line, sane numbers, known URI schemes, known
 * extensions. Each failure carries the status code and a reason phrase that
 * says what is wrong. */
#ifndef LP_SIPVAL_H
#define LP_SIPVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct sipval_err {
	uint16_t code;         /* 400, 416, 420, 505 */
	const char *reason;
};

/* option tags we support, NULL terminated; Require and Proxy-Require
 * checked against them, for a request we answer ourselves */
int  sipval_request(const struct sip_msg *msg, const char *const *supported,
		    struct sipval_err *e);
/* the same for a request we send on: Proxy-Require only */
int  sipval_proxied(const struct sip_msg *msg, const char *const *supported,
		    struct sipval_err *e);
/* %H argument for the Unsupported header of a 420 */
struct sipval_unsup {
	const struct sip_msg *msg;
	const char *const *supported;
};
int  sipval_print_unsupported(struct re_printf *pf,
			      const struct sipval_unsup *u);
bool sipval_params_ok(const struct pl *params);
bool sipval_addr_ok(const struct pl *val, struct sip_addr *addr);
bool sipval_uri_scheme_ok(const struct uri *uri);
/* An expiry in seconds (delta-seconds, RFC 3261 §20.19: larger values
 * saturate at 2^32-1); EINVAL when not all digits. */
int  sipval_expires(uint32_t *v, const struct pl *pl);
/* The expiry to grant for an Expires header (unset: dfl, 0 stays 0,
 * above max: max): 0, EINVAL for a bad number (400), ERANGE when under
 * min (423 with Min-Expires). */
int  sipval_expiry(uint32_t *grant, const struct pl *hdr, uint32_t dfl,
		   uint32_t min, uint32_t max);
/* RFC 4028 §4-5: a message's Session-Expires (delta-seconds, with its
 * refresher parameter if asked) and Min-SE; 0 when absent; EINVAL when
 * malformed or zero. */
int  sipval_session_expires(const struct sip_msg *msg, uint32_t *se,
			    struct pl *refresher);
int  sipval_min_se(const struct sip_msg *msg, uint32_t *min_se);

#endif
