/* rawsip: a SIP head read from the datagram (rawsip.h). */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "rawsip.h"

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
