/* rawsip: a SIP head read from the datagram (rawsip.h). */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "sip/rawsip.h"

bool rawsip_next_line(struct rawsip_line *ln, const char *p,
		      const char *end)
{
	const char *e = p;

	while (e + 1 < end && !(e[0] == '\r' && e[1] == '\n'))
		++e;
	if (e + 1 >= end)
		return false;
	ln->p = p;
	ln->l = (size_t)(e - p);
	ln->next = e + 2;
	return ln->l > 0;
}

uint16_t rawsip_status(const char *p, size_t n)
{
	if (n < 13 || memcmp(p, "SIP/2.0 ", 8) || p[8] < '1' || p[8] > '6' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    p[11] != ' ')
		return 0;
	return (uint16_t)((p[8] - '0') * 100 + (p[9] - '0') * 10 +
			  (p[10] - '0'));
}

bool rawsip_to_tagged(const struct pl *to)
{
	const char *gt = memchr(to->p, '>', to->l);
	struct pl params, tag;

	params.p = gt ? gt + 1 : to->p;
	params.l = (size_t)(to->p + to->l - params.p);
	return !msg_param_decode(&params, "tag", &tag);
}

bool rawsip_via_branchless(const char *p, size_t n)
{
	const char *end = p + n;
	struct rawsip_line ln;

	if (rawsip_status(p, n) || !rawsip_next_line(&ln, p, end))
		return false;
	for (const char *q = ln.next; rawsip_next_line(&ln, q, end);
	     q = ln.next) {
		struct pl v, params, br;
		const char *c;

		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;
		if (!rawsip_hdr(&ln, "Via", 'v', &v))
			continue;
		if (ln.next < end && (*ln.next == ' ' || *ln.next == '\t'))
			return false;  /* folded on: libre's */
		c = memchr(v.p, ',', v.l);
		if (c)
			v.l = (size_t)(c - v.p);
		c = memchr(v.p, ';', v.l);
		if (!c)
			return true;
		params.p = c;
		params.l = (size_t)(v.p + v.l - c);
		/* as libre reads it, which drops the request without it */
		return msg_param_decode(&params, "branch", &br) != 0;
	}
	return false;
}

bool rawsip_initial(const char *p, size_t n)
{
	const char *end = p + n;
	struct rawsip_line ln;

	if (rawsip_status(p, n) || !rawsip_next_line(&ln, p, end) ||
	    (ln.l > 4 && !memcmp(ln.p, "ACK ", 4)) ||
	    (ln.l > 7 && !memcmp(ln.p, "CANCEL ", 7)))
		return false;
	for (const char *q = ln.next; rawsip_next_line(&ln, q, end);
	     q = ln.next) {
		struct pl to;

		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;
		if (!rawsip_hdr(&ln, "To", 't', &to))
			continue;
		if (ln.next < end && (*ln.next == ' ' || *ln.next == '\t'))
			return false;  /* folded: its tag may be further on */
		return !rawsip_to_tagged(&to);
	}
	return false;
}

bool rawsip_hdr(const struct rawsip_line *ln, const char *name, char c,
		struct pl *val)
{
	size_t i = 0, nl = strlen(name);

	while (i < ln->l && ln->p[i] != ':' && ln->p[i] != ' ' &&
	       ln->p[i] != '\t')
		++i;
	if (!((i == nl && !strncasecmp(ln->p, name, nl)) ||
	      (c && i == 1 && tolower((unsigned char)ln->p[0]) == c)))
		return false;
	while (i < ln->l && (ln->p[i] == ' ' || ln->p[i] == '\t'))
		++i;
	if (i >= ln->l || ln->p[i] != ':')
		return false;
	++i;
	while (i < ln->l && (ln->p[i] == ' ' || ln->p[i] == '\t'))
		++i;
	val->p = ln->p + i;
	val->l = ln->l - i;
	while (val->l && (val->p[val->l - 1] == ' ' ||
			  val->p[val->l - 1] == '\t'))
		--val->l;
	return true;
}

static bool is_addr_hdr(const struct pl *name)
{
	static const char *const names[] = {
		"From", "To", "Contact", "Via", "Route", "Record-Route",
		"Path", "P-Asserted-Identity", "P-Preferred-Identity",
		"Refer-To", "Referred-By", "Reply-To", "Service-Route",
	};
	static const char compact[] = "ftmvrb";

	if (name->l == 1)
		return strchr(compact, tolower((unsigned char)name->p[0]))
		       != NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!pl_strcasecmp(name, names[i]))
			return true;
	return false;
}

bool rawsip_head_ok(const char *p, size_t n, const struct rawsip_limits *lim,
		    struct rawsip_excess *ex)
{
	const char *start = p, *end = p + n;
	bool first = true;

	memset(ex, 0, sizeof(*ex));
	while (p < end) {
		const char *line = p, *e;
		struct pl name = PL_INIT;
		size_t len;

		/* one logical line: the line and its continuations */
		do {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			p = nl ? nl + 1 : end;
		} while (!first && p < end && (*p == ' ' || *p == '\t'));
		e = p;
		while (e > line && (e[-1] == '\n' || e[-1] == '\r'))
			--e;
		len = (size_t)(e - line);
		if (!len)
			return true;           /* the empty line: the body */
		if ((size_t)(p - start) > lim->head) {
			ex->what = "head";
			ex->len = (size_t)(p - start);
			return false;
		}
		if (!first) {
			const char *c = memchr(line, ':', len);

			name.p = line;
			name.l = c ? (size_t)(c - line) : len;
			while (name.l && (name.p[name.l - 1] == ' ' ||
					  name.p[name.l - 1] == '\t'))
				--name.l;
		}
		if ((first && len > lim->line) ||
		    (!first && len > (is_addr_hdr(&name) ? lim->addr_line
							  : lim->line))) {
			ex->name = name;
			ex->len = len;
			ex->what = !first && is_addr_hdr(&name)
				   ? "address header" : "header";
			return false;
		}
		first = false;
	}
	return true;
}
