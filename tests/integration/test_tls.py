"""test_tls: a phone registered over TLS (port tls:, a certificate chain
and key in one PEM file) gets what is sent to it over its own TLS
connection: a MESSAGE from a colleague on UDP, the NOTIFYs of its
presence subscription, a call's BYE from a colleague on UDP, and those
after tcp_auth_timeout and tcp_message_timeout have passed (an
authenticated TLS connection is not closed by the edge's TCP guard,
which reads the decrypted stream). A
TCP connection to the TLS port that never starts its handshake is
closed after tcp_auth_timeout. The phone's only socket is the TLS one,
so all it receives came over it."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone, pidf  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
pport, iport, tport = (lptest.free_port() for _ in range(3))
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "probe_interval = 0\n"
                       "tcp_auth_timeout = 2\n"
                       "tcp_message_timeout = 2\n" % (pport, iport))
phones = []
try:
    cert = lptest.tls_certificate(app.dir)
    with open(app.conf, "a") as f:
        f.write("listen = tls:127.0.0.1:%d\ntls_certificate = %s\n"
                % (tport, cert))
    for u in ("alice", "bob"):
        app.add_user(u, u + "-pw")
    for name in ("registrar", "presence", "imrelay"):
        app.start(name)
    alice = Phone(app, "alice", proto="tls", port=tport)
    bob = Phone(app, "bob")
    phones += [alice, bob]
    r = alice.register()
    ok(r is not None and r.code == 200, "alice registers over TLS", r)
    st = app.ctl("status").stdout
    ok("TLS:127.0.0.1:%d" % alice.ua.t.local[1] in st,
       "her binding is her TLS connection", st)
    r = bob.register()
    ok(r is not None and r.code == 200, "bob registers over UDP", r)

    r = bob.message("alice", b"over TLS, please")
    got = alice.wait_messages(1, timeout=5.0)
    ok(r is not None and r.code == 200 and len(got) == 1 and
       got[0].body == b"over TLS, please",
       "bob's MESSAGE reaches alice over her TLS connection (200)",
       (r, got))

    r, sub = alice.subscribe("bob")
    ok(r is not None and r.code == 200, "alice watches bob over TLS", r)
    n = alice.wait_notify(timeout=5.0, callid=sub.callid if sub else None)
    ok(n is not None, "the first NOTIFY comes over TLS")
    r = bob.publish(pidf("bob", app.domain, note="in the lab"))
    n = alice.wait_notify(lambda m: "in the lab" in m.text(), timeout=5.0,
                          callid=sub.callid if sub else None)
    ok(r is not None and r.code == 200 and n is not None,
       "bob's note reaches alice in a NOTIFY over TLS", r)

    idle = socket.create_connection(("127.0.0.1", tport), timeout=5)
    t0 = time.time()
    idle.settimeout(5.0)
    try:
        shut = idle.recv(100) == b""
    except (socket.timeout, ConnectionError) as e:
        shut = isinstance(e, ConnectionError)
    waited = time.time() - t0
    ok(shut and 1.5 < waited < 4.0, "a connection to the TLS port that "
       "never starts its handshake is closed after tcp_auth_timeout "
       "(%.1f s)" % waited)
    idle.close()

    # alice's connection, authenticated, has outlived tcp_auth_timeout
    r = bob.publish(pidf("bob", app.domain, note="back later"))
    n = alice.wait_notify(lambda m: "back later" in m.text(), timeout=5.0,
                          callid=sub.callid if sub else None)
    ok(r is not None and n is not None, "after tcp_auth_timeout alice's "
       "authenticated TLS connection still carries her NOTIFYs", r)
    r = bob.message("alice", b"still there?")
    got = alice.wait_messages(2, timeout=5.0)
    ok(r is not None and r.code == 200 and len(got) == 2,
       "and her MESSAGEs (200)", (r, got))
    # a call from bob on UDP to alice on TLS: Record-Routed twice (RFC
    # 5658), the TLS leg on top; bob's BYE, along his reversed route set,
    # reaches alice over her TLS connection and her 200 comes back
    r, d = bob.call("alice")
    rrs = r.all("record-route") if r is not None else []
    ok(r is not None and r.code == 200 and len(rrs) == 2 and
       "transport=tls" in rrs[0] and "transport=udp" in rrs[1],
       "bob (UDP) calls alice (TLS): 200, two Record-Routes, the TLS "
       "leg's on top", r and r.headers)
    bye = bob.in_dialog("BYE", d) if d else None
    ok(bye is not None and bye.code == 200,
       "bob's BYE reaches alice over her TLS connection; her 200 comes "
       "back to his UDP flow", bye)
    ok(app.alive() and app.alive("presence") and app.alive("imrelay"),
       "the daemons are alive")
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
