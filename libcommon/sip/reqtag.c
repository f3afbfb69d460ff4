/* reqtag: a request's deterministic tag (see reqtag.h). Each part is
 * hashed with its length, so that ("ab", "c") and ("a", "bc") differ. */
#include <string.h>
#include <re.h>
#include "sip/reqtag.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static void mix(struct reqtag *t, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		t->h ^= b[i];
		t->h *= FNV_PRIME;
	}
}

void reqtag_init(struct reqtag *t, uint64_t salt)
{
	t->h = FNV_OFFSET;
	mix(t, &salt, sizeof(salt));
}

void reqtag_u32(struct reqtag *t, uint32_t v)
{
	mix(t, &v, sizeof(v));
}

void reqtag_pl(struct reqtag *t, const struct pl *pl)
{
	uint32_t n = pl ? (uint32_t)pl->l : 0;

	reqtag_u32(t, n);
	if (n)
		mix(t, pl->p, n);
}

void reqtag_str(struct reqtag *t, const char *s)
{
	struct pl pl;

	pl_set_str(&pl, s ? s : "");
	reqtag_pl(t, &pl);
}
