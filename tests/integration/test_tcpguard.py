"""test_tcpguard: the edge's limits on TCP connections (tcpguard.c), seen
from the wire. With tcp_max_connections = 40, tcp_max_unauthenticated = 8,
tcp_auth_timeout = 3 and tcp_message_timeout = 2:

- 45 connections from nine addresses, made while the edge is stopped
  (the listen backlog holds them all), then 40 stay open and the other
  five are closed at once;
- one address's ninth connection not yet authenticated is closed at once,
  while a phone registered over TCP from that address goes on using its
  connection, and a phone at another address registers;
- the idle ones are closed after tcp_auth_timeout, and then a new phone
  from that address registers;
- a registered phone's connection that leaves a message unfinished
  (a byte every half second) is closed after tcp_message_timeout;
- 2,000 OPTIONS in one go over a connection not authenticated: the ones
  after flood_burst go unread and the connection is closed, while a phone
  at another port of the same address registers at once; the same burst
  over an authenticated connection is answered in full;
- every close and refusal has its log line.
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
app = lptest.Appliance(lptest.build_dir(),
                       "probe_interval = 0\n"
                       "tcp_max_connections = 40\n"
                       "tcp_max_unauthenticated = 8\n"
                       "tcp_auth_timeout = 3\n"
                       "tcp_message_timeout = 2\n")


def connect(local="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", app.port), timeout=5,
                                    source_address=(local, 0))


def closed(sock, timeout):
    """True once the edge closed the connection, within timeout."""
    sock.settimeout(timeout)
    end = time.time() + timeout
    try:
        while time.time() < end:
            if not sock.recv(65535):
                return True
    except socket.timeout:
        return False
    except ConnectionError:
        return True
    return False


def still_open(socks, seconds=0.3):
    time.sleep(seconds)
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += 1 if s.recv(1) else 0    # data: open, unexpected
        except BlockingIOError:
            n += 1                        # nothing to read: open
        except ConnectionError:
            pass
    return n


def phone(user, local="127.0.0.1"):
    ua = sc.UA("127.0.0.1", app.port, app.domain, user, user + "pw",
               proto="tcp", local=local)
    r = ua.register(expires=300)
    return ua, (r.code if r is not None else None)


def options(n):
    return "".join(
        "OPTIONS sip:%s SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bKo%d\r\n"
        "From: <sip:x@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: o%d\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        % (app.domain, i, app.domain, app.domain, i)
        for i in range(n)).encode()


def count_answers(sock, seconds):
    sock.settimeout(seconds)
    buf = b""
    try:
        while True:
            chunk = sock.recv(65535)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, ConnectionError):
        pass
    return buf.count(b"SIP/2.0 200")


try:
    for u in ("alice", "bob", "carol", "dave"):
        app.add_user(u, u + "pw")
    app.start()

    # the cap on all connections, and the listen backlog: the 45 connect
    # while the edge is stopped (SIGSTOP), so the kernel must queue them
    # all (libre's own backlog of 5 held six)
    app.procs["registrar"].send_signal(signal.SIGSTOP)
    socks = []
    try:
        for i in range(45):
            socks.append(socket.create_connection(
                ("127.0.0.1", app.port), timeout=0.5,
                source_address=("127.0.1.%d" % (1 + i // 5), 0)))
    except OSError:
        pass
    finally:
        app.procs["registrar"].send_signal(signal.SIGCONT)
    tap.ok(len(socks) == 45, "45 connections at once while the edge is "
           "stopped: the kernel queues every one (backlog 1024)",
           len(socks))
    n = still_open(socks)
    tap.ok(n == 40, "45 idle connections from nine addresses: 40 (the "
           "tcp_max_connections) stay open, the rest are closed at once",
           n)
    for s in socks:
        s.close()
    time.sleep(1.2)   # the edge has read their ends; a new log second

    # the cap per address on connections not yet authenticated
    alice, code = phone("alice")
    tap.ok(code == 200, "alice registers over TCP", code)
    idle = [connect() for _ in range(8)]
    t0 = time.time()
    ninth = connect()
    tap.ok(closed(ninth, 1.0), "the ninth connection not yet "
           "authenticated from 127.0.0.1 is closed at once")
    tap.ok(still_open(idle, 0) == 8, "the eight before it stay open")
    r = alice.register(expires=300)
    tap.ok(r is not None and r.code == 200, "alice's registered "
           "connection from the same address goes on (REGISTER: 200)", r)
    bob, code = phone("bob", "127.0.0.2")
    tap.ok(code == 200, "bob at another address registers over TCP", code)
    bob.close()

    # the authentication timeout
    left = [closed(s, 5.0) for s in idle]
    waited = time.time() - t0
    tap.ok(all(left) and 2.5 < waited < 5.0,
           "the idle connections are closed after tcp_auth_timeout "
           "(%.1f s after they opened)" % waited, left)
    for s in idle:
        s.close()
    carol, code = phone("carol")
    tap.ok(code == 200, "then carol registers from that address", code)
    time.sleep(1.1)

    # the message timeout, on an authenticated connection too
    t0 = time.time()
    head = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;"
            "branch=z9hG4bKslow\r\nMax-Forwards: 70\r\n" % app.domain)
    carol.t.send(head.encode())
    shut = False
    for ch in "From: <sip:carol@lamplight.test>;tag=slow\r\n" * 3:
        carol.t.sock.settimeout(0.5)
        try:
            carol.t.sock.sendall(ch.encode())
            if carol.t.sock.recv(65535) == b"":
                shut = True
                break
        except socket.timeout:
            continue
        except OSError:
            shut = True
            break
    waited = time.time() - t0
    tap.ok(shut and 1.5 < waited < 4.0,
           "carol's authenticated connection, leaving a message "
           "unfinished (a byte every half second), is closed after "
           "tcp_message_timeout (%.1f s)" % waited)
    carol.close()
    time.sleep(1.1)

    # the flood limit before authentication
    flooder = connect()
    flooder.sendall(options(2000))
    dave, code = phone("dave")
    got = count_answers(flooder, 2.0)
    tap.ok(code == 200, "while another port of 127.0.0.1 floods, dave "
           "there registers over TCP at once", code)
    tap.ok(380 <= got <= 420 and closed(flooder, 0.5),
           "2,000 OPTIONS at once over a connection not authenticated: "
           "%d answered (flood_burst 400), the rest unread, and the "
           "connection closed" % got)
    flooder.close()
    dave.t.send(options(600))
    got = count_answers(dave.t.sock, 2.0)
    tap.ok(got == 600, "the same burst of 600 over dave's authenticated "
           "connection: all answered (%d)" % got)
    dave.close()
    alice.close()

    log = app.log()
    for what in ("refused: the edge holds tcp_max_connections",
                 "refused: its address holds tcp_max_unauthenticated",
                 "closed: no request authenticated within tcp_auth_timeout",
                 "closed: a message left unfinished for "
                 "tcp_message_timeout",
                 "closed: requests over flood_rate before authenticating"):
        tap.ok("tcp: 127.0." in log and what in log,
               "log line: '%s'" % what, log[-1500:])
    tap.ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
