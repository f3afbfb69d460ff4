/* rfc2543: a branch for requests whose top Via has none, taken out of
 * their answers again (rfc2543.h). */
#include <string.h>
#include <re.h>
#include "sip/rawsip.h"
#include "rfc2543.h"

enum {
	HEX_LEN = 16,          /* of the branch, after the mark */
	ADD_LEN = sizeof(";branch=" RFC2543_BRANCH) - 1 + HEX_LEN,
};

/* The first value of a Via header's value (up to a comma) */
static void first_value(struct pl *v)
{
	const char *c = memchr(v->p, ',', v->l);

	if (c)
		v->l = (size_t)(c - v->p);
	while (v->l && (v->p[v->l - 1] == ' ' || v->p[v->l - 1] == '\t'))
		--v->l;
}

bool rfc2543_mark(struct mbuf *mb)
{
	static uint8_t secret[16];
	static bool keyed;
	const char *p = (const char *)mbuf_buf(mb);
	const char *end = p + mbuf_get_left(mb);
	struct rawsip_line ln;
	struct pl uri, callid = PL_INIT, from = PL_INIT, cseq = PL_INIT;
	struct pl via = PL_INIT, v;
	const char *sp1, *sp2;
	uint8_t md[MD5_SIZE];
	char add[ADD_LEN + 1];
	size_t off;

	if (!rawsip_via_branchless(p, mbuf_get_left(mb)) ||
	    !rawsip_next_line(&ln, p, end))
		return false;
	/* "METHOD SP Request-URI SP SIP/2.0" */
	sp1 = memchr(ln.p, ' ', ln.l);
	sp2 = ln.p + ln.l;
	while (sp2 > ln.p && sp2[-1] != ' ')
		--sp2;
	if (!sp1 || sp2 - 1 <= sp1 + 1)
		return false;
	uri.p = sp1 + 1;
	uri.l = (size_t)(sp2 - 1 - uri.p);
	for (const char *q = ln.next; rawsip_next_line(&ln, q, end);
	     q = ln.next) {
		if (ln.p[0] == ' ' || ln.p[0] == '\t')
			return false;          /* folded: not read plainly */
		if (!via.p && rawsip_hdr(&ln, "Via", 'v', &v))
			via = v;
		else if (!callid.p && rawsip_hdr(&ln, "Call-ID", 'i', &v))
			callid = v;
		else if (!from.p && rawsip_hdr(&ln, "From", 'f', &v))
			from = v;
		else if (!cseq.p && rawsip_hdr(&ln, "CSeq", 0, &v))
			cseq = v;
	}
	if (!via.p || !callid.p || !from.p || !cseq.p)
		return false;
	first_value(&via);
	/* the CSeq number alone: an ACK's and a CANCEL's are the INVITE's */
	for (v = cseq, cseq.l = 0; cseq.l < v.l &&
	     v.p[cseq.l] >= '0' && v.p[cseq.l] <= '9'; cseq.l++)
		;
	if (!keyed) {
		rand_bytes(secret, sizeof(secret));
		keyed = true;
	}
	if (md5_printf(md, "%w\n%r\n%r\n%r\n%r\n%r", secret, sizeof(secret),
		       &uri, &callid, &from, &cseq, &via))
		return false;
	if (re_snprintf(add, sizeof(add), ";branch=" RFC2543_BRANCH "%w",
			md, (size_t)HEX_LEN / 2) != ADD_LEN)
		return false;
	/* into the top Via, after its first value */
	off = (size_t)(via.p + via.l - (const char *)mb->buf);
	if (mb->size < mb->end + ADD_LEN &&
	    mbuf_resize(mb, mb->end + ADD_LEN))
		return false;
	memmove(mb->buf + off + ADD_LEN, mb->buf + off, mb->end - off);
	memcpy(mb->buf + off, add, ADD_LEN);
	mb->end += ADD_LEN;
	return true;
}

void rfc2543_unmark(struct mbuf *mb)
{
	static const char mark[] = ";branch=" RFC2543_BRANCH;
	const char *p = (const char *)mbuf_buf(mb);
	const char *end = p + mbuf_get_left(mb);
	struct rawsip_line ln;
	struct pl v;
	size_t off;

	if (mbuf_get_left(mb) < 8 || memcmp(p, "SIP/2.0 ", 8) ||
	    !rawsip_next_line(&ln, p, end))
		return;
	for (const char *q = ln.next; rawsip_next_line(&ln, q, end);
	     q = ln.next) {
		const char *m;

		if (!rawsip_hdr(&ln, "Via", 'v', &v))
			continue;
		first_value(&v);
		m = v.l >= ADD_LEN ? memmem(v.p, v.l, mark, sizeof(mark) - 1)
			: NULL;
		if (!m || (size_t)(v.p + v.l - m) < ADD_LEN ||
		    (m + ADD_LEN < v.p + v.l && m[ADD_LEN] != ';'))
			return;
		off = (size_t)(m - (const char *)mb->buf);
		memmove(mb->buf + off, mb->buf + off + ADD_LEN,
			mb->end - off - ADD_LEN);
		mb->end -= ADD_LEN;
		return;
	}
}
