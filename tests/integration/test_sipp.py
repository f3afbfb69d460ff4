"""test_sipp: the registration flows driven by SIPp (Debian sip-tester)
against the real registrar: register with challenge, refresh, several
contacts and unregister one, Contact: *, too brief, wrong password,
unknown user, expiry by time, restart keeps bindings, TCP. Each scenario
in tests/sipp/ opens with its message sequence; SIPp fails the call when
a response or a checked header is not what the scenario says.
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")

app = lptest.Appliance(lptest.build_dir(), "reg_expires_min = 2\n")


def sipp(scenario, user, password, extra_field="", transport="u1",
         port=None):
    """Run one call of a scenario; (passed, output)."""
    fd, csv = tempfile.mkstemp(suffix=".csv", dir=app.dir)
    with os.fdopen(fd, "w") as f:
        f.write("SEQUENTIAL\n%s;[authentication username=%s password=%s];"
                "%s;%s\n" % (user, user, password, app.domain, extra_field))
    port = port or lptest.free_port()
    cmd = ["sipp", "127.0.0.1:%d" % app.port, "-sf",
           os.path.join(SCEN, scenario + ".xml"), "-inf", csv, "-m", "1",
           "-i", "127.0.0.1", "-p", str(port), "-t", transport,
           "-timeout", "15", "-timeout_error", "-nostdin", "-trace_err",
           "-error_file", os.path.join(app.dir, "sipp-err.log")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           cwd=app.dir)
        out = r.stdout[-1500:] + r.stderr[-1500:]
        try:
            with open(os.path.join(app.dir, "sipp-err.log")) as f:
                out += f.read()[-2000:]
        except OSError:
            pass
        return r.returncode == 0, out
    except subprocess.TimeoutExpired as e:
        return False, "timeout: %s" % e


try:
    # one user per flow, so that no flow sees another's bindings
    for u in ("alice", "bob", "carol", "dave", "eve", "frank", "gina"):
        app.add_user(u, u + "-pw")
    app.start()

    def run(desc, *a, **kw):
        good, out = sipp(*a, **kw)
        tap.ok(good, desc, out)

    run("register: 401 challenge (MD5, qop=auth), then 200 with "
        "expires=3600 and Date", "register", "alice", "alice-pw")
    run("refresh in the same Call-ID with Expires: 120", "refresh",
        "carol", "carol-pw")
    run("two contacts bound, then one unregistered with expires=0",
        "multi", "bob", "bob-pw")
    run("Contact: * with Expires: 0 removes every binding", "star", "dave",
        "dave-pw")
    run("Expires: 1 gets 423 with Min-Expires", "brief", "alice",
        "alice-pw")
    run("wrong password: a new 401 challenge", "wrongpw", "alice",
        "not-the-password")
    run("unknown user: the same 401 challenge", "wrongpw", "mallory",
        "alice-pw")
    run("registration over TCP", "register", "frank", "frank-pw",
        transport="t1")

    # expiry by time
    run("a 2 s registration", "short", "eve", "eve-pw")
    time.sleep(3.5)
    run("after 3.5 s it has expired: the query lists no binding", "empty",
        "eve", "eve-pw")

    # restart keeps bindings: a fixed local port makes the contact known
    port = lptest.free_port()
    run("register before a restart", "register", "gina", "gina-pw",
        port=port)
    app.stop()
    app.start()
    run("after a restart the query lists the binding", "query", "gina",
        "gina-pw", extra_field="127.0.0.1:%d" % port)
    app.stop(sig=9)
    app.start()
    run("after a crash (SIGKILL) too", "query", "gina", "gina-pw",
        extra_field="127.0.0.1:%d" % port)
finally:
    app.close(tap)

sys.exit(tap.done())
