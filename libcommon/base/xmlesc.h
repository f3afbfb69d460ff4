/* xmlesc: text from anywhere made safe to write into XML and HTML: the
 * five characters escaped (& < > " '), and what XML 1.0 does not allow
 * at all (control characters other than tab and line ends, U+FFFE and
 * U+FFFF, bytes that are not UTF-8) replaced, so that a document built
 * from a peer's bytes (a Call-ID, a tag, a note) is always well-formed.
 * A %H print handler: PIDF and dialog-info documents, the admin page,
 * provisioning files. */
#ifndef LP_XMLESC_H
#define LP_XMLESC_H

#include <stddef.h>
#include <re.h>

int xml_escape(struct re_printf *pf, const char *s);
/* The length of the valid UTF-8 sequence (1 to 4 bytes, no overlong
 * form, no surrogate, nothing above U+10FFFF) at p, of at most n bytes;
 * 0 when there is none. */
size_t utf8_seq_len(const unsigned char *p, size_t n);

#endif
