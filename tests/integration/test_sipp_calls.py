"""test_sipp_calls: calls through the edge driven by SIPp on both sides
(tests/sipp/caller*.xml, callee*.xml): a call answered (407, 180, 200
with the Record-Route, ACK and BYE through the edge); a callee that
answers with a Contact it never registered; a callee with two
devices (both ring, one answers, the other gets CANCEL); busy (486,
acknowledged hop by hop); no answer and the caller cancels (200, 487, the
device gets CANCEL); an unknown user (404); a user with no device (480);
an INVITE without credentials (407); From spoofing (403). Inside a call
from alice to dave (one device, answering with a Contact it never
registered, so that all of it must go by the edge's Record-Route),
SIPp scenarios caller_hold.xml/callee_hold.xml and
caller_timer.xml/callee_timer.xml: hold and resume (a re-INVITE
with a=sendonly, 200 with a=recvonly, ACK; a re-INVITE with a=sendrecv,
200, ACK; BYE); a session timer nobody refreshes (Session-Expires:
2;refresher=uac both ways, then no re-INVITE nor UPDATE: the edge sends
both phones a BYE with Reason "Session Timer Expired" and the bus shows
the call terminated, reason timeout, for both users, not before the
interval); the same call with both SIPp phones killed after the ACK (the
bus still shows it end, reason timeout). The edge runs with
session_min_se = 2 so that the timer can be watched in seconds. The
callees' phones register from UDP ports that SIPp then listens on, so
the edge reaches them at the address their REGISTER came from, as it
would phones behind NAT.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
import callphone as cp  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
app = lptest.Appliance(lptest.build_dir(),
                       "probe_interval = 0\nsession_min_se = 2\n")


def run(args, timeout=20):
    return subprocess.Popen(
        ["sipp"] + args + ["-m", "1", "-nostdin", "-timeout",
                           "%ds" % timeout, "-timeout_error", "-i",
                           "127.0.0.1", "-t", "u1", "-trace_err",
                           "-error_file", os.path.join(app.dir, "e.log")],
        cwd=app.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def caller(scenario, callee, user="alice", auth="alice", extra=()):
    path = os.path.join(app.dir, "caller.csv")
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n%s;[authentication username=%s "
                "password=%spw];%s;%s\n" % (user, auth, auth, app.domain,
                                            callee))
    return run(["127.0.0.1:%d" % app.port, "-sf", scenario, "-inf", path,
                "-p", str(lptest.free_port())] + list(extra))


def fail_scenario(code):
    """caller_fail.xml with the final answer it expects written in."""
    with open(os.path.join(SCEN, "caller_fail.xml")) as f:
        text = f.read().replace("@CODE@", str(code))
    path = os.path.join(app.dir, "caller_%d.xml" % code)
    with open(path, "w") as f:
        f.write(text)
    return path


def errors():
    try:
        with open(os.path.join(app.dir, "e.log")) as f:
            return f.read()[-1500:]
    except OSError:
        return ""


def start(caller_scen, callees, callee="bob", **kw):
    """Start each (scenario, port) callee, then the caller; returns the
    SIPp processes, the caller's first."""
    bs = [run(["-sf", os.path.join(SCEN, sc_), "-p", str(port)])
          for sc_, port in callees]
    if bs:
        time.sleep(0.5)
    return [caller(caller_scen, callee, **kw)] + bs


def finish(procs):
    """Wait (bounded) for SIPp processes; True when every one ran its
    scenario through, with what they said."""
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=40)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0] + "\n(killed: over 40 s)")
    good = all(p.returncode == 0 for p in procs)
    return good, "".join(o[-700:] for o in outs) + errors()


def call(caller_scen, callees, callee="bob", **kw):
    """Start each (scenario, port) callee, then the caller; True when
    every SIPp instance ran its scenario through."""
    return finish(start(caller_scen, callees, callee, **kw))


def register(params="", user="bob"):
    """A device of the user's (bob's) registers from a fresh UDP port,
    which a SIPp callee then takes; returns the port (0 on failure)."""
    ua = sc.UA("127.0.0.1", app.port, app.domain, user, user + "pw")
    port = ua.t.local[1]
    r = ua.register(contacts=["<sip:%s@127.0.0.1:%d%s>" % (user, port,
                                                          params)])
    ua.close()
    return port if r and r.code == 200 else 0


try:
    for u in ("alice", "bob", "carol", "dave"):
        app.add_user(u, u + "pw")
    app.start()
    pa = register()
    tap.ok(pa, "bob's first device registered from UDP port %d" % pa)

    good, out = call(os.path.join(SCEN, "caller.xml"), [("callee.xml", pa)])
    tap.ok(good, "a call answered: 407, 180, 200 with the Record-Route; "
           "ACK and BYE reach bob through the edge; 200", out)
    good, out = call(fail_scenario(486), [("callee_busy.xml", pa)])
    tap.ok(good, "bob busy: the caller gets 486 and the edge ACKs bob's "
           "486", out)
    good, out = call(os.path.join(SCEN, "caller_cancel.xml"),
                     [("callee_ring.xml", pa)])
    tap.ok(good, "no answer, the caller cancels: 200 for the CANCEL, 487 "
           "for the INVITE; bob's phone gets CANCEL and answers 487", out)

    pb = register()
    tap.ok(pb, "bob's second device registered from UDP port %d" % pb)
    good, out = call(os.path.join(SCEN, "caller.xml"),
                     [("callee.xml", pa), ("callee_ring.xml", pb)])
    tap.ok(good, "two devices: both ring, the first answers, the other "
           "gets CANCEL; the call goes on to BYE", out)

    # a phone whose registered Contact has parameters that its Contact
    # in the call has not (;transport=UDP): the ACK and the BYE still
    # find it (before, the BYE got 404 and the ACK was lost)
    app.ctl("user", "del", "bob")
    app.add_user("bob", "bobpw")
    pc = register(";transport=UDP")
    good, out = call(os.path.join(SCEN, "caller.xml"), [("callee.xml", pc)])
    tap.ok(pc and good, "a device registered with ;transport=UDP: the "
           "ACK and the BYE reach it", out)

    # the callee answers with a Contact it never registered (SIPp's uas
    # style: sip:IP:PORT;transport=UDP): the caller's ACK and BYE go to
    # that Contact with the edge's two Record-Routes as their Route set,
    # and the edge sends them on along its Record-Route, not the registry
    # (before: the 200 was retransmitted for want of the ACK, the BYE got
    # 404 and bob's lamp stayed busy)
    good, out = call(os.path.join(SCEN, "caller.xml"),
                     [("callee_contact.xml", pc)])
    tap.ok(good, "a callee whose Contact in the call is not its "
           "registered one: the ACK and the BYE reach it", out)

    for scen, who, kw, what in (
            (fail_scenario(404), "nobody", {}, "an unknown user: 404"),
            (fail_scenario(480), "carol", {}, "a user with no device: 480"),
            (os.path.join(SCEN, "caller_407.xml"), "bob", {},
             "no credentials: 407 with a Digest challenge"),
            (fail_scenario(403), "bob", {"user": "carol"},
             "alice's credentials with carol in From: 403")):
        good, out = call(scen, [], who, **kw)
        tap.ok(good, "a call, " + what, out)

    # inside the call: dave's one phone answers with a Contact it never
    # registered (sip:IP:PORT;transport=UDP), so everything alice sends
    # it must go by the edge's Record-Route
    pd = register(user="dave")
    tap.ok(pd, "dave's device registered from UDP port %d" % pd)
    good, out = call(os.path.join(SCEN, "caller_hold.xml"),
                     [("callee_hold.xml", pd)], "dave")
    tap.ok(good, "hold and resume: alice's re-INVITE (a=sendonly) reaches "
           "dave by the Record-Route, his 200 (a=recvonly) reaches her, "
           "her ACK him; the same for the re-INVITE with a=sendrecv; "
           "then BYE, 200", out)

    bus = cp.Bus(app, 60)

    def timer_call(what):
        """A caller_timer.xml call from alice to dave's callee_timer.xml;
        the SIPp processes and the call's Call-ID."""
        cid = "%s-%d@127.0.0.1" % (what, os.getpid())
        return start(os.path.join(SCEN, "caller_timer.xml"),
                     [("callee_timer.xml", pd)], "dave",
                     extra=["-cid_str", cid]), cid

    def over(cid):
        return lambda: all(bus.last(u, cid) ==
                           ("del", "terminated", "timeout")
                           for u in ("alice", "dave"))

    # a session timer of 2 s that nobody refreshes
    procs, cid = timer_call("timer")
    good, out = finish(procs)
    tap.ok(good, "a session timer nobody refreshes: Session-Expires: "
           "2;refresher=uac reaches dave and comes back in his 200; after "
           "the ACK both phones get a BYE from the edge (Reason: Session "
           "Timer Expired) and answer it 200", out)
    tap.ok(bus.wait(over(cid)),
           "... and the bus shows the call over for alice and dave, reason "
           "timeout", (bus.seq("alice", cid), bus.seq("dave", cid)))
    took = [bus.lasted(u, cid) for u in ("alice", "dave")]
    tap.ok(all(t is not None and 1.8 <= t <= 6.0 for t in took),
           "... once the 2 s interval has passed, not before (%s s from "
           "confirmed to terminated)" % took)

    # the same call, both SIPp phones killed right after the ACK
    procs, cid = timer_call("killed")
    up = bus.wait(lambda: all(bus.last(u, cid)[:2] == ("set", "confirmed")
                              for u in ("alice", "dave")), timeout=10.0)
    time.sleep(0.2)   # the ACK follows the 200 at once
    for p in procs:
        p.send_signal(signal.SIGKILL)
    for p in procs:
        p.communicate(timeout=10)
    t_kill = time.time()
    tap.ok(up, "a session-timer call confirmed for alice and dave on the "
           "bus", (bus.seq("alice", cid), bus.seq("dave", cid)))
    tap.ok(bus.wait(over(cid), timeout=8.0),
           "both SIPp phones killed after the ACK: the bus shows the call "
           "over for both, reason timeout, within %.1f s" %
           (time.time() - t_kill),
           (bus.seq("alice", cid), bus.seq("dave", cid)))
    tap.ok(app.alive(), "the edge is alive")
    bus.close()
finally:
    app.close(tap)

sys.exit(tap.done())
