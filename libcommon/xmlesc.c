/* xmlesc: XML/HTML escaping (xmlesc.h). &apos; is XML's and HTML5's. */
#include <re.h>
#include "xmlesc.h"

int xml_escape(struct re_printf *pf, const char *s)
{
	const char *run = s;
	int err = 0;

	if (!s)
		return 0;
	for (; *s && !err; s++) {
		const char *rep;

		switch (*s) {
		case '&':  rep = "&amp;";  break;
		case '<':  rep = "&lt;";   break;
		case '>':  rep = "&gt;";   break;
		case '"':  rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default:   continue;
		}
		err = re_hprintf(pf, "%b%s", run, (size_t)(s - run), rep);
		run = s + 1;
	}
	return err ? err : re_hprintf(pf, "%s", run);
}
