/* tap: Test Anything Protocol output for unit tests, so that meson counts
 * every case, not every program. */
#ifndef LP_TAP_H
#define LP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline void tap_ok(int cond, const char *file, int line,
			  const char *fmt, ...)
{
	char desc[1024];
	va_list ap;

	++tap_n;
	if (!cond)
		++tap_failed;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	for (char *p = desc; *p; p++)   /* one line per case */
		if (*p == '\r' || *p == '\n' || *p == '#')
			*p = ' ';
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, desc);
	if (!cond)
		printf("# failed at %s:%d\n", file, line);
	fflush(stdout);
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
