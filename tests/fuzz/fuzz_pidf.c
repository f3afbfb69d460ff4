/* fuzz_pidf: a PUBLISH body from arbitrary bytes: PIDF/RPID parsing
 * (pidf_parse, with its caps and refusals), then what the presence
 * daemon does with a document it took: print it and parse the print
 * again, which must succeed (what we write we can read). */
#include <stdint.h>
#include <stdlib.h>
#include <re.h>
#include "presence/pidf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct pidf *p = NULL, *q = NULL;
	struct pidf_err e;
	struct mbuf *mb;

	if (!init) {
		(void)libre_init();
		pidf_init();
		init = true;
	}
	if (pidf_parse(&p, data, size, 65536, &e))
		return 0;
	mb = mbuf_alloc(1024);
	if (mb && !mbuf_printf(mb, "%H", pidf_print, p)) {
		if (pidf_parse(&q, mb->buf, mb->end, 1 << 20, &e))
			abort();       /* our own document refused */
	}
	mem_deref(q);
	mem_deref(mb);
	mem_deref(p);
	return 0;
}
