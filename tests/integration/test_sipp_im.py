"""test_sipp_im: instant messages through the edge and the IM relay,
SIPp on both sides (tests/sipp/im_send.xml, im_device.xml): online
delivery to one device and to two; an unknown user (404); a message over
im_max_size (413); an isComposing to an offline user (480, not kept);
three messages to an offline user (202 each), who then registers and
gets them in the order they were sent, each with its original Date.
The devices register from UDP ports that SIPp then listens on, so the
edge reaches them at the address their REGISTER came from.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
app = lptest.Appliance(lptest.build_dir(),
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "im_max_size = 2000\n"
                       "bus_heartbeat = 1\n"
                       "probe_interval = 0\n" % lptest.free_port())
n_run = [0]


def run(args, timeout=20, trace=False):
    n_run[0] += 1
    extra = ["-trace_msg", "-message_file",
             os.path.join(app.dir, "msg-%d.log" % n_run[0])] if trace else []
    return subprocess.Popen(
        ["sipp"] + args + ["-nostdin", "-timeout", "%ds" % timeout,
                           "-timeout_error", "-i", "127.0.0.1", "-t", "u1",
                           "-trace_err", "-error_file",
                           os.path.join(app.dir, "e.log")] + extra,
        cwd=app.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True), os.path.join(app.dir, "msg-%d.log" % n_run[0])


def scenario(code, body, ctype="text/plain", hdrs="Subject: lamplight"):
    with open(os.path.join(SCEN, "im_send.xml")) as f:
        text = f.read()
    for k, v in (("@CODE@", str(code)), ("@CTYPE@", ctype),
                 ("@HDRS@", hdrs), ("@BODY@", body)):
        text = text.replace(k, v)
    path = os.path.join(app.dir, "im_send_%d.xml" % n_run[0])
    with open(path, "w") as f:
        f.write(text)
    return path


def send(target, code, body, **kw):
    path = os.path.join(app.dir, "sender.csv")
    with open(path, "w") as f:
        f.write("SEQUENTIAL\nalice;[authentication username=alice "
                "password=alicepw];%s;%s\n" % (app.domain, target))
    p, _ = run(["127.0.0.1:%d" % app.port, "-sf", scenario(code, body, **kw),
                "-inf", path, "-p", str(lptest.free_port()), "-m", "1"])
    out = p.communicate(timeout=40)[0]
    return p.returncode == 0, out[-700:] + errors()


def device(port, n):
    """A SIPp device on `port` that takes n MESSAGEs."""
    return run(["-sf", os.path.join(SCEN, "im_device.xml"), "-p", str(port),
                "-m", str(n)], trace=True)


def done(p):
    try:
        out = p.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        out = p.communicate()[0]
    return p.returncode == 0, out[-700:] + errors()


def received(trace):
    """The bodies of the MESSAGEs in a SIPp message trace, in order."""
    try:
        with open(trace, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for m in re.finditer(r"MESSAGE sip:\S+ SIP/2\.0\r?\n(.*?)\r?\n\r?\n"
                         r"([^\r\n]*)", text, re.S):
        date = re.search(r"(?im)^Date: *(.*?)\r?$", m.group(1))
        out.append((m.group(2), date.group(1) if date else None))
    # retransmissions are logged twice: a device sees each once
    seen, uniq = set(), []
    for b in out:
        if b not in seen:
            seen.add(b)
            uniq.append(b)
    return uniq


def errors():
    try:
        with open(os.path.join(app.dir, "e.log")) as f:
            return f.read()[-1500:]
    except OSError:
        return ""


def register(user):
    """A device of `user` registers from a fresh UDP port, which a SIPp
    device then takes; returns the port (0 on failure)."""
    ua = sc.UA("127.0.0.1", app.port, app.domain, user, user + "pw")
    port = ua.t.local[1]
    r = ua.register(contacts=["<sip:%s@127.0.0.1:%d>" % (user, port)])
    ua.close()
    return port if r and r.code == 200 else 0


DATE = "Tue, 01 Dec 2026 08:%02d:00 GMT"
try:
    for u in ("alice", "bob", "carol"):
        app.add_user(u, u + "pw")
    app.start()
    app.start("imrelay")

    pa = register("bob")
    tap.ok(pa, "bob's first device registered from UDP port %d" % pa)
    time.sleep(0.3)
    d1, t1 = device(pa, 2)
    time.sleep(0.3)
    good, out = send("bob", 200, "hello bob", hdrs="Date: " + DATE % 1)
    tap.ok(good, "online, one device: 407, then 200", out)

    pb = register("bob")
    tap.ok(pb, "bob's second device registered from UDP port %d" % pb)
    time.sleep(0.3)
    d2, t2 = device(pb, 1)
    time.sleep(0.3)
    good, out = send("bob", 200, "hello both", hdrs="Date: " + DATE % 2)
    tap.ok(good, "online, two devices: 200", out)
    g1, o1 = done(d1)
    g2, o2 = done(d2)
    tap.ok(g1 and g2, "each device took its MESSAGEs, From alice, "
           "text/plain, with a Date", o1 + o2)
    tap.ok(received(t1) == [("hello bob", DATE % 1),
                            ("hello both", DATE % 2)] and
           received(t2) == [("hello both", DATE % 2)],
           "bodies and Dates as sent", (received(t1), received(t2)))

    good, out = send("nobody", 404, "anyone there?")
    tap.ok(good, "an unknown user: 404", out)
    good, out = send("bob", 413, "x" * 2100)
    tap.ok(good, "2,100 bytes over im_max_size 2000: 413", out)
    good, out = send("carol", 480, '<?xml version="1.0"?><isComposing '
                     'xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
                     '<state>active</state></isComposing>',
                     ctype="application/im-iscomposing+xml")
    tap.ok(good, "isComposing to an offline user: 480", out)

    for i in range(3):
        good, out = send("carol", 202, "kept %d" % i,
                         hdrs="Date: " + DATE % (10 + i))
        tap.ok(good, "to offline carol, message %d: 202 Accepted" % i, out)

    pc = register("carol")
    tap.ok(pc, "carol registers from UDP port %d" % pc)
    # the first copy may find the port not yet SIPp's: the edge sends
    # it again (Timer E), the order holds
    d3, t3 = device(pc, 3)
    g3, o3 = done(d3)
    tap.ok(g3, "carol's device takes three MESSAGEs, From alice, with a "
           "Date", o3)
    got = received(t3)
    tap.ok(got == [("kept %d" % i, DATE % (10 + i)) for i in range(3)],
           "in the order sent, with their original Date, and not the "
           "isComposing", got)
    tap.ok(app.alive("imrelay"), "the relay is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
