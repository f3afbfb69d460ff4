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
import json
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
import lpweb  # noqa: E402
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
             "/usr/share/man/man1/lamplightctl.1.gz",
             "/usr/lib/lamplight/lamplight.cgi",
             "/usr/share/man/man8/lamplight.cgi.8.gz",
             "/usr/share/lamplight/static/board.js",
             "/usr/share/lamplight/static/style.css",
             "/etc/lighttpd/conf-available/50-lamplight.conf",
             "/etc/lighttpd/conf-enabled/50-lamplight.conf",
             "/etc/lighttpd/conf-enabled/10-cgi.conf",
             "/etc/fail2ban/filter.d/lamplight.conf",
             "/etc/fail2ban/jail.d/lamplight.conf",
             "/usr/share/doc/lamplight/examples/keepalived.conf"] + [
        "/usr/share/lamplight/prov/%s.tmpl" % v
        for v in ("yealink", "polycom", "grandstream", "snom", "cisco")] + [
        "/lib/systemd/system/lamplight-%s.service" % d
        for d in ("registrar", "presence", "imrelay", "blf")] + [
        "/usr/share/man/man8/lamplight-%s.8.gz" % d
        for d in ("registrar", "presence", "imrelay", "blf")]
    missing = [f for f in files if not os.path.exists(f)]
    tap.ok(not missing, "the programs, units, conffile, manual pages, the "
           "admin page's CGI, assets and templates are installed, and its "
           "lighttpd snippet enabled (with mod_cgi)", missing)
    r = run(["dpkg-query", "-W", "-f=${Conffiles}", "lamplight"])
    tap.ok(CONF in r.stdout, "lamplight.conf is a conffile", r.stdout)
    try:
        pw = pwd.getpwnam("lamplight")
        st = os.stat("/var/lib/lamplight")
        adm = os.stat("/var/lib/lamplight/admin.db")
        key = os.stat("/var/lib/lamplight/device.key")
        good = (pw.pw_uid < 1000 and grp.getgrgid(pw.pw_gid).gr_name ==
                "lamplight" and st.st_uid == pw.pw_uid and
                (st.st_mode & 0o777) == 0o770 and adm.st_uid == pw.pw_uid
                and (adm.st_mode & 0o777) == 0o660 and
                (key.st_mode & 0o777) == 0o640 and
                key.st_uid == pw.pw_uid and
                "www-data" in grp.getgrnam("lamplight").gr_mem)
        detail = (pw, oct(st.st_mode), adm.st_uid, oct(adm.st_mode),
                  oct(key.st_mode), grp.getgrnam("lamplight").gr_mem)
    except (KeyError, OSError) as e:
        good, detail = False, e
    tap.ok(good, "a lamplight system user owns /var/lib/lamplight (0770), "
           "the admin database made at install (0660) and the device key "
           "(0640); www-data is in the lamplight group", detail)

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

    # the admin page through the system's lighttpd configuration (with
    # the package's snippet enabled), on a port of its own; the CGI runs
    # as www-data
    web_dir = tempfile.mkdtemp(prefix="lp-web-")
    www = pwd.getpwnam("www-data")
    os.chown(web_dir, www.pw_uid, www.pw_gid)  # its error log
    web_port = lptest.free_port()
    with open(os.path.join(web_dir, "lighttpd.conf"), "w") as f:
        f.write('include "/etc/lighttpd/lighttpd.conf"\n'
                'server.port := %d\nserver.bind := "127.0.0.1"\n'
                'server.pid-file := "%s/pid"\n'
                'server.errorlog := "%s/error.log"\n'
                % (web_port, web_dir, web_dir))
    os.chmod(os.path.join(web_dir, "lighttpd.conf"), 0o644)
    lt = subprocess.Popen(["lighttpd", "-D", "-f",
                           os.path.join(web_dir, "lighttpd.conf")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    time.sleep(1)
    base = "http://127.0.0.1:%d" % web_port
    web = type("W", (), {"base": base, "port": web_port})()
    run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c", CONF,
         "admin", "add", "admin", "--password", "admin-pw"])
    run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c", CONF,
         "device", "add", "00:15:65:00:00:09", "--vendor", "yealink",
         "--owner", "alice"])
    run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c", CONF,
         "key", "set", "001565000009", "1", "blf", "bob"])
    c = lpweb.Client(web)
    r = c.login("admin", "admin-pw")
    tap.ok(lt.poll() is None and r.code == 303,
           "the installed admin page: the admin logs in (the CGI, as "
           "www-data, writes its session to the admin database)",
           (r.code, r.text[-300:]))
    try:
        board = json.loads(c.get("/lamplight/board.json").text)
        alice = [u for u in board["users"] if u["user"] == "alice"]
    except ValueError:
        board, alice = {"synced": {}}, []
    tap.ok(board["synced"].get("reg") and alice and
           alice[0]["lamp"] == "idle",
           "the installed board shows alice registered (the CGI reaches "
           "the bus sockets in /run/lamplight)", board)
    shown = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
                 CONF, "device", "show", "001565000009"]).stdout
    creds = dict(ln.split(" ", 1) for ln in shown.splitlines()
                 if ln and not ln.startswith("key "))
    f = lpweb.fetch(web, "/prov/001565000009.cfg",
                    creds.get("prov_user"), creds.get("prov_password"))
    f0 = lpweb.fetch(web, "/prov/001565000009.cfg")
    tap.ok(f.code == 200 and "linekey.1.value = bob" in f.text and
           f0.code == 401,
           "the installed provisioning server: the phone's file with its "
           "credentials, 401 without", (f.code, f0.code, f.text[:300]))
    lt.terminate()
    lt.wait(10)
    shutil.rmtree(web_dir, ignore_errors=True)
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
    devs = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
                CONF, "device", "list"]).stdout
    admins = run(["runuser", "-u", "lamplight", "--", "lamplightctl", "-c",
                  CONF, "admin", "list"]).stdout
    tap.ok(ok2 and ver == "0.1.1" and "alice" in users and
           "alice" in st2 and "alice" in st and "001565000009" in devs and
           "admin" in admins,
           "an upgrade (0.1.0 to 0.1.1) keeps the user, the binding, the "
           "device and the admin", (ver, users, st2, devs, admins))
    tap.ok(before == after and before[0] not in ("", "0") and
           before[1] == "1",
           "and the subscription and the kept message", (before, after))
    shutil.rmtree(out2, ignore_errors=True)

    r = run(["apt-get", "remove", "-y", "-qq", "lamplight"])
    tap.ok(r.returncode == 0 and
           os.path.exists("/var/lib/lamplight/admin.db") and
           os.path.exists(CONF) and not os.path.exists(
               "/etc/lighttpd/conf-enabled/50-lamplight.conf"),
           "remove keeps the data and the configuration; the admin page "
           "is disabled", r.stderr)
    r = run(["apt-get", "purge", "-y", "-qq", "lamplight"])
    left = [f for f in ("/var/lib/lamplight", "/etc/lamplight",
                        "/etc/lighttpd/conf-available/50-lamplight.conf",
                        "/usr/lib/lamplight",
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
