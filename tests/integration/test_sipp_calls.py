"""test_sipp_calls: calls through the edge driven by SIPp on both sides
(tests/sipp/caller*.xml, callee*.xml): a call answered (407, 180, 200
with the Record-Route, ACK and BYE through the edge), a callee busy (486,
acknowledged hop by hop), an unknown user (404), a user with no device
(480). Bob's phone registers from a UDP port that SIPp then listens on,
so the edge reaches it at the address its REGISTER came from, as it
would a phone behind NAT.
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


def caller(scenario, callee):
    path = os.path.join(app.dir, "caller.csv")
    with open(path, "w") as f:
        f.write("SEQUENTIAL\nalice;[authentication username=alice "
                "password=alicepw];%s;%s\n" % (app.domain, callee))
    return run(["127.0.0.1:%d" % app.port, "-sf",
                os.path.join(SCEN, scenario), "-inf", path,
                "-p", str(lptest.free_port())])


def errors():
    try:
        with open(os.path.join(app.dir, "e.log")) as f:
            return f.read()[-1500:]
    except OSError:
        return ""


def pair(callee_scen, caller_scen, port):
    b = run(["-sf", os.path.join(SCEN, callee_scen), "-p", str(port)])
    time.sleep(0.5)
    a = caller(caller_scen, "bob")
    ao = a.communicate(timeout=40)[0]
    bo = b.communicate(timeout=40)[0]
    return a.returncode == 0 and b.returncode == 0, \
        ao[-700:] + bo[-700:] + errors()


try:
    for u in ("alice", "bob", "carol"):
        app.add_user(u, u + "pw")
    app.start()
    ua = sc.UA("127.0.0.1", app.port, app.domain, "bob", "bobpw")
    port = ua.t.local[1]
    r = ua.register(contacts=["<sip:bob@127.0.0.1:%d>" % port])
    ua.close()
    tap.ok(r and r.code == 200, "bob registered from UDP port %d" % port)

    good, out = pair("callee.xml", "caller.xml", port)
    tap.ok(good, "a call answered: 407, 180, 200 with the Record-Route; "
           "ACK and BYE reach bob through the edge; 200", out)
    good, out = pair("callee_busy.xml", "caller_486.xml", port)
    tap.ok(good, "bob busy: the caller gets 486 and the edge ACKs bob's "
           "486", out)
    for scen, who, what in (("caller_404.xml", "nobody", "unknown: 404"),
                            ("caller_480.xml", "carol",
                             "no device: 480")):
        p = caller(scen, who)
        out = p.communicate(timeout=40)[0]
        tap.ok(p.returncode == 0, "a call to a user %s" % what,
               out[-700:] + errors())
finally:
    app.close(tap)

sys.exit(tap.done())
