/* reguard: a guard around two parsers of libre. libre's sip_addr_decode
 * (From, To, Contact, Route, ...) and sip_via_decode match regular
 * expressions in time quadratic in a malformed value's length: one
 * 64 KiB From held the edge for over ten seconds, over UDP or TCP, before
 * any of our code saw the message. This file defines both functions in
 * the program, so that libre's own calls (through its PLT) come here
 * first: a value over the cap is refused at once (libre then drops the
 * message, over TCP with its connection), with a log line; any other
 * goes on to libre's. Every daemon installs it, with the cap
 * sip_max_address_header, at start and at each reload (daemon_args,
 * daemon_reload), as it installs fastrand: both stand in for libre's own
 * functions in the whole process. */
#ifndef LP_REGUARD_H
#define LP_REGUARD_H

#include <stddef.h>

/* The cap (bytes of one header value); 0 turns the guard off. */
void reguard_init(size_t cap);

#endif
