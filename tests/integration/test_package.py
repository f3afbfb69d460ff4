"""test_package: the Debian package, built, checked and installed on this
machine (as CI does; it changes the system, so it runs only as root with
LAMPLIGHT_PACKAGE_TEST naming this build folder, which scripts/test sets
in CI): packaging/build-deb builds it; lintian reports no error or
warning; apt installs it; the programs, units, conffile, manual pages,
the lamplight user and /var/lib/lamplight are there with their owners
and modes; systemd-analyze verifies the installed units and rates each OK
or better; the installed daemons, started as the lamplight user the way
`lamplightctl run` starts them (there is no systemd PID 1 here), take a
registration, a subscription and a message kept for a user who is
offline; an upgrade to a newer build keeps the user, the binding, the
subscription and the kept message; remove keeps the data; purge leaves
nothing behind."""

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
build = os.path.abspath(lptest.build_dir())
want = os.environ.get("LAMPLIGHT_PACKAGE_TEST", "")
if os.geteuid() != 0 or not want or \
        os.path.basename(build) != os.path.basename(want.rstrip("/")):
    tap.skip("the Debian package", "runs as root in CI only "
             "(LAMPLIGHT_PACKAGE_TEST=<build folder>)")
    sys.exit(tap.done())

ROOT = lptest.ROOT
out = tempfile.mkdtemp(prefix="lp-deb-")
CONF = "/etc/lamplight/lamplight.conf"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_deb(dest, version=None):
    """The package of this tree; with version, a later build of it."""
    if version is None:
        r = run(["sh", os.path.join(ROOT, "packaging", "build-deb"), dest],
                timeout=900)
        return r
    tree = tempfile.mkdtemp(prefix="lp-tree-")
    r = run(["sh", "-c", "git -C %s ls-files -z --cached --others "
             "--exclude-standard | (cd %s && xargs -0 cp --parents -t %s)"
             % (ROOT, ROOT, tree)])
    with open(os.path.join(tree, "packaging", "debian", "changelog")) as f:
        old = f.read()
    with open(os.path.join(tree, "packaging", "debian", "changelog"),
              "w") as f:
        f.write("lamplight (%s) unstable; urgency=medium\n\n  * A later "
                "build, for the upgrade test.\n\n -- Lamplight developers "
                "<developers@lamplight.example.org>  Tue, 01 Dec 2026 "
                "13:00:00 +0000\n\n" % version + old)
    r = run(["sh", os.path.join(tree, "packaging", "build-deb"), dest],
            timeout=900, cwd=tree)
    shutil.rmtree(tree, ignore_errors=True)
    return r


def start_appliance():
    """The installed daemons as the lamplight user, by lamplightctl run;
    returns the process once 'all daemons ready' was printed."""
    p = subprocess.Popen(["runuser", "-u", "lamplight", "--",
                          "/usr/bin/lamplightctl", "-c", CONF, "run"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=dict(os.environ,
                                             LAMPLIGHT_SBINDIR="/usr/sbin"))
    lines = []
    end = time.time() + 20
    while time.time() < end:
        ln = p.stdout.readline()
        if not ln:
            break
        lines.append(ln)
        if "all daemons ready" in ln:
            return p, "".join(lines)
    p.kill()
    return None, "".join(lines)


def stop_appliance(p):
    if p:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def register(user, password):
    ua = sc.UA("127.0.0.1", 5060, "localhost", user, password)
    r = ua.register(expires=3600)
    ua.close()
    return r


try:
    if run(["dpkg", "-s", "lamplight"]).returncode == 0:
        run(["apt-get", "purge", "-y", "-qq", "lamplight"])
    r = build_deb(out)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    tap.ok(r.returncode == 0 and len(debs) == 1,
           "packaging/build-deb builds lamplight_0.1.0_amd64.deb "
           "(dpkg-buildpackage -us -uc -b)", r.stdout + r.stderr)
    deb = os.path.join(out, debs[0]) if debs else ""
    r = run(["lintian", "--fail-on", "error,warning", deb])
    tap.ok(r.returncode == 0 and not re.search(r"(?m)^[EW]: ", r.stdout),
           "lintian: no error, no warning", r.stdout + r.stderr)

    r = run(["apt-get", "install", "-y", "-qq", deb], timeout=600,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    tap.ok(r.returncode == 0, "apt installs it", r.stdout[-800:] +
           r.stderr[-800:])
    files = ["/usr/sbin/lamplight-registrar", "/usr/sbin/lamplight-presence",
             "/usr/sbin/lamplight-imrelay", "/usr/sbin/lamplight-blf",
             "/usr/bin/lamplightctl", CONF,
             "/lib/systemd/system/lamplight.target",
             "/usr/share/man/man5/lamplight.conf.5.gz",
             "/usr/share/man/man1/lamplightctl.1.gz"] + [
        "/lib/systemd/system/lamplight-%s.service" % d
        for d in ("registrar", "presence", "imrelay", "blf")] + [
        "/usr/share/man/man8/lamplight-%s.8.gz" % d
        for d in ("registrar", "presence", "imrelay", "blf")]
    missing = [f for f in files if not os.path.exists(f)]
    tap.ok(not missing, "the programs, units, conffile and manual pages "
           "are installed", missing)
    r = run(["dpkg-query", "-W", "-f=${Conffiles}", "lamplight"])
    tap.ok(CONF in r.stdout, "lamplight.conf is a conffile", r.stdout)
    try:
        pw = pwd.getpwnam("lamplight")
        st = os.stat("/var/lib/lamplight")
        adm = os.stat("/var/lib/lamplight/admin.db")
        good = (pw.pw_uid < 1000 and grp.getgrgid(pw.pw_gid).gr_name ==
                "lamplight" and st.st_uid == pw.pw_uid and
                (st.st_mode & 0o777) == 0o750 and adm.st_uid == pw.pw_uid)
        detail = (pw, oct(st.st_mode), adm.st_uid)
    except (KeyError, OSError) as e:
        good, detail = False, e
    tap.ok(good, "a lamplight system user owns /var/lib/lamplight (0750) "
           "and the admin database made at install", detail)

    units = ["/lib/systemd/system/lamplight-%s.service" % d
             for d in ("registrar", "presence", "imrelay", "blf")]
    r = run(["systemd-analyze", "verify", "--man=no"] + units +
            ["/lib/systemd/system/lamplight.target"])
    tap.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
           "systemd-analyze verify: the installed units are clean",
           r.stdout + r.stderr)
    worst = []
    for u in units:
        r = run(["systemd-analyze", "security", "--offline=true", u])
        m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)",
                      r.stdout + r.stderr)
        worst.append(m.group(2) if m else "?")
    tap.ok(all(w in ("OK", "PERFECT") for w in worst),
           "systemd-analyze security: each installed unit OK or better",
           worst)

    # the installed appliance, as the lamplight user; /run/lamplight is
    # what systemd's RuntimeDirectory= would make
    run(["install", "-d", "-o", "lamplight", "-g", "lamplight", "-m",
         "0750", "/run/lamplight"])
    for u in ("alice", "bob"):
        run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
             CONF, "user", "add", u, "--password", u + "-pw"])
    p, log = start_appliance()
    tap.ok(p is not None, "the installed daemons start as the lamplight "
           "user with the installed configuration", log[-1500:])
    r = register("alice", "alice-pw") if p else None
    tap.ok(r is not None and r.code == 200,
           "a user registers to the installed appliance", r)
    # a subscription and a kept message, for the upgrade to keep
    site = type("Site", (), {"port": 5060, "domain": "localhost"})()
    ph = Phone(site, "alice", "alice-pw")
    rs, _ = ph.subscribe("bob") if p else (None, None)
    rm = ph.message("bob", b"kept across the upgrade") if p else None
    ph.close()
    tap.ok(rs is not None and rs.code == 200 and rm is not None and
           rm.code == 202, "alice watches bob, and writes to bob, who is "
           "offline: the message is kept", (rs, rm))
    stop_appliance(p)

    def count(db, table):
        # as the daemons' user: a root-owned -shm would lock them out
        r = run(["runuser", "-u", "lamplight", "--", "sqlite3",
                 "/var/lib/lamplight/" + db,
                 "SELECT count(*) FROM %s" % table])
        return r.stdout.strip()
    before = (count("presence.db", "subs"), count("imrelay.db", "msgs"))
    st = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
              CONF, "status"]).stdout

    # upgrade over it: the data stays
    out2 = tempfile.mkdtemp(prefix="lp-deb2-")
    r = build_deb(out2, "0.1.1")
    debs2 = [f for f in os.listdir(out2) if f.endswith(".deb")]
    ok2 = r.returncode == 0 and debs2
    if ok2:
        r = run(["apt-get", "install", "-y", "-qq",
                 os.path.join(out2, debs2[0])], timeout=600,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    ver = run(["dpkg-query", "-W", "-f=${Version}", "lamplight"]).stdout
    st2 = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
               CONF, "status"]).stdout
    users = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
                 CONF, "user", "list"]).stdout
    after = (count("presence.db", "subs"), count("imrelay.db", "msgs"))
    tap.ok(ok2 and ver == "0.1.1" and "alice" in users and
           "alice" in st2 and "alice" in st,
           "an upgrade (0.1.0 to 0.1.1) keeps the user and the binding",
           (ver, users, st2))
    tap.ok(before == after and before[0] not in ("", "0") and
           before[1] == "1",
           "and the subscription and the kept message", (before, after))
    shutil.rmtree(out2, ignore_errors=True)

    r = run(["apt-get", "remove", "-y", "-qq", "lamplight"])
    tap.ok(r.returncode == 0 and
           os.path.exists("/var/lib/lamplight/admin.db") and
           os.path.exists(CONF),
           "remove keeps the data and the configuration", r.stderr)
    r = run(["apt-get", "purge", "-y", "-qq", "lamplight"])
    left = [f for f in ("/var/lib/lamplight", "/etc/lamplight",
                        "/usr/sbin/lamplight-registrar",
                        "/lib/systemd/system/lamplight.target")
            if os.path.exists(f)]
    try:
        pwd.getpwnam("lamplight")
        left.append("user lamplight")
    except KeyError:
        pass
    tap.ok(r.returncode == 0 and not left, "purge leaves nothing behind",
           left)
finally:
    shutil.rmtree(out, ignore_errors=True)

sys.exit(tap.done())
