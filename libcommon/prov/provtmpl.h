/* provtmpl: the provisioning files phones fetch, rendered from one
 * template per vendor. A template is the file as the phone wants it, with
 * a few header lines:
 *
 *   ##file cfg{mac}.xml       the file name ({mac} lower, {MAC} upper hex)
 *   ##type text/xml           its Content-Type
 *   ##escape xml              how values are written: xml or none
 *   ##map NAME K=V K=V ...    a table: {{NAME:var}} is V for the K that
 *                             is var's value (per-key P-values, ...)
 *   ## anything else          a comment, dropped
 *
 * and in the body {{var}}, {{map:var}}, and sections {{#blf}}..{{/blf}},
 * {{#speed}}..{{/speed}} repeated for each key of that kind (with the
 * key's pos, index0, target, label, uri). A key whose section names a map
 * entry that does not exist (a position the phone does not have) is left
 * out. An unknown variable is an error, so a template's mistake shows
 * at once. */
#ifndef LP_PROVTMPL_H
#define LP_PROVTMPL_H

#include <stddef.h>
#include <stdint.h>
#include <re.h>

#define PROVTMPL_MAX_SIZE (256 * 1024)   /* template and rendered file */
#define PROVTMPL_MAX_KEYS 100

struct provtmpl;

struct prov_key {
	uint32_t pos;
	int kind;              /* enum key_kind */
	const char *target;
	const char *label;
};

struct prov_vars {
	const char *mac;       /* lower-case hex */
	const char *user, *authname, *password, *name;
	const char *domain, *server, *transport, *pickup;
	uint16_t port;
	const struct prov_key *keys;
	size_t key_count;
};

int  provtmpl_parse(struct provtmpl **tp, const char *text, size_t len,
		    char *errbuf, size_t errsz);
int  provtmpl_load(struct provtmpl **tp, const char *dir, const char *vendor,
		   char *errbuf, size_t errsz);
/* The name this template gives the file of `mac`. */
int  provtmpl_filename(const struct provtmpl *t, const char *mac, char *out,
		       size_t sz);
const char *provtmpl_ctype(const struct provtmpl *t);
int  provtmpl_render(struct mbuf *out, const struct provtmpl *t,
		     const struct prov_vars *v, char *errbuf, size_t errsz);

#endif
