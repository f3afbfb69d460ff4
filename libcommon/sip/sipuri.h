/* sipuri: SIP URI equality (RFC 3261 §19.1.4), which libre 1.1.0 lacks. */
#ifndef LP_SIPURI_H
#define LP_SIPURI_H

#include <stdbool.h>
#include <re.h>

bool sipuri_equal(const struct uri *a, const struct uri *b);
bool sipuri_equal_str(const char *a, const char *b);

#endif
