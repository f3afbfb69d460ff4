"""test_browser: the admin page in a real headless Chromium (lpbrowser:
Debian's chromium through chromedriver): an admin logs in, adds a user,
adds a Yealink device with three BLF keys, sees a SIPp phone's
registration appear on the live board, sees the lamp blink while a SIPp
call rings and turn red when it is answered and back when it ends, and
approves a pending watcher. A screenshot of the board is left in the
build folder (test-artefacts/board.png)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import lpweb  # noqa: E402
import lpbrowser  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")
if not lpbrowser.available():
    tap.skip("the admin page in Chromium", "chromium or chromedriver is "
             "not installed")
    sys.exit(tap.done())

app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n"
                       "presence_default_policy = confirm\n"
                       "route_presence = udp:127.0.0.1:%d\n"
                       % lptest.free_port())
web = None
b = None
ARTEFACTS = os.path.join(lptest.build_dir(), "test-artefacts")


def sipp(args, timeout=30):
    return subprocess.Popen(
        ["sipp"] + args + ["-m", "1", "-nostdin", "-timeout",
                           "%ds" % timeout, "-timeout_error", "-i",
                           "127.0.0.1", "-t", "u1"],
        cwd=app.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def scenario(name, old, new):
    """A scenario of tests/sipp with one pause made longer, so that a
    person (here: the test) can see the lamp in that state."""
    with open(os.path.join(SCEN, name)) as f:
        text = f.read()
    assert old in text
    path = os.path.join(app.dir, "slow-" + name)
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    return path


def csv(name, line):
    path = os.path.join(app.dir, name)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n" + line + "\n")
    return path


LAMP = "var t = document.getElementById('tile-' + arguments[0]);" \
       "return t ? t.dataset.lamp : null;"


def lamp_becomes(user, want, timeout=6.0):
    t0 = time.time()
    v = b.wait(LAMP.replace("return t ?", "return (t && t.dataset.lamp == "
                            "arguments[1]) ?"), timeout, user, want)
    return v == want, time.time() - t0


try:
    for u in ("alice", "bob", "carol", "dave"):
        app.add_user(u, u + "pw")
    app.ctl("admin", "add", "admin", "--password", "office-admin")
    app.start()
    app.start("presence")
    web = lpweb.Web(app)
    b = lpbrowser.Browser(app.dir)
    base = web.base + "/lamplight"

    b.go(base + "/board")
    tap.ok(b.js("return location.pathname") == "/lamplight/login",
           "without a session the browser lands on the login page")
    b.type("#f-name", "admin")
    b.type("#f-password", "office-admin")
    b.click("form button")
    ok = b.wait("return location.pathname == '/lamplight/board'")
    tap.ok(ok, "the admin logs in and sees the board")
    cookie_js = b.js("return document.cookie")
    tap.ok("lp_session" not in cookie_js,
           "the session cookie is not readable by scripts (HttpOnly)",
           cookie_js)

    b.go(base + "/users")
    b.type("#add-user #f-username", "frank")
    b.type("#add-user #f-name", "Frank Front-Desk")
    b.type("#add-user #f-password", "frank-desk-1")
    b.click("#add-user button")
    b.wait("return document.querySelector('.notice') != null")
    tap.ok("frank" in b.text("#users") and
           "Frank Front-Desk" in b.text("#users"),
           "a user added in the browser is in the Users table")

    b.go(base + "/devices")
    b.type("#add-device #f-mac", "00:15:65:AB:CD:EF")
    b.type("#add-device #f-model", "T54W")
    b.type("#add-device #f-owner", "frank")
    b.js("document.querySelector('#add-device select').value='yealink'")
    b.click("#add-device button")
    b.wait("return document.querySelector('#devices') != null && "
           "document.querySelector('#devices').textContent"
           ".indexOf('001565abcdef') >= 0")
    tap.ok("001565abcdef" in b.text("#devices"),
           "a Yealink device added in the browser")
    b.go(base + "/device?mac=001565abcdef")
    for pos, who in (("1", "alice"), ("2", "bob"), ("3", "carol")):
        b.type("#set-key #f-position", pos)
        b.js("document.querySelector('#set-key select').value='blf'")
        b.type("#set-key #f-target", who)
        b.type("#set-key #f-label", who.capitalize())
        b.click("#set-key button")
        b.wait("return document.querySelector('#keys').textContent"
               ".indexOf(arguments[0]) >= 0", 5.0, who.capitalize())
    keys = b.text("#keys")
    tap.ok(all(k in keys for k in ("Alice", "Bob", "Carol")),
           "three BLF keys set in the browser", keys)
    d = dict(line.split(" ", 1) for line in app.ctl(
        "device", "show", "001565abcdef").stdout.splitlines()
        if not line.startswith("key "))
    os.environ["LAMPLIGHT_PROV_TEMPLATES"] = os.path.join(
        lptest.ROOT, "web", "prov")
    f = lpweb.fetch(web, "/prov/001565abcdef.cfg", d["prov_user"],
                    d["prov_password"])
    tap.ok(f.code == 200 and all("linekey.%d.type = 16" % i in f.text
                                 for i in (1, 2, 3)),
           "the phone's file has the three BLF keys", f.text[-600:])

    # the board, live
    b.go(base + "/board")
    ok, _ = lamp_becomes("bob", "offline")
    tap.ok(ok, "the board shows bob offline before his phone registers")
    port = lptest.free_port()
    reg = sipp(["127.0.0.1:%d" % app.port, "-sf",
                os.path.join(SCEN, "register.xml"), "-inf",
                csv("bob.csv", "bob;[authentication username=bob "
                    "password=bobpw];%s" % app.domain), "-p", str(port)])
    out = reg.communicate(timeout=40)[0]
    ok, dt = lamp_becomes("bob", "idle")
    tap.ok(reg.returncode == 0 and ok,
           "a SIPp phone registers as bob: his tile turns idle (green) "
           "on the open page, %.2f s after SIPp's 200" % dt, out[-500:])
    devs = b.js("return document.querySelector('#tile-bob .devices')"
                ".textContent")
    tap.ok(("127.0.0.1:%d" % port) in devs,
           "bob's tile lists the registered device", devs)

    watch = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch", "pres",
                              "--timeout", "15"], stdout=subprocess.PIPE,
                             text=True)
    time.sleep(0.3)
    callee = sipp(["-sf", scenario("callee.xml", 'milliseconds="600"',
                                   'milliseconds="3000"'),
                   "-p", str(port)])
    time.sleep(0.5)
    caller = sipp(["127.0.0.1:%d" % app.port, "-sf",
                   scenario("caller.xml", 'milliseconds="300"',
                            'milliseconds="3000"'),
                   "-inf", csv("alice.csv", "alice;[authentication "
                               "username=alice password=alicepw];%s;bob"
                               % app.domain),
                   "-p", str(lptest.free_port())])
    ok, dt = lamp_becomes("bob", "ringing", 8.0)
    blink = b.js("var l = document.querySelector('#tile-bob .lamp');"
                 "return getComputedStyle(l).animationName;")
    tap.ok(ok and blink == "blink",
           "alice calls bob: bob's lamp blinks (ringing), seen %.2f s "
           "after the call started" % dt, blink)
    ok, dt = lamp_becomes("bob", "busy", 8.0)
    tap.ok(ok, "bob answers: his lamp is red (on the phone)")
    os.makedirs(ARTEFACTS, exist_ok=True)
    shot = os.path.join(ARTEFACTS, "board.png")
    n = b.screenshot(shot)
    tap.ok(n > 1000, "a screenshot of the board during the call: %s "
           "(%d bytes)" % (os.path.relpath(shot, lptest.ROOT), n))
    ok, dt = lamp_becomes("bob", "idle", 10.0)
    outs = caller.communicate(timeout=40)[0] + \
        callee.communicate(timeout=40)[0]
    tap.ok(ok and caller.returncode == 0 and callee.returncode == 0,
           "the call ends with BYE: bob's lamp is idle again", outs[-800:])
    watch.terminate()
    states = re.findall(r'"key":"bob".*?"call":"([a-z-]+)"',
                        watch.communicate(timeout=10)[0])
    tap.ok("ringing" in states and "on-the-phone" in states and
           states.index("ringing") < states.index("on-the-phone"),
           "the presence daemon's pres topic says bob's call rang, then "
           "was answered (the PIDF does not change while a phone rings)",
           states)

    # a pending watcher approved in the browser
    w = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carolpw")
    w.register()
    ruri = "sip:dave@%s" % app.domain
    hdrs = ["Event: presence", "Expires: 600",
            "Contact: <%s>" % w.contact_uri(),
            "Accept: application/pidf+xml"]
    r = w.request("SUBSCRIBE", ruri, hdrs)
    if r is not None and r.code == 407:
        ch = sc.parse_challenge(r.get("proxy-authenticate"))
        auth = w.auth_header(ch, "SUBSCRIBE", ruri).replace(
            "Authorization", "Proxy-Authorization", 1)
        r = w.request("SUBSCRIBE", ruri, hdrs + [auth])
    tap.ok(r is not None and r.code == 202,
           "carol asks to watch dave: 202, pending", r and r.code)
    b.go(base + "/watchers")
    b.wait("return document.querySelector('#pending').textContent"
           ".indexOf('carol') >= 0")
    tap.ok("carol" in b.text("#pending"),
           "the Watchers page shows carol's request")
    b.click("#pending button[value=allow]")
    b.wait("return document.querySelector('.notice') != null")
    tap.ok("Approved" in b.text(".notice") and
           "carol" not in b.text("#pending"),
           "Approve: the request leaves the list", b.text("main"))
    w.close()
    tap.ok("allow" in app.ctl("watcher", "list").stdout,
           "the approval is stored as an allow rule")
finally:
    if b:
        b.close()
    if web:
        web.close(tap)
    app.close(tap)

sys.exit(tap.done())
