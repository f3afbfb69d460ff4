"""test_baresip: a real soft client, baresip 1.0.0 from Debian (built on
libre 1.1.0), registers to Lamplight over UDP and TCP and shows up in
`lamplightctl status`; and the reason the default challenge is MD5 alone:
this client gives up when SHA-256 is offered at all, even next to MD5.

  baresip -> REGISTER ; <- 401 (MD5) ; -> REGISTER+auth ; <- 200
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
app = lptest.Appliance(lptest.build_dir())


def baresip(user, password, transport, seconds=6):
    d = os.path.join(app.dir, "baresip-%s-%s" % (user, transport))
    os.makedirs(d, exist_ok=True)
    port = lptest.free_port_pair()
    with open(os.path.join(d, "config"), "w") as f:
        f.write("poll_method epoll\n"
                "sip_listen 127.0.0.1:%d\n"
                "module_path /usr/lib/baresip/modules\n"
                "module_app account.so\n"
                "net_interface 127.0.0.1\n" % port)
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write('<sip:%s@%s;transport=%s>;auth_pass=%s;'
                'outbound="sip:127.0.0.1:%d;transport=%s";regint=600\n'
                % (user, app.domain, transport, password, app.port,
                   transport))
    return subprocess.Popen(["baresip", "-f", d, "-t", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def registered(user, transport, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = app.ctl("status").stdout
        for line in st.splitlines():
            if line.startswith(user + " ") and \
               transport.upper() + ":" in line and "baresip" in line:
                return True, st
        time.sleep(0.2)
    return False, st


try:
    app.add_user("alice", "alice-pw")
    app.add_user("bob", "bob-pw")
    app.add_user("carol", "carol-pw", "--algorithms", "md5,sha-256")
    app.start()

    for user, tp in (("alice", "udp"), ("bob", "tcp")):
        p = baresip(user, user + "-pw", tp)
        good, st = registered(user, tp)
        out = p.communicate(timeout=20)[0]
        tap.ok(good, "baresip registers over %s and appears in status "
               "with its User-Agent" % tp.upper(), st + out)
        tap.ok("200 OK" in out, "baresip reports 200 OK over %s" %
               tp.upper(), out)

    p = baresip("carol", "carol-pw", "udp", seconds=3)
    out = p.communicate(timeout=20)[0]
    tap.ok("Function not implemented" in out and "200 OK" not in out,
           "baresip 1.0.0 gives up when SHA-256 is offered next to MD5 "
           "(why auth_algorithms defaults to md5)", out)
    tap.ok(app.alive(), "registrar alive")
finally:
    app.close(tap)

sys.exit(tap.done())
