"""test_ctl: lamplightctl as an administrator uses it: users (add with a
generated password, duplicates, passwd, algorithms, del, list), import of
10,000 users from CSV, status, `run` (every daemon in the foreground,
ready from sd_notify, logs prefixed, clean stop on SIGTERM, non-zero exit
when a daemon fails to start), and configuration errors that name the
line.
"""

import os
import re
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
app = lptest.Appliance(lptest.build_dir())


def run_until_ready(conf):
    """lamplightctl run in the background; its output up to the line
    that says every daemon is ready (at most 15 s)."""
    p = subprocess.Popen([app.ctl_path, "-c", conf, "run"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    lines = []
    deadline = time.time() + 15
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "all daemons ready" in line:
            break
    return p, lines

try:
    r = app.ctl("user", "add", "alice", "--name", "Alice Liddell")
    m = re.match(r"user alice password (\S{16})$", r.stdout.strip())
    ok(m is not None, "user add without a password prints a generated one",
       r.stdout)
    pw = m.group(1) if m else ""
    r = app.ctl("user", "add", "alice", "--password", "x", check=False)
    ok(r.returncode != 0 and "exists" in r.stderr,
       "adding alice twice fails and says why", r.stderr)
    r = app.ctl("user", "add", "bad name", "--password", "x", check=False)
    ok(r.returncode != 0 and "bad user name" in r.stderr,
       "a bad user name is refused")
    r = app.ctl("user", "add", "bob", "--password", "b",
                "--algorithms", "sha-1", check=False)
    ok(r.returncode != 0 and "bad algorithm list" in r.stderr,
       "an unknown algorithm is refused")
    app.ctl("user", "add", "bob", "--password", "bobpw")
    r = app.ctl("user", "list")
    ok("alice" in r.stdout and "Alice Liddell" in r.stdout and
       "bob" in r.stdout, "user list shows both", r.stdout)
    app.ctl("user", "algorithms", "bob", "sha-256,md5")
    ok("sha-256,md5" in app.ctl("user", "list").stdout,
       "per-user algorithms are listed")
    r = app.ctl("user", "passwd", "nobody", "--password", "x", check=False)
    ok(r.returncode != 0 and "no such user" in r.stderr,
       "passwd of an unknown user fails")
    ok(app.ctl("user", "del", "bob").returncode == 0 and
       "bob" not in app.ctl("user", "list").stdout, "user del")

    # a generated password works; passwd changes it
    app.start()
    u = sc.UA("127.0.0.1", app.port, app.domain, "alice", pw)
    r = u.register()
    ok(r and r.code == 200, "the generated password registers", r)
    app.ctl("user", "passwd", "alice", "--password", "newpw")
    u2 = sc.UA("127.0.0.1", app.port, app.domain, "alice", pw)
    r = u2.register()
    ok(r and r.code == 401, "after passwd the old password fails")
    u3 = sc.UA("127.0.0.1", app.port, app.domain, "alice", "newpw")
    r = u3.register()
    ok(r and r.code == 200, "... and the new one works at once")
    st = app.ctl("status").stdout
    ok("alice" in st and "UDP:127.0.0.1:%d" % u3.t.local[1] in st and
       "expires in" in st, "status: who, from where, until when", st)
    app.stop()

    # import 10,000 users
    csv = os.path.join(app.dir, "users.csv")
    with open(csv, "w") as f:
        f.write("# user,password,name\n")
        for i in range(10000):
            f.write("u%05d,pw%05d,User %d\n" % (i, i, i))
    t0 = time.time()
    r = app.ctl("user", "import", csv, timeout=300)
    dt = time.time() - t0
    ok(r.returncode == 0 and "10000 user(s) imported" in r.stdout,
       "import of 10,000 users", r.stderr)
    print("# import of 10,000 users took %.2f s" % dt)
    n = len([ln for ln in app.ctl("user", "list").stdout.splitlines()
             if ln.startswith("u")])
    ok(n == 10000, "all 10,000 are listed (%d)" % n)
    with open(csv, "w") as f:
        f.write("x1,p1,One\nbad user,p2,Two\n")
    r = app.ctl("user", "import", csv, check=False)
    ok(r.returncode != 0 and "users.csv:2" in r.stderr,
       "a bad line names the line", r.stderr)
    ok("x1 " not in app.ctl("user", "list").stdout,
       "... and nothing of that file was imported")
    app.start()
    u = sc.UA("127.0.0.1", app.port, app.domain, "u09999", "pw09999")
    r = u.register()
    ok(r and r.code == 200, "an imported user registers")
    app.stop()

    # configuration errors name the line
    bad = os.path.join(app.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("domain = x\n\nlisten = udp:0.0.0.0:5060\n")
    r = subprocess.run([app.registrar_path, "-c", bad], capture_output=True,
                       text=True, timeout=10)
    ok(r.returncode != 0 and "bad.conf:3" in r.stderr and "listen" in
       r.stderr, "the registrar refuses a bad file naming line 3",
       r.stderr)
    with open(bad, "w") as f:
        f.write("colour = blue\n")
    r = subprocess.run([app.ctl_path, "-c", bad, "user", "list"],
                       capture_output=True, text=True, timeout=10)
    ok(r.returncode != 0 and "unknown key 'colour'" in r.stderr,
       "lamplightctl too", r.stderr)

    # run: all daemons in the foreground
    p, lines = run_until_ready(app.conf)
    ok(any("all daemons ready" in ln for ln in lines),
       "run: every daemon reported READY=1", "".join(lines))
    ok(any(ln.startswith("registrar ") and "|" in ln for ln in lines),
       "run: daemon output is prefixed with its name", "".join(lines))
    u = sc.UA("127.0.0.1", app.port, app.domain, "alice", "newpw")
    r = u.register()
    ok(r and r.code == 200, "run: the appliance serves registrations")
    p.send_signal(signal.SIGTERM)
    rest = p.communicate(timeout=20)[0]
    ok(p.returncode == 0, "run: SIGTERM stops everything, exit 0",
       rest)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", app.port))
        freed = True
    except OSError:
        freed = False
    s.close()
    ok(freed, "run: the SIP port is free again (daemon gone)")

    # run with the back daemons configured: each starts, prefixed
    conf2 = app.conf + ".back"
    with open(app.conf) as f, open(conf2, "w") as g:
        g.write(f.read() + "route_presence = udp:127.0.0.1:%d\n"
                "route_blf = udp:127.0.0.1:%d\n" % (lptest.free_port(),
                                                    lptest.free_port()))
    p, lines = run_until_ready(conf2)
    p.send_signal(signal.SIGTERM)
    rest = p.communicate(timeout=20)[0]
    ok(any("all daemons ready" in ln for ln in lines) and
       any(ln.startswith("presence ") for ln in lines) and
       any(ln.startswith("blf ") for ln in lines) and p.returncode == 0,
       "run with route_presence and route_blf: the presence daemon and "
       "the BLF gateway start too, and stop with SIGTERM",
       "".join(lines) + rest)

    # run with a daemon that cannot start (port taken): non-zero
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", app.port))
    r = subprocess.run([app.ctl_path, "-c", app.conf, "run"],
                       capture_output=True, text=True, timeout=30)
    blocker.close()
    ok(r.returncode != 0 and "failed to start" in r.stderr,
       "run: a daemon that fails to start makes run exit non-zero",
       r.stdout + r.stderr)
finally:
    app.close(tap)

sys.exit(tap.done())
