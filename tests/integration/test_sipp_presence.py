"""test_sipp_presence: the presence daemon behind the edge driven by SIPp
(Debian sip-tester): tests/sipp/pres_publish.xml (RFC 3903: initial,
refresh, a replaced tag 412, modify, 415, 423, 489, the wrong
namespace 400, remove) and tests/sipp/pres_subscribe.xml (RFC 6665: 406, 423, 404,
then subscribe, NOTIFY, refresh along the route set, unsubscribe with
the final NOTIFY), over UDP and TCP. Each scenario opens with its message
sequence; SIPp fails the run when an answer or a checked header differs.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "publish_expires_min = 10\n"
                       "subscribe_expires_min = 2\n" % lptest.free_port())


def sipp(scenario, user, extra, transport):
    fd, csv = tempfile.mkstemp(suffix=".csv", dir=app.dir)
    with os.fdopen(fd, "w") as f:
        f.write("SEQUENTIAL\n%s;[authentication username=%s password=%s];"
                "%s;%s\n" % (user, user, user + "-pw", app.domain, extra))
    err = os.path.join(app.dir, "sipp-err-%s.log" % scenario)
    cmd = ["sipp", "127.0.0.1:%d" % app.port, "-sf",
           os.path.join(SCEN, scenario + ".xml"), "-inf", csv, "-m", "1",
           "-i", "127.0.0.1", "-p", str(lptest.free_port()), "-t",
           transport, "-timeout", "20", "-timeout_error", "-nostdin",
           "-trace_err", "-error_file", err]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=40,
                           cwd=app.dir)
    except subprocess.TimeoutExpired as e:
        return False, "timeout: %s" % e
    out = r.stdout[-1000:] + r.stderr[-1000:]
    try:
        with open(err) as f:
            out += f.read()[-2500:]
    except OSError:
        pass
    return r.returncode == 0, out


try:
    for u in ("alice", "bob", "carol", "dave"):
        app.add_user(u, u + "-pw")
    app.start()
    app.start("presence")
    for tp, pub, watcher in (("u1", "bob", "alice"), ("t1", "dave",
                                                      "carol")):
        good, out = sipp("pres_publish", pub, "", tp)
        tap.ok(good, "SIPp over %s: PUBLISH initial, refresh, 412, modify, "
               "415, 423, 489, 400 for the wrong namespace, remove" %
               ("UDP" if tp == "u1" else "TCP"), out)
        good, out = sipp("pres_subscribe", watcher, pub, tp)
        tap.ok(good, "SIPp over %s: SUBSCRIBE 406, 423, 404, then 200, "
               "NOTIFY, refresh, unsubscribe and the final NOTIFY" %
               ("UDP" if tp == "u1" else "TCP"), out)
    tap.ok(app.alive("presence"), "the presence daemon is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
