"""test_route: out-of-dialog requests from users routed by the edge to the
back daemon that owns them (DESIGN.md "Processes"): challenge (407), the
authenticated user must be the From user (403), the edge's own
P-Asserted-Identity replaces any from outside, PUBLISH/SUBSCRIBE presence
and presence.winfo to presence, SUBSCRIBE dialog to blf, MESSAGE to
imrelay, an unknown package gets 489, a silent back daemon 503 with
Retry-After, out of a dialog and for a refresh inside one. The back daemons are stubs that record what reaches them.

  UA -- SUBSCRIBE ------------> edge
     <-- 407 Proxy-Authenticate
     -- SUBSCRIBE + Proxy-Authorization ->
                                edge -- SUBSCRIBE + P-Asserted-Identity -> stub
                                     <-- 202 -----------------------------
     <-- 202 (without the edge's Via)
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from stubs import Stub, answer, incoming  # noqa: E402

tap = lptest.Tap()
ok = tap.ok


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

    # a retransmission (the same bytes again: the answer was lost) is
    # sent on with the same branch, for the back daemon's transaction to
    # absorb, and its answer comes back again
    r = a.request("MESSAGE", bob, ["Content-Type: text/plain"], b"x")
    ch = sc.parse_challenge(r.get("proxy-authenticate")) if r else None
    a.nc = 0
    auth = a.auth_header(ch, "MESSAGE", bob).replace(
        "Authorization:", "Proxy-Authorization:", 1) if ch else ""
    raw = a.build("MESSAGE", bob, ["Content-Type: text/plain", auth], b"x")
    n = len(imrelay.got)
    codes = []
    for _ in range(2):
        a.t.send(raw)
        got = a.t.recv(3.0)
        codes.append(got and sc.Response(got).code)
    vias = [sc.Response(b"SIP/2.0 200 X\r\n" + m.split(b"\r\n", 1)[1])
            .get("via") for m in imrelay.got[n:]]
    ok(codes == [200, 200] and len(vias) == 2 and vias[0] == vias[1],
       "a retransmitted MESSAGE goes on with the same branch and is "
       "answered again", (codes, vias))

    # behind a NAT: the Via names a port nobody listens on, with rport;
    # the back daemon's answer, relayed without state, still comes back
    # to where the request came from (RFC 3581)
    def natted(raw):
        port = a.t.local[1]
        return raw.replace(b"127.0.0.1:%d;" % port,
                           b"127.0.0.1:%d;" % (port + 1), 1)
    a.t.send(natted(a.build("MESSAGE", bob, ["Content-Type: text/plain"],
                            b"n")))
    got = a.t.recv(3.0)
    ch = sc.parse_challenge(sc.Response(got).get("proxy-authenticate")) \
        if got else None
    a.nc = 0
    auth = a.auth_header(ch, "MESSAGE", bob).replace(
        "Authorization:", "Proxy-Authorization:", 1) if ch else ""
    n = len(imrelay.got)
    a.t.send(natted(a.build("MESSAGE", bob, ["Content-Type: text/plain",
                                             auth], b"n")))
    got = a.t.recv(3.0)
    fwd = imrelay.got[n:]
    ok(got and sc.Response(got).code == 200 and fwd and
       b";rport=%d;received=127.0.0.1" % a.t.local[1] in fwd[0],
       "a MESSAGE from behind a NAT: forwarded with received and rport "
       "in the phone's Via, and the answer comes back to its real port",
       (got, fwd[:1]))

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

    # ---- flows: back daemons reach devices on the flow they came from
    bu = ua("bob", "bobpw")                          # UDP, behind "NAT"
    nat_contact = "sip:bob@127.0.0.1:%d" % (bu.t.local[1] + 1)
    r = bu.register(contacts=["<%s>" % nat_contact])
    bt = sc.UA("127.0.0.1", app.port, app.domain, "bob", "bobpw", "tcp")
    r2 = bt.register()
    ok(r and r.code == 200 and r2 and r2.code == 200,
       "bob registered from UDP (Contact port unreachable) and TCP")

    # the dialog's Contact is no registered binding: only the flow token
    # in the Record-Route can find this device
    dlg_contact = "sip:bob@127.0.0.1:%d" % (bu.t.local[1] + 2)
    r, _ = send(bu, "SUBSCRIBE", "sip:alice@" + app.domain,
                ["Event: presence", "Contact: <%s>" % dlg_contact],
                user="bob", password="bobpw")
    got = presence.last()
    rr = got.get("record-route") if got else None
    ok(r and r.code == 202 and rr and "flow=" in rr and ";lr" in rr,
       "SUBSCRIBE is Record-Routed with a flow token", rr)
    callid = got.get("call-id")
    ftag = re.search(r"tag=([^;>\s]+)", got.get("from")).group(1)
    notify = ["NOTIFY %s SIP/2.0" % dlg_contact, "Route: " + rr,
              "Max-Forwards: 70",
              "From: <sip:alice@%s>;tag=stub" % app.domain,
              "To: <sip:bob@%s>;tag=%s" % (app.domain, ftag),
              "Call-ID: " + callid, "CSeq: 1 NOTIFY",
              "Event: presence", "Subscription-State: active;expires=600"]

    results = {}

    def stub_notify():
        results["r"] = presence.request(app.port, notify)

    t = threading.Thread(target=stub_notify)
    t.start()
    raw = incoming(bu, "NOTIFY")
    if raw:
        answer(bu, raw)
    t.join()
    ok(raw is not None, "the NOTIFY reaches the UDP device at its source "
       "port, by the flow token, not at its unreachable Contact port")
    ok(results.get("r") and results["r"].code == 200,
       "the device's 200 reaches the presence daemon", results.get("r"))

    # a refresh inside the dialog: on to the presence daemon along the
    # Route; when the daemon is silent (down, stopped), 503 with
    # Retry-After after route_timeout, never silence (issue 19, item 4)
    def refresh(cseq):
        ip, port = bu.t.local
        bu.t.send(("\r\n".join([
            "SUBSCRIBE sip:presence@127.0.0.1:%d SIP/2.0" % presence.port,
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport" % (
                ip, port, sc.rand(10)),
            "Route: " + rr, "Max-Forwards: 70",
            "From: <sip:bob@%s>;tag=%s" % (app.domain, ftag),
            "To: <sip:alice@%s>;tag=stub" % app.domain,
            "Call-ID: " + callid, "CSeq: %d SUBSCRIBE" % cseq,
            "Event: presence", "Expires: 600",
            "Contact: <%s>" % dlg_contact, "Content-Length: 0"]) +
            "\r\n\r\n").encode())
        end = time.time() + 4
        while time.time() < end:
            raw = bu.t.recv(max(0.05, end - time.time()))
            if raw and raw.startswith(b"SIP/2.0"):
                r = sc.Response(raw)
                if r.code >= 200:
                    return r
        return None

    n = len(presence.got)
    r = refresh(50)
    ok(r and r.code == 202 and len(presence.got) == n + 1 and
       "tag=stub" in (presence.last().get("to") or ""),
       "an in-dialog refresh reaches the presence daemon along the Route "
       "and its 202 comes back", r)
    presence.code = None
    t0 = time.time()
    r = refresh(51)
    dt = time.time() - t0
    ok(r and r.code == 503 and r.get("retry-after") and
       len(presence.got) == n + 2 and 0.8 < dt < 3.0,
       "the same with the daemon silent: 503 with Retry-After after "
       "route_timeout (%.1f s), not silence" % dt, r)
    t0 = time.time()
    r = refresh(52)
    dt = time.time() - t0
    time.sleep(0.3)
    ok(r and r.code == 503 and r.get("retry-after") and dt < 0.5 and
       len(presence.got) == n + 2,
       "while it stays silent, the next refresh gets 503 at once (%.2f s),"
       " and is not sent on: a 503 means it was not acted on" % dt,
       (r, len(presence.got) - n))
    said = "presence: no answer in 1000 ms: its requests get 503 at once"
    ok(said in app.wait_log([said]), "... the edge's log says so")
    presence.code = 202
    time.sleep(1.1)            # one request a second goes on, to find out
    r1 = refresh(53)
    back = "presence answers again" in app.wait_log(["presence answers "
                                                     "again"])
    r2 = refresh(54)
    ok(r1 and r1.code == 202 and back and r2 and r2.code == 202 and
       len(presence.got) == n + 4,
       "a second later a refresh goes on: the daemon answers it (202, "
       "and the edge's log says it answers again), and the next one too",
       (r1, r2))
    # as the edge sends it on (its fast path takes this plain form): our
    # Via on top with the stateless branch, the daemon's with rport and
    # received, our Route gone, Max-Forwards one less, the rest unchanged
    head = raw.split(b"\r\n\r\n")[0].decode() if raw else ""
    vias = re.findall(r"(?im)^via:\s*(.*?)\r?$", head)
    ok(len(vias) == 2 and
       vias[0].startswith("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKlp"
                          % app.port) and
       ";rport=%d;received=127.0.0.1" % presence.port in vias[1] and
       not re.search(r"(?im)^route:", head) and
       re.search(r"(?im)^max-forwards:\s*69\r?$", head) and
       "Subscription-State: active;expires=600" in head and
       head.startswith("NOTIFY %s SIP/2.0" % dlg_contact),
       "the NOTIFY as forwarded: our Via, the daemon's with rport and "
       "received, no Route, Max-Forwards 69", head)
    # a retransmission of it goes on with the same branch, so that the
    # device's transaction absorbs it
    t = threading.Thread(target=lambda: presence.sock.sendto(
        presence.sent[-1], ("127.0.0.1", app.port)))
    t.start()
    again = incoming(bu, "NOTIFY")
    t.join()
    again_via = re.findall(r"(?im)^via:\s*(.*?)\r?$",
                           again.split(b"\r\n\r\n")[0].decode()) \
        if again else []
    ok(again_via and vias and again_via[0] == vias[0],
       "a retransmitted NOTIFY leaves with the same branch",
       (again_via, vias))

    # the same answer in other forms: the Vias on one line (which the
    # edge's fast path takes too, as SIPp writes them), compact names
    # (left to libre); either way the answer arrives, its Vias intact
    for form in ("joined", "compact"):
        notify[6] = "CSeq: %d NOTIFY" % (2 if form == "joined" else 3)
        t = threading.Thread(target=stub_notify)
        t.start()
        raw = incoming(bu, "NOTIFY")
        if raw:
            head = raw.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
            vias = [ln.split(":", 1)[1].strip() for ln in head
                    if ln.lower().startswith("via:")]
            keep = [ln for ln in head if re.match(
                r"(?i)(from|call-id|cseq|to)\s*:", ln)]
            # compact: the edge's own Via as "v:" (the stub here reads
            # only the long form of what is relayed to it)
            via = ["Via: " + ", ".join(vias)] if form == "joined" else \
                ["v: " + vias[0]] + ["Via: " + v for v in vias[1:]]
            bu.t.send(("SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n"
                       "\r\n" % "\r\n".join(via + keep)).encode())
        t.join()
        ok(raw is not None and results.get("r") and
           results["r"].code == 200,
           "a device's 200 with its Vias %s reaches the presence daemon"
           % ("on one line" if form == "joined" else "in compact form"),
           results.get("r"))

    r, _ = send(bt, "SUBSCRIBE", "sip:alice@" + app.domain,
                ["Event: presence", "Contact: <%s>" % bt.contact_uri()],
                user="bob", password="bobpw")
    got = presence.last()
    rr_tcp = got.get("record-route")
    ok(r and r.code == 202 and "transport=tcp" in rr_tcp,
       "a TCP device's SUBSCRIBE: Record-Route on TCP", (r, rr_tcp))
    notify_tcp = ["NOTIFY %s SIP/2.0" % bt.contact_uri(),
                  "Route: " + rr_tcp] + notify[2:]
    notify_tcp[5] = "Call-ID: " + got.get("call-id")
    t = threading.Thread(target=lambda: results.__setitem__(
        "t", presence.request(app.port, notify_tcp)))
    t.start()
    raw = incoming(bt, "NOTIFY")
    if raw:
        answer(bt, raw)
    t.join()
    ok(raw is not None and results.get("t") and results["t"].code == 200,
       "the NOTIFY reaches the TCP device on its own connection, and "
       "its 200 comes back", results.get("t"))

    # the device, inside the dialog: on to the back daemon only
    raw_route = "Route: " + rr
    n = len(presence.got)
    r = bu.request("SUBSCRIBE", "sip:presence@127.0.0.1:%d" % presence.port,
                   [raw_route, "Event: presence", "Expires: 600",
                    "Contact: <%s>" % nat_contact])
    ok(r and r.code == 202 and len(presence.got) == n + 1,
       "an in-dialog re-SUBSCRIBE follows the Route to the presence "
       "daemon", r)
    r = bu.request("MESSAGE", "sip:mallory@192.0.2.77:5060",
                   [raw_route, "Content-Type: text/plain"], b"x")
    ok(r and r.code in (403, 404), "the same Route towards anyone else "
       "(no Lamplight service, no registered device): refused, no open "
       "relay", r)
    bad = notify[:]
    bad[1] = re.sub(r"flow=[^;>]+", "flow=7531.00000000000000ff", rr)
    bad[1] = "Route: " + bad[1]
    r = presence.request(app.port, bad)
    ok(r and r.code == 403, "a forged flow token: 403", r)

    # a back daemon's MESSAGE to a user: every device
    msg = ["MESSAGE sip:bob@%s SIP/2.0" % app.domain, "Max-Forwards: 70",
           "From: <sip:alice@%s>;tag=im1" % app.domain,
           "To: <sip:bob@%s>" % app.domain, "Call-ID: im-" + sc.rand(8),
           "CSeq: 1 MESSAGE", "Content-Type: text/plain",
           "Content-Length: 2"]
    t = threading.Thread(target=lambda: results.__setitem__(
        "m", imrelay.request(app.port, msg[:-1] + ["Content-Length: 0"])))
    t.start()
    got_u = incoming(bu, "MESSAGE")
    got_t = incoming(bt, "MESSAGE")
    if got_u:
        answer(bu, got_u)
    if got_t:
        answer(bt, got_t, 486)
    t.join()
    ok(got_u is not None and got_t is not None,
       "a MESSAGE from the IM relay to bob reaches both his devices")
    ok(results.get("m") and results["m"].code == 200,
       "one device's 200 is the answer (the other said 486)",
       results.get("m"))
    nob = msg[:]
    nob[0] = "MESSAGE sip:carol@%s SIP/2.0" % app.domain
    r = imrelay.request(app.port, nob[:-1] + ["Content-Length: 0"])
    ok(r and r.code == 480, "to a user with no device: 480", r)

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
