"""test_web: the admin page and the provisioning server over HTTP, the
real CGI under lighttpd: login (cookie flags, CSRF, wrong password,
guessing slowed down per account and per address), the forms (CSRF
refused, field errors, escaping), users, devices, keys and watchers, the
board's JSON, and each vendor's provisioning file checked key by key,
with its credentials refused without auth and a device that registers
with what its file says. lamplightctl's admin, device, key and watcher
commands on the same data."""

import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import lpweb  # noqa: E402
import sipclient as sc  # noqa: E402

# lamplightctl device file: the templates of the source tree
os.environ["LAMPLIGHT_PROV_TEMPLATES"] = os.path.join(lptest.ROOT, "web",
                                                      "prov")
tap = lptest.Tap()
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n"
                       "presence_default_policy = confirm\n"
                       "route_presence = udp:127.0.0.1:%d\n"
                       % lptest.free_port())
web = None

VENDORS = {  # vendor: (MAC as added, the file name the phone asks for)
    "yealink": ("00:15:65:00:00:01", "001565000001.cfg"),
    "polycom": ("00-04-F2-00-00-02", "0004F2000002.cfg"),
    "grandstream": ("000b82000003", "cfg000b82000003.xml"),
    "snom": ("000413000004", "000413000004.xml"),
    "cisco": ("0C:11:67:00:00:05", "0c1167000005.xml"),
}


def show(mac):
    out = app.ctl("device", "show", mac).stdout
    return dict(line.split(" ", 1) for line in out.splitlines()
                if line and not line.startswith("key "))


def check_yealink(text, d):
    lines = set(text.splitlines())
    want = ["account.1.user_name = alice",
            "account.1.auth_name = %s" % d["sip_auth"],
            "account.1.password = %s" % d["sip_password"],
            "account.1.sip_server.1.address = %s" % app.domain,
            "account.1.sip_server.1.port = %d" % app.port,
            "linekey.1.type = 16", "linekey.1.value = bob",
            "linekey.1.label = Bob", "linekey.1.line = 1",
            "linekey.1.extension = **bob",
            "linekey.2.type = 16", "linekey.2.value = carol",
            "linekey.2.label = Carol & Co",
            "linekey.3.type = 13", "linekey.3.value = 1234",
            "linekey.3.label = Voicemail"]
    return [w for w in want if w not in lines]


def check_polycom(text, d):
    root = ET.fromstring(text)
    att = root.find("attendant").attrib
    reg = root.find("reg").attrib
    want = {"attendant.resourceList.1.address": "bob@" + app.domain,
            "attendant.resourceList.1.label": "Bob",
            "attendant.resourceList.1.type": "normal",
            "attendant.resourceList.2.address": "carol@" + app.domain,
            "attendant.resourceList.2.label": "Carol & Co"}
    bad = ["%s=%r" % (k, att.get(k)) for k, v in want.items()
           if att.get(k) != v]
    if "attendant.resourceList.3.address" in att:
        bad.append("a speed dial in the BLF list")
    for k, v in (("reg.1.address", "alice@" + app.domain),
                 ("reg.1.auth.userId", d["sip_auth"]),
                 ("reg.1.auth.password", d["sip_password"]),
                 ("reg.1.server.1.port", str(app.port))):
        if reg.get(k) != v:
            bad.append("%s=%r" % (k, reg.get(k)))
    return bad


def check_grandstream(text, d):
    cfg = ET.fromstring(text).find("config")
    p = {e.tag: (e.text or "") for e in cfg}
    want = {"P35": "alice", "P36": d["sip_auth"], "P34": d["sip_password"],
            "P47": "%s:%d" % (app.domain, app.port), "P1347": "**",
            # MPK 1: mode P323, account P301, name P302, value P303
            "P323": "1", "P301": "0", "P302": "Bob", "P303": "bob",
            "P324": "1", "P304": "0", "P305": "Carol & Co", "P306": "carol",
            "P325": "0", "P307": "0", "P308": "Voicemail", "P309": "1234"}
    return ["%s=%r" % (k, p.get(k)) for k, v in want.items()
            if p.get(k) != v]


def check_snom(text, d):
    root = ET.fromstring(text)
    keys = {k.get("idx"): (k.get("label"), k.text)
            for k in root.find("functionKeys")}
    ps = {e.tag: e.text for e in root.find("phone-settings")}
    want = {"0": ("Bob", "blf <sip:bob@%s>|**" % app.domain),
            "1": ("Carol & Co", "blf <sip:carol@%s>|**" % app.domain),
            "2": ("Voicemail", "speed 1234")}
    bad = ["fkey %s=%r" % (k, keys.get(k)) for k, v in want.items()
           if keys.get(k) != v]
    for k, v in (("user_name", "alice"), ("user_pname", d["sip_auth"]),
                 ("user_pass", d["sip_password"])):
        if ps.get(k) != v:
            bad.append("%s=%r" % (k, ps.get(k)))
    return bad


def check_cisco(text, d):
    root = ET.fromstring(text)
    p = {e.tag: (e.text or "") for e in root}
    want = {"Extended_Function_1_":
            "fnc=blf+sd+cp;sub=bob@{0};ext=bob@{0};nme=Bob".format(
                app.domain),
            "Extended_Function_2_":
            "fnc=blf+sd+cp;sub=carol@{0};ext=carol@{0};nme=Carol & Co"
            .format(app.domain),
            "Extended_Function_3_":
            "fnc=sd;ext=1234@%s;nme=Voicemail" % app.domain,
            "User_ID_1_": "alice", "Auth_ID_1_": d["sip_auth"],
            "Password_1_": d["sip_password"]}
    return ["%s=%r" % (k, p.get(k)) for k, v in want.items()
            if p.get(k) != v]


CHECKS = {"yealink": check_yealink, "polycom": check_polycom,
          "grandstream": check_grandstream, "snom": check_snom,
          "cisco": check_cisco}

try:
    for u in ("alice", "bob", "carol", "dave"):
        app.add_user(u, u + "pw")
    app.ctl("admin", "add", "root", "--password", "rootroot")
    app.ctl("admin", "add", "ops", "--password", "opsopsops")
    r = app.ctl("admin", "add", "gen")
    tap.ok(re.match(r"^gen [A-Za-z0-9]{16}$", r.stdout.strip()),
           "lamplightctl admin add without --password prints a generated "
           "one", r.stdout)
    tap.ok(app.ctl("admin", "list").stdout.split() == ["gen", "ops", "root"],
           "lamplightctl admin list")
    app.ctl("admin", "del", "gen")
    app.start()
    app.start("presence")
    web = lpweb.Web(app)

    # ---- login ----
    c = lpweb.Client(web)
    r = c.get("/lamplight/users")
    tap.ok(r.code == 303 and r.header("Location").endswith("/login"),
           "a page without a session redirects to the login", r.code)
    r = c.get("/lamplight/board.json")
    tap.ok(r.code == 401, "board.json without a session: 401", r.code)
    r = c.post("/lamplight/login", {"name": "root", "password": "rootroot"})
    tap.ok(r.code == 403 and "lp_session" not in str(r.headers),
           "a login without the form's token is refused (403)", r.code)
    r = c.login("root", "wrongwrong")
    tap.ok(r.code == 403 and "Wrong name or password" in r.text,
           "a wrong password: 403 and a message on the form", r.code)
    r = c.login("root", "rootroot")
    cookie = r.header("Set-Cookie") or ""
    sess = [h for h in r.headers.get_all("Set-Cookie")
            if h.startswith("lp_session=")]
    tap.ok(r.code == 303 and sess and "HttpOnly" in sess[0] and
           "SameSite=Strict" in sess[0] and "Secure" not in sess[0],
           "login: 303 to the board, session cookie HttpOnly; "
           "SameSite=Strict (no Secure over plain HTTP)", sess or cookie)
    r = c.get("/lamplight/board")
    tap.ok(r.code == 200 and "board.js" in r.text and
           "Content-Security-Policy" in str(r.headers),
           "the board page loads, with a Content-Security-Policy", r.code)

    # ---- forms: CSRF, validation, escaping ----
    r = c.post("/lamplight/users", {"username": "eve", "password": ""})
    tap.ok(r.code == 403 and "eve" not in app.ctl("user", "list").stdout,
           "a form without the CSRF token is refused (403), nothing "
           "changes", r.code)
    r = c.post("/lamplight/users", {"username": "eve", "password": "",
                                    "csrf": "0" * 64})
    tap.ok(r.code == 403, "a wrong CSRF token is refused (403)", r.code)
    tap.ok("CSRF" in web.log(), "the refusal is logged", web.log()[-300:])
    tok = c.csrf("/lamplight/users")
    r = c.post("/lamplight/users", {"username": "bad name!", "csrf": tok,
                                    "name": "x", "password": ""})
    tap.ok(r.code == 422 and re.search(
        r'id="f-username"[^>]*aria-invalid[^<]*<span class="field-error" '
        r'id="e-username">1 to 64', r.text),
        "a bad user name: 422 with the message next to the field", r.code)
    r = c.post("/lamplight/users", {"username": "eve", "csrf": tok,
                                    "name": "<script>alert(1)</script>",
                                    "password": ""})
    m = re.search(r"Password \(shown once\): ([A-Za-z0-9]{16})", r.text)
    tap.ok(r.code == 200 and m, "a user added from the page, with a "
           "generated password shown once", r.code)
    r = c.get("/lamplight/users")
    tap.ok("<script>alert" not in r.text and
           "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text,
           "what a user typed is escaped in the page")
    if m:
        ua = sc.UA("127.0.0.1", app.port, app.domain, "eve", m.group(1))
        rr = ua.register()
        ua.close()
        tap.ok(rr and rr.code == 200, "eve registers with the password "
               "the page generated", rr and rr.code)
    else:
        tap.ok(False, "eve registers with the password the page generated")
    r = c.post("/lamplight/users", {"username": "bob", "csrf": tok,
                                    "name": "", "password": ""})
    tap.ok(r.code == 422 and "a user &apos;bob&apos; exists" in r.text,
           "adding an existing user: 422 and why", r.code)

    # ---- devices and keys from the page ----
    tok = c.csrf("/lamplight/devices")
    r = c.post("/lamplight/devices", {"csrf": tok, "mac": "00:15:65:12:34",
                                      "vendor": "yealink", "model": "T46U",
                                      "owner": "alice"})
    tap.ok(r.code == 422 and "12 hex digits" in r.text,
           "a short MAC address: 422 and the message", r.code)
    r = c.post("/lamplight/devices", {"csrf": tok, "mac": "00:15:65:12:34:56",
                                      "vendor": "yealink", "model": "T46U",
                                      "owner": "nobody"})
    tap.ok(r.code == 422 and "no user" in r.text,
           "a device for an unknown owner: 422", r.code)
    r = c.post("/lamplight/devices", {"csrf": tok, "mac": "00:15:65:12:34:56",
                                      "vendor": "yealink", "model": "T46U",
                                      "owner": "alice"})
    tap.ok(r.code == 303, "a Yealink device added from the page", r.code)
    tok = c.csrf("/lamplight/device?mac=001565123456")
    for pos, kind, target, label in (("1", "blf", "bob", "Bob"),
                                     ("2", "blf", "carol", ""),
                                     ("3", "speed", "1234", "Voicemail")):
        r = c.post("/lamplight/device?mac=001565123456",
                   {"csrf": tok, "action": "keyset", "position": pos,
                    "kind": kind, "target": target, "label": label})
    r = c.post("/lamplight/device?mac=001565123456",
               {"csrf": tok, "action": "keyset", "position": "4",
                "kind": "blf", "target": "nobody", "label": "x"})
    tap.ok(r.code == 422 and "no user" in r.text,
           "a BLF key for an unknown user: 422", r.code)
    r = c.post("/lamplight/device?mac=001565123456",
               {"csrf": tok, "action": "keyset", "position": "4",
                "kind": "blf", "target": "dave", "label": "a;b"})
    tap.ok(r.code == 422 and "no ; or |" in r.text,
           "a label with ';' is refused (it would break a phone's file)",
           r.code)
    keys = app.ctl("device", "show", "001565123456").stdout
    tap.ok("key 1 blf bob Bob" in keys and "key 2 blf carol carol" in keys
           and "key 3 speed 1234 Voicemail" in keys and "key 4" not in keys,
           "the page's keys are in the database (lamplightctl device "
           "show)", keys)
    d = show("001565123456")
    path = "/prov/001565123456.cfg"
    r = lpweb.fetch(web, path)
    tap.ok(r.code == 401 and d["sip_password"] not in r.text and
           "Digest" in (r.header("WWW-Authenticate") or ""),
           "the file without credentials: 401 with a digest challenge, no "
           "password in the answer", r.code)
    r = lpweb.fetch(web, path, d["prov_user"], "wrong-secret")
    tap.ok(r.code == 401, "the file with a wrong password: 401", r.code)
    r = lpweb.fetch(web, path, d["prov_user"], d["prov_password"],
                    basic=True)
    tap.ok(r.code == 401, "Basic credentials over plain HTTP are refused "
           "(401)", r.code)
    r = lpweb.fetch(web, "/prov/0015650000ff.cfg")
    tap.ok(r.code == 404, "an unknown MAC address: 404", r.code)
    r = lpweb.fetch(web, "/prov/cfg001565123456.xml", d["prov_user"],
                    d["prov_password"])
    tap.ok(r.code == 404, "another vendor's file name for a Yealink: 404",
           r.code)
    r = lpweb.fetch(web, path, d["prov_user"], d["prov_password"])
    tap.ok(r.code == 200 and "linekey.1.type = 16" in r.text and
           "linekey.3.type = 13" in r.text,
           "the Yealink file with digest credentials: 200", r.code)
    r = c.get("/lamplight/devices")
    tap.ok(re.search(r"001565123456.*?<td class=\"fetch\">20\d\d-.*UTC "
                     r"from 127\.0\.0\.1", r.text),
           "the Devices page shows when the device last fetched its file")
    tok = c.csrf("/lamplight/device?mac=001565123456")
    c.post("/lamplight/device?mac=001565123456",
           {"csrf": tok, "action": "keyset", "position": "1",
            "kind": "blf", "target": "dave", "label": "Dave"})
    r = lpweb.fetch(web, path, d["prov_user"], d["prov_password"])
    tap.ok("linekey.1.value = dave" in r.text and
           "linekey.1.label = Dave" in r.text,
           "a key changed on the page is in the file at once")

    # the device registers with what its file says
    ua = sc.UA("127.0.0.1", app.port, app.domain, "alice",
               d["sip_password"])
    rr = ua.register(user=d["sip_auth"])
    tap.ok(rr and rr.code == 200, "the device registers as alice with the "
           "auth name and password of its file", rr and rr.code)
    rr2 = ua.register(user=d["sip_auth"], password="wrong")
    ua.close()
    tap.ok(rr2 and rr2.code == 401, "... and not with a wrong password",
           rr2 and rr2.code)
    tok = c.csrf("/lamplight/device?mac=001565123456")
    c.post("/lamplight/device?mac=001565123456",
           {"csrf": tok, "action": "reset"})
    d2 = show("001565123456")
    r = lpweb.fetch(web, path, d["prov_user"], d["prov_password"])
    ua = sc.UA("127.0.0.1", app.port, app.domain, "alice",
               d["sip_password"])
    rr = ua.register(user=d["sip_auth"])
    ua.close()
    tap.ok(d2["prov_password"] != d["prov_password"] and r.code == 401 and
           rr and rr.code == 401,
           "New credentials: the old provisioning and SIP passwords stop "
           "working", (r.code, rr and rr.code))

    # ---- every vendor's file, key by key ----
    for vendor, (mac, fname) in VENDORS.items():
        app.ctl("device", "add", mac, "--vendor", vendor, "--owner",
                "alice", "--model", "test")
        m = re.sub(r"[^0-9a-fA-F]", "", mac).lower()
        app.ctl("key", "set", m, "1", "blf", "bob", "--label", "Bob")
        app.ctl("key", "set", m, "2", "blf", "carol", "--label",
                "Carol & Co")
        app.ctl("key", "set", m, "3", "speed", "1234", "--label",
                "Voicemail")
        d = show(m)
        r0 = lpweb.fetch(web, "/prov/" + fname)
        r = lpweb.fetch(web, "/prov/" + fname, d["prov_user"],
                        d["prov_password"])
        try:
            bad = CHECKS[vendor](r.text, d) if r.code == 200 else \
                ["HTTP %d" % r.code]
        except ET.ParseError as e:
            bad = ["not well-formed XML: %s" % e]
        tap.ok(r0.code == 401 and d["sip_password"] not in r0.text,
               "%s: %s without credentials: 401, nothing leaks"
               % (vendor, fname), r0.code)
        tap.ok(not bad, "%s: %s has the account and the keys, key by key"
               % (vendor, fname), "\n".join(bad) + "\n" + r.text[:1500])
        f = app.ctl("device", "file", m)
        tap.ok(f.stdout == r.text and fname.lower() in f.stderr.lower(),
               "%s: lamplightctl device file prints the same file" % vendor)
    r = app.ctl("key", "set", "001565000001", "5", "blf", "nobody",
                check=False)
    tap.ok(r.returncode != 0 and "no such user" in r.stderr,
           "lamplightctl key set refuses a BLF key for an unknown user")
    app.ctl("key", "del", "001565000001", "3")
    tap.ok("linekey.3" not in app.ctl("device", "file",
                                      "001565000001").stdout,
           "lamplightctl key del: the key leaves the file")
    lst = app.ctl("device", "list").stdout
    tap.ok(len(lst.strip().splitlines()) == 6,
           "lamplightctl device list shows the six devices", lst)
    before = show("000413000004")
    app.ctl("device", "set", "000413000004", "--owner", "bob", "--model",
            "D785")
    after = show("000413000004")
    tap.ok(after["owner"] == "bob" and after["model"] == "D785" and
           after["sip_auth"] == "bob~000413000004" and
           after["sip_password"] != before["sip_password"],
           "lamplightctl device set: a new owner, and new credentials for "
           "the new auth name", after)
    app.ctl("user", "name", "bob", "Bob Builder")
    r = lpweb.fetch(web, "/prov/000413000004.xml", after["prov_user"],
                    after["prov_password"])
    tap.ok("<user_realname idx=\"1\" perm=\"R\">Bob Builder<" in r.text,
           "lamplightctl user name: the name is in the owner's phone file",
           r.text[:600])

    # ---- watchers: a pending request approved ----
    w = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carolpw")
    w.register()
    sub = w.request("SUBSCRIBE", "sip:dave@%s" % app.domain,
                    ["Event: presence", "Expires: 600",
                     "Contact: <%s>" % w.contact_uri(),
                     "Accept: application/pidf+xml"])
    if sub is not None and sub.code == 407:
        ch = sc.parse_challenge(sub.get("proxy-authenticate"))
        auth = w.auth_header(ch, "SUBSCRIBE", "sip:dave@%s" % app.domain)
        sub = w.request("SUBSCRIBE", "sip:dave@%s" % app.domain,
                        ["Event: presence", "Expires: 600",
                         "Contact: <%s>" % w.contact_uri(),
                         "Accept: application/pidf+xml",
                         auth.replace("Authorization", "Proxy-Authorization",
                                      1)])
    tap.ok(sub is not None and sub.code in (200, 202),
           "carol subscribes to dave's presence (pending: the default "
           "is confirm)", sub and sub.code)
    time.sleep(0.5)
    pend = app.ctl("watcher", "pending").stdout
    tap.ok(re.search(r"dave\s+carol", pend),
           "lamplightctl watcher pending lists carol waiting for dave", pend)
    r = c.get("/lamplight/watchers")
    tap.ok(re.search(r"<table id=\"pending\">.*carol.*dave.*Approve",
                     r.text, re.S), "the Watchers page lists the request")
    tok = c.csrf("/lamplight/watchers")
    r = c.post("/lamplight/watchers", {"csrf": tok, "owner": "dave",
                                       "watcher": "carol", "rule": "allow"})
    tap.ok(r.code == 200 and "Approved" in r.text,
           "Approve from the page", r.code)
    lst = app.ctl("watcher", "list").stdout
    tap.ok(re.search(r"dave\s+carol\s+allow", lst),
           "the approval is an allow rule", lst)
    deadline = time.time() + 3
    active = False
    while time.time() < deadline and not active:
        raw = w.t.recv(0.5)
        if raw and b"NOTIFY" in raw[:10]:
            text = raw.decode("utf-8", "replace")
            if "Subscription-State: active" in text:
                active = True
            # answer every NOTIFY
            lines = text.split("\r\n")
            hdrs = [ln for ln in lines if ln.split(":")[0].lower() in
                    ("via", "from", "to", "call-id", "cseq")]
            w.t.send(("SIP/2.0 200 OK\r\n" + "\r\n".join(hdrs) +
                      "\r\nContent-Length: 0\r\n\r\n").encode())
    w.close()
    tap.ok(active, "carol's subscription becomes active after the "
           "approval (a NOTIFY with Subscription-State: active)")
    r = c.get("/lamplight/watchers")
    tap.ok(re.search(r'<table id="active">.*<td>carol</td><td>dave</td>'
                     r'<td>presence</td>', r.text, re.S),
           "the Watchers page lists carol watching dave now")
    r = app.ctl("watcher", "refuse", "dave", "bob")
    tap.ok("dave" in app.ctl("watcher", "list").stdout and re.search(
        r"dave\s+bob\s+block", app.ctl("watcher", "list").stdout),
        "lamplightctl watcher refuse writes a block rule")

    # ---- the board ----
    ua = sc.UA("127.0.0.1", app.port, app.domain, "bob", "bobpw")
    ua.register(extra=["User-Agent: Test Phone 1.0"])
    deadline = time.time() + 3
    bob = None
    while time.time() < deadline:
        j = c.get("/lamplight/board.json")
        data = json.loads(j.text)
        bob = [u for u in data["users"] if u["user"] == "bob"][0]
        if bob["lamp"] == "idle":
            break
        time.sleep(0.2)
    tap.ok(data["synced"]["reg"] and data["synced"]["pres"] and
           bob["lamp"] == "idle" and bob["devices"] and
           bob["devices"][0]["user_agent"] == "Test Phone 1.0",
           "board.json: bob's registration, idle, with his device's "
           "User-Agent", bob)
    dave = [u for u in data["users"] if u["user"] == "dave"][0]
    tap.ok(dave["lamp"] == "offline", "board.json: dave is offline", dave)
    ua.register(expires=0)
    ua.close()

    # ---- logout, guessing ----
    tok = c.csrf("/lamplight/board")
    r = c.post("/lamplight/logout", {"csrf": tok})
    r2 = c.get("/lamplight/users")
    tap.ok(r.code == 303 and r2.code == 303,
           "after logout the session is gone", (r.code, r2.code))
    g = lpweb.Client(web)
    codes = [g.login("root", "guess%d" % i).code for i in range(6)]
    r = g.login("root", "rootroot")
    tap.ok(codes[:5] == [403] * 5 and codes[5] == 429 and r.code == 429
           and int(r.header("Retry-After") or 0) > 0,
           "guessing: after 5 wrong passwords each try must wait (429 "
           "with Retry-After), the right password too", (codes, r.code))
    tap.ok("too many failures" in web.log(),
           "the throttled tries are logged", web.log()[-300:])
    other = lpweb.Client(web, source="127.0.0.2")
    r = other.login("root", "rootroot")
    tap.ok(r.code == 429, "the account waits from another address too",
           r.code)
    r = lpweb.Client(web).login("ops", "opsopsops")
    tap.ok(r.code == 429, "another account waits at the guessing address",
           r.code)
    r = lpweb.Client(web, source="127.0.0.2").login("ops", "opsopsops")
    tap.ok(r.code == 303, "another account from another address logs in",
           r.code)

    # ---- over HTTPS ----
    tls = lpweb.Web(app, https=True)
    try:
        r = lpweb.Client(tls, source="127.0.0.2").login("ops", "opsopsops")
        sess = [h for h in r.headers.get_all("Set-Cookie") or []
                if h.startswith("lp_session=")]
        tap.ok(r.code == 303 and sess and "; Secure" in sess[0] and
               "HttpOnly" in sess[0],
               "over HTTPS the session cookie is also Secure", sess)
        d = show("001565000001")
        r = lpweb.fetch(tls, "/prov/001565000001.cfg", d["prov_user"],
                        d["prov_password"], basic=True)
        r2 = lpweb.fetch(tls, "/prov/001565000001.cfg", d["prov_user"],
                         "wrong", basic=True)
        tap.ok(r.code == 200 and "linekey.1.type = 16" in r.text and
               r2.code == 401,
               "over HTTPS a phone may fetch its file with Basic "
               "credentials (a wrong one: 401)", (r.code, r2.code))
    finally:
        tls.close(tap)
finally:
    if web:
        web.close(tap)
    app.close(tap)

sys.exit(tap.done())
