"""test_slowconn: the edge serves new peers during a slow-connection
attack (issue 24, fourth kind), seen from the wire. With
tcp_auth_timeout = 4 and tcp_message_timeout = 2, about 220 attacking
connections are held open at once for 12 s, each opened again as soon as
the edge closes it:

- 120 from one address (127.0.0.10), half idle, half trickling a long
  message head a byte at a time: tcp_max_unauthenticated (32) of them
  are held, the rest refused at once;
- 80 from four addresses, 20 each (under that cap), half idle, half
  trickling: all held until tcp_auth_timeout or tcp_message_timeout;
- 20 to the TLS port: half never start the handshake, half finish it
  and trickle.

Meanwhile, every half second, OPTIONS from other addresses over a new
TCP connection, a new TLS connection and UDP, and over the TCP flow of
a phone registered before the attack: every one must be answered, the
phone's connection must stay open. The latencies are printed (p50 and
the worst). Then the attack ends: the edge is alive, its log has a line
for each kind of close and refusal, and the address the attack came from
gets its full tcp_max_unauthenticated of new connections again (nothing
of the attack is still counted). The edge of 2026-12-05 freed a guard
whose socket both ends had closed before libre read the end, and used it
afterwards: under this attack it aborted within seconds."""

import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
tport = lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "probe_interval = 0\n"
                       "tcp_auth_timeout = 4\n"
                       "tcp_message_timeout = 2\n")
ATTACK_S = 12.0
stop = threading.Event()
opened = {"one": 0, "four": 0, "tls": 0}
lock = threading.Lock()


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE      # a test certificate
    return ctx


def attacker(kind, local, port, trickle, tls=False):
    """One attacking connection, opened again whenever it is closed"""
    head = (b"OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s:5060;"
            b"branch=z9hG4bKslow\r\nX-Slow: " % (app.domain.encode(),
                                                local.encode()))
    head += b"s" * 4000
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                         source_address=(local, 0))
            if tls and trickle:
                s = tls_context().wrap_socket(s)
        except (OSError, ssl.SSLError):
            stop.wait(0.2)
            continue
        with lock:
            opened[kind] += 1
        i = 0
        s.settimeout(0.25)
        try:
            while not stop.is_set():
                if trickle:
                    s.send(head[i % len(head):i % len(head) + 1])
                    i += 1
                try:
                    if not s.recv(4096):
                        break          # closed by the edge
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
        except (OSError, ssl.SSLError):
            pass
        s.close()
        stop.wait(0.05)


def options(proto, port, local, t=None):
    """OPTIONS to the edge, over t or a new connection from local: the
    seconds to its final answer, or None"""
    start = time.time()
    own = t is None
    try:
        if own:
            t = sc.Transport("127.0.0.1", port, proto, local)
        ip, lport = t.local[0], t.local[1]
        t.send(("OPTIONS sip:%s SIP/2.0\r\n"
                "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:probe@%s>;tag=%s\r\nTo: <sip:%s>\r\n"
                "Call-ID: %s@test\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n" %
                (app.domain, proto.upper(), ip, lport, sc.rand(10),
                 app.domain, sc.rand(6), app.domain,
                 sc.rand(12))).encode())
        while True:
            raw = t.recv(3.0)
            if raw is None:
                return None
            if raw.startswith(b"SIP/2.0") and sc.Response(raw).code >= 200:
                return time.time() - start
    except OSError:
        return None
    finally:
        if own and t is not None:
            t.close()


def summary(lat):
    got = sorted(x for x in lat if x is not None)
    if not got:
        return "none answered"
    return "p50 %.0f ms, worst %.0f ms" % (got[len(got) // 2] * 1000,
                                           got[-1] * 1000)


try:
    app.add_tls(tport)
    app.add_user("alice", "alice-pw")
    app.start()
    alice = sc.UA("127.0.0.1", app.port, app.domain, "alice", "alice-pw",
                  proto="tcp")
    r = alice.register(expires=300)
    ok(r is not None and r.code == 200,
       "alice registers over TCP before the attack", r)

    threads = []
    for i in range(120):
        threads.append(("one", "127.0.0.10", app.port, i % 2 == 1, False))
    for i in range(80):
        threads.append(("four", "127.0.0.%d" % (20 + i % 4), app.port,
                        i % 2 == 1, False))
    for i in range(20):
        threads.append(("tls", "127.0.0.30", tport, i % 2 == 1, True))
    threads = [threading.Thread(target=attacker, args=a, daemon=True)
               for a in threads]
    for th in threads:
        th.start()
    time.sleep(1.0)

    lat = {"tcp": [], "udp": [], "tls": [], "flow": []}
    end = time.time() + ATTACK_S
    k = 0
    while time.time() < end:
        local = "127.0.0.%d" % (2 + k % 5)
        lat["tcp"].append(options("tcp", app.port, local))
        lat["udp"].append(options("udp", app.port, local))
        lat["tls"].append(options("tls", tport, local))
        lat["flow"].append(options("tcp", app.port, None, alice.t))
        k += 1
        time.sleep(0.5)
    with lock:
        seen = dict(opened)
    stop.set()
    for th in threads:
        th.join(5)

    names = {"tcp": "a new TCP connection", "udp": "UDP",
             "tls": "a new TLS connection",
             "flow": "alice's registered TCP flow"}
    for proto in ("tcp", "udp", "tls", "flow"):
        n = len(lat[proto])
        got = sum(1 for x in lat[proto] if x is not None)
        ok(n >= 8 and got == n, "during the attack, OPTIONS over %s from "
           "other addresses: %d of %d answered (%s)" %
           (names[proto], got, n, summary(lat[proto])))
    ok(seen["four"] > 80 and seen["one"] > 120 and seen["tls"] > 20,
       "the attack's connections were closed and opened again "
       "(%d, %d and %d openings)" % (seen["one"], seen["four"],
                                     seen["tls"]))

    log = app.log()
    for what in ("refused: its address holds tcp_max_unauthenticated",
                 "closed: no request authenticated within "
                 "tcp_auth_timeout",
                 "closed: a message left unfinished for "
                 "tcp_message_timeout"):
        ok(what in log, "the edge logs '%s'" % what)

    # the attack's connections are gone: 127.0.0.10 gets its 32 again
    # (the edge learns of each close on its next read, so it gets a
    # moment)
    time.sleep(1.0)
    socks = []
    for i in range(32):
        socks.append(socket.create_connection(
            ("127.0.0.1", app.port), timeout=2,
            source_address=("127.0.0.10", 0)))
    time.sleep(0.5)
    held = 0
    for s in socks:
        s.setblocking(False)
        try:
            held += 1 if s.recv(1) else 0
        except BlockingIOError:
            held += 1              # still open, nothing to read
        except OSError:
            pass
        s.close()
    ok(held == 32, "after the attack, 127.0.0.10 holds "
       "tcp_max_unauthenticated new connections again", held)
    time.sleep(0.3)
    t = options("tcp", app.port, "127.0.0.10")
    ok(t is not None, "and is served on a new one")
    r = alice.register(expires=0)
    ok(r is not None and r.code == 200,
       "alice unregisters over the flow she kept")
    ok(app.alive(), "the edge is alive")
finally:
    stop.set()
    app.close(tap)
sys.exit(tap.done())
