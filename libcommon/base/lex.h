/* lex: the lexical rules of RFC 3261 §25.1 that more than one parser in
 * libcommon needs (sipval's parameters, digest's credentials). */
#ifndef LP_LEX_H
#define LP_LEX_H

#include <stdbool.h>
#include <stddef.h>

/* LWS, including the CR LF of a folded line */
static inline bool lex_is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* p[i] is an opening '"': the index just after the closing one, honouring
 * backslash escapes, or 0 when the string never ends. */
static inline size_t lex_skip_quoted(const char *p, size_t l, size_t i)
{
	for (++i; i < l && p[i] != '"'; i++) {
		if (p[i] == '\\')
			++i;
	}
	return i < l ? i + 1 : 0;
}

#endif
