"""test_sipp_calls: calls through the edge driven by SIPp on both sides
(tests/sipp/caller*.xml, callee*.xml): a call answered (407, 180, 200
with the Record-Route, ACK and BYE through the edge); a callee that
answers with a Contact it never registered; a callee with two
devices (both ring, one answers, the other gets CANCEL); busy (486,
acknowledged hop by hop); no answer and the caller cancels (200, 487, the
device gets CANCEL); an unknown user (404); a user with no device (480);
an INVITE without credentials (407); From spoofing (403). Bob's phones
register from UDP ports that SIPp then listens on, so the edge reaches
them at the address their REGISTER came from, as it would phones behind
NAT.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n")


def run(args, timeout=20):
    return subprocess.Popen(
        ["sipp"] + args + ["-m", "1", "-nostdin", "-timeout",
                           "%ds" % timeout, "-timeout_error", "-i",
                           "127.0.0.1", "-t", "u1", "-trace_err",
                           "-error_file", os.path.join(app.dir, "e.log")],
        cwd=app.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def caller(scenario, callee, user="alice", auth="alice"):
    path = os.path.join(app.dir, "caller.csv")
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n%s;[authentication username=%s "
                "password=%spw];%s;%s\n" % (user, auth, auth, app.domain,
                                            callee))
    return run(["127.0.0.1:%d" % app.port, "-sf", scenario, "-inf", path,
                "-p", str(lptest.free_port())])


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


def call(caller_scen, callees, callee="bob", **kw):
    """Start each (scenario, port) callee, then the caller; True when
    every SIPp instance ran its scenario through."""
    bs = [run(["-sf", os.path.join(SCEN, sc_), "-p", str(port)])
          for sc_, port in callees]
    if bs:
        time.sleep(0.5)
    a = caller(caller_scen, callee, **kw)
    outs = [a.communicate(timeout=40)[0]] + \
        [b.communicate(timeout=40)[0] for b in bs]
    good = all(p.returncode == 0 for p in [a] + bs)
    return good, "".join(o[-700:] for o in outs) + errors()


def register(params=""):
    """A device of bob's registers from a fresh UDP port, which a SIPp
    callee then takes; returns the port (0 on failure)."""
    ua = sc.UA("127.0.0.1", app.port, app.domain, "bob", "bobpw")
    port = ua.t.local[1]
    r = ua.register(contacts=["<sip:bob@127.0.0.1:%d%s>" % (port, params)])
    ua.close()
    return port if r and r.code == 200 else 0


try:
    for u in ("alice", "bob", "carol"):
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
finally:
    app.close(tap)

sys.exit(tap.done())
