"""test_backway: route_edge, the back daemons' own way into the edge
(docs/configuration.md), seen on the wire by test phones:

  bob SUBSCRIBEs to alice: the 200 carries two Record-Routes (RFC 5658),
      on top route_edge (the presence daemon's side), then the address
      bob sent to; his NOTIFYs come from the edge's public address; a
      refresh along that route set is answered
  alice MESSAGEs bob: bob's copy comes from the public address, alice
      gets 200
  a stranger's datagrams to route_edge get nothing, and a log line
  without route_edge (as before): one Record-Route, the public address,
      and everything still arrives
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import presphone  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok


def appliance(route_edge):
    a = lptest.Appliance(lptest.build_dir(),
                         "route_presence = udp:127.0.0.1:%d\n"
                         "route_imrelay = udp:127.0.0.1:%d\n"
                         "bus_heartbeat = 1\n"
                         "probe_interval = 0\n" % (lptest.free_port(),
                                                   lptest.free_port()),
                         route_edge=route_edge)
    for u in ("alice", "bob"):
        a.add_user(u, u + "-pw")
    a.start("registrar")
    a.start("presence")
    a.start("imrelay")
    return a


def split_routes(values):
    """Record-Route header values, one route each (a header may hold
    several, comma-separated)."""
    out = []
    for v in values:
        out += ["<" + x.strip().lstrip("<") for x in v.split(",")
                if x.strip()]
    return out


def port_of(route):
    """The port of <sip:HOST:PORT;...>"""
    inner = route.strip("<>").split(";")[0]
    return int(inner.rsplit(":", 1)[1])


def exercise(app, name):
    """Register two phones, subscribe, publish, refresh, message: what
    bob's side saw, for the checks."""
    alice, bob = Phone(app, "alice"), Phone(app, "bob")
    try:
        for p in (alice, bob):
            r = p.register()
            ok(r is not None and r.code == 200, "%s: %s registers"
               % (name, p.user))
        r, d = bob.subscribe("alice")
        ok(r is not None and r.code in (200, 202) and d is not None,
           "%s: bob's SUBSCRIBE to alice is answered %s"
           % (name, r.code if r else None))
        if d is None:
            return None
        first = bob.wait_notify()
        ok(first is not None, "%s: bob gets the first NOTIFY" % name)
        r = alice.publish(presphone.pidf("alice", app.domain,
                                         note="in the back"))
        ok(r is not None and r.code == 200, "%s: alice publishes" % name)
        n = bob.wait_notify(lambda m: b"in the back" in m.body)
        ok(n is not None, "%s: bob's NOTIFY carries alice's note" % name)
        # the UAC's route set is the Record-Routes reversed (§12.1.2)
        d.routes = list(reversed(d.routes))
        r = bob.refresh(d)
        ok(r is not None and r.code == 200,
           "%s: bob's refresh along the route set: %s"
           % (name, r.code if r else None))
        # the relay knows bob's phone once the registrar's bus is in
        app.wait_log(["registrations known"], "imrelay", timeout=10)
        r = alice.message("bob", b"through the back way")
        got = bob.wait_messages(1)
        ok(r is not None and r.code == 200 and len(got) == 1 and
           got[0].body == b"through the back way",
           "%s: alice's MESSAGE reaches bob, 200 (%s)"
           % (name, r.code if r else None))
        return {"routes": split_routes(reversed(d.routes)),
                "notify_src": [m.src for m in (first, n) if m],
                "message_src": [m.src for m in got]}
    finally:
        alice.close()
        bob.close()


def stranger(app):
    """OPTIONS from a socket that is no back daemon, to route_edge."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    ip, port = s.getsockname()
    msg = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKstr%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:mallory@%s>;tag=m1\r\n"
           "To: <sip:127.0.0.1:%d>\r\n"
           "Call-ID: stranger-%d@x\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n")
    answers = 0
    for i in range(3):
        s.sendto((msg % (app.back_port, ip, port, i, app.domain,
                         app.back_port, i)).encode(),
                 ("127.0.0.1", app.back_port))
        try:
            s.recvfrom(65535)
            answers += 1
        except socket.timeout:
            pass
    s.close()
    return answers


app = appliance(True)
try:
    public = ("127.0.0.1", app.port)
    seen = exercise(app, "route_edge")
    if seen:
        rr = seen["routes"]
        # with several edge workers (LP_WORKERS), the one bob's datagrams
        # reach names its own port above route_edge's
        ok(len(rr) == 2 and app.back_port <= port_of(rr[0]) <
           app.back_port + app.workers and port_of(rr[1]) == app.port,
           "two Record-Routes: route_edge on top, then the public "
           "address (%s)" % rr)
        ok(seen["notify_src"] and
           all(s == public for s in seen["notify_src"]),
           "bob's NOTIFYs come from the edge's public address (%s)"
           % seen["notify_src"])
        ok(seen["message_src"] == [public],
           "bob's MESSAGE comes from the edge's public address (%s)"
           % seen["message_src"])
    ok(stranger(app) == 0, "a stranger's OPTIONS to route_edge gets no "
       "answer")
    ok("not a back daemon: dropped" in
       app.wait_log(["not a back daemon: dropped"]),
       "and the edge logs it")
    ok(app.alive("registrar") and app.alive("presence") and
       app.alive("imrelay"), "every daemon is up")
finally:
    app.close(tap)

app = appliance(False)
try:
    seen = exercise(app, "without route_edge")
    if seen:
        rr = seen["routes"]
        ok(len(rr) == 1 and port_of(rr[0]) == app.port,
           "without route_edge: one Record-Route, the public address "
           "(%s)" % rr)
finally:
    app.close(tap)
tap.done()
