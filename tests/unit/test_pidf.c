/* test_pidf: presence documents (RFC 3863, RFC 4479, RFC 4480): what a
 * publisher's document becomes, what is refused and with which answer
 * (hostile documents included), and that a printed model parses back to
 * the same model. */
#include <string.h>
#include <re.h>
#include "presence/pidf.h"
#include "tap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define OPEN "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" " \
	"xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" " \
	"xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" " \
	"entity=\"sip:alice@example.com\">"

static int parse(struct pidf **p, const char *doc, struct pidf_err *e)
{
	memset(e, 0, sizeof(*e));
	*p = NULL;
	return pidf_parse(p, (const uint8_t *)doc, strlen(doc), 16384, e);
}

static void refused(const char *doc, uint16_t code, const char *reason,
		    const char *what)
{
	struct pidf *p;
	struct pidf_err e;
	int err = parse(&p, doc, &e);

	ok(err && e.code == code && e.reason && strstr(e.reason, reason),
	   "%s: %u '%s' (got %u '%s')", what, code, reason, e.code,
	   e.reason ? e.reason : "");
	mem_deref(p);
}

static void test_typical(void)
{
	struct pidf *p, *q;
	struct pidf_err e;
	const struct pidf_tuple *t;
	char *out = NULL;
	const char *doc = HEAD OPEN
		"<tuple id=\"t1\"><status><basic>open</basic></status>"
		"<x:caps xmlns:x=\"urn:example:x\"><x:evil>&lt;b&gt;</x:evil>"
		"</x:caps>"
		"<contact priority=\"0.8\">sip:alice@192.0.2.1</contact>"
		"<note>at desk &amp; busy</note>"
		"<timestamp>2026-12-01T08:00:00Z</timestamp></tuple>"
		"<dm:person id=\"p1\"><rpid:activities><rpid:meeting/>"
		"</rpid:activities><rpid:mood><rpid:happy/></rpid:mood>"
		"<rpid:place-type><lt:office xmlns:lt=\"urn:ietf:params:xml:"
		"ns:location-type\"/></rpid:place-type>"
		"<dm:note>In a meeting</dm:note></dm:person>"
		"</presence>";

	ok(!parse(&p, doc, &e), "a PIDF+RPID document parses");
	if (!p)
		return;
	t = p->tuples.head ? p->tuples.head->data : NULL;
	ok(t && t->open && !strcmp(t->id, "t1"), "tuple t1 is open");
	ok(t && t->contact && !strcmp(t->contact, "sip:alice@192.0.2.1") &&
	   t->priority == 800, "contact and priority 0.8 kept");
	ok(t && t->note && !strcmp(t->note, "at desk & busy"),
	   "the tuple note is unescaped text");
	ok(p->nact == 1 && !strcmp(p->activities[0], "meeting"),
	   "RPID activity meeting");
	ok(p->nmood == 1 && !strcmp(p->moods[0], "happy"), "RPID mood");
	ok(p->place && !strcmp(p->place, "office"), "RPID place-type");
	ok(p->note && !strcmp(p->note, "In a meeting"), "person note");
	ok(pidf_entity_is(p, "alice", "example.com") &&
	   !pidf_entity_is(p, "bob", "example.com") &&
	   !pidf_entity_is(p, "alice", "other.example"),
	   "entity names alice@example.com and nobody else");
	ok(pidf_open(p), "basic status open");

	re_sdprintf(&out, "%H", pidf_print, p);
	ok(out && !strstr(out, "evil") && !strstr(out, "caps"),
	   "an extension element of another namespace is not passed on");
	ok(out && strstr(out, "xmlns:rpid=") && strstr(out, "<rpid:meeting/>")
	   && strstr(out, "<dm:note>In a meeting</dm:note>"),
	   "printed with the rpid: and dm: prefixes clients look for");
	ok(out && strstr(out, "at desk &amp; busy") &&
	   strstr(out, "priority=\"0.800\""), "text escaped when printed");
	ok(out && !parse(&q, out, &e) && q->nact == 1 && pidf_open(q) &&
	   q->note && !strcmp(q->note, "In a meeting"),
	   "the printed document parses back to the same model");
	mem_deref(q);
	mem_deref(out);
	mem_deref(p);
}

static void test_refused(void)
{
	char *big;
	size_t n = 20000;

	refused(HEAD "<!DOCTYPE presence [<!ENTITY a \"x\">]>" OPEN
		"</presence>", 400, "DOCTYPE", "a DOCTYPE");
	refused(HEAD "<!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">"
		"]>" OPEN "<note>&x;</note></presence>", 400, "DOCTYPE",
		"an external entity");
	refused(HEAD "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
		OPEN "<note>&lol3;</note></presence>", 400, "DOCTYPE",
		"billion laughs");
	refused(HEAD OPEN "<note>&undeclared;</note></presence>", 400,
		"Well-Formed", "an undeclared entity");
	refused(HEAD "<presence xmlns=\"urn:example:not-pidf\" entity=\"sip:"
		"alice@example.com\"/>", 400, "Not A PIDF",
		"the wrong namespace");
	refused(HEAD OPEN "<tuple id=\"t\"><status><basic>open</basic>",
		400, "Well-Formed", "a truncated document");
	refused(HEAD OPEN "<tuple id=\"t\"><status><basic>maybe</basic>"
		"</status></tuple></presence>", 400, "basic",
		"basic neither open nor closed");
	refused(HEAD OPEN "<tuple><status><basic>open</basic></status>"
		"</tuple></presence>", 400, "id", "a tuple without id");
	refused(HEAD "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\">"
		"</presence>", 400, "entity", "no entity");
	refused(HEAD OPEN "<bogus/></presence>", 400, "Unknown",
		"an unknown element of the PIDF namespace");
	refused(HEAD OPEN "<note><xi:include xmlns:xi=\"http://www.w3.org/"
		"2001/XInclude\" href=\"file:///etc/passwd\" parse=\"text\"/>"
		"</note></presence>", 400, "XInclude",
		"an XInclude of a local file");
	refused(HEAD OPEN "<tuple id=\"t\"><status><basic>open</basic>"
		"</status><xi:include xmlns:xi=\"http://www.w3.org/2003/"
		"XInclude\" href=\"http://example.com/x\"/></tuple>"
		"</presence>", 400, "XInclude", "an XInclude (2003 namespace)");
	refused(HEAD "<?xml-stylesheet type=\"text/xsl\" "
		"href=\"http://example.com/x.xsl\"?>" OPEN "</presence>", 400,
		"Processing Instruction", "an xml-stylesheet instruction");
	refused(HEAD OPEN "<note><?php system('id'); ?></note></presence>",
		400, "Processing Instruction",
		"a processing instruction inside an element");
	refused(HEAD "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:schemaLocation=\"urn:ietf:params:xml:ns:pidf "
		"http://example.com/pidf.xsd\" entity=\"sip:alice@example.com\">"
		"</presence>", 400, "External Schema",
		"an xsi:schemaLocation");

	big = mem_zalloc(n + 1, NULL);
	if (big) {
		struct mbuf *mb = mbuf_alloc(n + 200);
		mbuf_printf(mb, HEAD OPEN);
		for (unsigned i = 0; i < 40; i++)
			mbuf_printf(mb, "<x:a xmlns:x=\"urn:x\">");
		for (unsigned i = 0; i < 40; i++)
			mbuf_printf(mb, "</x:a>");
		mbuf_printf(mb, "</presence>");
		mbuf_write_u8(mb, 0);
		refused((char *)mb->buf, 400, "Too Deep", "40 levels deep");
		mem_deref(mb);

		memset(big, 'a', n);
		memcpy(big, HEAD OPEN "<note>", strlen(HEAD OPEN "<note>"));
		refused(big, 413, "Too Large", "a document over the size cap");
		mem_deref(big);
	}
	{
		struct mbuf *mb = mbuf_alloc(4096);
		mbuf_printf(mb, HEAD OPEN);
		for (unsigned i = 0; i < PIDF_MAX_TUPLES + 1; i++)
			mbuf_printf(mb, "<tuple id=\"t%u\"><status><basic>open"
				    "</basic></status></tuple>", i);
		mbuf_printf(mb, "</presence>");
		mbuf_write_u8(mb, 0);
		refused((char *)mb->buf, 400, "Too Many Tuples",
			"more tuples than the cap");
		mem_deref(mb);
	}
	{
		const char utf16[] = "<\0p\0";
		struct pidf *p = NULL;
		struct pidf_err e;

		ok(pidf_parse(&p, (const uint8_t *)utf16, sizeof(utf16) - 1,
			      16384, &e) && e.code == 400,
		   "NUL bytes (UTF-16) refused");
	}
}

static void test_compose(void)
{
	struct pidf *p = NULL, *q = NULL;
	struct pidf_err e;
	char *out = NULL;

	ok(!pidf_alloc(&p, "sip:bob@example.com") &&
	   !pidf_tuple_add(p, "reg", true, "sip:bob@example.com", NULL) &&
	   !pidf_token_add(p->activities, &p->nact, "on-the-phone") &&
	   !pidf_token_add(p->activities, &p->nact, "on-the-phone"),
	   "a model built by hand");
	ok(p && p->nact == 1, "an activity is listed once");
	re_sdprintf(&out, "%H", pidf_print, p);
	ok(out && !parse(&q, out, &e) && pidf_open(q) && q->nact == 1 &&
	   !strcmp(q->activities[0], "on-the-phone"),
	   "it prints a valid document with on-the-phone");
	mem_deref(out);
	mem_deref(q);
	mem_deref(p);
}

int main(void)
{
	pidf_init();
	test_typical();
	test_refused();
	test_compose();
	return tap_done();
}
