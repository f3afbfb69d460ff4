/* test_provtmpl: provisioning templates (provtmpl): header lines, file
 * names from the MAC address, variables and key sections, tables (a key
 * with no entry left out), XML escaping and no line breaks from values,
 * and a template's mistakes reported (unknown variable, unclosed field,
 * unknown section, no ##file); then each shipped template renders. */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "store/store_devices.h"
#include "prov/provtmpl.h"
#include "tap.h"

static const struct prov_key keys[] = {
	{ 1, KEY_BLF, "bob", "Bob & <Co>" },
	{ 2, KEY_SPEED, "1234", "Voicemail" },
	{ 9, KEY_BLF, "carol", "Carol" },      /* no table entry: left out */
};

static struct prov_vars vars(void)
{
	struct prov_vars v;

	memset(&v, 0, sizeof(v));
	v.mac = "001565abcdef";
	v.user = "alice";
	v.authname = "alice~001565abcdef";
	v.password = "pw\nline: 2";
	v.name = "Alice";
	v.domain = "example.org";
	v.server = "example.org";
	v.transport = "udp";
	v.pickup = "**";
	v.port = 5062;
	v.keys = keys;
	v.key_count = 3;
	return v;
}

static int render(const char *tmpl, char *out, size_t sz, char *err,
		  size_t esz)
{
	struct provtmpl *t = NULL;
	struct mbuf *mb = mbuf_alloc(256);
	struct prov_vars v = vars();
	int e = provtmpl_parse(&t, tmpl, strlen(tmpl), err, esz);

	if (!e)
		e = provtmpl_render(mb, t, &v, err, esz);
	if (!e)
		(void)re_snprintf(out, sz, "%b", mb->buf, mb->end);
	mem_deref(t);
	mem_deref(mb);
	return e;
}

int main(void)
{
	char out[2048], err[160], name[64];
	struct provtmpl *t = NULL;
	static const char base[] =
		"## a comment\n##file cfg{mac}.xml\n##type text/xml\n"
		"##escape xml\n##map m 1=301 2=304\n";

	libre_init();
	ok(!provtmpl_parse(&t, base, strlen(base), err, sizeof(err)),
	   "a template with header lines only parses");
	ok(!provtmpl_filename(t, "001565abcdef", name, sizeof(name)) &&
	   !strcmp(name, "cfg001565abcdef.xml"), "{mac}: %s", name);
	ok(!strcmp(provtmpl_ctype(t), "text/xml"), "##type");
	t = mem_deref(t);
	ok(!provtmpl_parse(&t, "##file {MAC}.cfg\n", 17, err, sizeof(err)) &&
	   !provtmpl_filename(t, "001565abcdef", name, sizeof(name)) &&
	   !strcmp(name, "001565ABCDEF.cfg"), "{MAC}: %s", name);
	t = mem_deref(t);

	char tmpl[512];
	(void)re_snprintf(tmpl, sizeof(tmpl), "%s"
		"u={{user}} a={{authname}} p={{port}} M={{MAC}}\n"
		"{{#blf}}<P{{m:pos}}>{{label}}</P{{m:pos}}> {{uri}}\n{{/blf}}"
		"{{#speed}}sd {{index0}} {{target}}\n{{/speed}}", base);
	ok(!render(tmpl, out, sizeof(out), err, sizeof(err)),
	   "renders: %s", err);
	ok(strstr(out, "u=alice a=alice~001565abcdef p=5062 M=001565ABCDEF\n")
	   != NULL, "variables");
	ok(strstr(out, "<P301>Bob &amp; &lt;Co&gt;</P301> sip:bob@example.org")
	   != NULL, "a BLF key through a table, escaped for XML");
	ok(strstr(out, "sd 1 1234\n") != NULL, "a speed key, index0");
	ok(!strstr(out, "carol"), "a key at a position with no table entry "
	   "is left out");

	(void)re_snprintf(tmpl, sizeof(tmpl), "##file x\npw={{password}}.");
	ok(!render(tmpl, out, sizeof(out), err, sizeof(err)) &&
	   !strcmp(out, "pw=pwline: 2."), "a value never breaks a line: %s",
	   out);
	ok(render("##file x\n{{nope}}", out, sizeof(out), err, sizeof(err))
	   && strstr(err, "nope"), "an unknown variable is an error: %s",
	   err);
	ok(render("##file x\n{{user", out, sizeof(out), err, sizeof(err)) &&
	   strstr(err, "unclosed"), "an unclosed field: %s", err);
	ok(render("##file x\n{{#blf}}x", out, sizeof(out), err, sizeof(err))
	   && strstr(err, "not closed"), "an unclosed section: %s", err);
	ok(render("##file x\n{{#dnd}}x{{/dnd}}", out, sizeof(out), err,
		  sizeof(err)) && strstr(err, "unknown section"),
	   "an unknown section: %s", err);
	ok(render("no header\n", out, sizeof(out), err, sizeof(err)) &&
	   strstr(err, "##file"), "no ##file line: %s", err);
	ok(render("##file x\n##map bad\n", out, sizeof(out), err,
		  sizeof(err)), "a bad ##map line is refused");

	static const char *const vendors[] = {
		"yealink", "polycom", "grandstream", "snom", "cisco",
	};
	const char *dir = getenv("LAMPLIGHT_PROV_TEMPLATES");
	for (size_t i = 0; i < ARRAY_SIZE(vendors); i++) {
		struct mbuf *mb = mbuf_alloc(1024);
		struct prov_vars v = vars();
		int e = provtmpl_load(&t, dir ? dir : "web/prov", vendors[i],
				      err, sizeof(err));

		e = e ? e : provtmpl_render(mb, t, &v, err, sizeof(err));
		ok(!e && mb->end > 100, "the %s template renders (%zu bytes) %s",
		   vendors[i], mb->end, e ? err : "");
		t = mem_deref(t);
		mem_deref(mb);
	}
	ok(provtmpl_load(&t, "web/prov", "../etc/passwd", err, sizeof(err)),
	   "a vendor that is not one is not a path");

	libre_close();
	return tap_done();
}
