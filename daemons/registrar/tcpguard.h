/* tcpguard: the edge's limits on the TCP and TLS connections that libre
 * accepts and reads for it. libre gives no hook between accept() and its
 * own decoding, so this file defines tcp_accept in the program: libre's
 * SIP transport calls it through its PLT, as reguard's functions, and
 * each accepted connection comes here first. The guard then
 *
 *   - closes a new connection at once when the edge holds
 *     tcp_max_connections, or when its address already has
 *     tcp_max_unauthenticated connections on which no request has passed
 *     digest authentication (an office's registered phones behind one
 *     NAT address do not count: only the ones still unknown do);
 *   - reads the stream before libre (message heads, Content-Length),
 *     handing libre each head only once it is whole, with a branch in
 *     its top Via when it has none (RFC 2543's, rfc2543.h); answers a
 *     head libre would drop or that is over sip_max_address_header or
 *     sip_max_message (400, 513) before it closes the connection; and
 *     closes a connection that has not authenticated within
 *     tcp_auth_timeout, or that has left a message unfinished for
 *     tcp_message_timeout (a slow sender holding a buffer of libre's);
 *   - counts the requests of a connection not yet authenticated against
 *     the flood limit of its address and port (flood.h): the first one
 *     over, and all after it, go unread, and the connection is closed.
 *
 * It also defines tcp_sock_listen, to listen with a backlog of 1024
 * where libre asks for 5.
 *
 * Closing is a shutdown() of the socket: libre reads the end of the
 * stream and frees the connection as if the peer had gone. Every refusal
 * and close has a log line, at most one a second of each kind (a flood
 * of refusals does not hide the timeouts). */
#ifndef LP_TCPGUARD_H
#define LP_TCPGUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

struct conf;
struct flood;

/* Starts guarding (before the TCP listeners are added). The conf is read
 * where it is used, so a reload applies at once. */
int  tcpguard_init(const struct conf *conf, struct flood *flood);
void tcpguard_close(void);
/* A request from `peer` over TCP or TLS passed digest authentication */
void tcpguard_trust(const struct sa *peer);
/* A connection from `peer` is open (a phone's TCP or TLS flow still
 * there; RFC 5626 §5.3) */
bool tcpguard_connected(const struct sa *peer);

#endif
