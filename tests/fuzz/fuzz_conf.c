/* fuzz_conf: lamplight.conf from arbitrary bytes: conf_parse takes it or
 * says why not (an admin's typo must never crash a daemon). */
#include <stdint.h>
#include <re.h>
#include "base/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct conf *c = NULL;
	char *msg = NULL;

	if (!init) {
		(void)libre_init();
		init = true;
	}
	(void)conf_parse(&c, (const char *)data, size, "fuzz", &msg);
	mem_deref(c);
	mem_deref(msg);
	return 0;
}
