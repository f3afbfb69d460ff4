/* test_sipreply: a request's tag is the same for the same request and
 * differs when any part differs (also when parts only shift bytes
 * between them) and with another salt; a stateless answer over real UDP
 * carries received and rport in the top Via, the chosen To-tag, the
 * Record-Route only when asked, and is sent to the request's source. */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <re.h>
#include "sip/reqtag.h"
#include "sip/sipreply.h"
#include "tap.h"

static uint64_t tag_of(uint64_t salt, const char *a, const char *b,
		       uint32_t n)
{
	struct reqtag t;

	reqtag_init(&t, salt);
	reqtag_str(&t, a);
	reqtag_str(&t, b);
	reqtag_u32(&t, n);
	return t.h;
}

static void test_reqtag(void)
{
	uint64_t a = tag_of(1, "alice", "call-1", 7);

	ok(a == tag_of(1, "alice", "call-1", 7), "reqtag: same request, same "
	   "tag");
	ok(a != tag_of(1, "alice", "call-1", 8), "reqtag: another CSeq, "
	   "another tag");
	ok(a != tag_of(1, "alic", "ecall-1", 7), "reqtag: bytes moved "
	   "between parts give another tag");
	ok(a != tag_of(2, "alice", "call-1", 7), "reqtag: another salt, "
	   "another tag");
}

struct ctx {
	struct sip *sip;
	uint64_t totag;
	bool rr;
};

static bool req_h(const struct sip_msg *msg, void *arg)
{
	struct ctx *c = arg;

	(void)sipreply(c->sip, msg, c->totag, c->rr, 200, "OK",
		       "Expires: 60\r\nContent-Length: 0\r\n\r\n");
	re_cancel();
	return true;
}

static int fd;
static struct sa srv;
static struct tmr guard;

static void guard_h(void *arg)
{
	(void)arg;
	re_cancel();           /* no request arrived: fail, do not hang */
}

/* One request through the stack; the answer as text ("" if none). */
static void exchange(struct ctx *c, const char *to, char *out, size_t sz)
{
	char req[1024];
	struct sockaddr_in sin;
	ssize_t n;

	snprintf(req, sizeof(req),
		 "SUBSCRIBE sip:bob@example.org SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.1:5999;branch=z9hG4bKt1;rport\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKt0\r\n"
		 "Record-Route: <sip:edge.example.org;lr>\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:alice@example.org>;tag=f1\r\n"
		 "To: %s\r\n"
		 "Call-ID: c1@test\r\n"
		 "CSeq: 1 SUBSCRIBE\r\n"
		 "Event: presence\r\n"
		 "Content-Length: 0\r\n\r\n", to);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(sa_port(&srv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)sendto(fd, req, strlen(req), 0, (struct sockaddr *)&sin,
		     sizeof(sin));
	(void)c;
	tmr_start(&guard, 2000, guard_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&guard);
	n = recv(fd, out, sz - 1, MSG_DONTWAIT);
	out[n > 0 ? n : 0] = 0;
}

static void test_reply(void)
{
	struct ctx c = { NULL, 0x1234abcdULL, true };
	struct sip_lsnr *lsnr = NULL;
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	struct sa laddr;
	char out[2048], want[128];
	int err;

	tmr_init(&guard);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&me, 0, sizeof(me));
	me.sin_family = AF_INET;
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)bind(fd, (struct sockaddr *)&me, sizeof(me));
	(void)getsockname(fd, (struct sockaddr *)&me, &ml);

	err = sip_alloc(&c.sip, NULL, 16, 16, 16, "test", NULL, NULL);
	err = err ? err : sa_set_str(&laddr, "127.0.0.1", 0);
	err = err ? err : sip_transp_add(c.sip, SIP_TRANSP_UDP, &laddr);
	err = err ? err : sip_transp_laddr(c.sip, &srv, SIP_TRANSP_UDP, NULL);
	err = err ? err : sip_listen(&lsnr, c.sip, true, req_h, &c);
	ok(!err, "a SIP stack on loopback");
	if (err)
		goto out;

	exchange(&c, "<sip:bob@example.org>", out, sizeof(out));
	snprintf(want, sizeof(want), "Via: SIP/2.0/UDP 192.0.2.1:5999;"
		 "branch=z9hG4bKt1;rport=%u;received=127.0.0.1\r\n",
		 ntohs(me.sin_port));
	ok(!strncmp(out, "SIP/2.0 200 OK\r\n", 16), "the answer comes back "
	   "to the source address");
	ok(strstr(out, want) != NULL, "the top Via has rport and received");
	ok(strstr(out, "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKt0\r\n") !=
	   NULL, "the other Via is copied as it is");
	ok(strstr(out, "To: <sip:bob@example.org>;tag=000000001234abcd\r\n")
	   != NULL, "the To-tag is the one chosen");
	ok(strstr(out, "Record-Route: <sip:edge.example.org;lr>\r\n") != NULL,
	   "Record-Route copied when asked");
	ok(strstr(out, "Expires: 60\r\nContent-Length: 0\r\n\r\n") != NULL &&
	   strstr(out, "Call-ID: c1@test\r\n") &&
	   strstr(out, "CSeq: 1 SUBSCRIBE\r\n") &&
	   strstr(out, "From: <sip:alice@example.org>;tag=f1\r\n") &&
	   !strstr(out, "Event:"),
	   "From, Call-ID, CSeq and the given headers; nothing else");

	c.rr = false;
	exchange(&c, "<sip:bob@example.org>;tag=mine", out, sizeof(out));
	ok(strstr(out, "To: <sip:bob@example.org>;tag=mine\r\n") != NULL &&
	   !strstr(out, "tag=000000001234abcd"),
	   "a To that has a tag keeps it");
	ok(out[0] && !strstr(out, "Record-Route"),
	   "no Record-Route unless asked");
 out:
	mem_deref(lsnr);
	if (c.sip)
		sip_close(c.sip, true);
	mem_deref(c.sip);
	close(fd);
}

int main(void)
{
	if (libre_init())
		return 1;
	test_reqtag();
	test_reply();
	libre_close();
	return tap_done();
}
