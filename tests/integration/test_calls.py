"""test_calls: calls between users through the edge (RFC 3261 §16): the
INVITE is challenged (407), forked to every device of the callee, 100
Trying comes back, a 180 is relayed, the first 200 wins and the other
device gets CANCEL; the ACK and the BYE follow the two Record-Routes
(one per leg, RFC 5658) in both directions, to each party's own flow,
though bob answers with a Contact he never registered; a forged token,
or the call's tokens under another Call-ID, get 403 and a log line. Busy everywhere gives 486; the
caller's CANCEL gives 487 and reaches the ringing devices; an unknown user
404, a user with no device 480.

  alice            edge             bob@udp         bob@tcp
  INVITE  ------>   (407, ACK, INVITE+auth)
          <- 100    INVITE ------>  INVITE ------------->
          <- 180 <--------------- 180
          <- 200 <------------------------------------ 200
                    CANCEL ------>  (200, 487, ACK)
  ACK (Route) ->    ACK ---------------------------------->
          <- BYE <------------------------------------- BYE (Route)
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
import callphone as cp  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(), "bus_heartbeat = 1\n")
SDP = cp.SDP


def Phone(user, password, proto="udp"):
    return cp.Phone(app, user, password, proto)


ack_non2xx = cp.ack_non2xx


def call(caller, callee, cseq=1, method="INVITE"):
    """INVITE (or OPTIONS, REFER), 407, ACK, the same with credentials;
    returns its lines and the 407."""
    extra = ["Refer-To: <sip:carol@%s>" % app.domain] \
        if method == "REFER" else []
    return cp.call(app, caller, callee, cseq, method, extra)


try:
    for u in ("alice", "bob", "carol"):
        app.add_user(u, u + "pw")
    app.start()
    alice = Phone("alice", "alicepw")
    b1 = Phone("bob", "bobpw")
    b2 = Phone("bob", "bobpw", "tcp")
    ok(all(p.register().code == 200 for p in (alice, b1, b2)),
       "alice, and bob on UDP and on TCP, registered")
    watch = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch",
                              "dialog", "--timeout", "12"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.8)
    callids = []

    # ---- answered on one device, cancelled on the other
    inv, first = call(alice, "bob")
    ok(first and first.code == 407, "INVITE without credentials: 407")
    trying = alice.next(want=100)
    ok(trying is not None, "100 Trying comes back at once")
    i1 = b1.next(want="INVITE")
    i2 = b2.next(want="INVITE")
    ok(i1 is not None and i2 is not None,
       "the INVITE is forked to both of bob's devices")
    # two Record-Routes (RFC 5658): on top the edge's TCP address with
    # bob's flow, below its UDP address with alice's
    rrs = i2.all("record-route") if i2 else []
    ok(len(rrs) == 2 and all("flow=" in v for v in rrs) and
       "transport=tcp" in rrs[0] and "transport=udp" in rrs[1] and
       i2.get("p-asserted-identity") == "<sip:alice@%s>" % app.domain and
       i2.body == SDP,
       "... Record-Routed twice, one per leg's transport and flow, with "
       "alice's asserted identity and the SDP", i2 and i2.lines)
    rr = ", ".join(rrs)                   # bob's route set
    rr_alice = ", ".join(reversed(rrs))   # alice's (RFC 3261 §12.1.2)
    b1.answer(i1, 180, "Ringing", tag="b1")
    ring = alice.next(want=180)
    ok(ring is not None and "tag=b1" in ring.get("to"),
       "bob's 180 Ringing reaches alice")
    # bob's Contact in the call is not the one he registered (no user
    # part, another port): the edge routes by its Record-Route, not by
    # the registry
    ip, port = b2.ua.t.local
    b2_target = "sip:%s:%d;transport=tcp" % (ip, port + 1)
    b2.answer(i2, 200, "OK", tag="b2",
              extra=["Contact: <%s>" % b2_target,
                     "Content-Type: application/sdp"])
    fin = alice.next(want="final")
    ok(fin is not None and fin.code == 200 and "tag=b2" in fin.get("to")
       and fin.all("record-route") == rrs and len(fin.all("via")) == 1,
       "the TCP device's 200 reaches alice, with both Record-Routes and "
       "her Via only", fin and fin.lines)
    cancel = b1.next(want="CANCEL")
    ok(cancel is not None, "the other device gets CANCEL")
    if cancel:
        b1.answer(cancel, 200, "OK")
        b1.answer(i1, 487, "Request Terminated", tag="b1")
        ack = b1.next(want="ACK")
        ok(ack is not None, "... and the edge ACKs its 487")

    # the ACK for the 200 and a BYE from bob, both along the route
    callid = inv[5].split(": ", 1)[1]
    callids.append(callid)
    alice.send(["ACK %s SIP/2.0" % b2_target,
                alice.via("z9hG4bK" + sc.rand(8)), "Route: " + rr_alice,
                "Max-Forwards: 70", inv[3], "To: " + fin.get("to"),
                "Call-ID: " + callid, "CSeq: 2 ACK"])
    ack = b2.next(want="ACK")
    ok(ack is not None and ack.first.split()[1] == b2_target and
       not ack.all("route"),
       "alice's ACK reaches bob's TCP device on its connection, though "
       "its Request-URI is a Contact bob never registered; both Routes "
       "popped", ack and ack.lines)

    # alice's NAT gives her a new port in the middle of the call: an INFO
    # from it still reaches bob (the last Route names bob's flow, not the
    # sender's), and bob's 200 comes back to the new port
    nat = sc.Transport("127.0.0.1", app.port)
    nat.send(("\r\n".join([
        "INFO %s SIP/2.0" % b2_target,
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport" % (
            nat.local[0], nat.local[1], sc.rand(8)),
        "Route: " + rr_alice, "Max-Forwards: 70", inv[3],
        "To: " + fin.get("to"), "Call-ID: " + callid, "CSeq: 3 INFO",
        "Content-Length: 0"]) + "\r\n\r\n").encode())
    info = b2.next(want="INFO")
    if info:
        b2.answer(info, 200, "OK")
    got = nat.recv(3.0)
    nat.close()
    ok(info is not None and got is not None and
       got.startswith(b"SIP/2.0 200"),
       "alice's INFO from a new port (her NAT rebound) reaches bob and "
       "his 200 comes back to that port", got)

    # a forged token, and the true pair under another Call-ID: 403
    def alice_bye(route, cid):
        alice.send(["BYE %s SIP/2.0" % b2_target,
                    alice.via("z9hG4bK" + sc.rand(8)), "Route: " + route,
                    "Max-Forwards: 70", inv[3], "To: " + fin.get("to"),
                    "Call-ID: " + cid, "CSeq: 3 BYE"])
        return alice.next(want="final")

    # the MAC of each token changed in its first digit
    forged = re.sub(r"(flow=[0-9a-fA-F]+\.)([0-9a-f])",
                    lambda m: m.group(1) + ("1" if m.group(2) == "0"
                                            else "0"), rr_alice)
    r = alice_bye(forged, callid)
    ok(r is not None and r.code == 403 and b2.next(0.3) is None,
       "a BYE whose flow token was altered: 403, nothing reaches bob",
       r and r.first)
    r = alice_bye(rr_alice, callid + "x")
    ok(r is not None and r.code == 403 and b2.next(0.3) is None,
       "the call's tokens under another Call-ID: 403 (bound to the "
       "call)", r and r.first)
    said = "bad flow token for Call-ID '%s': 403" % callid
    ok(said in app.wait_log([said]), "... and said in the edge's log")
    b2.send(["BYE %s SIP/2.0" % alice.contact,
             b2.via("z9hG4bK" + sc.rand(8)), "Route: " + rr,
             "Max-Forwards: 70", "From: " + fin.get("to"),
             "To: " + inv[3].split(": ", 1)[1], "Call-ID: " + callid,
             "CSeq: 1 BYE"])
    bye = alice.next(want="BYE")
    ok(bye is not None, "bob's BYE reaches alice on her flow")
    if bye:
        alice.answer(bye, 200, "OK")
    done = b2.next(want=200)
    ok(done is not None, "... and her 200 reaches bob")

    # ---- busy everywhere
    inv, _ = call(alice, "bob", 10)
    callids.append(inv[5].split(": ", 1)[1])
    alice.next(want=100)
    i1, i2 = b1.next(want="INVITE"), b2.next(want="INVITE")
    b1.answer(i1, 486, "Busy Here", tag="x1")
    b2.answer(i2, 486, "Busy Here", tag="x2")
    fin = alice.next(want="final")
    ok(fin is not None and fin.code == 486, "busy on both devices: 486",
       fin and fin.first)
    if fin:
        ack_non2xx(alice, inv, fin)

    # ---- the caller cancels while it rings
    inv, _ = call(alice, "bob", 20)
    callids.append(inv[5].split(": ", 1)[1])
    alice.next(want=100)
    i1, i2 = b1.next(want="INVITE"), b2.next(want="INVITE")
    # a branch is CANCELled only after a provisional (RFC 3261 §9.1)
    b2.answer(i2, 100, "Trying")
    b1.answer(i1, 180, "Ringing", tag="y1")
    alice.next(want=180)
    alice.send(["CANCEL " + inv[0].split()[1] + " SIP/2.0", inv[1],
                "Max-Forwards: 70", inv[3], inv[4], inv[5],
                inv[6].replace("INVITE", "CANCEL")])
    got = [alice.next(want="final"), alice.next(want="final")]
    codes = sorted(m.code for m in got if m)
    ok(codes == [200, 487], "CANCEL: 200 for it, 487 for the INVITE",
       codes)
    for m in got:
        if m and m.code == 487:
            ack_non2xx(alice, inv, m)
    c1, c2 = b1.next(want="CANCEL"), b2.next(want="CANCEL")
    ok(c1 is not None and c2 is not None,
       "both ringing devices get CANCEL")
    for p, i, c in ((b1, i1, c1), (b2, i2, c2)):
        if c:
            p.answer(c, 200, "OK")
            p.answer(i, 487, "Request Terminated", tag="z")

    # ---- nobody there
    inv, _ = call(alice, "nobody", 30)
    fin = alice.next(want="final")
    ok(fin is not None and fin.code == 404, "an unknown user: 404",
       fin and fin.first)
    if fin:
        ack_non2xx(alice, inv, fin)
    inv, _ = call(alice, "carol", 40)
    fin = alice.next(want="final")
    ok(fin is not None and fin.code == 480, "a user with no device: 480",
       fin and fin.first)
    if fin:
        ack_non2xx(alice, inv, fin)
    # ---- what a bus subscriber saw
    evs = [json.loads(ln) for ln in watch.communicate(timeout=30)[0]
           .splitlines() if ln.strip()]

    def seq(user, cid):
        return [(e["type"], e["data"]["state"], e["data"].get("reason"))
                for e in evs if e["key"] == "%s/%s" % (user, cid)]

    answered, busy, cancelled = callids
    want = [("set", "trying", None), ("set", "early", None),
            ("set", "confirmed", None), ("del", "terminated", "bye")]
    ok(seq("alice", answered) == want and seq("bob", answered) == want,
       "the bus shows trying, early, confirmed, terminated (bye) in "
       "order for both users", (seq("alice", answered),
                                seq("bob", answered)))
    conf = [e["data"] for e in evs
            if e["key"] in ("alice/" + answered, "bob/" + answered)
            and e["data"]["state"] == "confirmed"]
    a = [x for x in conf if x["user"] == "alice"]
    b = [x for x in conf if x["user"] == "bob"]
    ok(a and b and a[0]["direction"] == "initiator" and
       b[0]["direction"] == "recipient" and a[0]["remote_tag"] == "b2" and
       b[0]["local_tag"] == "b2" and a[0]["local_tag"] ==
       b[0]["remote_tag"] and a[0]["peer"] == "sip:bob@" + app.domain and
       b[0]["peer"] == "sip:alice@" + app.domain and
       b[0]["peer_target"] == alice.contact and
       a[0]["peer_target"] == b2_target,
       "each side's direction, tags, peer and target", conf)
    ok(seq("alice", busy)[-1:] == [("del", "terminated", "rejected")] and
       seq("bob", busy)[-1:] == [("del", "terminated", "rejected")],
       "a busy call ends terminated (rejected) for both",
       seq("alice", busy))
    ok(seq("alice", cancelled)[-1:] ==
       [("del", "terminated", "cancelled")] and
       ("set", "early", None) in seq("bob", cancelled),
       "a cancelled call: early, then terminated (cancelled)",
       seq("bob", cancelled))
    ok(app.alive(), "the edge is alive")

    # ---- OPTIONS and REFER to a user: admitted, then to the devices
    for method in ("OPTIONS", "REFER"):
        req, first = call(alice, "bob", 60, method)
        got = [b1.next(want=method), b2.next(want=method)]
        ok(first is not None and first.code == 407 and
           all(g is not None and g.get("p-asserted-identity") ==
               "<sip:alice@%s>" % app.domain for g in got) and
           all(("flow=" in (g.get("record-route") or "")) ==
               (method == "REFER") for g in got if g),
           "%s to bob: 407, then to both devices with alice's asserted "
           "identity%s" % (method, ", Record-Routed" if method == "REFER"
                           else ""), [g and g.lines for g in got])
        if got[0]:
            b1.answer(got[0], 200, "OK", tag="o1")
        fin = alice.next(want="final")
        ok(fin is not None and fin.code == 200,
           "... and a device's 200 comes back to alice", fin and fin.first)
        if got[1]:
            b2.answer(got[1], 200, "OK", tag="o2")
    r = alice.ua.request("OPTIONS", "sip:" + app.domain, [], timeout=3)
    ok(r is not None and r.code == 200,
       "OPTIONS to the server itself: 200 from the edge")

    # ---- a user deleted, then added again: the old phone is not rung
    app.add_user("dan", "danpw")
    dan = Phone("dan", "danpw")
    ok(dan.register().code == 200, "dan registered")
    app.ctl("user", "del", "dan")
    said = "user 'dan' deleted: bindings dropped"
    gone = said in app.wait_log([said])
    app.add_user("dan", "danpw2")
    inv, _ = call(alice, "dan", 70)
    fin = alice.next(want="final")
    if fin:
        ack_non2xx(alice, inv, fin)
    ok(gone and fin is not None and fin.code == 480 and
       dan.next(0.5, want="INVITE") is None,
       "dan deleted: within a second the edge drops his binding (its log "
       "says so); added again, he has no phone: 480, the old one is not "
       "rung", fin and fin.first)

    # ---- the edge dies mid-call: the call is over for the bus
    watch = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch",
                              "dialog", "--timeout", "10"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.8)
    inv, _ = call(alice, "bob", 50)
    callid = inv[5].split(": ", 1)[1]
    alice.next(want=100)
    i1, i2 = b1.next(want="INVITE"), b2.next(want="INVITE")
    b1.answer(i1, 180, "Ringing", tag="k1")
    b1.answer(i1, 200, "OK", tag="k1",
              extra=["Contact: <%s>" % b1.contact,
                     "Content-Type: application/sdp"])
    fin = alice.next(want="final")
    # the 200 again, as a phone resends it until the ACK comes: relayed,
    # though the INVITE's transaction ended with the first (RFC 6026)
    b1.answer(i1, 200, "OK", tag="k1",
              extra=["Contact: <%s>" % b1.contact,
                     "Content-Type: application/sdp"])
    again = alice.next(want=200)
    ok(again is not None and again.get("call-id") == callid and
       len(again.all("via")) == 1,
       "a retransmitted 200 reaches the caller, without the edge's Via")
    # bob's other device answers too, before any CANCEL (it had sent no
    # provisional, so none was sent yet): that 200 goes to alice as well
    # (RFC 3261 §16.7 step 5)
    b2.answer(i2, 200, "OK", tag="k2",
              extra=["Contact: <%s>" % b2.contact,
                     "Content-Type: application/sdp"])
    second = alice.next(want=200)
    ok(second is not None and "tag=k2" in (second.get("to") or ""),
       "a second device's 200 reaches the caller too", second and second.lines)
    # and the INVITE again, as if it had crossed the 200: absorbed
    alice.send(inv, SDP)
    ok(b1.next(timeout=1.0, want="INVITE") is None and
       b2.next(timeout=0.2, want="INVITE") is None,
       "an INVITE retransmitted after the 200 reaches no device again")
    if fin and fin.code == 200:
        alice.send(["ACK %s SIP/2.0" % b1.contact,
                    alice.via("z9hG4bK" + sc.rand(8)),
                    "Route: " + fin.get("record-route"),
                    "Max-Forwards: 70", inv[3], "To: " + fin.get("to"),
                    "Call-ID: " + callid, "CSeq: 51 ACK"])
    time.sleep(0.5)
    app.stop(sig=signal.SIGKILL)
    app.start()
    evs = [json.loads(ln) for ln in watch.communicate(timeout=30)[0]
           .splitlines() if ln.strip()]
    last = {}
    for e in evs:
        if e["key"] in ("alice/" + callid, "bob/" + callid):
            last.setdefault(e["key"], []).append(
                (e["type"], e["data"]["state"], e.get("resync", False)))
    ok(fin is not None and fin.code == 200 and
       all(last.get(k, [None])[-2:] == [("set", "confirmed", False),
                                       ("del", "confirmed", True)]
           for k in ("alice/" + callid, "bob/" + callid)),
       "an edge killed mid-call and restarted: a bus subscriber gets "
       "a del (resync) for the call of both users", last)
finally:
    app.close(tap)

sys.exit(tap.done())
