/* fuzz_provtmpl: a provisioning template from arbitrary bytes, rendered
 * for a device with keys whose labels and targets hold the characters a
 * template must escape: provtmpl_parse, provtmpl_filename,
 * provtmpl_render (caps on size, no crash, errors said). */
#include <stdint.h>
#include <re.h>
#include "store/store_devices.h"
#include "prov/provtmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct prov_key keys[] = {
		{ 1, KEY_BLF, "bob", "B&b <\"x\">" },
		{ 2, KEY_SPEED, "*97", "line\nbreak" },
		{ 100, KEY_BLF, "carol", "" },
	};
	static bool init;
	struct provtmpl *t = NULL;
	struct prov_vars v = {
		.mac = "001565abcdef", .user = "alice",
		.authname = "alice~001565abcdef", .password = "pw{{x}}",
		.name = "A \"l\" <i>", .domain = "example.org",
		.server = "example.org", .transport = "udp", .pickup = "**",
		.port = 5060, .keys = keys, .key_count = 3,
	};
	char err[160], name[128];
	struct mbuf *mb;

	if (!init) {
		(void)libre_init();
		init = true;
	}
	if (provtmpl_parse(&t, (const char *)data, size, err, sizeof(err)))
		return 0;
	(void)provtmpl_filename(t, v.mac, name, sizeof(name));
	(void)provtmpl_ctype(t);
	mb = mbuf_alloc(1024);
	if (mb)
		(void)provtmpl_render(mb, t, &v, err, sizeof(err));
	mem_deref(mb);
	mem_deref(t);
	return 0;
}
