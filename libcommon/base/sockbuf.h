/* sockbuf: larger receive buffers for the UDP sockets libre opened on our
 * listen addresses. A burst (the answers to a thousand NOTIFYs, an office
 * re-registering after a power cut) overflows the kernel's default of
 * about 200 KiB, and every datagram dropped costs a retransmission 500 ms
 * later. libre 1.1.0 gives no handle to a transport's socket, so they are
 * found by their bound address. */
#ifndef LP_SOCKBUF_H
#define LP_SOCKBUF_H

#include <re.h>

int sockbuf_udp_rcvbuf(const struct sa *laddr, int bytes, int *got);

#endif
