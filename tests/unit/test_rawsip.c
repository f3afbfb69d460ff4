/* test_rawsip: a SIP head read from its datagram (rawsip): status codes,
 * lines up to the empty one and the body after it, headers by name (any
 * case, spaces before the colon) and by compact letter; which requests
 * begin new work (rawsip_initial). */
#include <string.h>
#include <re.h>
#include "sip/rawsip.h"
#include "tap.h"

int main(void)
{
	static const char msg[] =
		"SIP/2.0 481 Call Does Not Exist\r\n"
		"v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n"
		"CALL-ID :  abc@host  \r\n"
		"CSeq: 7 NOTIFY\r\n"
		"Viaduct: no\r\n"
		"\r\n"
		"body";
	const char *end = msg + sizeof(msg) - 1;
	struct rawsip_line ln;
	struct pl v;
	unsigned n = 0;
	bool via = false, callid = false, cseq = false, other = false;
	const char *p;

	ok(rawsip_status(msg, strlen(msg)) == 481, "status 481");
	ok(!rawsip_status("SIP/2.0 48 x\r\n", 14) &&
	   !rawsip_status("NOTIFY sip:a@b SIP/2.0\r\n", 24) &&
	   !rawsip_status("SIP/2.0 700 X\r\n", 15),
	   "no status from a bad code, a request or 7xx");
	ok(rawsip_next_line(&ln, msg, end) && ln.l == 31,
	   "the status line, without its CRLF");
	for (p = ln.next; rawsip_next_line(&ln, p, end); p = ln.next) {
		++n;
		if (rawsip_hdr(&ln, "Via", 'v', &v))
			via = !pl_strcmp(&v, "SIP/2.0/UDP 192.0.2.1:5060;"
					 "branch=z9hG4bKx");
		else if (rawsip_hdr(&ln, "Call-ID", 'i', &v))
			callid = !pl_strcmp(&v, "abc@host");
		else if (rawsip_hdr(&ln, "CSeq", 0, &v))
			cseq = !pl_strcmp(&v, "7 NOTIFY");
		else
			other = true;
	}
	ok(n == 4, "four header lines, then the end of the head");
	ok(ln.l == 0 && !strcmp(ln.next, "body"), "the body after it");
	ok(via, "a compact Via ('v:') by its letter");
	ok(callid, "Call-ID in capitals, a space before the colon, its "
	   "value trimmed");
	ok(cseq, "CSeq by its name");
	ok(other, "'Viaduct' is not Via");
	ok(!rawsip_next_line(&ln, "Via: x", "Via: x" + 6),
	   "no CRLF: no line");

	/* sizes of the head, before libre parses it */
	struct rawsip_limits lim = { 64, 128, 400 };
	struct rawsip_excess ex;
	char big[1200];
	const char *small = "INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>\r\n"
			    "\r\nbody";

	ok(rawsip_head_ok(small, strlen(small), &lim, &ex), "a small head");
	(void)re_snprintf(big, sizeof(big), "INVITE sip:a@b SIP/2.0\r\n"
			  "From: %s\r\n\r\n", "<sip:xxxxxxxxxxxxxxxxxxxxxxxxxx"
			  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@y>");
	ok(!rawsip_head_ok(big, strlen(big), &lim, &ex) &&
	   !pl_strcmp(&ex.name, "From") && !strcmp(ex.what,
						   "address header"),
	   "a From line over the address cap");
	(void)re_snprintf(big, sizeof(big), "INVITE sip:a@b SIP/2.0\r\n"
			  "f: <sip:x@y\r\n %s\r\n %s>\r\n\r\n",
			  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	ok(!rawsip_head_ok(big, strlen(big), &lim, &ex) &&
	   !pl_strcmp(&ex.name, "f"),
	   "a compact From folded over lines counts whole");
	(void)re_snprintf(big, sizeof(big), "INVITE sip:a@b SIP/2.0\r\n"
			  "Subject: %s\r\n\r\n", "a somewhat long subject, "
			  "but under the cap for other headers");
	ok(rawsip_head_ok(big, strlen(big), &lim, &ex),
	   "the same length in another header is fine");
	memset(big, 0, sizeof(big));
	strcpy(big, "INVITE sip:a@b SIP/2.0\r\n");
	for (int i = 0; i < 12; i++)
		strcat(big, "Subject: forty bytes of subject text\r\n");
	strcat(big, "\r\n");
	ok(!rawsip_head_ok(big, strlen(big), &lim, &ex) &&
	   !strcmp(ex.what, "head"), "a head over its cap");

	/* new work: no To-tag, not ACK or CANCEL */
	static const char *const initial[] = {
		"MESSAGE sip:b@x SIP/2.0\r\nTo: <sip:b@x>\r\n\r\n",
		"INVITE sip:b@x SIP/2.0\r\nt: sip:b@x\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\nTo: <sip:a;tag=1@x>\r\n\r\n",
	};
	static const char *const not_initial[] = {
		"BYE sip:b@x SIP/2.0\r\nTo: <sip:b@x>;tag=9\r\n\r\n",
		"SUBSCRIBE sip:b@x SIP/2.0\r\nTo: sip:b@x ; TAG = 9\r\n\r\n",
		"ACK sip:b@x SIP/2.0\r\nTo: <sip:b@x>\r\n\r\n",
		"CANCEL sip:b@x SIP/2.0\r\nTo: <sip:b@x>\r\n\r\n",
		"SIP/2.0 200 OK\r\nTo: <sip:b@x>\r\n\r\n",
		"MESSAGE sip:b@x SIP/2.0\r\nFrom: <sip:a@x>\r\n\r\n",
		"MESSAGE sip:b@x SIP/2.0\r\nTo: <sip:b@x>\r\n ;tag=1\r\n\r\n",
	};
	bool all = true;

	for (size_t i = 0; i < ARRAY_SIZE(initial); i++)
		all = all && rawsip_initial(initial[i], strlen(initial[i]));
	ok(all, "new requests (a tag inside the To URI is not the To's)");
	all = true;
	for (size_t i = 0; i < ARRAY_SIZE(not_initial); i++)
		all = all && !rawsip_initial(not_initial[i],
					     strlen(not_initial[i]));
	ok(all, "not new: a To-tag (any case, spaces), ACK, CANCEL, an "
	   "answer, no To, a folded To");
	{
		static const char *const bare[] = {
			"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h:1\r\n\r\n",
			"OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/TCP h;rport\r\n"
			"\r\n",
			"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;received=1"
			",SIP/2.0/UDP g;branch=z9hG4bK1\r\n\r\n",
		};
		static const char *const branched[] = {
			"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1\r\n"
			"\r\n",
			"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;rport;"
			"branch=z9hG4bKa\r\nVia: SIP/2.0/UDP g\r\n\r\n",
			"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n",
			"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
			" ;branch=1\r\n\r\n",
		};

		all = true;
		for (size_t i = 0; i < ARRAY_SIZE(bare); i++)
			all = all && rawsip_via_branchless(bare[i],
							   strlen(bare[i]));
		ok(all, "a top Via without branch (compact form; the first "
		   "of two values on a line)");
		all = true;
		for (size_t i = 0; i < ARRAY_SIZE(branched); i++)
			all = all && !rawsip_via_branchless(branched[i],
							    strlen(branched[i]));
		ok(all, "not branchless: a branch (with or without the "
		   "cookie; only the top Via counts), an answer, a folded "
		   "Via (left to libre)");
	}
	return tap_done();
}
