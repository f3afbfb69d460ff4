/* test_rawreply: an answer written from the request's datagram
 * (rawreply), read back by libre's own decoder as a phone would read it:
 * the Vias (the top one with received and rport), From, To with a tag,
 * Call-ID, CSeq, the extra headers; what it refuses to answer; and the
 * age of a datagram in a socket's receive queue (sockage), once the
 * kernel stamps arrivals, in a try the wall clock was not stepped in. */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <re.h>
#include "sip/rawreply.h"
#include "sip/sockage.h"
#include "tap.h"

static struct sip_msg *answer_of(const char *req, const struct sa *src,
				 const char *extra)
{
	struct mbuf *out = mbuf_alloc(1024);
	struct sip_msg *msg = NULL;

	if (!out)
		return NULL;
	if (!rawreply(out, req, strlen(req), src, 503, "Service Unavailable",
		      0x1234, extra)) {
		out->pos = 0;
		if (sip_msg_decode(&msg, out))
			msg = NULL;
	}
	mem_deref(out);
	return msg;
}

static bool hdr_is(const struct sip_msg *msg, enum sip_hdrid id,
		   const char *want)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	return h && !pl_strcmp(&h->val, want);
}

/* CLOCK_REALTIME less CLOCK_MONOTONIC: changes when the wall clock is
 * stepped */
static int64_t wall_minus_mono_ms(void)
{
	struct timespec w, m;

	(void)clock_gettime(CLOCK_REALTIME, &w);
	(void)clock_gettime(CLOCK_MONOTONIC, &m);
	return (int64_t)(w.tv_sec - m.tv_sec) * 1000 +
		(w.tv_nsec - m.tv_nsec) / 1000000;
}

static void ages(void)
{
	struct sa a;
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	socklen_t len = sizeof(a.u.in);
	char buf[8];
	int64_t age = -1, step = 0;

	sa_set_str(&a, "127.0.0.1", 0);
	if (rx < 0 || tx < 0 || bind(rx, &a.u.sa, a.len) ||
	    getsockname(rx, &a.u.sa, &len)) {
		ok(false, "a socket pair on loopback");
		return;
	}
	(void)sockage_ms(rx);          /* turns stamping on */
	/* which the kernel does a moment later (a deferred static key):
	 * until then a datagram has no stamp, and its age reads as 0 */
	for (int i = 0; i < 50; i++) {
		(void)sendto(tx, "w", 1, 0, &a.u.sa, a.len);
		usleep(20 * 1000);
		(void)recv(rx, buf, sizeof(buf), 0);
		if (sockage_ms(rx) >= 15)
			break;
	}
	/* the kernel stamps arrival on the wall clock, which may be
	 * stepped meanwhile (a VM's clock corrected, NTP): such a try is
	 * not judged, and another made */
	for (int i = 0; i < 5; i++) {
		int64_t off = wall_minus_mono_ms();

		(void)sendto(tx, "x", 1, 0, &a.u.sa, a.len);
		usleep(150 * 1000);
		(void)recv(rx, buf, sizeof(buf), 0);
		age = sockage_ms(rx);
		step = wall_minus_mono_ms() - off;
		if (step > -20 && step < 20)
			break;
	}
	if (step <= -20 || step >= 20)
		printf("ok %d - # SKIP the wall clock was stepped in each of "
		       "5 tries (last by %lld ms)\n", ++tap_n,
		       (long long)step);
	else
		ok(age >= 140 && age < 5000, "a datagram read 150 ms after "
		   "it came waited about that long (%lld ms)",
		   (long long)age);
	(void)sendto(tx, "y", 1, 0, &a.u.sa, a.len);
	(void)recv(rx, buf, sizeof(buf), 0);
	age = sockage_ms(rx);
	ok(age >= 0 && age < 100, "one read at once, hardly at all (%lld ms)",
	   (long long)age);
	ok(sockage_ms(-1) == -1, "no socket: no age");
	close(rx);
	close(tx);
}

int main(void)
{
	static const char req[] =
		"MESSAGE sip:bob@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKa1;rport\r\n"
		"v: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKa0\r\n"
		"Max-Forwards: 70\r\n"
		"f: <sip:alice@example.com>;tag=77\r\n"
		"To: \"Bob\" <sip:bob@example.com>\r\n"
		"Call-ID: c1@10.0.0.1\r\n"
		"CSeq: 2 MESSAGE\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 2\r\n"
		"\r\n"
		"hi";
	struct sip_msg *msg;
	struct sa src;

	sa_set_str(&src, "192.0.2.7", 40000);
	msg = answer_of(req, &src, "Retry-After: 3\r\n");
	ok(msg && msg->scode == 503 && !pl_strcmp(&msg->reason,
						  "Service Unavailable"),
	   "a 503 libre decodes");
	if (!msg)
		return tap_done();
	ok(!pl_strcmp(&msg->via.branch, "z9hG4bKa1") &&
	   hdr_is(msg, SIP_HDR_VIA, "SIP/2.0/UDP 10.0.0.1:5062;"
		  "branch=z9hG4bKa1;received=192.0.2.7;rport=40000"),
	   "the top Via with received and rport, the bare rport gone");
	ok(sip_msg_hdr_count(msg, SIP_HDR_VIA) == 2, "both Vias, in order");
	ok(!pl_strcmp(&msg->from.tag, "77") &&
	   !pl_strcmp(&msg->to.tag, "0000000000001234") &&
	   !pl_strcmp(&msg->to.dname, "Bob"),
	   "From as it was, To with our tag");
	ok(!pl_strcmp(&msg->callid, "c1@10.0.0.1") && msg->cseq.num == 2 &&
	   !pl_strcmp(&msg->cseq.met, "MESSAGE"), "Call-ID and CSeq");
	ok(hdr_is(msg, SIP_HDR_RETRY_AFTER, "3") && msg->clen.l &&
	   !pl_strcmp(&msg->clen, "0") && !mbuf_get_left(msg->mb),
	   "Retry-After, Content-Length 0, no body");
	ok(!sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE) &&
	   !sip_msg_hdr(msg, SIP_HDR_MAX_FORWARDS),
	   "nothing else of the request");
	mem_deref(msg);

	static const char *const refused[] = {
		/* an answer */
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
		"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\n"
		"CSeq: 1 MESSAGE\r\n\r\n",
		/* no Call-ID */
		"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1"
		"\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
		"CSeq: 1 MESSAGE\r\n\r\n",
		/* two Vias on the top line */
		"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1,"
		" SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\n"
		"To: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n",
		/* a folded line */
		"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1"
		"\r\nFrom: <sip:a@x>\r\n ;tag=1\r\nTo: <sip:b@x>\r\n"
		"Call-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n",
		/* two To */
		"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1"
		"\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nTo: <sip:c@x>"
		"\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n",
	};
	bool all = true;

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		struct mbuf *out = mbuf_alloc(512);

		all = all && out && rawreply(out, refused[i],
					     strlen(refused[i]), &src, 503,
					     "Service Unavailable", 1, NULL);
		mem_deref(out);
	}
	ok(all, "left to libre: an answer, a missing or doubled header, two "
	   "Vias on the top line, a folded line");

	static const char tagged[] =
		"BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1\r\n"
		"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n"
		"Call-ID: c\r\nCSeq: 3 BYE\r\n\r\n";
	msg = answer_of(tagged, &src, NULL);
	ok(msg && !pl_strcmp(&msg->to.tag, "2") &&
	   !sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER),
	   "a To-tag kept as it was; no extra headers when none are given");
	mem_deref(msg);
	ages();
	return tap_done();
}
