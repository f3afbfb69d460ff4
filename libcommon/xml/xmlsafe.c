/* xmlsafe: read XML from others so that it loads, expands and includes
 * nothing (xmlsafe.h says what is refused and why). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <libxml/parser.h>
#include "xml/xmlsafe.h"

static bool ns_is(const xmlNs *ns, const char *href)
{
	return ns && ns->href && !strcmp((const char *)ns->href, href);
}

static const char *attr_refused(const xmlAttr *a)
{
	for (; a; a = a->next) {
		if (ns_is(a->ns, XSI_NS) &&
		    (!strcmp((const char *)a->name, "schemaLocation") ||
		     !strcmp((const char *)a->name,
			     "noNamespaceSchemaLocation")))
			return "Bad Request: External Schema Not Allowed";
		if (ns_is(a->ns, XINCLUDE_NS_2001) ||
		    ns_is(a->ns, XINCLUDE_NS_2003))
			return "Bad Request: XInclude Not Allowed";
	}
	return NULL;
}

/* The first thing refused among `n` and its siblings, with everything
 * below them; `depth`: elements above n. Recursion stops at max_depth. */
static const char *refused(const xmlNode *n, unsigned depth,
			   unsigned max_depth)
{
	for (; n; n = n->next) {
		const char *why = NULL;

		switch (n->type) {

		case XML_ELEMENT_NODE:
			if (depth + 1 > max_depth)
				return "Bad Request: Document Too Deep";
			if (ns_is(n->ns, XINCLUDE_NS_2001) ||
			    ns_is(n->ns, XINCLUDE_NS_2003))
				return "Bad Request: XInclude Not Allowed";
			why = attr_refused(n->properties);
			if (!why)
				why = refused(n->children, depth + 1,
					      max_depth);
			break;

		case XML_PI_NODE:
			return "Bad Request: Processing Instruction Not Allowed";

		case XML_XINCLUDE_START:
		case XML_XINCLUDE_END:
			return "Bad Request: XInclude Not Allowed";

		case XML_DTD_NODE:
		case XML_ENTITY_REF_NODE:
		case XML_ENTITY_NODE:
		case XML_ENTITY_DECL:
			return "Bad Request: DOCTYPE Not Allowed";

		default:
			break;
		}
		if (why)
			return why;
	}
	return NULL;
}

int xmlsafe_read(xmlDoc **docp, const uint8_t *buf, size_t len,
		 int opts, unsigned max_depth, const char **reason)
{
	static const int ours = XML_PARSE_NONET | XML_PARSE_NOERROR |
		XML_PARSE_NOWARNING;
	static const int theirs = XML_PARSE_NOENT | XML_PARSE_DTDLOAD |
		XML_PARSE_DTDATTR | XML_PARSE_DTDVALID | XML_PARSE_XINCLUDE |
		XML_PARSE_HUGE;
	const char *why = NULL;
	xmlDoc *doc = NULL;
	int err = EBADMSG;

	if (!docp || !buf || !reason || len > (size_t)INT32_MAX)
		return EINVAL;
	*docp = NULL;
	if (memchr(buf, '\0', len)) {
		why = "Bad Request: Not UTF-8 Text";
		goto out;
	}
	/* before libxml2 builds anything of it */
	if (memmem(buf, len, "<!DOCTYPE", 9) ||
	    memmem(buf, len, "<!ENTITY", 8)) {
		why = "Bad Request: DOCTYPE Not Allowed";
		goto out;
	}
	doc = xmlReadMemory((const char *)buf, (int)len, NULL, NULL,
			    (opts & ~theirs) | ours);
	if (!doc) {
		why = "Bad Request: Not Well-Formed XML";
		goto out;
	}
	if (doc->intSubset || doc->extSubset) {
		why = "Bad Request: DOCTYPE Not Allowed";
		goto out;
	}
	if (doc->encoding && strcasecmp((const char *)doc->encoding,
					"UTF-8")) {
		why = "Bad Request: Encoding Is Not UTF-8";
		goto out;
	}
	why = refused(doc->children, 0, max_depth);
	if (!why) {
		*docp = doc;
		doc = NULL;
		err = 0;
	}
 out:
	xmlFreeDoc(doc);
	*reason = why;
	return err;
}
