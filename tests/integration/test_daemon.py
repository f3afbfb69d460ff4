"""test_daemon: the registrar as a systemd service sees it (sd_notify
READY=1 with STATUS, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then
READY=1 on SIGHUP, STOPPING=1 on SIGTERM and a clean exit), and as a
phone on TLS sees it (tls: listen with a certificate, REGISTER over TLS).

  systemd (our socket)  <- READY=1, STATUS=serving
                        <- WATCHDOG=1 ... every WATCHDOG_USEC/2
  SIGHUP               -> <- RELOADING=1, READY=1
  SIGTERM              -> <- STOPPING=1, exit 0
"""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok


def collect(ns, seconds):
    msgs = []
    end = time.time() + seconds
    while time.time() < end:
        ns.settimeout(max(0.01, end - time.time()))
        try:
            msgs += ns.recv(4096).decode().split("\n")
        except socket.timeout:
            break
    return msgs


app = lptest.Appliance(lptest.build_dir())
try:
    nsp = os.path.join(app.dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsp)
    env = dict(os.environ, NOTIFY_SOCKET=nsp, WATCHDOG_USEC="400000")
    log = open(os.path.join(app.dir, "registrar.log"), "w")
    p = subprocess.Popen([app.registrar_path, "-c", app.conf], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    msgs = collect(ns, 1.5)
    ok("READY=1" in msgs, "READY=1 once transports and bus are up", msgs)
    ok(any(m.startswith("STATUS=") for m in msgs), "a STATUS line")
    ok(msgs.count("WATCHDOG=1") >= 4,
       "WATCHDOG=1 every 200 ms for WATCHDOG_USEC=400000 (%d in 1.5 s)"
       % msgs.count("WATCHDOG=1"))
    p.send_signal(signal.SIGHUP)
    msgs = [m for m in collect(ns, 0.6) if m != "WATCHDOG=1"]
    ok(msgs[:2] == ["RELOADING=1", "READY=1"],
       "SIGHUP: RELOADING=1 then READY=1", msgs)
    ok(p.poll() is None, "still running after SIGHUP")
    p.send_signal(signal.SIGTERM)
    rc = p.wait(10)
    msgs = collect(ns, 0.3)
    ok("STOPPING=1" in msgs and rc == 0, "SIGTERM: STOPPING=1, exit 0",
       (msgs, rc))
    ns.close()
    log.close()

    # TLS: a certificate, a tls: listen address, a REGISTER over TLS
    cert = lptest.tls_certificate(app.dir)
    tport = lptest.free_port()
    with open(app.conf, "a") as f:
        f.write("listen = tls:127.0.0.1:%d\ntls_certificate = %s\n"
                % (tport, cert))
    app.add_user("alice", "secret")
    app.start()
    u = sc.UA("127.0.0.1", tport, app.domain, "alice", "secret", "tls")
    r = u.register()
    ok(r and r.code == 200, "REGISTER over TLS: 200", r)
    st = app.ctl("status").stdout
    ok("TLS:127.0.0.1:%d" % u.t.local[1] in st,
       "the binding remembers its TLS connection", st)
    u.close()
    old = subprocess.run(["openssl", "s_client", "-connect",
                          "127.0.0.1:%d" % tport, "-tls1_1", "-cipher",
                          "DEFAULT@SECLEVEL=0"], input="", text=True,
                         capture_output=True, timeout=20)
    new = subprocess.run(["openssl", "s_client", "-connect",
                          "127.0.0.1:%d" % tport, "-tls1_2"], input="",
                         text=True, capture_output=True, timeout=20)
    ok("alert protocol version" in old.stdout + old.stderr and
       "Cipher    : 0000" in old.stdout and
       "Protocol  : TLSv1.2" in new.stdout and
       "Cipher    : 0000" not in new.stdout,
       "TLS 1.1 is refused, TLS 1.2 is taken",
       (old.stdout[-300:] + old.stderr[-300:], new.stdout[-300:]))
finally:
    app.close(tap)

sys.exit(tap.done())
