/* fuzz_bus: a bus message from arbitrary bytes (what a subscriber
 * reads from a ZeroMQ socket): bus_msg_decode, then the sequence check
 * every subscriber applies. */
#include <stdint.h>
#include <string.h>
#include <re.h>
#include "bus/bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct bus_seqstate st = { "0123456789abcdef", 5 };
	struct bus_msg m;

	if (!init) {
		(void)libre_init();
		init = true;
	}
	memset(&m, 0, sizeof(m));
	if (!bus_msg_decode(&m, (const char *)data, size)) {
		(void)bus_seq_check(&st, m.epoch, m.seq,
				    m.type && !strcmp(m.type, "hb"));
	}
	mem_deref(m.root);
	return 0;
}
