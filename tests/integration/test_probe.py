"""test_probe: registered is not reachable. The edge probes each device
with OPTIONS every probe_interval on its flow; a device that stops
answering, or whose TCP connection is gone, is marked unreachable (a `reg`
event with reachable: false) and requests are no longer forked to it; it
is reachable again when it answers or registers.

  edge -- OPTIONS --> device (silent)   ... probe_timeout ...
  bus  <- reg {event: unreachable, contacts: [{reachable: false}]}
  edge -- OPTIONS --> device -- 200 --> edge
  bus  <- reg {event: reachable}
"""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from stubs import Stub, answer, incoming  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

imrelay = Stub(200)
app = lptest.Appliance(lptest.build_dir(),
                       "probe_interval = 1\nprobe_timeout = 500\n"
                       "route_imrelay = udp:127.0.0.1:%d\n" % imrelay.port)


def events(seconds):
    p = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch", "reg",
                          "--timeout", str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    return p


def collect(p):
    out = p.communicate(timeout=30)[0]
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


try:
    app.add_user("bob", "bobpw")
    app.add_user("carol", "carolpw")
    app.start()
    w = events(5)
    time.sleep(0.5)
    u = sc.UA("127.0.0.1", app.port, app.domain, "bob", "bobpw")
    r = u.register()
    ok(r and r.code == 200, "bob registered over UDP")
    got = incoming(u, "OPTIONS", timeout=3)
    ok(got is not None, "the edge probes the device with OPTIONS on its "
       "flow within probe_interval")
    evs = collect(w)
    bob = [e for e in evs if e["key"] == "bob"]
    ok(bob and bob[-1]["data"]["event"] == "unreachable" and
       bob[-1]["data"]["contacts"][0]["reachable"] is False,
       "silent: a reg event says unreachable", [e["data"] for e in bob])

    msg = ["MESSAGE sip:bob@%s SIP/2.0" % app.domain, "Max-Forwards: 70",
           "From: <sip:alice@%s>;tag=im" % app.domain,
           "To: <sip:bob@%s>" % app.domain, "Call-ID: p-" + sc.rand(6),
           "CSeq: 1 MESSAGE"]
    r = imrelay.request(app.port, msg)
    ok(r and r.code == 480, "no request is forked to an unreachable "
       "device: 480", r)

    # the device answers again
    w = events(4)
    time.sleep(0.3)
    stop = time.time() + 3
    while time.time() < stop:
        raw = incoming(u, "OPTIONS", timeout=0.5)
        if raw:
            answer(u, raw)
    evs = collect(w)
    bob = [e for e in evs if e["key"] == "bob"]
    ok(bob and bob[-1]["data"]["event"] == "reachable" and
       bob[-1]["data"]["contacts"][0]["reachable"] is True,
       "answering OPTIONS again: reachable", [e["data"] for e in bob])

    # a TCP device whose connection is gone
    t = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carolpw", "tcp")
    r = t.register()
    ok(r and r.code == 200, "carol registered over TCP")
    w = events(4)
    time.sleep(0.3)
    t.close()
    evs = collect(w)
    c = [e for e in evs if e["key"] == "carol"]
    ok(c and c[-1]["data"]["event"] == "unreachable",
       "her connection closed: unreachable", [e["data"] for e in c])

    # registering again makes a device reachable at once
    w = events(3)
    time.sleep(0.3)
    t2 = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carolpw", "tcp")
    t2.register(contacts=["<%s>" % t.contact_uri()])
    evs = collect(w)
    c = [e for e in evs if e["key"] == "carol" and e["type"] == "set"]
    ok(c and any(x["data"]["contacts"][0]["reachable"] for x in c),
       "a REGISTER refresh makes her reachable again",
       [e["data"] for e in c])
    ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)
    imrelay.close()

sys.exit(tap.done())
