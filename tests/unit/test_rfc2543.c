/* test_rfc2543: the branch the edge gives a request whose top Via has
 * none (daemons/registrar/rfc2543.c): added after the top Via's first
 * value and nowhere else; the same for a retransmission, the ACK of a
 * refused INVITE and its CANCEL (RFC 3261 §17.2.3 matching), another for
 * another CSeq or Call-ID; nothing done to a request with a branch, an
 * answer or a folded head; and taken out of an answer's top Via again. */
#include <string.h>
#include <re.h>
#include "rfc2543.h"
#include "tap.h"

static const char invite[] =
	"INVITE sip:bob@example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.7:5060\r\n"
	"From: <sip:carol@example.com>;tag=c1\r\n"
	"To: <sip:bob@example.com>%s\r\n"
	"Call-ID: %s\r\n"
	"CSeq: %u %s\r\n"
	"Content-Length: 0\r\n\r\n";

/* the request marked, or "" */
static const char *marked(char *out, size_t sz, const char *fmt,
			  const char *to, const char *callid, unsigned cseq,
			  const char *method)
{
	struct mbuf *mb = mbuf_alloc(64);   /* grown by the mark */

	out[0] = '\0';
	if (!mb || mbuf_printf(mb, fmt, to, callid, cseq, method))
		goto out;
	mb->pos = 0;
	if (rfc2543_mark(mb))
		(void)re_snprintf(out, sz, "%b", mbuf_buf(mb),
				  mbuf_get_left(mb));
 out:
	mem_deref(mb);
	return out;
}

/* the branch in a marked request */
static void branch_of(char *out, size_t sz, const char *msg)
{
	const char *b = strstr(msg, "branch=");
	size_t n = b ? strcspn(b, ";,\r") : 0;

	(void)re_snprintf(out, sz, "%b", b ? b : "", n);
}

static bool unmarks(const char *in, const char *want)
{
	struct mbuf *mb = mbuf_alloc(256);
	bool same;

	if (!mb)
		return false;
	(void)mbuf_write_str(mb, in);
	mb->pos = 0;
	rfc2543_unmark(mb);
	same = mbuf_get_left(mb) == strlen(want) &&
	       !memcmp(mbuf_buf(mb), want, strlen(want));
	mem_deref(mb);
	return same;
}

int main(void)
{
	char a[1024], b[1024], ba[128], bb[128], resp[1024], want[1024];
	const char *v;

	libre_init();
	marked(a, sizeof(a), invite, "", "k1@x", 1, "INVITE");
	v = strstr(a, "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=" RFC2543_BRANCH);
	ok(v && strstr(v, "\r\n") - v == (long)(sizeof("Via: SIP/2.0/UDP "
	   "192.0.2.7:5060;branch=" RFC2543_BRANCH) - 1 + 16),
	   "a branch is added after the top Via: %s", a);
	ok(strstr(a, "From: <sip:carol@example.com>;tag=c1\r\n") &&
	   strstr(a, "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
	   "the rest is as it was");
	branch_of(ba, sizeof(ba), a);

	marked(b, sizeof(b), invite, "", "k1@x", 1, "INVITE");
	branch_of(bb, sizeof(bb), b);
	ok(!strcmp(ba, bb), "the same for a retransmission");
	marked(b, sizeof(b), invite, ";tag=b9", "k1@x", 1, "ACK");
	branch_of(bb, sizeof(bb), b);
	ok(!strcmp(ba, bb), "the same for the ACK of a refusal (To-tag, "
	   "method ACK)");
	marked(b, sizeof(b), invite, "", "k1@x", 1, "CANCEL");
	branch_of(bb, sizeof(bb), b);
	ok(!strcmp(ba, bb), "the same for its CANCEL");
	marked(b, sizeof(b), invite, "", "k1@x", 2, "INVITE");
	branch_of(bb, sizeof(bb), b);
	ok(bb[0] && strcmp(ba, bb), "another for another CSeq");
	marked(b, sizeof(b), invite, "", "k2@x", 1, "INVITE");
	branch_of(bb, sizeof(bb), b);
	ok(bb[0] && strcmp(ba, bb), "another for another Call-ID");

	ok(!*marked(b, sizeof(b), "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP "
		    "h;branch=z9hG4bK1\r\nTo: <sip:x>%s\r\nCall-ID: %s\r\n"
		    "CSeq: %u %s\r\n\r\n", "", "c", 1, "OPTIONS"),
	   "a request with a branch is left alone");
	ok(!*marked(b, sizeof(b), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n"
		    "To: <sip:x>%s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n\r\n",
		    "", "c", 1, "OPTIONS"),
	   "an answer is left alone");
	ok(!*marked(b, sizeof(b), "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP "
		    "h\r\nFrom: <sip:y>;tag=1\r\nTo: <sip:x>%s\r\n"
		    " ;folded=1\r\nCall-ID: %s\r\nCSeq: %u %s\r\n\r\n", "", "c",
		    1, "OPTIONS"),
	   "a folded head is left alone (the edge answers it 400)");
	ok(!*marked(b, sizeof(b), "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP "
		    "h\r\nTo: <sip:x>%s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n\r\n",
		    "", "c", 1, "OPTIONS"),
	   "so is one without From (the edge answers it 400)");
	ok(*marked(b, sizeof(b), "MESSAGE sip:x SIP/2.0\r\n"
		   "v: SIP/2.0/UDP h:5060 , SIP/2.0/UDP p;branch=z9hG4bK9\r\n"
		   "f: <sip:y>;tag=1\r\nt: <sip:x>%s\r\ni: %s\r\n"
		   "CSeq: %u %s\r\n\r\n", "", "c", 1, "MESSAGE") &&
	   strstr(b, "v: SIP/2.0/UDP h:5060;branch=" RFC2543_BRANCH),
	   "compact headers; the first of two Via values on a line: %s", b);

	/* the answer: the mark out again, received and rport kept */
	v = strstr(a, ";branch=");
	(void)re_snprintf(resp, sizeof(resp), "SIP/2.0 486 Busy Here\r\n"
			  "Via: SIP/2.0/UDP 192.0.2.7:5060%b;received=10.0.0.1"
			  "\r\nCall-ID: k1@x\r\n\r\n", v,
			  strcspn(v, "\r"));
	ok(unmarks(resp, "SIP/2.0 486 Busy Here\r\n"
		   "Via: SIP/2.0/UDP 192.0.2.7:5060;received=10.0.0.1\r\n"
		   "Call-ID: k1@x\r\n\r\n"), "an answer gets the Via as sent");
	(void)re_snprintf(want, sizeof(want), "SIP/2.0 200 OK\r\nVia: "
			  "SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP "
			  "192.0.2.7%b\r\n\r\n", v, strcspn(v, "\r"));
	ok(unmarks(want, want), "only in the top Via");
	ok(unmarks(a, a), "not in a request");
	ok(unmarks("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch="
		   RFC2543_BRANCH "12\r\n\r\n", "SIP/2.0 200 OK\r\nVia: "
		   "SIP/2.0/UDP h;branch=" RFC2543_BRANCH "12\r\n\r\n"),
	   "nor a branch that only begins like the mark");
	libre_close();
	return tap_done();
}
