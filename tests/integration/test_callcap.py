"""test_callcap: the edge sets up call_max_ringing calls at once at most
(each holds its transactions until it is answered or Timer C ends it):
with call_max_ringing = 3 and bob's phone ringing without answering,
alice's fourth INVITE gets 503 with Retry-After and one log line, and
once bob answers one of the three, a new call rings his phone again."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n"
                       "call_max_ringing = 3\n")
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
phones = []


def invite(p, callee, timeout):
    """An INVITE (407, then with credentials); its final answer within
    timeout, or None (it rings)."""
    return p.request("INVITE", "sip:%s@%s" % (callee, app.domain),
                     ["Content-Type: application/sdp"], SDP,
                     timeout=timeout)[0]


def rings(p, n, timeout=3.0):
    end = time.time() + timeout
    while len(p.ringing) < n and time.time() < end:
        time.sleep(0.02)
    return len(p.ringing) >= n


try:
    for u in ("alice", "bob"):
        app.add_user(u, u + "-pw")
    app.start()
    alice, bob = Phone(app, "alice"), Phone(app, "bob")
    phones += [alice, bob]
    bob.ring = True
    for p in (alice, bob):
        r = p.register()
        ok(r is not None and r.code == 200, "%s registers" % p.user, r)

    finals = [invite(alice, "bob", 0.6) for _ in range(3)]
    ok(finals == [None] * 3 and rings(bob, 3),
       "three calls to bob ring his phone", finals)
    r = invite(alice, "bob", 3.0)
    ok(r is not None and r.code == 503 and r.get("retry-after") == "5",
       "a fourth while three are being set up: 503 with Retry-After: 5",
       r)
    ok(len(bob.invites) == 3, "and it never reached bob's phone",
       len(bob.invites))
    log = app.wait_log(["calls are being set up (call_max_ringing)"])
    ok("INVITE: 503, 3 calls are being set up (call_max_ringing)" in log,
       "one log line says why", log[-600:])

    ok(bob.answer(), "bob answers the first call")
    time.sleep(0.3)
    invite(alice, "bob", 0.6)
    ok(rings(bob, 3) and len(bob.invites) == 4,
       "then a new call rings bob's phone again", len(bob.invites))
    ok(app.alive(), "the edge is alive")
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
