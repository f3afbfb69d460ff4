/* udpwide: libre reads 8 KiB of a datagram and cuts the rest, and gives
 * no handle on the UDP sockets of its SIP transports. A request that came
 * in does carry its socket (msg->sock), so at start the program sends
 * each of its UDP SIP addresses one small request from a socket of its
 * own; udpwide_take(), first thing in the request handler, recognises it,
 * sets that socket to read whole datagrams (up to 64 KiB) and swallows
 * it. libre trims each read buffer to the datagram, so this costs no
 * memory per request held. Used by the edge and the IM relay, between
 * which a MESSAGE of up to 64 KiB travels over UDP on the host. */
#ifndef LP_UDPWIDE_H
#define LP_UDPWIDE_H

#include <stdbool.h>
#include <re.h>

#define UDPWIDE_RXSZ 65535

struct udpwide;

/* Probe each of `laddrs` (only UDP ones are given) until it is seen. */
int  udpwide_alloc(struct udpwide **wp, const struct sa *laddrs,
		   unsigned n);
/* true: msg was our probe (or another process's, on a shared address),
 * handled */
bool udpwide_take(struct udpwide *w, const struct sip_msg *msg);
/* Every address saw its probe (or the probing gave up). */
bool udpwide_done(const struct udpwide *w);

#endif
