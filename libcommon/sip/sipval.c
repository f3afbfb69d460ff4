/* sipval: request validation, applied by every daemon as its first SIP
 * listener. RFC 4475 torture messages drive what is checked here; each
 * check names the RFC rule it enforces. */
#include <string.h>
#include <re.h>
#include "base/lex.h"
#include "sip/sipval.h"

static bool is_token_char(char c)
{
	/* RFC 3261 §25.1 token */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return strchr("-.!%*_+`'~", c) != NULL && c != '\0';
}

static bool is_digits(const struct pl *pl, size_t maxlen)
{
	if (!pl->l || pl->l > maxlen)
		return false;
	for (size_t i = 0; i < pl->l; i++)
		if (pl->p[i] < '0' || pl->p[i] > '9')
			return false;
	return true;
}

bool sipval_uri_scheme_ok(const struct uri *uri)
{
	return !pl_strcasecmp(&uri->scheme, "sip") ||
	       !pl_strcasecmp(&uri->scheme, "sips");
}

/* ";name[=value]" repeated; an empty name (";;") is a syntax error
 * (RFC 3261 §25.1 generic-param). Quoted values may hold anything. */
bool sipval_params_ok(const struct pl *params)
{
	size_t i = 0;
	const char *p = params->p;
	size_t l = params->l;

	while (i < l) {
		size_t n = 0;

		while (i < l && lex_is_lws(p[i]))
			++i;
		if (i >= l)
			break;
		if (p[i] != ';')
			return false;
		++i;
		while (i < l && lex_is_lws(p[i]))
			++i;
		while (i < l && (is_token_char(p[i]) || p[i] == '[' ||
				 p[i] == ']' || p[i] == ':'))
			++i, ++n;
		if (!n)
			return false;
		while (i < l && lex_is_lws(p[i]))
			++i;
		if (i < l && p[i] == '=') {
			++i;
			while (i < l && lex_is_lws(p[i]))
				++i;
			if (i < l && p[i] == '"') {
				i = lex_skip_quoted(p, l, i);
				if (!i)
					return false;
			}
			else {
				size_t v = 0;
				while (i < l && p[i] != ';' && !lex_is_lws(p[i]))
					++i, ++v;
				if (!v)
					return false;
			}
		}
	}
	return true;
}

/* name-addr / addr-spec of From, To and Contact (RFC 3261 §20.10):
 * balanced quotes, a display name that is a quoted string or tokens, and
 * well-formed parameters. */
/* What libre's decoder does not check of a raw name-addr: balanced
 * quotes, and an unquoted display name of tokens only (libre keeps just
 * the last word of "Bell, Alexander <sip:...>"). */
static bool raw_addr_ok(const struct pl *val)
{
	int q = 0;

	for (size_t i = 0; i < val->l; i++) {
		if (val->p[i] == '\\' && q) {
			++i;
			continue;
		}
		if (val->p[i] == '"')
			q ^= 1;
	}
	if (q)
		return false;
	if (val->l && val->p[0] != '"' && memchr(val->p, '<', val->l)) {
		for (size_t i = 0; i < val->l && val->p[i] != '<'; i++) {
			char c = val->p[i];
			if (!is_token_char(c) && !lex_is_lws(c))
				return false;
		}
	}
	return true;
}

/* From and To as libre decoded them (msg->from, msg->to) */
static bool taddr_ok(const struct sip_taddr *t)
{
	if (!t->val.l || !t->auri.l || !raw_addr_ok(&t->val))
		return false;
	if (!memchr(t->val.p, '<', t->val.l) && t->uri.headers.l)
		return false;
	return sipval_params_ok(&t->params);
}

bool sipval_addr_ok(const struct pl *val, struct sip_addr *addr)
{
	if (!raw_addr_ok(val))
		return false;
	if (sip_addr_decode(addr, val))
		return false;
	if (!memchr(val->p, '<', val->l) && addr->uri.headers.l)
		return false;  /* addr-spec with '?' must be in <> */
	return sipval_params_ok(&addr->params);
}

static bool has_tag(const char *const *list, const struct pl *tag)
{
	struct pl t = *tag;

	while (t.l && lex_is_lws(*t.p))
		pl_advance(&t, 1);
	while (t.l && lex_is_lws(t.p[t.l - 1]))
		--t.l;
	for (; list && *list; list++)
		if (!pl_strcasecmp(&t, *list))
			return true;
	return false;
}

/* Calls h for each comma-separated option tag of a header value; stops
 * and returns true when h does. */
static bool each_tag(const struct pl *val,
		     bool (*h)(const struct pl *tag, void *arg), void *arg)
{
	struct pl rest = *val;

	while (rest.l) {
		const char *c = pl_strchr(&rest, ',');
		struct pl t = { rest.p, c ? (size_t)(c - rest.p) : rest.l };

		if (c)
			pl_advance(&rest, t.l + 1);
		else
			rest.l = 0;
		while (t.l && lex_is_lws(*t.p))
			pl_advance(&t, 1);
		while (t.l && lex_is_lws(t.p[t.l - 1]))
			--t.l;
		if (t.l && h(&t, arg))
			return true;
	}
	return false;
}

static bool tag_unknown_h(const struct pl *tag, void *arg)
{
	return !has_tag(arg, tag);
}

static bool unsupported_h(const struct sip_hdr *hdr,
			  const struct sip_msg *msg, void *arg)
{
	(void)msg;
	return each_tag(&hdr->val, tag_unknown_h, arg);
}

struct unsup_print {
	struct re_printf *pf;
	const char *const *supported;
	bool first;
	int err;
};

static bool tag_print_h(const struct pl *tag, void *arg)
{
	struct unsup_print *p = arg;

	if (has_tag(p->supported, tag))
		return false;
	p->err |= re_hprintf(p->pf, "%s%r", p->first ? "" : ", ", tag);
	p->first = false;
	return false;
}

int sipval_print_unsupported(struct re_printf *pf,
			     const struct sipval_unsup *u)
{
	struct unsup_print p = { pf, u->supported, true, 0 };
	struct le *le;

	for (le = list_head(&u->msg->hdrl); le; le = le->next) {
		const struct sip_hdr *h = le->data;

		if (h->id == SIP_HDR_REQUIRE || h->id == SIP_HDR_PROXY_REQUIRE)
			each_tag(&h->val, tag_print_h, &p);
	}
	return p.err;
}

static bool date_ok(const struct pl *v)
{
	/* RFC 3261 §20.17: rfc1123-date, always "GMT" */
	struct pl wk, d, mon, y, hh, mm, ss, zone;

	if (re_regex(v->p, v->l,
		     "[A-Za-z]3, [0-9]2 [A-Za-z]3 [0-9]4 [0-9]2:[0-9]2:[0-9]2 "
		     "[A-Z]+", &wk, &d, &mon, &y, &hh, &mm, &ss, &zone))
		return false;
	return !pl_strcmp(&zone, "GMT") &&
		(size_t)(zone.p + zone.l - v->p) == v->l;
}

#define FAIL(c, r) do { e->code = (c); e->reason = (r); return EBADMSG; } \
	while (0)

/* RFC 3261 §25.1 allows LWS around "/", ";" and "="; libre's Via parser
 * does not. Drop LWS next to those separators, fold the rest to one
 * space, then decode. A Via without branch (an RFC 2543 proxy's, below
 * the top one) is allowed: libre's parser wants one, so it is given one
 * to read the rest. */
/* ";branch" anywhere in a Via as via_ok folds it */
static bool has_branch(const struct pl *v)
{
	for (size_t i = 0; i + 7 <= v->l; i++)
		if (v->p[i] == ';' && !strncasecmp(v->p + i + 1, "branch", 6))
			return true;
	return false;
}

static bool via_ok(const struct pl *val)
{
	struct sip_via via;
	struct mbuf *mb;
	struct pl n;
	bool ok = false, space = false;

	if (!val->l)
		return false;
	mb = mbuf_alloc(val->l);
	if (!mb)
		return false;
	for (size_t i = 0; i < val->l; i++) {
		char c = val->p[i];
		bool lws = c == ' ' || c == '\t' || c == '\r' || c == '\n';

		if (lws) {
			space = true;
			continue;
		}
		if (space && mb->end && !strchr("/;=", c) &&
		    !strchr("/;=", (char)mb->buf[mb->end - 1]))
			(void)mbuf_write_u8(mb, ' ');
		space = false;
		(void)mbuf_write_u8(mb, (uint8_t)c);
	}
	n.p = (const char *)mb->buf;
	n.l = mb->end;
	if (sip_via_decode(&via, &n) && !has_branch(&n) &&
	    !mbuf_write_str(mb, ";branch=rfc2543")) {
		n.p = (const char *)mb->buf;
		n.l = mb->end;
	}
	if (!sip_via_decode(&via, &n) && sipval_params_ok(&via.params))
		ok = true;
	mem_deref(mb);
	return ok;
}

/* The top Via libre decoded already (msg->via); decode the others. */
static bool vias_ok(const struct sip_msg *msg)
{
	struct le *le;
	bool top = true;

	for (le = list_head(&msg->hdrl); le; le = le->next) {
		const struct sip_hdr *h = le->data;

		if (h->id != SIP_HDR_VIA)
			continue;
		if (top && h->val.p == msg->via.val.p && msg->via.sentby.l) {
			top = false;
			if (!sipval_params_ok(&msg->via.params))
				return false;
			continue;
		}
		top = false;
		if (!via_ok(&h->val))
			return false;
	}
	return true;
}

static int check(const struct sip_msg *msg, const char *const *supported,
		 bool uas, struct sipval_err *e)
{
	const struct sip_hdr *h;
	struct pl mf;

	if (!msg || !e)
		return EINVAL;

	if (pl_strcmp(&msg->ver, "SIP/2.0"))
		FAIL(505, "Version Not Supported");

	/* Request-URI: RFC 3261 §25.1, no LWS, no <>; §19.1.5: headers in
	 * a Request-URI are not allowed */
	for (size_t i = 0; i < msg->ruri.l; i++) {
		char c = msg->ruri.p[i];
		if (c == ' ' || c == '\t' || c == '<' || c == '>' ||
		    c == '"')
			FAIL(400, "Malformed Request-URI");
	}
	if (!sipval_uri_scheme_ok(&msg->uri)) {
		if (!msg->uri.scheme.l)
			FAIL(400, "Malformed Request-URI");
		FAIL(416, "Unsupported URI Scheme");
	}
	if (!msg->uri.host.l)
		FAIL(400, "Malformed Request-URI");
	if (msg->uri.headers.l)
		FAIL(400, "Headers not allowed in Request-URI");
	if (msg->uri.af == AF_INET6 && msg->uri.host.p > msg->ruri.p &&
	    msg->uri.host.p[-1] != '[')
		FAIL(400, "IPv6 reference without brackets");

	/* RFC 3261 §8.1.1: the six mandatory headers, once each */
	if (!sip_msg_hdr(msg, SIP_HDR_VIA))
		FAIL(400, "Missing Via header");
	if (!sip_msg_hdr(msg, SIP_HDR_FROM))
		FAIL(400, "Missing From header");
	if (!sip_msg_hdr(msg, SIP_HDR_TO))
		FAIL(400, "Missing To header");
	if (!sip_msg_hdr(msg, SIP_HDR_CALL_ID) || !msg->callid.l)
		FAIL(400, "Missing Call-ID header");
	if (!sip_msg_hdr(msg, SIP_HDR_CSEQ))
		FAIL(400, "Missing CSeq header");
	if (sip_msg_hdr_count(msg, SIP_HDR_FROM) > 1)
		FAIL(400, "Multiple From headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_TO) > 1)
		FAIL(400, "Multiple To headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_CALL_ID) > 1)
		FAIL(400, "Multiple Call-ID headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_CSEQ) > 1)
		FAIL(400, "Multiple CSeq headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_MAX_FORWARDS) > 1)
		FAIL(400, "Multiple Max-Forwards headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_CONTENT_LENGTH) > 1)
		FAIL(400, "Multiple Content-Length headers");
	if (sip_msg_hdr_count(msg, SIP_HDR_EXPIRES) > 1)
		FAIL(400, "Multiple Expires headers");

	if (!vias_ok(msg))
		FAIL(400, "Malformed Via header");

	h = sip_msg_hdr(msg, SIP_HDR_CSEQ);
	{
		/* RFC 3261 §8.1.1.5: a number under 2**31, then the method;
		 * libre's msg->cseq.num would have wrapped, so count digits */
		size_t i = 0, n = 0;

		while (i < h->val.l && lex_is_lws(h->val.p[i]))
			++i;
		while (i + n < h->val.l && h->val.p[i + n] >= '0' &&
		       h->val.p[i + n] <= '9')
			++n;
		if (!n || n > 10 || !msg->cseq.met.l)
			FAIL(400, "Malformed CSeq header");
		{
			struct pl num = { h->val.p + i, n };
			if (pl_u64(&num) > 0x7fffffffULL)
				FAIL(400, "Malformed CSeq header");
		}
		if (pl_cmp(&msg->cseq.met, &msg->met))
			FAIL(400, "CSeq method does not match request");
	}

	mf = msg->maxfwd;
	if (pl_isset(&mf) && (!is_digits(&mf, 10) || pl_u32(&mf) > 255))
		FAIL(400, "Malformed Max-Forwards header");
	if (pl_isset(&msg->expires) && !is_digits(&msg->expires, 10))
		FAIL(400, "Malformed Expires header");
	if (pl_isset(&msg->expires) && pl_u64(&msg->expires) > 0xffffffffULL)
		FAIL(400, "Malformed Expires header");
	if (pl_isset(&msg->clen) && !is_digits(&msg->clen, 10))
		FAIL(400, "Malformed Content-Length header");
	/* RFC 3261 §18.3: over UDP, fewer bytes after the head than
	 * Content-Length says is a datagram cut short (or one request sent
	 * in two): never acted on */
	if (msg->tp == SIP_TRANSP_UDP && pl_isset(&msg->clen) &&
	    pl_u32(&msg->clen) > mbuf_get_left(msg->mb))
		FAIL(400, "Content-Length Larger Than The Datagram");

	if (!taddr_ok(&msg->from))
		FAIL(400, "Malformed From header");
	if (!taddr_ok(&msg->to))
		FAIL(400, "Malformed To header");

	h = sip_msg_hdr(msg, SIP_HDR_DATE);
	if (h && !date_ok(&h->val))
		FAIL(400, "Malformed Date header");

	/* RFC 3261 §8.2.2.3 and §16.3: unknown Require / Proxy-Require */
	if ((uas && sip_msg_hdr_apply(msg, true, SIP_HDR_REQUIRE,
				      unsupported_h, (void *)supported)) ||
	    sip_msg_hdr_apply(msg, true, SIP_HDR_PROXY_REQUIRE,
			      unsupported_h, (void *)supported))
		FAIL(420, "Bad Extension");

	return 0;
}

int sipval_request(const struct sip_msg *msg, const char *const *supported,
		   struct sipval_err *e)
{
	return check(msg, supported, true, e);
}

/* A proxy leaves Require to the UAS (RFC 3261 §16.3 step 4): a phone's
 * INVITE with Require: 100rel is the callee's to judge. */
int sipval_proxied(const struct sip_msg *msg, const char *const *supported,
		   struct sipval_err *e)
{
	return check(msg, supported, false, e);
}

int sipval_expires(uint32_t *v, const struct pl *pl)
{
	uint64_t x = 0;

	if (!v || !pl || !pl->l)
		return EINVAL;
	for (size_t i = 0; i < pl->l; i++) {
		if (pl->p[i] < '0' || pl->p[i] > '9')
			return EINVAL;
		x = x * 10 + (uint64_t)(pl->p[i] - '0');
		if (x > 0xffffffffULL)
			x = 0xffffffffULL;
	}
	*v = (uint32_t)x;
	return 0;
}

int sipval_expiry(uint32_t *grant, const struct pl *hdr, uint32_t dfl,
		  uint32_t min, uint32_t max)
{
	uint32_t v;

	if (!pl_isset(hdr)) {
		*grant = dfl;
		return 0;
	}
	if (sipval_expires(&v, hdr))
		return EINVAL;
	if (v && v < min)
		return ERANGE;
	*grant = v > max ? max : v;
	return 0;
}

/* delta-seconds, then nothing or parameters */
static int delta_params(const struct pl *val, uint32_t *v, struct pl *params)
{
	struct pl num, rest = *val;

	while (rest.l && (*rest.p == ' ' || *rest.p == '\t'))
		pl_advance(&rest, 1);
	num.p = rest.p;
	while (rest.l && *rest.p >= '0' && *rest.p <= '9')
		pl_advance(&rest, 1);
	num.l = (size_t)(rest.p - num.p);
	while (rest.l && (*rest.p == ' ' || *rest.p == '\t'))
		pl_advance(&rest, 1);
	if (!num.l || (rest.l && rest.p[0] != ';'))
		return EINVAL;
	if (params)
		*params = rest;
	return sipval_expires(v, &num);
}

int sipval_session_expires(const struct sip_msg *msg, uint32_t *se,
			   struct pl *refresher)
{
	const struct sip_hdr *h;
	struct pl params, ref;
	int err;

	if (!msg || !se)
		return EINVAL;
	*se = 0;
	if (refresher)
		*refresher = pl_null;
	h = sip_msg_hdr(msg, SIP_HDR_SESSION_EXPIRES);
	if (!h)
		return 0;
	err = delta_params(&h->val, se, &params);
	if (err)
		return err;
	if (!*se)
		return EINVAL;         /* RFC 4028 §4: at least one second */
	if (refresher && !msg_param_decode(&params, "refresher", &ref))
		*refresher = ref;
	return 0;
}

int sipval_min_se(const struct sip_msg *msg, uint32_t *min_se)
{
	const struct sip_hdr *h;

	if (!msg || !min_se)
		return EINVAL;
	*min_se = 0;
	h = sip_msg_hdr(msg, SIP_HDR_MIN_SE);
	return h ? delta_params(&h->val, min_se, NULL) : 0;
}
