"""test_route: out-of-dialog requests from users routed by the edge to the
back daemon that owns them (DESIGN.md "Processes"): challenge (407), the
authenticated user must be the From user (403), the edge's own
P-Asserted-Identity replaces any from outside, PUBLISH/SUBSCRIBE presence
and presence.winfo to presence, SUBSCRIBE dialog to blf, MESSAGE to
imrelay, an unknown package gets 489, a silent back daemon 503 with
Retry-After. The back daemons are stubs that record what reaches them.

  UA -- SUBSCRIBE ------------> edge
     <-- 407 Proxy-Authenticate
     -- SUBSCRIBE + Proxy-Authorization ->
                                edge -- SUBSCRIBE + P-Asserted-Identity -> stub
                                     <-- 202 -----------------------------
     <-- 202 (without the edge's Via)
"""

import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok


class Stub:
    """A back daemon that answers `code` (None: never) and keeps what it
    received."""

    def __init__(self, code=200):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", lptest.free_port()))
        self.port = self.sock.getsockname()[1]
        self.code = code
        self.got = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.got.append(data)
            if self.code is None:
                continue
            head = data.split(b"\r\n\r\n")[0].decode()
            lines = head.split("\r\n")[1:]
            keep = [ln for ln in lines if re.match(
                r"(?i)(via|from|call-id|cseq)\s*:", ln)]
            to = [ln for ln in lines if re.match(r"(?i)to\s*:", ln)][0]
            resp = "SIP/2.0 %d Stub\r\n%s\r\n%s;tag=stub\r\n" \
                   "X-Stub: yes\r\nContent-Length: 0\r\n\r\n" % (
                       self.code, "\r\n".join(keep), to)
            self.sock.sendto(resp.encode(), src)

    def last(self):
        return sc.Response(b"SIP/2.0 200 X\r\n" +
                           self.got[-1].split(b"\r\n", 1)[1]) \
            if self.got else None

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


presence, imrelay, blf = Stub(202), Stub(200), Stub(None)
conf = ("route_presence = udp:127.0.0.1:%d\n"
        "route_imrelay = udp:127.0.0.1:%d\n"
        "route_blf = udp:127.0.0.1:%d\n"
        "route_timeout = 1000\n" % (presence.port, imrelay.port, blf.port))
app = lptest.Appliance(lptest.build_dir(), conf)


def ua(user="alice", password="secret"):
    return sc.UA("127.0.0.1", app.port, app.domain, user, password)


def send(u, method, ruri, headers, body=b"", user=None, password=None):
    """A request; answer a 407 once with credentials."""
    r = u.request(method, ruri, headers, body)
    if r is None or r.code != 407:
        return r, None
    ch = sc.parse_challenge(r.get("proxy-authenticate"))
    u.nc = 0
    auth = u.auth_header(ch, method, ruri, password, user).replace(
        "Authorization:", "Proxy-Authorization:", 1)
    return u.request(method, ruri, headers + [auth], body), r


try:
    app.add_user("alice", "secret")
    app.add_user("bob", "bobpw")
    app.start()
    bob = "sip:bob@" + app.domain

    a = ua()
    r, ch = send(a, "SUBSCRIBE", bob,
                 ["Event: presence", "Expires: 600",
                  "Contact: <%s>" % a.contact_uri(),
                  "P-Asserted-Identity: <sip:boss@%s>" % app.domain,
                  "Accept: application/pidf+xml"])
    ok(ch is not None and ch.code == 407 and
       "Digest" in (ch.get("proxy-authenticate") or ""),
       "SUBSCRIBE without credentials: 407 Proxy-Authenticate")
    ok(r is not None and r.code == 202 and r.get("x-stub") == "yes",
       "with credentials it reaches the presence daemon, whose 202 comes "
       "back", r)
    ok(r is not None and len(r.all("via")) == 1,
       "the answer carries the UA's Via only", r and r.all("via"))
    got = presence.last()
    pai = got.all("p-asserted-identity") if got else []
    ok(pai == ["<sip:alice@%s>" % app.domain],
       "the edge asserted alice and dropped the forged identity", pai)
    ok(got and got.get("max-forwards") == "69",
       "Max-Forwards decremented", got and got.get("max-forwards"))
    ok(got and not got.all("proxy-authorization"),
       "the edge's own credentials are not forwarded")
    ok(got and got.get("event") == "presence" and
       got.get("accept") == "application/pidf+xml",
       "the other headers pass unchanged")

    r, _ = send(a, "PUBLISH", "sip:alice@" + app.domain,
                ["Event: presence", "Expires: 600",
                 "Content-Type: application/pidf+xml"], b"<presence/>")
    ok(r and r.code == 202, "PUBLISH presence: to the presence daemon", r)
    got = presence.last()
    ok(got and got.body == b"<presence/>", "... with its body intact",
       got and got.body)
    r, _ = send(a, "SUBSCRIBE", "sip:alice@" + app.domain,
                ["Event: presence.winfo", "Contact: <%s>" % a.contact_uri()])
    ok(r and r.code == 202, "SUBSCRIBE presence.winfo: to presence", r)

    n = len(imrelay.got)
    r, _ = send(a, "MESSAGE", bob, ["Content-Type: text/plain"], b"hello")
    ok(r and r.code == 200 and len(imrelay.got) == n + 1,
       "MESSAGE: to the IM relay", r)
    ok(imrelay.last().body == b"hello", "... with its body")

    r, _ = send(a, "SUBSCRIBE", bob, ["Event: message-summary",
                                     "Contact: <%s>" % a.contact_uri()])
    ok(r and r.code == 489 and "dialog" in (r.get("allow-events") or ""),
       "an unknown event package: 489 with Allow-Events", r)

    t0 = time.time()
    r, _ = send(a, "SUBSCRIBE", bob, ["Event: dialog",
                                     "Contact: <%s>" % a.contact_uri()])
    dt = time.time() - t0
    ok(r and r.code == 503 and r.get("retry-after") and
       len(blf.got) >= 1 and dt < 3.0,
       "SUBSCRIBE dialog reaches the BLF daemon; it stays silent: 503 "
       "with Retry-After after route_timeout (%.1f s)" % dt, r)

    # From spoofing: alice's credentials, From bob
    s = ua()
    s.user = "bob"   # From and To say bob
    r, _ = send(s, "MESSAGE", "sip:alice@" + app.domain,
                ["Content-Type: text/plain"], b"x", user="alice",
                password="secret")
    ok(r and r.code == 403, "alice's credentials with From bob: 403", r)
    r, _ = send(ua("alice", "wrong"), "MESSAGE", bob,
                ["Content-Type: text/plain"], b"x")
    ok(r and r.code == 407, "a wrong password: 407 again", r)

    f = ua()
    r = f.request("MESSAGE", "sip:carol@elsewhere.example",
                  ["Content-Type: text/plain"], b"x")
    ok(r and r.code == 403, "a foreign domain: 403, no open relay", r)
    ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)
    for st in (presence, imrelay, blf):
        st.close()

sys.exit(tap.done())
