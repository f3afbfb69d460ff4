/* test_sipval: request validation (RFC 3261 §8.1.1, §8.2.2.3, §20, §25)
 * on decoded messages, and URI equality by RFC 3261 §19.1.4's own
 * examples. */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "sip/sipval.h"
#include "sip/sipuri.h"
#include "tap.h"

static const char *base =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:alice@example.com>;tag=1\r\n"
	"To: <sip:alice@example.com>\r\n"
	"Call-ID: c1\r\n"
	"CSeq: 1 REGISTER\r\n"
	"%s"
	"Content-Length: 0\r\n\r\n";

static int check(const char *text, struct sipval_err *e)
{
	static const char *const sup[] = {"path", NULL};
	struct sip_msg *msg = NULL;
	struct mbuf *mb = mbuf_alloc(1024);
	int err;

	mbuf_write_str(mb, text);
	mb->pos = 0;
	err = sip_msg_decode(&msg, mb);
	if (err) {
		mem_deref(mb);
		e->code = 0;
		e->reason = "undecodable";
		return -1;
	}
	memset(e, 0, sizeof(*e));
	err = sipval_request(msg, sup, e);
	mem_deref(msg);
	mem_deref(mb);
	return err;
}

/* sipval_request of `text` as if it came over `tp` */
static int check_tp(const char *text, enum sip_transp tp,
		    struct sipval_err *e)
{
	static const char *const sup[] = {"path", NULL};
	struct sip_msg *msg = NULL;
	struct mbuf *mb = mbuf_alloc(1024);
	int err;

	mbuf_write_str(mb, text);
	mb->pos = 0;
	memset(e, 0, sizeof(*e));
	err = sip_msg_decode(&msg, mb);
	if (!err) {
		msg->tp = tp;
		err = sipval_request(msg, sup, e);
	}
	mem_deref(msg);
	mem_deref(mb);
	return err;
}

/* RFC 3261 §18.3, RFC 4475 §3.1.2.2: a UDP datagram shorter than its
 * Content-Length is never acted on; over a stream the framing waits for
 * the rest before a message is whole, so it never gets here short */
static void test_clen(void)
{
	static const char head[] =
		"MESSAGE sip:bob@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:alice@example.com>;tag=1\r\n"
		"To: <sip:bob@example.com>\r\n"
		"Call-ID: c1\r\n"
		"CSeq: 1 MESSAGE\r\n"
		"Content-Type: text/plain\r\n";
	char buf[1024];
	struct sipval_err e;
	int r;

	re_snprintf(buf, sizeof(buf), "%sContent-Length: 100\r\n\r\n"
		    "only ten b", head);
	r = check_tp(buf, SIP_TRANSP_UDP, &e);
	ok(r && e.code == 400 &&
	   strstr(e.reason, "Content-Length Larger"),
	   "UDP: 100 promised, 10 there: 400 (got %u '%s')", e.code,
	   e.reason ? e.reason : "");
	re_snprintf(buf, sizeof(buf), "%sContent-Length: 10\r\n\r\n"
		    "only ten b", head);
	ok(!check_tp(buf, SIP_TRANSP_UDP, &e), "UDP: as many as promised");
	re_snprintf(buf, sizeof(buf), "%sContent-Length: 4\r\n\r\n"
		    "only ten b", head);
	ok(!check_tp(buf, SIP_TRANSP_UDP, &e),
	   "UDP: more than promised (the rest is not the body, §18.3)");
	re_snprintf(buf, sizeof(buf), "%sContent-Length: 99999999999\r\n"
		    "\r\nx", head);
	r = check_tp(buf, SIP_TRANSP_UDP, &e);
	ok(r && e.code == 400,
	   "UDP: a Content-Length of 11 digits: 400 (got %u '%s')", e.code,
	   e.reason ? e.reason : "");
	re_snprintf(buf, sizeof(buf), "%sContent-Length: 100\r\n\r\n"
		    "only ten b", head);
	ok(!check_tp(buf, SIP_TRANSP_TCP, &e),
	   "TCP: not this check's (the stream's framing holds the message "
	   "until it is whole)");
}

static void with_extra(const char *extra, uint16_t code, const char *reason)
{
	char buf[2048];
	struct sipval_err e;
	int r;

	re_snprintf(buf, sizeof(buf), base, extra);
	r = check(buf, &e);
	if (!code)
		ok(r == 0, "valid with '%s'", extra);
	else
		ok(r != 0 && e.code == code && strstr(e.reason, reason),
		   "%u '%s' for '%s' (got %u '%s')", code, reason, extra,
		   e.code, e.reason ? e.reason : "");
}

static void replace(const char *from, const char *to, uint16_t code,
		    const char *reason)
{
	char buf[2048], out[2048];
	struct sipval_err e;
	const char *p;
	int r;

	re_snprintf(buf, sizeof(buf), base, "");
	p = strstr(buf, from);
	if (!p) {
		ok(0, "pattern '%s' not in base", from);
		return;
	}
	re_snprintf(out, sizeof(out), "%b%s%s", buf, (size_t)(p - buf), to,
		    p + strlen(from));
	r = check(out, &e);
	ok(r != 0 && e.code == code && e.reason && strstr(e.reason, reason),
	   "%u '%s' when '%s' becomes '%s' (got %u '%s')", code, reason,
	   from, to, e.code, e.reason ? e.reason : "");
}

static void validation(void)
{
	with_extra("", 0, NULL);
	with_extra("Require: path\r\n", 0, NULL);
	with_extra("Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n", 0, NULL);
	with_extra("Expires: 4294967295\r\n", 0, NULL);
	/* below the top one: an RFC 2543 proxy's Via, without branch */
	with_extra("Via: SIP/2.0/UDP old.example.com:5060\r\n", 0, NULL);
	with_extra("Via: SIP/2.0/UDP old.example.com;received=192.0.2.9\r\n",
		   0, NULL);
	with_extra("Via: SIP/2.0/UDP\r\n", 400, "Malformed Via");
	with_extra("Via: SIP/2.0/UDP old.example.com;branch=1;=x\r\n", 400,
		   "Malformed Via");
	with_extra("Call-ID: c2\r\n", 400, "Multiple Call-ID");
	with_extra("To: <sip:bob@example.com>\r\n", 400, "Multiple To");
	with_extra("Content-Length: 3\r\n", 400, "Multiple Content-Length");
	with_extra("Require: foo\r\n", 420, "Bad Extension");
	with_extra("Proxy-Require: foo\r\n", 420, "Bad Extension");
	with_extra("Date: Fri, 01 Jan 2010 16:00:00 EST\r\n", 400, "Date");
	with_extra("Expires: 10000000000\r\n", 400, "Expires");
	replace("Call-ID: c1\r\n", "", 400, "Missing Call-ID");
	replace("CSeq: 1 REGISTER\r\n", "", 400, "Missing CSeq");
	replace("From: <sip:alice@example.com>;tag=1\r\n", "", 400,
		"Missing From");
	replace("To: <sip:alice@example.com>\r\n", "", 400, "Missing To");
	replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE", 400,
		"CSeq method does not match");
	replace("CSeq: 1 REGISTER", "CSeq: 36893488147419103232 REGISTER",
		400, "Malformed CSeq");
	replace("Max-Forwards: 70", "Max-Forwards: 300", 400,
		"Max-Forwards");
	replace("REGISTER sip:example.com SIP/2.0",
		"REGISTER sip:example.com?Route=x SIP/2.0", 400, "Headers");
	replace("To: <sip:alice@example.com>",
		"To: sip:alice@example.com;;tag=2", 400, "Malformed To");
	replace("From: <sip:alice@example.com>",
		"From: Bell, Alexander <sip:alice@example.com>", 400,
		"Malformed From");
	replace("To: <sip:alice@example.com>",
		"To: \"Alice <sip:alice@example.com>", 400, "Malformed To");
}

static void uris(void)
{
	static const char *eq[][2] = {
		{"sip:%61lice@atlanta.com;transport=TCP",
		 "sip:alice@AtLanTa.CoM;Transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
		{"sip:carol@chicago.com;security=on",
		 "sip:carol@chicago.com;newparam=5"},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
		 "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
		 "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
	};
	static const char *ne[][2] = {
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp",
		 "sip:alice@AtLanTa.CoM;Transport=UDP"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
		{"sip:carol@chicago.com",
		 "sip:carol@chicago.com?Subject=next%20meeting"},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},
		{"sip:carol@chicago.com;security=on",
		 "sip:carol@chicago.com;security=off"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(eq); i++)
		ok(sipuri_equal_str(eq[i][0], eq[i][1]),
		   "§19.1.4 equal: %s == %s", eq[i][0], eq[i][1]);
	for (size_t i = 0; i < ARRAY_SIZE(ne); i++)
		ok(!sipuri_equal_str(ne[i][0], ne[i][1]),
		   "§19.1.4 not equal: %s != %s", ne[i][0], ne[i][1]);
}

/* RFC 3261 §20.19 delta-seconds, and the grant rule every expiry shares
 * (REGISTER, SUBSCRIBE, PUBLISH): unset -> default, 0 stays 0, under the
 * minimum -> 423, over the maximum -> the maximum. */
static void expiries(void)
{
	struct pl none = PL_INIT, zero = PL("0"), small = PL("5");
	struct pl big = PL("99999999999"), bad = PL("12a"), mid = PL("600");
	struct pl over = PL("9000");
	uint32_t v = 1;

	ok(!sipval_expires(&v, &big) && v == 0xffffffffu,
	   "a huge expiry saturates at 2^32-1");
	ok(sipval_expires(&v, &bad) == EINVAL, "'12a' is not an expiry");
	ok(!sipval_expiry(&v, &none, 3600, 60, 7200) && v == 3600,
	   "no Expires: the default");
	ok(!sipval_expiry(&v, &zero, 3600, 60, 7200) && v == 0,
	   "Expires: 0 stays 0 (remove, unsubscribe)");
	ok(sipval_expiry(&v, &small, 3600, 60, 7200) == ERANGE,
	   "under the minimum: ERANGE (423)");
	ok(!sipval_expiry(&v, &mid, 3600, 60, 7200) && v == 600,
	   "in range: as asked");
	ok(!sipval_expiry(&v, &over, 3600, 60, 7200) && v == 7200,
	   "over the maximum: the maximum");
	ok(sipval_expiry(&v, &bad, 3600, 60, 7200) == EINVAL,
	   "a bad number: EINVAL (400)");
}

/* RFC 4028 §4-5: Session-Expires (and its compact form x) with its
 * refresher, Min-SE; absent is 0; malformed or zero is EINVAL. A proxy
 * leaves Require to the UAS (sipval_proxied), not Proxy-Require. */
static struct sip_msg *decode(const char *extra)
{
	char buf[2048];
	struct sip_msg *msg = NULL;
	struct mbuf *mb = mbuf_alloc(2048);

	re_snprintf(buf, sizeof(buf), base, extra);
	mbuf_write_str(mb, buf);
	mb->pos = 0;
	if (sip_msg_decode(&msg, mb))
		msg = NULL;
	mem_deref(mb);
	return msg;
}

static void session_timers(void)
{
	static const char *const sup[] = {"path", NULL};
	static const struct {
		const char *extra;
		int err;
		uint32_t se;
		const char *refresher;
	} cases[] = {
		{"", 0, 0, ""},
		{"Session-Expires: 1800\r\n", 0, 1800, ""},
		{"Session-Expires: 90 ;refresher=uac\r\n", 0, 90, "uac"},
		{"x: 600;refresher=uas;foo=bar\r\n", 0, 600, "uas"},
		{"Session-Expires: 0\r\n", EINVAL, 0, ""},
		{"Session-Expires: 12a\r\n", EINVAL, 0, ""},
		{"Session-Expires: ;refresher=uac\r\n", EINVAL, 0, ""},
	};
	struct sip_msg *msg;
	struct sipval_err e;
	uint32_t v;
	struct pl ref;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int err;

		msg = decode(cases[i].extra);
		err = msg ? sipval_session_expires(msg, &v, &ref) : -1;
		ok(err == cases[i].err &&
		   (err || (v == cases[i].se &&
			    (cases[i].refresher[0] ?
			     !pl_strcmp(&ref, cases[i].refresher) :
			     !pl_isset(&ref)))),
		   "Session-Expires from '%s': %d, %u", cases[i].extra, err,
		   err ? 0 : v);
		mem_deref(msg);
	}
	msg = decode("Min-SE: 120\r\n");
	ok(msg && !sipval_min_se(msg, &v) && v == 120, "Min-SE: 120");
	mem_deref(msg);
	msg = decode("Min-SE: soon\r\n");
	ok(msg && sipval_min_se(msg, &v) == EINVAL, "Min-SE: soon: EINVAL");
	mem_deref(msg);

	msg = decode("Require: 100rel\r\n");
	ok(msg && sipval_request(msg, sup, &e) && e.code == 420 &&
	   !sipval_proxied(msg, sup, &e),
	   "Require: 100rel: 420 for a UAS, passed on by a proxy");
	mem_deref(msg);
	msg = decode("Proxy-Require: foo\r\n");
	ok(msg && sipval_proxied(msg, sup, &e) && e.code == 420,
	   "Proxy-Require: foo: 420 from a proxy too");
	mem_deref(msg);
}

int main(void)
{
	libre_init();
	validation();
	test_clen();
	uris();
	expiries();
	session_timers();
	libre_close();
	return tap_done();
}
