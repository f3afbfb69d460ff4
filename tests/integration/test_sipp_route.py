"""test_sipp_route: the edge's routing driven by SIPp on both sides: a
SIPp phone sends PUBLISH, SUBSCRIBE and MESSAGE (each with a forged
P-Asserted-Identity, each challenged with 407); a SIPp stub back daemon
must receive it with the edge's asserted identity and without
credentials, and its answer must reach the phone. Then a SIPp phone on TCP
subscribes and must receive the stub's NOTIFY, routed by the edge's
Record-Route, on its own connection. Scenarios: tests/sipp/user_*.xml,
stub_*.xml, tcp_phone.xml, stub_notifier.xml.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
pport, iport = lptest.free_port(), lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_imrelay = udp:127.0.0.1:%d\n" % (pport, iport))


def csv(name, line):
    path = os.path.join(app.dir, name)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n%s\n" % line)
    return path


def sipp(args, timeout=20):
    return subprocess.Popen(["sipp"] + args + ["-m", "1", "-nostdin",
                             "-timeout", "%ds" % timeout, "-timeout_error",
                             "-i", "127.0.0.1", "-trace_err",
                             "-error_file", os.path.join(app.dir, "e.log")],
                            cwd=app.dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def errors():
    try:
        with open(os.path.join(app.dir, "e.log")) as f:
            return f.read()[-2000:]
    except OSError:
        return ""


def pair(stub, stub_port, user_scen, transport="u1"):
    ident = csv("stub.csv", "alice;%s" % app.domain)
    creds = csv("user.csv", "alice;[authentication username=alice "
                "password=secret];%s;bob" % app.domain)
    s = sipp(["-sf", os.path.join(SCEN, stub), "-inf", ident,
              "-p", str(stub_port), "-t", "u1"])
    time.sleep(0.5)
    u = sipp(["127.0.0.1:%d" % app.port, "-sf",
              os.path.join(SCEN, user_scen), "-inf", creds,
              "-p", str(lptest.free_port()), "-t", transport])
    uo = u.communicate(timeout=40)[0]
    so = s.communicate(timeout=40)[0]
    return u.returncode == 0 and s.returncode == 0, \
        (uo[-800:] + so[-800:] + errors())


try:
    app.add_user("alice", "secret")
    app.add_user("bob", "bobpw")
    app.start()
    for stub, port, user, what in (
            ("stub_subscribe.xml", pport, "user_subscribe.xml",
             "SUBSCRIBE"),
            ("stub_publish.xml", pport, "user_publish.xml", "PUBLISH"),
            ("stub_message.xml", iport, "user_message.xml", "MESSAGE")):
        good, out = pair(stub, port, user)
        tap.ok(good, "%s: 407, then it reaches the stub back daemon with "
               "the edge's P-Asserted-Identity and no credentials; the "
               "answer comes back" % what, out)
    good, out = pair("stub_notifier.xml", pport, "tcp_phone.xml", "t1")
    tap.ok(good, "a phone registered over TCP subscribes; the stub's "
           "NOTIFY, routed by the Record-Route, reaches it on its own "
           "connection and the 200 comes back", out)
finally:
    app.close(tap)

sys.exit(tap.done())
