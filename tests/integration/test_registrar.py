"""test_registrar: RFC 3261 §10 registration against the real daemon on
loopback, with a Python UA: challenge, MD5/SHA-256/SHA-512-256 digest,
refresh, several contacts, unregister one, Contact: *, 423, expiry by
time, restart and crash keep bindings, TCP, Path, caps, identical answers
for unknown users and wrong passwords, nonce staleness and replay, bus.

  UA                      registrar
  REGISTER  ------------->
            <------------- 401 WWW-Authenticate: Digest ... nonce
  REGISTER + Authorization ->
            <------------- 200 Contact: <...>;expires=N (every binding)
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

CONF = ("reg_expires_min = 2\n"
        "reg_max_contacts = 3\n"
        "nonce_lifetime = 5\n"
        "sip_max_message = 4000\n")

app = lptest.Appliance(lptest.build_dir(), CONF)


def ua(user="alice", password="secret", proto="udp", algs=None):
    return sc.UA("127.0.0.1", app.port, app.domain, user, password, proto,
                 algs)


def query(u):
    """REGISTER without Contact: the current bindings (§10.2.3)."""
    return u.register(contacts=[])


def shape(r):
    """What a response reveals, with the nonce blanked out."""
    ch = [dict(sc.parse_challenge(v), nonce="N")
          for v in r.all("www-authenticate")]
    names = sorted(set(n for n, _ in r.headers) - {"via", "call-id",
                                                    "from", "to"})
    return (r.code, r.reason, names, ch)


try:
    app.add_user("alice", "secret", "--name", "Alice")
    app.add_user("bob", "bobpw")
    app.add_user("carol", "carolpw", "--algorithms", "sha-256,md5")
    app.add_user("dave", "davepw", "--algorithms", "sha-512-256")
    app.start()

    # -- the challenge
    a = ua()
    r = a.request("REGISTER", "sip:" + app.domain,
                  ["Contact: <%s>" % a.contact_uri()])
    ok(r and r.code == 401, "REGISTER without credentials: 401")
    ok(r and r.get("server") == "Lamplight",
       "the Server header names no version (server_version = no)",
       r and r.get("server"))
    ch = [sc.parse_challenge(v) for v in r.all("www-authenticate")]
    ok(len(ch) == 1 and ch[0].get("algorithm") == "MD5" and
       ch[0].get("qop") == "auth" and ch[0].get("realm") == app.domain,
       "default challenge: MD5 alone, qop=auth, realm = domain", ch)

    # -- MD5 registration
    r = a.register()
    ok(r and r.code == 200, "MD5 digest: 200", r)
    cs = r.contacts() if r else []
    ok(len(cs) == 1 and cs[0][0] == a.contact_uri() and
       int(cs[0][1]["expires"]) == 3600,
       "200 lists the binding with the default expiry 3600", cs)
    ok(r and r.get("date"), "200 carries Date (§10.3 step 8)")

    # -- refresh: same Call-ID, higher CSeq, new expiry
    r = a.register(expires=120)
    cs = r.contacts() if r else []
    ok(r and r.code == 200 and len(cs) == 1 and
       int(cs[0][1]["expires"]) == 120, "refresh with Expires: 120", cs)

    # -- out-of-order CSeq within the Call-ID: 400
    a.cseq = 100
    r = a.register()
    a.cseq = 50     # numbers never used: no merged-request 482
    r = a.register()
    ok(r and r.code == 400 and "CSeq" in r.reason,
       "an older CSeq in the same Call-ID: 400 %s" % (r and r.reason))
    a.cseq = 200

    # -- several contacts; q ordering; unregister one
    c2 = "sip:alice@127.0.0.1:40002"
    c3 = "sip:alice@127.0.0.1:40003"
    r = a.register(contacts=["<%s>;q=0.5" % c2,
                             "<%s>;expires=300;q=0.9" % c3])
    cs = r.contacts() if r else []
    ok(r and r.code == 200 and [c for c, _ in cs] ==
       [a.contact_uri(), c3, c2], "three bindings, highest q first", cs)
    exp = {c: int(p["expires"]) for c, p in cs}
    ok(exp.get(c3) == 300 and exp.get(c2) == 3600,
       "Contact expires param beats the default", exp)
    r = a.register(contacts=["<%s>;expires=0" % c2])
    cs = [c for c, _ in r.contacts()] if r else []
    ok(r and r.code == 200 and c2 not in cs and len(cs) == 2,
       "expires=0 removes that binding only", cs)

    # -- the contact cap (3)
    r = a.register(contacts=["<sip:alice@127.0.0.1:40004>",
                             "<sip:alice@127.0.0.1:40005>"])
    ok(r and r.code == 403, "over reg_max_contacts: 403 (%s)" %
       (r and r.reason))
    r = query(a)
    ok(r and r.code == 200 and len(r.contacts()) == 2,
       "a refused REGISTER changed nothing")

    # -- too brief / too long
    r = a.register(contacts=["<%s>;expires=1" % c2])
    ok(r and r.code == 423 and r.get("min-expires") == "2",
       "expires=1 under the minimum: 423 with Min-Expires: 2",
       r and r.headers)
    r = a.register(contacts=["<%s>" % c2], expires=999999)
    cs = dict(r.contacts()) if r else {}
    ok(r and r.code == 200 and int(cs[c2]["expires"]) == 7200,
       "Expires over the maximum is lowered to 7200", cs)

    # -- Contact: *
    r = a.register(contacts=["*"], expires=3600)
    ok(r and r.code == 400, "Contact: * with Expires != 0: 400")
    r = a.register(contacts=["*", "<%s>" % c2], expires=0)
    ok(r and r.code == 400, "Contact: * with another Contact: 400")
    r = a.register(contacts=["*"], expires=0)
    ok(r and r.code == 200 and r.contacts() == [],
       "Contact: * with Expires: 0 removes everything", r)

    # -- unknown user and wrong password: the same answer
    w = ua("alice", "wrong")
    rw = w.register()
    n = ua("nobody", "secret")
    rn = n.register()
    ok(rw and rw.code == 401 and rn and rn.code == 401,
       "wrong password and unknown user: both 401")
    ok(rw and rn and shape(rw) == shape(rn),
       "... and the two answers look alike", (shape(rw), shape(rn)))
    log = app.wait_log(["authentication failed: wrong password",
                        "unknown user"])
    ok("authentication failed: wrong password" in log and
       "unknown user" in log, "each refusal is logged with why")

    # -- someone else's address with one's own credentials
    b = ua("bob", "bobpw")
    hdr = ["Contact: <%s>" % b.contact_uri()]
    b.user = "alice"       # To: alice
    r = b.request("REGISTER", "sip:" + app.domain, hdr)
    ch = sc.parse_challenge(r.get("www-authenticate"))
    b.nc = 0
    auth = b.auth_header(ch, "REGISTER", "sip:" + app.domain,
                         password="bobpw", user="bob")
    r = b.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    ok(r and r.code == 403, "bob's credentials for alice's address: 403")

    # -- per-user algorithms: SHA-256 first, then MD5; SHA-512-256 alone
    c = ua("carol", "carolpw", algs=["SHA-256"])
    r = c.request("REGISTER", "sip:" + app.domain,
                  ["Contact: <%s>" % c.contact_uri()])
    algs = [sc.parse_challenge(v).get("algorithm")
            for v in r.all("www-authenticate")]
    ok(algs == ["SHA-256", "MD5"], "carol's challenge: SHA-256, MD5", algs)
    r = c.register()
    ok(r and r.code == 200, "SHA-256 digest (RFC 7616): 200", r)
    c2ua = ua("carol", "carolpw", algs=["MD5"])
    r = c2ua.register()
    ok(r and r.code == 200, "carol with MD5 (second offer): 200", r)
    d = ua("dave", "davepw", algs=["SHA-512-256"])
    r = d.register()
    ok(r and r.code == 200, "SHA-512-256 digest (RFC 8760): 200", r)
    d2 = ua("dave", "davepw", algs=None)
    d2.algorithms = None
    r = d2.request("REGISTER", "sip:" + app.domain,
                   ["Contact: <%s>" % d2.contact_uri()])
    ch = sc.parse_challenge(r.get("www-authenticate"))
    ch["algorithm"] = "MD5"
    d2.nc = 0
    auth = d2.auth_header(ch, "REGISTER", "sip:" + app.domain)
    r = d2.request("REGISTER", "sip:" + app.domain,
                   ["Contact: <%s>" % d2.contact_uri(), auth])
    ok(r and r.code == 401, "MD5 answer where only SHA-512-256 is "
       "offered: 401")

    # -- nonce count replay
    e = ua()
    hdr = ["Contact: <%s>" % e.contact_uri()]
    r = e.request("REGISTER", "sip:" + app.domain, hdr)
    ch = sc.parse_challenge(r.get("www-authenticate"))
    e.nc = 0
    auth = e.auth_header(ch, "REGISTER", "sip:" + app.domain, nc=1)
    r1 = e.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    r2 = e.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    ok(r1 and r1.code == 200 and r2 and r2.code == 401,
       "the same nonce count twice: the replay gets 401")
    auth = e.auth_header(ch, "REGISTER", "sip:" + app.domain, nc=2)
    r3 = e.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    ok(r3 and r3.code == 200, "the next nonce count: 200")

    # -- a retransmission (the same bytes: replies are stateless): 200 again
    rt = ua("carol", "carolpw")
    hdr = ["Contact: <%s>" % rt.contact_uri()]
    r = rt.request("REGISTER", "sip:" + app.domain, hdr)
    ch = sc.parse_challenge(r.get("www-authenticate"))
    rt.nc = 0
    auth = rt.auth_header(ch, "REGISTER", "sip:" + app.domain)
    raw = rt.build("REGISTER", "sip:" + app.domain, hdr + [auth])
    rt.t.send(raw)
    r1 = sc.Response(rt.t.recv())
    rt.t.send(raw)
    r2 = sc.Response(rt.t.recv())
    ok(r1.code == 200 and r2.code == 200 and
       [c for c, _ in r1.contacts()] == [c for c, _ in r2.contacts()],
       "a retransmitted REGISTER gets 200 again with the same bindings",
       (r1, r2))

    # -- forged nonce
    fake = dict(ch, nonce="0" * 64)
    auth = e.auth_header(fake, "REGISTER", "sip:" + app.domain, nc=1)
    r = e.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    ok(r and r.code == 401 and "stale" not in r.get("www-authenticate"),
       "a nonce we never issued: 401, not stale")

    # -- Path (RFC 3327)
    p = ua("bob", "bobpw")
    r = p.register(extra=["Path: <sip:edge.example.net;lr>",
                          "Supported: path"])
    ok(r and r.code == 200 and
       r.get("path") == "<sip:edge.example.net;lr>",
       "Path stored and echoed to a UA that supports it", r and r.headers)

    # -- foreign domain, bad requests, other methods
    f = ua()
    f.domain = "elsewhere.example"
    r = f.request("REGISTER", "sip:elsewhere.example",
                  ["Contact: <%s>" % f.contact_uri()])
    ok(r and r.code == 403, "REGISTER for a foreign domain: 403")
    g = ua()
    raw = g.build("REGISTER", "sip:" + app.domain, []).replace(
        b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE")
    g.t.send(raw)
    r = sc.Response(g.t.recv())
    ok(r.code == 400 and r.reason == "CSeq method does not match request",
       "CSeq method mismatch: 400 with a reason that says so", r)
    raw = g.build("REGISTER", "sip:" + app.domain, []).replace(
        b"Call-ID:", b"X-Call-ID:")
    g.t.send(raw)
    r = sc.Response(g.t.recv())
    ok(r.code == 400 and r.reason == "Missing Call-ID header",
       "missing Call-ID: 400 Missing Call-ID header", r)
    r = g.request("OPTIONS", "sip:" + app.domain, [])
    ok(r and r.code == 200 and "REGISTER" in (r.get("allow") or "") and
       r.get("accept") and r.get("supported") is not None,
       "OPTIONS to the server: 200 with Allow, Accept, Supported",
       r and r.headers)
    r = g.request("REGISTER", "sip:" + app.domain,
                  ["Require: foo, path", "Proxy-Require: bar"])
    ok(r and r.code == 420 and r.get("unsupported") == "foo, bar",
       "RFC 3261 §8.2.2.3: Require: foo gets 420 with Unsupported: foo "
       "(path is supported)", r and r.headers)
    r = g.request("FOO", "sip:" + app.domain, [])
    ok(r and r.code == 501 and r.get("allow"), "unknown method: 501 Allow")
    r = g.request("REGISTER", "sip:" + app.domain,
                  ["X-Big: " + "x" * 5000])
    ok(r and r.code == 513, "over sip_max_message: 513")

    # -- TCP
    t = ua("bob", "bobpw", proto="tcp")
    r = t.register()
    ok(r and r.code == 200 and any(c == t.contact_uri()
                                   for c, _ in r.contacts()),
       "registration over TCP: 200", r)
    st = app.ctl("status").stdout
    ok("TCP:127.0.0.1:%d" % t.t.local[1] in st,
       "status shows the TCP flow it came from", st)

    # -- the bus: a subscriber sees reg events (snapshot, then live)
    watch = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch", "reg",
                              "--timeout", "4"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    h = ua()
    r = h.register()
    r = h.register(contacts=["*"], expires=0)
    out, _ = watch.communicate(timeout=20)
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    keys = [(e_["key"], e_["type"]) for e_ in evs]
    ok(("bob", "set") in keys, "the snapshot holds bob's bindings", keys)
    live = [e_ for e_ in evs if e_["key"] == "alice"]
    ok(len(live) >= 2 and live[-2]["type"] == "set" and
       live[-2]["data"]["event"] == "registered" and
       h.contact_uri() in [c_["uri"] for c_ in
                           live[-2]["data"]["contacts"]] and
       live[-1]["type"] == "del" and
       live[-1]["data"]["event"] == "unregistered",
       "registered then unregistered, live, with contacts", live)
    ok(all(e_["v"] == 1 for e_ in evs), "every message has v: 1")

    # -- stale nonce: a challenge answered after nonce_lifetime (5 s)
    s = ua("bob", "bobpw")
    hdr = ["Contact: <%s>" % s.contact_uri()]
    r = s.request("REGISTER", "sip:" + app.domain, hdr)
    ch = sc.parse_challenge(r.get("www-authenticate"))

    # -- expiry by time (while we wait for the nonce to go stale)
    x = ua()
    r = x.register(contacts=["<%s>;expires=2" % x.contact_uri()])
    ok(r and r.code == 200, "a 2 s registration")
    time.sleep(6.5)
    s.nc = 0
    auth = s.auth_header(ch, "REGISTER", "sip:" + app.domain)
    r = s.request("REGISTER", "sip:" + app.domain, hdr + [auth])
    ok(r and r.code == 401 and "stale=true" in r.get("www-authenticate"),
       "an expired nonce: 401 with stale=true", r and r.headers)
    st = app.ctl("status").stdout
    ok(x.contact_uri() not in st, "the 2 s binding expired on time", st)
    ok("expired" in app.log(), "expiry is logged")

    # -- restart (SIGTERM) and crash (SIGKILL) keep bindings
    k = ua("bob", "bobpw")
    r = k.register()
    before = app.ctl("status").stdout
    app.stop()
    app.start()
    r = query(k)
    ok(r and r.code == 200 and any(c == k.contact_uri()
                                   for c, _ in r.contacts()),
       "after a restart the binding is still there", r)
    app.stop(sig=9)
    app.start()
    r = query(k)
    ok(r and any(c == k.contact_uri() for c, _ in r.contacts()),
       "after a crash (SIGKILL) the binding is still there", r)
    ok(app.ctl("status").stdout.count("127.0.0.1") ==
       before.count("127.0.0.1"), "status lists the same bindings")
    ok("binding(s) restored" in app.log(), "restart logs the restore")
    ok(app.alive(), "the registrar is alive at the end")
finally:
    app.close(tap)

sys.exit(tap.done())
