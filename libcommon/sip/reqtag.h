/* reqtag: tags that are a function of the request that made them (a
 * subscription's To-tag, a publication's entity tag), so that a
 * retransmission of that request, answered statelessly, finds what the
 * first one made instead of making it twice. 64-bit FNV-1a over a random
 * per-process salt and the identifying parts of the request. */
#ifndef LP_REQTAG_H
#define LP_REQTAG_H

#include <stdint.h>
#include <re.h>

struct reqtag {
	uint64_t h;
};

void reqtag_init(struct reqtag *t, uint64_t salt);
void reqtag_pl(struct reqtag *t, const struct pl *pl);
void reqtag_str(struct reqtag *t, const char *s);
void reqtag_u32(struct reqtag *t, uint32_t v);

#endif
