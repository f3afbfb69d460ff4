/* sipuri: compares two SIP URIs by RFC 3261 §19.1.4: scheme, user and
 * password case-sensitively after unescaping, host case-insensitively,
 * explicit ports (sip:h and sip:h:5060 differ), the user, ttl, method,
 * maddr and transport parameters whenever either side has them, any other
 * parameter only when both have it, and headers by name. */
#include <string.h>
#include <re.h>
#include "sip/sipuri.h"

static int unescape_cmp(const struct pl *a, const struct pl *b)
{
	char *ua = NULL, *ub = NULL;
	int r = 1;

	if (re_sdprintf(&ua, "%H", uri_user_unescape, a) ||
	    re_sdprintf(&ub, "%H", uri_user_unescape, b))
		goto out;
	r = (strlen(ua) == strlen(ub) && !memcmp(ua, ub, strlen(ua))) ? 0 : 1;
 out:
	mem_deref(ua);
	mem_deref(ub);
	return r;
}

struct pcmp {
	const struct pl *other;
	bool eq;
};

static bool special(const struct pl *name)
{
	return !pl_strcasecmp(name, "user") || !pl_strcasecmp(name, "ttl") ||
	       !pl_strcasecmp(name, "method") ||
	       !pl_strcasecmp(name, "maddr") ||
	       !pl_strcasecmp(name, "transport");
}

static int param_h(const struct pl *name, const struct pl *val, void *arg)
{
	struct pcmp *c = arg;
	struct pl ov;

	if (uri_param_get(c->other, name, &ov)) {
		if (special(name))
			c->eq = false;
		return 0;
	}
	if (pl_casecmp(val, &ov))
		c->eq = false;
	return 0;
}

static int header_h(const struct pl *name, const struct pl *val, void *arg)
{
	struct pcmp *c = arg;
	struct pl ov;

	if (uri_header_get(c->other, name, &ov) || pl_cmp(val, &ov))
		c->eq = false;
	return 0;
}

bool sipuri_equal(const struct uri *a, const struct uri *b)
{
	struct pcmp c;

	if (pl_casecmp(&a->scheme, &b->scheme))
		return false;
	if (unescape_cmp(&a->user, &b->user) ||
	    pl_cmp(&a->password, &b->password))
		return false;
	if (pl_casecmp(&a->host, &b->host) || a->port != b->port)
		return false;

	c.eq = true;
	c.other = &b->params;
	uri_params_apply(&a->params, param_h, &c);
	c.other = &a->params;
	uri_params_apply(&b->params, param_h, &c);
	if (!c.eq)
		return false;

	c.other = &b->headers;
	uri_headers_apply(&a->headers, header_h, &c);
	c.other = &a->headers;
	uri_headers_apply(&b->headers, header_h, &c);
	return c.eq;
}

bool sipuri_equal_str(const char *a, const char *b)
{
	struct uri ua, ub;
	struct pl pa, pb;

	pl_set_str(&pa, a);
	pl_set_str(&pb, b);
	if (uri_decode(&ua, &pa) || uri_decode(&ub, &pb))
		return false;
	return sipuri_equal(&ua, &ub);
}
