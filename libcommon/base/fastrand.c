/* fastrand: libre's rand_* from the kernel's generator, drawn 512 bytes
 * at a time (fastrand.h). The programs are single-threaded where they
 * call these and do not fork after drawing (lamplightctl run execs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "base/fastrand.h"

static uint8_t pool[512];
static size_t left;

void fastrand_init(void)
{
	left = 0;
}

static void draw(void *p, size_t n)
{
	if (n > sizeof(pool)) {
		arc4random_buf(p, n);
		return;
	}
	if (left < n) {
		arc4random_buf(pool, sizeof(pool));
		left = sizeof(pool);
	}
	memcpy(p, pool + sizeof(pool) - left, n);
	memset(pool + sizeof(pool) - left, 0, n);   /* used once */
	left -= n;
}

uint16_t rand_u16(void)
{
	uint16_t v;

	draw(&v, sizeof(v));
	return v;
}

uint32_t rand_u32(void)
{
	uint32_t v;

	draw(&v, sizeof(v));
	return v;
}

uint64_t rand_u64(void)
{
	uint64_t v;

	draw(&v, sizeof(v));
	return v;
}

void rand_bytes(uint8_t *p, size_t size)
{
	if (p && size)
		draw(p, size);
}
