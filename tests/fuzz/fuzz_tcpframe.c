/* fuzz_tcpframe: the edge's reading of a TCP stream beside libre
 * (daemons/registrar/tcpguard.c, scan): it finds where each message
 * begins and ends, to count requests and time unfinished ones. Whatever
 * the bytes, and however TCP cuts them into reads, it must not crash and
 * must read the same: the stream given at once and given in pieces (their
 * sizes drawn from the input's first two bytes) must give the same count
 * of messages begun and the same state at the end, the same refusal of
 * a head libre would drop (no Content-Length, a folded one without
 * branch) or over a cap (an address header, sip_max_message), with the
 * same status, and the same bytes let through to libre (each head
 * whole, a branch added to an RFC 2543 one). tcpguard.c and rfc2543.c
 * are compiled in as they are, tcpguard's tcp_accept, tcp_sock_listen
 * and the flood limit under other names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* before re.h, so that its declaration of tcp_accept is renamed too */
#define tcp_accept fz_tcp_accept
#define tcp_sock_listen fz_tcp_sock_listen
#define flood_over fz_flood_over
#include <re.h>
#include "../../daemons/registrar/tcpguard.c"
#include "../../daemons/registrar/rfc2543.c"

static unsigned starts;          /* messages begun */

/* Each message begins with a question to the flood limit: counted */
bool flood_over(struct flood *f, const struct sa *src, uint64_t now_ms)
{
	(void)f;
	(void)src;
	(void)now_ms;
	++starts;
	return false;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Feeds the stream to a fresh guard in pieces (0: at once); the count.
 * What the guard lets through to libre is gathered in *outp. */
static unsigned feed(struct guard *g, const uint8_t *data, size_t size,
		     uint32_t seed, struct mbuf **outp)
{
	size_t off = 0;

	memset(g, 0, sizeof(*g));
	*outp = mbuf_alloc(size + 64);
	g->out = *outp;
	starts = 0;
	while (off < size && !g->clen_bad && !g->refuse) {
		struct mbuf mb;
		size_t n = size - off;

		if (seed) {
			size_t want = 1 + next_rand(&seed) % 97;

			if (next_rand(&seed) % 8 == 0)
				want = 1 + next_rand(&seed) % 4096;
			if (want < n)
				n = want;
		}
		mb.buf = (uint8_t *)(uintptr_t)(data + off);
		mb.size = n;
		mb.pos = 0;
		mb.end = n;
		if (scan(g, &mb, 1000) != n)
			abort();     /* nothing is over the limit here */
		off += n;
	}
	return starts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dummy;
	static struct conf conf;
	struct guard a, b;
	struct mbuf *oa, *ob;
	unsigned na, nb;
	uint32_t seed;

	if (size < 2)
		return 0;
	seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | 1u << 16;
	data += 2;
	size -= 2;
	g_flood = (struct flood *)(void *)&dummy;
	conf.sip_max_message = 65535;
	conf.sip_max_address_header = 1024;
	g_conf = &conf;

	na = feed(&a, data, size, 0, &oa);
	nb = feed(&b, data, size, seed, &ob);
	if (!oa || !ob || a.starved || b.starved)
		goto out;              /* no memory: nothing to compare */
	/* libre reads the same bytes however the stream was cut */
	if (oa->end != ob->end || memcmp(oa->buf, ob->buf, oa->end))
		abort();
	if (na != nb || a.st != b.st || a.body_left != b.body_left ||
	    a.clen_bad != b.clen_bad || a.clen != b.clen ||
	    !a.partial_since != !b.partial_since || a.refuse != b.refuse ||
	    a.refuse_code != b.refuse_code)
		abort();
 out:
	mem_deref(oa);
	mem_deref(ob);
	mem_deref(a.head);
	mem_deref(b.head);
	return 0;
}
