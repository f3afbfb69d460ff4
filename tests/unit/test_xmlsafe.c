/* test_xmlsafe: XML from others read so that it loads, expands and
 * includes nothing (xml/xmlsafe.h): each kind of refusal with its reason,
 * what is allowed (comments, CDATA, foreign namespaces, an xsi:type)
 * read, and an XInclude left unprocessed even when the caller asks
 * libxml2 for XInclude, entities or DTD loading. */
#include <string.h>
#include <re.h>
#include <libxml/parser.h>
#include "xml/xmlsafe.h"
#include "tap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static const char *read_doc(const char *s, int opts, unsigned depth)
{
	const char *why = NULL;
	xmlDoc *doc = NULL;
	int err = xmlsafe_read(&doc, (const uint8_t *)s, strlen(s), opts,
			       depth, &why);

	xmlFreeDoc(doc);
	if (!err && doc)
		return "";
	if (err && !doc && why)
		return why;
	return "(broken contract)";
}

static void refused(const char *s, const char *reason, const char *what)
{
	const char *got = read_doc(s, 0, 8);

	ok(strstr(got, reason) && !strncmp(got, "Bad Request: ", 13),
	   "%s: '%s' (got '%s')", what, reason, got);
}

int main(void)
{
	const char *why = NULL;
	xmlDoc *doc = NULL;
	const char *xi = HEAD "<a xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
		"<xi:include href=\"file:///etc/hostname\" parse=\"text\"/></a>";

	libre_init();
	ok(!*read_doc(HEAD "<a xmlns=\"urn:x\"><!-- a comment --><b><![CDATA["
		      "<not-an-element/>]]></b><c xmlns:xsi=\"http://www.w3.org"
		      "/2001/XMLSchema-instance\" xsi:type=\"t\"/></a>", 0, 8),
	   "comments, CDATA, another namespace and xsi:type are read");
	ok(!*read_doc("<a/>", 0, 1), "a document without a declaration");
	refused(HEAD "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "DOCTYPE",
		"an internal entity");
	refused(HEAD "<!DOCTYPE a SYSTEM \"http://example.com/a.dtd\"><a/>",
		"DOCTYPE", "an external DTD");
	refused(HEAD "<a>\n<!ENTITY e \"x\"></a>", "DOCTYPE",
		"an ENTITY declaration out of place");
	refused(xi, "XInclude", "xi:include (2001)");
	refused(HEAD "<a><xi:include xmlns:xi=\"http://www.w3.org/2003/"
		"XInclude\" href=\"http://example.com/\"/></a>", "XInclude",
		"xi:include (2003)");
	refused(HEAD "<a><b><xi:fallback xmlns:xi=\"http://www.w3.org/2001/"
		"XInclude\"/></b></a>", "XInclude", "xi:fallback, deeper");
	refused(HEAD "<a xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
		"xi:href=\"x\"/>", "XInclude", "an attribute in the XInclude "
		"namespace");
	refused(HEAD "<?xml-stylesheet href=\"http://example.com/s.xsl\"?><a/>",
		"Processing Instruction", "a stylesheet instruction before "
		"the root");
	refused(HEAD "<a/><?pi after?>", "Processing Instruction",
		"an instruction after the root");
	refused(HEAD "<a><b><?pi x?></b></a>", "Processing Instruction",
		"an instruction inside");
	refused(HEAD "<a xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-"
		"instance\" xsi:schemaLocation=\"urn:x http://example.com/x."
		"xsd\"/>", "External Schema", "xsi:schemaLocation");
	refused(HEAD "<a><b xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-"
		"instance\" xsi:noNamespaceSchemaLocation=\"x.xsd\"/></a>",
		"External Schema", "xsi:noNamespaceSchemaLocation");
	refused("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
		"Encoding", "an encoding other than UTF-8");
	refused(HEAD "<a><b></a>", "Well-Formed", "not well-formed");
	refused(HEAD "<a>&undeclared;</a>", "Well-Formed",
		"an undeclared entity");
	ok(!strcmp(read_doc(HEAD "<a><b><c/></b></a>", 0, 3), "") &&
	   strstr(read_doc(HEAD "<a><b><c><d/></c></b></a>", 0, 3),
		  "Too Deep"), "depth: 3 levels read at a cap of 3, 4 refused");
	{
		static const char nul[] = "<a>x\0y</a>";

		ok(xmlsafe_read(&doc, (const uint8_t *)nul, sizeof(nul) - 1, 0,
				8, &why) == EBADMSG && !doc &&
		   strstr(why, "UTF-8"), "a NUL byte");
	}
	ok(strstr(read_doc(xi, XML_PARSE_XINCLUDE | XML_PARSE_NOENT |
			   XML_PARSE_DTDLOAD, 8), "XInclude") != NULL,
	   "refused even when the caller asks for XInclude and entities");
	ok(xmlsafe_read(NULL, (const uint8_t *)"<a/>", 4, 0, 8, &why) ==
	   EINVAL, "no place for the document: EINVAL");
	libre_close();
	return tap_done();
}
