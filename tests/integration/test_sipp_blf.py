"""test_sipp_blf: a SIPp desk phone (tests/sipp/blf_watch.xml) watches
bob's busy lamp through the edge while carol calls bob: his phone rings,
he answers, carol hangs up; the SIPp phone must see idle, early (as the
recipient, carol as the remote party), confirmed, terminated, then its
unsubscribe and the final NOTIFY. Over UDP and TCP. Then
tests/sipp/blf_calls.xml watches hal through a cancelled call, a busy
one, and two calls at once. The callers and callees are the Python test
phones.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_blf = udp:127.0.0.1:%d\n"
                       "subscribe_expires_min = 2\n"
                       "probe_interval = 0\n" % (lptest.free_port(),
                                                 lptest.free_port()))


def start_sipp(watcher, watched, transport, scenario="blf_watch"):
    fd, csv = tempfile.mkstemp(suffix=".csv", dir=app.dir)
    with os.fdopen(fd, "w") as f:
        f.write("SEQUENTIAL\n%s;[authentication username=%s password=%s];"
                "%s;%s\n" % (watcher, watcher, watcher + "-pw", app.domain,
                             watched))
    err = os.path.join(app.dir, "sipp-err-%s-%s.log" % (scenario,
                                                         transport))
    cmd = ["sipp", "127.0.0.1:%d" % app.port, "-sf",
           os.path.join(SCEN, scenario + ".xml"), "-inf", csv, "-m", "1",
           "-i", "127.0.0.1", "-p", str(lptest.free_port()), "-t",
           transport, "-timeout", "20", "-timeout_error", "-nostdin",
           "-trace_err", "-error_file", err]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            cwd=app.dir), err


def finish(p, err):
    try:
        out = p.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        out = p.communicate()[0]
    try:
        with open(err) as f:
            out = f.read()[:2000] + out[-500:]
    except OSError:
        out = out[-2500:]
    return p.returncode == 0, out


phones = []
try:
    for u in ("alice", "bob", "carol", "dave", "erin", "hal"):
        app.add_user(u, u + "-pw")
    app.start()
    app.start("presence")
    app.start("blf")
    bob, carol = Phone(app, "bob"), Phone(app, "carol")
    phones += [bob, carol]
    bob.ring = True
    bob.register()
    for tp, watcher in (("u1", "alice"), ("t1", "dave")):
        p, err = start_sipp(watcher, "bob", tp)
        time.sleep(1.0)             # subscribed, the idle NOTIFY seen
        out = []
        t = threading.Thread(target=lambda: out.append(carol.call("bob")),
                             daemon=True)
        t.start()
        time.sleep(0.7)             # ringing
        bob.answer(200)
        t.join(5)
        time.sleep(0.5)             # talking
        if out and out[0][1]:
            carol.in_dialog("BYE", out[0][1])
        good, text = finish(p, err)
        tap.ok(good and out and out[0][0] is not None and
               out[0][0].code == 200,
               "SIPp desk phone over %s: bob's lamp idle, early (carol "
               "calling, bob the recipient), confirmed, terminated; "
               "unsubscribe and the final NOTIFY" %
               ("UDP" if tp == "u1" else "TCP"), text)

    # a cancelled call, a busy one, two at once
    hal, erin = Phone(app, "hal"), Phone(app, "erin")
    phones += [hal, erin]
    hal.ring = True
    hal.register()
    p, err = start_sipp("alice", "hal", "u1", "blf_calls")
    time.sleep(1.0)
    steps = []

    def ring(caller):
        out = []
        t = threading.Thread(target=lambda: out.append(caller.call("hal")),
                             daemon=True)
        t.start()
        time.sleep(0.6)
        return t, out

    t, out = ring(carol)
    carol.cancel()
    t.join(5)
    steps.append(out[0][0].code if out and out[0][0] else None)
    hal.ringing = []
    time.sleep(0.6)
    t, out = ring(carol)
    hal.answer(486)
    t.join(5)
    steps.append(out[0][0].code if out and out[0][0] else None)
    time.sleep(0.6)
    t1, o1 = ring(carol)
    t2, o2 = ring(erin)
    hal.answer(486)
    time.sleep(0.6)
    hal.answer(486)
    t1.join(5)
    t2.join(5)
    steps += [o[0][0].code if o and o[0][0] else None for o in (o1, o2)]
    good, text = finish(p, err)
    tap.ok(good and steps == [487, 486, 486, 486],
           "SIPp desk phone: hal's lamp through a cancelled call (487), a "
           "busy one (486), two calls ringing at once (two early dialogs) "
           "refused one after the other", (steps, text))
    tap.ok(app.alive("blf"), "the BLF daemon is alive")
finally:
    for ph in phones:
        ph.close()
    app.close(tap)

sys.exit(tap.done())
