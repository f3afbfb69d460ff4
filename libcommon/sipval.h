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

/* option tags we support, NULL terminated */
int  sipval_request(const struct sip_msg *msg, const char *const *supported,
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

#endif
