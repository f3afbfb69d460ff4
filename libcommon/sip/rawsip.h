/* rawsip: reading a SIP message's head straight from its datagram, for
 * the fast paths that take the plainest messages before libre decodes
 * them (the edge's fastpath, the notifier's and the IM relay's answers):
 * the status code, the header lines one by one, a header by its name or
 * compact letter. Lines end in CRLF; anything else is left to libre. */
#ifndef LP_RAWSIP_H
#define LP_RAWSIP_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct rawsip_line {
	const char *p;         /* the line, without its CRLF */
	size_t l;
	const char *next;      /* the line after it */
};

/* The line at p in [p, end): false at the empty line that ends the head
 * (ln->next is then the body) or when no CRLF is left. */
bool rawsip_next_line(struct rawsip_line *ln, const char *p,
		      const char *end);
/* "SIP/2.0 NNN ...": NNN, or 0 when p is no status line */
uint16_t rawsip_status(const char *p, size_t n);
/* Is the line header `name` (any case), or its compact letter `c` (0:
 * none)? Its value, without the spaces around it. */
bool rawsip_hdr(const struct rawsip_line *ln, const char *name, char c,
		struct pl *val);

/* Does the request in [p, p + n) begin new work: a request line whose
 * method is not ACK or CANCEL, and a To without a tag (no dialog yet)?
 * false for an answer, and for a head it cannot read plainly. */
bool rawsip_initial(const char *p, size_t n);
/* Is the request in [p, p + n) one whose top Via has no branch (RFC
 * 2543's, which libre 1.1.0 cannot decode and drops unanswered)? false
 * for an answer, and for a head it cannot read plainly. */
bool rawsip_via_branchless(const char *p, size_t n);
/* Has this To value a tag (after the address: a URI may hold ";tag=")? */
bool rawsip_to_tagged(const struct pl *to);

/* The head's sizes, before anything parses it. libre's address parser
 * (From, To, Contact, Via, Route, ...) takes time quadratic in the
 * length of a malformed value: 64 KiB in one From line held the edge for
 * over ten seconds, 2 KiB costs 14 ms. Header lines are measured with
 * their folded continuations. */
struct rawsip_limits {
	size_t addr_line;      /* an address header's whole line */
	size_t line;           /* any other header line */
	size_t head;           /* from the request line to the empty line */
};
struct rawsip_excess {
	struct pl name;        /* the header that is too long, or empty */
	size_t len;
	const char *what;      /* "address header", "header", "head" */
};
/* true: within the limits; false: *ex says what is not */
bool rawsip_head_ok(const char *p, size_t n, const struct rawsip_limits *lim,
		    struct rawsip_excess *ex);

#endif
