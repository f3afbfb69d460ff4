/* xmlesc: XML/HTML-safe text (xmlesc.h). &apos; is XML's and HTML5's; a
 * character XML cannot hold (a control character, U+FFFE, U+FFFF, a byte
 * that is not UTF-8) becomes U+FFFD, the replacement character. */
#include <string.h>
#include <re.h>
#include "base/xmlesc.h"

#define REPLACEMENT "\xef\xbf\xbd"

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t k;

	if (!n)
		return 0;
	if (p[0] < 0x80)
		return 1;
	k = p[0] >= 0xc2 && p[0] <= 0xdf ? 2
	    : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	    : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	if (!k || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return k;
}

/* U+FFFE and U+FFFF: valid UTF-8, but not characters XML 1.0 allows
 * (its Char production stops at U+FFFD before U+10000). */
static bool nonchar(const unsigned char *p, size_t k)
{
	return k == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe;
}

int xml_escape(struct re_printf *pf, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	size_t left;
	int err = 0;

	if (!s)
		return 0;
	left = strlen(s);
	run = p;
	while (left && !err) {
		const char *rep = NULL;
		size_t k = utf8_seq_len(p, left);

		switch (*p) {
		case '&':  rep = "&amp;";  break;
		case '<':  rep = "&lt;";   break;
		case '>':  rep = "&gt;";   break;
		case '"':  rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default:
			if (!k || (*p < 0x20 && *p != '\t' && *p != '\n' &&
				   *p != '\r') || nonchar(p, k))
				rep = REPLACEMENT;
			break;
		}
		if (!k)
			k = 1;             /* one stray byte replaced */
		if (rep) {
			err = re_hprintf(pf, "%b%s", run, (size_t)(p - run),
					 rep);
			run = p + k;
		}
		p += k;
		left -= k;
	}
	return err ? err : re_hprintf(pf, "%b", run, (size_t)(p - run));
}
