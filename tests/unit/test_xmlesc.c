/* test_xmlesc: text made safe for XML (xml_escape): the five characters
 * escaped, valid UTF-8 kept, control characters and bytes that are not
 * UTF-8 (a stray continuation byte, an overlong form, a surrogate)
 * and the two non-characters U+FFFE and U+FFFF replaced by U+FFFD, so that the result always parses; utf8_seq_len. */
#include <string.h>
#include <re.h>
#include "base/xmlesc.h"
#include "tap.h"

static const char *esc(const char *in)
{
	static char out[256];

	(void)re_snprintf(out, sizeof(out), "%H", xml_escape, in);
	return out;
}

int main(void)
{
	libre_init();
	ok(!strcmp(esc("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;"),
	   "the five characters: %s", esc("a&b<c>\"d'"));
	ok(!strcmp(esc("Zo\xc3\xab \xe2\x98\x8e"), "Zo\xc3\xab \xe2\x98\x8e"),
	   "valid UTF-8 is kept");
	ok(!strcmp(esc("a\x01" "b\tc"), "a\xef\xbf\xbd" "b\tc"),
	   "a control character is replaced, a tab kept");
	ok(!strcmp(esc("reci\x9fient"), "reci\xef\xbf\xbdient"),
	   "a stray continuation byte is replaced (found by fuzz_dialoginfo)");
	ok(!strcmp(esc("x\xe0\x80\xafy"), "x\xef\xbf\xbd\xef\xbf\xbd"
		   "\xef\xbf\xbdy"), "an overlong form: each byte replaced");
	ok(!strcmp(esc("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
	   "a surrogate is not UTF-8");
	ok(!strcmp(esc("end\xc3"), "end\xef\xbf\xbd"),
	   "a sequence cut short at the end");
	ok(!strcmp(esc("a\xef\xbf\xbf" "b\xef\xbf\xbe" "c\xef\xbf\xbd"),
		   "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"),
	   "U+FFFF and U+FFFE, not XML characters, are replaced; U+FFFD "
	   "kept (found by fuzz_dialoginfo)");
	ok(!strcmp(esc("\xee\x80\x80\xf0\x90\x80\x80"),
		   "\xee\x80\x80\xf0\x90\x80\x80"),
	   "U+E000 and U+10000, either side of the gap, are kept");
	ok(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4) == 4 &&
	   utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4) == 0,
	   "four bytes up to U+10FFFF, not above");
	libre_close();
	return tap_done();
}
