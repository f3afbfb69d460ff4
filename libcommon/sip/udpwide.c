/* udpwide: whole datagrams from libre's SIP UDP sockets (udpwide.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "base/log.h"
#include "sip/udpwide.h"

#define MAX_ADDRS 8
#define PROBE_MS 20
#define MAX_PROBES 100         /* 2 s */

struct udpwide {
	struct udp_sock *us;   /* the probe's own socket */
	struct sa from;
	struct sa to[MAX_ADDRS];
	bool done[MAX_ADDRS];
	unsigned n;
	unsigned probes;
	char token[24];
	struct tmr tmr;
};

static void destructor(void *arg)
{
	struct udpwide *w = arg;

	tmr_cancel(&w->tmr);
	mem_deref(w->us);
}

static void recv_h(const struct sa *src, struct mbuf *mb, void *arg)
{
	(void)src;
	(void)mb;
	(void)arg;     /* answers to the probe, if any: nothing to do */
}

static void probe_h(void *arg)
{
	struct udpwide *w = arg;
	bool left = false;

	for (unsigned i = 0; i < w->n; i++) {
		struct mbuf *mb;

		if (w->done[i])
			continue;
		left = true;
		mb = mbuf_alloc(512);
		if (!mb)
			break;
		/* Max-Forwards 0: should it reach a handler that does not
		 * know it, it goes nowhere */
		if (!mbuf_printf(mb, "OPTIONS sip:udpwide@%J SIP/2.0\r\n"
				 "Via: SIP/2.0/UDP %J;branch=z9hG4bKuw%s\r\n"
				 "Max-Forwards: 0\r\n"
				 "From: <sip:udpwide@%J>;tag=%s\r\n"
				 "To: <sip:udpwide@%J>\r\n"
				 "Call-ID: %s\r\n"
				 "CSeq: 1 OPTIONS\r\n"
				 "Content-Length: 0\r\n\r\n",
				 &w->to[i], &w->from, w->token, &w->from,
				 w->token, &w->to[i], w->token)) {
			mb->pos = 0;
			(void)udp_send(w->us, &w->to[i], mb);
		}
		mem_deref(mb);
	}
	if (!left)
		return;
	/* the next round from a new port: where several processes share
	 * an address (SO_REUSEPORT), the kernel picks the one by the
	 * source, and this one's probe may have gone to another */
	if (w->us) {
		struct sa any = w->from;
		struct udp_sock *us = NULL;

		sa_set_port(&any, 0);
		if (!udp_listen(&us, &any, recv_h, w) &&
		    !udp_local_get(us, &w->from)) {
			mem_deref(w->us);
			w->us = us;
		}
		else {
			mem_deref(us);
		}
	}
	if (++w->probes >= MAX_PROBES) {
		log_warn("udpwide: a UDP SIP socket did not see its probe: "
			 "it reads 8 KiB of a datagram");
		return;
	}
	tmr_start(&w->tmr, PROBE_MS, probe_h, w);
}

int udpwide_alloc(struct udpwide **wp, const struct sa *laddrs, unsigned n)
{
	struct udpwide *w;
	struct sa any;
	int err;

	if (!wp || (n && !laddrs) || n > MAX_ADDRS)
		return EINVAL;
	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;
	tmr_init(&w->tmr);
	w->n = n;
	for (unsigned i = 0; i < n; i++)
		w->to[i] = laddrs[i];
	re_snprintf(w->token, sizeof(w->token), "uw%016llx",
		    (unsigned long long)rand_u64());
	if (n) {
		/* from the first address's own host: loopback stays so */
		any = laddrs[0];
		sa_set_port(&any, 0);
		err = udp_listen(&w->us, &any, recv_h, w);
		err = err ? err : udp_local_get(w->us, &w->from);
		if (err) {
			mem_deref(w);
			return err;
		}
		probe_h(w);
	}
	*wp = w;
	return 0;
}

bool udpwide_done(const struct udpwide *w)
{
	if (!w || w->probes >= MAX_PROBES)
		return true;
	for (unsigned i = 0; i < w->n; i++)
		if (!w->done[i])
			return false;
	return true;
}

/* Another process's probe, come to our socket of a shared address: it
 * retries from another port; nothing to answer. */
static bool foreign_probe(const struct udpwide *w, const struct sip_msg *msg)
{
	return msg->callid.l == 18 && !memcmp(msg->callid.p, "uw", 2) &&
		!pl_strcmp(&msg->from.uri.user, "udpwide") &&
		!pl_strcmp(&msg->met, "OPTIONS") &&
		sa_cmp(&msg->src, &w->from, SA_ADDR);
}

bool udpwide_take(struct udpwide *w, const struct sip_msg *msg)
{
	/* the address, not the port: an earlier round's probe may come in
	 * after the next round's socket replaced its own */
	if (!w || !msg || msg->tp != SIP_TRANSP_UDP || !w->n ||
	    !sa_cmp(&msg->src, &w->from, SA_ADDR))
		return false;
	if (pl_strcmp(&msg->callid, w->token))
		return foreign_probe(w, msg);
	for (unsigned i = 0; i < w->n; i++) {
		if (w->done[i] || !sa_cmp(&msg->dst, &w->to[i], SA_ALL))
			continue;
		udp_rxsz_set(msg->sock, UDPWIDE_RXSZ);
		w->done[i] = true;
	}
	return true;
}
