"""test_midcall: what happens inside a call through the edge, as desk
phones do it: session timers (RFC 4028), reliable provisionals (RFC
3262), hold and resume by re-INVITE, UPDATE, a refused re-INVITE, the
end of a call nobody keeps alive, and transfer, blind and attended (RFC
3515, 3891, 5589), with every user's call states on the bus.

alice is on UDP, bob on TCP, carol on UDP. The edge runs with
session_min_se = 2 and call_max_duration = 5 so that the timers can be
watched in seconds (RFC 4028 wants at least 90 s; the key allows less
for this).

  - an INVITE whose Session-Expires is under session_min_se: 422 with
    Min-SE; one without: session_expires put in; one above: lowered;
    the edge's Record-Routes go above one already in the INVITE;
  - Require: 100rel goes through to the callee (a proxy leaves Require to
    the UAS); the 183 with RSeq reaches the caller, whose PRACK follows
    the route; a callee that does not do timers: its 200 gets
    Session-Expires (refresher=uac) and Require: timer for the caller;
  - hold and resume: re-INVITEs with their provisional and 200 relayed;
  - UPDATE from the callee, answered with Session-Expires;
  - a re-INVITE refused 491: the caller's ACK reaches the callee with the
    branch of the re-INVITE it got (its INVITE transaction takes it);
  - nobody refreshes: after the interval (and a third of it, RFC 4028's
    margin) both phones get a BYE from the edge (Reason: Session Timer
    Expired) and the call is over, reason timeout; not before;
  - a call with no session timer at all ends after call_max_duration;
  - two phones killed in the middle of a call: a request to the one whose
    TCP connection is gone gets 430 Flow Failed; the call ends by itself;
  - blind transfer: REFER inside the call, NOTIFY back, the transferee
    calls the target, the transferor hangs up;
  - attended transfer: the transferee's INVITE with Replaces naming the
    transferor's answered call reaches the target (not 481), which ends
    the replaced call.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import callphone as cp  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(),
                       "bus_heartbeat = 1\nsession_min_se = 2\n"
                       "session_expires = 30\ncall_max_duration = 5\n")
D = app.domain


def establish(caller, callee, cseq=1, extra=(), se_answer="30;refresher=uac",
              tag=None):
    """A call from caller to callee, answered 200 (with Session-Expires
    se_answer, if any) and ACKed; returns (lines, callee's INVITE, 200,
    caller's leg, callee's leg)."""
    inv, _ = cp.call(app, caller, callee.user, cseq, extra=extra)
    caller.next(want=100)
    got = callee.next(want="INVITE")
    if not got:
        return inv, None, None, None, None
    tag = tag or "t" + inv[5][-6:]
    ext = ["Contact: <%s>" % callee.contact, "Content-Type: application/sdp"]
    if se_answer:
        ext += ["Session-Expires: " + se_answer, "Require: timer"]
    callee.answer(got, 200, "OK", tag=tag, extra=ext, body=cp.SDP)
    fin = caller.next(want="final")
    if not fin or fin.code != 200:
        return inv, got, fin, None, None
    a, b = cp.legs(caller, callee, inv, got, fin, cseq + 1)
    a.request("ACK", cseq=cseq + 1)
    callee.next(want="ACK")
    return inv, got, fin, a, b


def callid_of(inv):
    return inv[5].split(": ", 1)[1]


def byes_from_edge(first, second, wait):
    """The BYEs the edge sends both phones of a call it ends, each
    answered 200: the first's (within `wait` s), when, the second's."""
    bye1 = first.next(wait, want="BYE")
    t = time.time()
    bye2 = second.next(2.0, want="BYE")
    for ph, m in ((first, bye1), (second, bye2)):
        if m:
            ph.answer(m, 200, "OK")
    return bye1, t, bye2


try:
    for u in ("alice", "bob", "carol", "dave", "erin"):
        app.add_user(u, u + "pw")
    app.start()
    alice = cp.Phone(app, "alice", "alicepw")
    bob = cp.Phone(app, "bob", "bobpw", "tcp")
    carol = cp.Phone(app, "carol", "carolpw")
    ok(all(p.register().code == 200 for p in (alice, bob, carol)),
       "alice (UDP), bob (TCP) and carol (UDP) registered")
    bus = cp.Bus(app, 120)

    # ---- RFC 4028 at the edge: 422, inserted, lowered
    inv, _ = cp.call(app, alice, "bob", 1,
                     extra=["Supported: timer", "Session-Expires: 1"])
    r = alice.next(want="final")
    ok(r is not None and r.code == 422 and r.get("min-se") == "2" and
       bob.next(0.3, want="INVITE") is None,
       "Session-Expires 1 under session_min_se 2: 422 with Min-SE: 2, "
       "nothing reaches bob", r and r.lines)
    if r:
        cp.ack_non2xx(alice, inv, r)
    inv, _ = cp.call(app, alice, "bob", 5,
                     extra=["Supported: timer", "Session-Expires: soon"])
    r = alice.next(want="final")
    ok(r is not None and r.code == 400 and "Session-Expires" in r.first and
       bob.next(0.3, want="INVITE") is None,
       "Session-Expires: soon: 400 saying what is wrong", r and r.first)
    if r:
        cp.ack_non2xx(alice, inv, r)
    # (the first as if a proxy before the edge had Record-Routed it)
    upstream = "<sip:192.0.2.9;lr>"
    for extra, want, what in (
            (("Record-Route: " + upstream,), "30",
             "an INVITE without Session-Expires: the edge's 30 put in, "
             "with Min-SE; the edge's two Record-Routes above the one "
             "already there (RFC 3261 §16.6 step 4)"),
            (("Supported: timer", "Session-Expires: 7200;refresher=uac"),
             "30;refresher=uac", "Session-Expires 7200: lowered to "
             "session_expires, its refresher kept")):
        inv, _ = cp.call(app, alice, "bob", 10, extra=extra)
        got = bob.next(want="INVITE")
        rrs = got.all("record-route") if got else []
        ok(got is not None and got.all("session-expires") == [want] and
           got.get("min-se") == "2" and
           (not extra[0].startswith("Record-Route") or
            (len(rrs) == 3 and rrs[2] == upstream and
             all("flow=" in v for v in rrs[:2]))),
           what, got and got.lines)
        if got:
            bob.answer(got, 486, "Busy Here", tag="busy")
            fin = alice.next(want="final")
            if fin:
                cp.ack_non2xx(alice, inv, fin)

    # ---- 100rel and PRACK; a callee without timers
    inv, _ = cp.call(app, alice, "bob", 20,
                     extra=["Supported: timer, 100rel", "Require: 100rel",
                            "Session-Expires: 3;refresher=uac"])
    alice.next(want=100)
    got = bob.next(want="INVITE")
    ok(got is not None and got.get("require") == "100rel" and
       got.get("session-expires") == "3;refresher=uac",
       "Require: 100rel goes through to the callee (no 420), the "
       "caller's Session-Expires untouched", got and got.lines)
    callid = callid_of(inv)
    bob.answer(got, 183, "Session Progress", tag="b1",
               extra=["Contact: <%s>" % bob.contact, "Require: 100rel",
                      "RSeq: 1", "Content-Type: application/sdp"],
               body=cp.SDP)
    prov = alice.next(want=183)
    ok(prov is not None and prov.get("rseq") == "1" and
       len(prov.all("record-route")) == 2,
       "the reliable 183 reaches alice with its RSeq and both "
       "Record-Routes", prov and prov.lines)
    a, b = cp.legs(alice, bob, inv, got, prov, 21)
    a.request("PRACK", extra=["RAck: 1 21 INVITE"])
    pr = bob.next(want="PRACK")
    ok(pr is not None and pr.get("rack") == "1 21 INVITE" and
       not pr.all("route"),
       "alice's PRACK follows the early dialog's route to bob's TCP "
       "flow", pr and pr.lines)
    if pr:
        bob.answer(pr, 200, "OK")
    r = alice.next(want=200)
    ok(r is not None and r.get("cseq") == "22 PRACK",
       "bob's 200 for the PRACK reaches alice", r and r.lines)
    bob.answer(got, 200, "OK", tag="b1",
               extra=["Contact: <%s>" % bob.contact,
                      "Content-Type: application/sdp"], body=cp.SDP)
    fin = alice.next(want="final")
    ok(fin is not None and fin.code == 200 and
       fin.get("session-expires") == "3;refresher=uac" and
       "timer" in (fin.get("require") or ""),
       "bob does no session timers: his 200 reaches alice with "
       "Session-Expires: 3;refresher=uac and Require: timer (RFC 4028 "
       "§8.2)", fin and fin.lines)
    a.remote = fin.get("to")
    a.request("ACK", cseq=21)
    ok(bob.next(want="ACK") is not None, "alice's ACK reaches bob")

    # ---- hold and resume
    def reinvite(mode, version, provisional=None):
        a.request("INVITE", extra=[
            "Content-Type: application/sdp", "Supported: timer",
            "Session-Expires: 3;refresher=uac"],
            body=cp.sdp(mode, version))
        ri = bob.next(want="INVITE")
        if not ri:
            return None, None, None
        if provisional:
            bob.answer(ri, provisional, "Trying" if provisional == 100
                       else "Session Progress")
        p = alice.next(want=provisional) if provisional else None
        bob.answer(ri, 200, "OK",
                   extra=["Contact: <%s>" % bob.contact,
                          "Content-Type: application/sdp",
                          "Session-Expires: 3;refresher=uac",
                          "Require: timer"],
                   body=cp.sdp("recvonly" if mode == "sendonly"
                               else "sendrecv", version))
        f = alice.next(want="final")
        if f and f.code == 200:
            a.request("ACK", cseq=a.cseq)
        return ri, p, f

    ri, p, f = reinvite("sendonly", 2, provisional=100)
    ack = bob.next(want="ACK")
    ok(ri is not None and b"a=sendonly" in ri.body and p is not None and
       f is not None and f.code == 200 and b"a=recvonly" in f.body and
       f.get("session-expires") == "3;refresher=uac" and ack is not None,
       "hold: alice's re-INVITE (sendonly) reaches bob, his 100 and his "
       "200 (recvonly) reach her, her ACK reaches him",
       (ri and ri.lines, p and p.first, f and f.lines))
    ri, p, f = reinvite("sendrecv", 3, provisional=183)
    ack = bob.next(want="ACK")
    ok(ri is not None and b"a=sendrecv" in ri.body and p is not None and
       f is not None and f.code == 200 and ack is not None,
       "resume: the re-INVITE (sendrecv), a 183 for it and the 200 "
       "relayed, the ACK too")

    # ---- UPDATE from the callee
    b.request("UPDATE", extra=["Supported: timer",
                               "Session-Expires: 3;refresher=uas"])
    up = alice.next(want="UPDATE")
    if up:
        alice.answer(up, 200, "OK",
                     extra=["Session-Expires: 3;refresher=uas",
                            "Require: timer"])
    r = bob.next(want=200)
    t_refresh = time.time()
    ok(up is not None and r is not None and r.get("cseq") == "101 UPDATE",
       "bob's UPDATE reaches alice on her UDP flow, her 200 comes back "
       "to his TCP connection", up and up.lines)

    # ---- a re-INVITE refused: the hop-by-hop ACK matches at bob
    lines = a.request("INVITE", extra=["Content-Type: application/sdp"],
                      body=cp.sdp("sendonly", 4))
    ri = bob.next(want="INVITE")
    if ri:
        bob.answer(ri, 491, "Request Pending")
    r = alice.next(want="final")
    if r:
        alice.send(["ACK %s SIP/2.0" % a.target, lines[1],
                    "Max-Forwards: 70", "Route: " + ", ".join(a.route),
                    "From: " + a.local, "To: " + a.remote,
                    "Call-ID: " + callid, "CSeq: %d ACK" % a.cseq])
    ack = bob.next(want="ACK")
    ok(ri is not None and r is not None and r.code == 491 and
       ack is not None and ack.branch == ri.branch,
       "a re-INVITE refused 491: the refusal reaches alice and her ACK "
       "reaches bob with the branch his INVITE transaction knows",
       (ri and ri.branch, ack and ack.branch))

    # ---- nobody refreshes: the edge ends the call after 3 s
    bye_b, t_bye, bye_a = byes_from_edge(bob, alice, 6.0)
    ok(bye_b is not None and bye_a is not None and
       "Session Timer Expired" in (bye_b.get("reason") or "") and
       "tag=b1" in bye_b.get("to") and "tag=b1" in bye_a.get("from") and
       int(bye_b.get("cseq").split()[0]) > a.cseq,
       "no refresh within the session interval: the edge sends a BYE to "
       "both phones, in each other's name, with a CSeq above the "
       "sender's (Reason: Session Timer Expired)",
       (bye_b and bye_b.lines, bye_a and bye_a.lines))
    ok(3.5 <= t_bye - t_refresh <= 6.0,
       "... when the interval since the last refresh and RFC 4028's "
       "margin (a third, 32 s at most) have passed, not before (%.1f s "
       "after the UPDATE's 200, interval 3 s)" % (t_bye - t_refresh))
    ok(bus.wait(lambda: bus.last("alice", callid) ==
                ("del", "terminated", "timeout") and
                bus.last("bob", callid) == ("del", "terminated", "timeout")),
       "the bus: the call is over for alice and bob, reason timeout",
       (bus.seq("alice", callid), bus.seq("bob", callid)))
    said = "call '%s' between 'alice' and 'bob': no session refresh in " \
        "3 s: BYE to both" % callid
    ok(said in app.wait_log([said]), "... and the edge's log says so")

    # ---- no session timer on either side: call_max_duration
    inv, got, fin, a2, b2 = establish(alice, carol, 30,
                                      se_answer=None)
    t0 = time.time()
    cid = callid_of(inv)
    ok(got is not None and got.get("session-expires") == "30" and
       fin is not None and fin.get("session-expires") is None,
       "neither phone does timers: the edge's Session-Expires goes to "
       "carol, her 200 goes to alice as it is", fin and fin.lines)
    bye_c, t1, bye_a = byes_from_edge(carol, alice, 8.0)
    ok(bye_c is not None and bye_a is not None and
       "Call Too Long" in (bye_c.get("reason") or "") and
       4.5 <= t1 - t0 <= 7.5,
       "a call without session timers is ended after call_max_duration "
       "(%.1f s, 5 s wanted)" % (t1 - t0))
    ok(bus.wait(lambda: bus.last("carol", cid) ==
                ("del", "terminated", "timeout")),
       "... and is over on the bus", bus.seq("carol", cid))

    # ---- blind transfer: alice calls bob, sends him to carol
    inv, got, fin, a, b = establish(alice, bob, 40)
    t1 = callid_of(inv)
    ok(fin is not None and fin.code == 200, "alice calls bob; bob answers")
    a.request("REFER", extra=["Refer-To: <sip:carol@%s>" % D,
                              "Referred-By: <sip:alice@%s>" % D])
    ref = bob.next(want="REFER")
    if ref:
        bob.answer(ref, 202, "Accepted",
                   extra=["Contact: <%s>" % bob.contact])
    r = alice.next(want="final")
    ok(ref is not None and ref.get("refer-to") == "<sip:carol@%s>" % D and
       r is not None and r.code == 202,
       "alice's REFER inside the call reaches bob; his 202 reaches her",
       ref and ref.lines)

    def sipfrag(leg, frag, state):
        leg.request("NOTIFY", extra=["Event: refer",
                                     "Subscription-State: " + state,
                                     "Content-Type: message/sipfrag"],
                    body=frag)
        n = alice.next(want="NOTIFY")
        if n:
            alice.answer(n, 200, "OK")
        return n, bob.next(want=200)

    n, r = sipfrag(b, b"SIP/2.0 100 Trying\r\n", "active;expires=60")
    ok(n is not None and r is not None and n.body.startswith(
        b"SIP/2.0 100"), "bob's NOTIFY (refer, 100 Trying) reaches alice "
       "along the call's route; her 200 comes back")
    inv2, got2, fin2, a2, b2 = establish(
        bob, carol, 50, extra=["Referred-By: <sip:alice@%s>" % D])
    t2 = callid_of(inv2)
    ok(got2 is not None and got2.get("referred-by") ==
       "<sip:alice@%s>" % D and fin2 is not None and fin2.code == 200,
       "bob calls carol, Referred-By alice; carol answers",
       got2 and got2.lines)
    n, r = sipfrag(b, b"SIP/2.0 200 OK\r\n", "terminated;reason=noresource")
    a.request("BYE")
    bye = bob.next(want="BYE")
    if bye:
        bob.answer(bye, 200, "OK")
    r = alice.next(want=200)
    ok(n is not None and bye is not None and r is not None,
       "the NOTIFY with 200 reaches alice, who hangs up on bob")
    ok(bus.wait(lambda: bus.last("alice", t1) ==
                ("del", "terminated", "bye") and
                bus.last("bob", t1) == ("del", "terminated", "bye") and
                bus.last("bob", t2) == ("set", "confirmed", None) and
                bus.last("carol", t2) == ("set", "confirmed", None)),
       "the lamps follow: alice's call with bob is over for both, bob and "
       "carol are in a call",
       (bus.seq("alice", t1), bus.seq("bob", t2), bus.seq("carol", t2)))
    b2.request("BYE")
    bye = carol.next(want="BYE")
    if bye:
        carol.answer(bye, 200, "OK")
    bob.next(want=200)

    # ---- attended transfer: alice talks to bob, then to carol, and
    # joins them: bob's INVITE with Replaces replaces her call to carol
    inv, got, fin, a1, b1 = establish(alice, bob, 60, tag="x1")
    c1 = callid_of(inv)
    inv, got, fin, a2, c2 = establish(alice, carol, 70, tag="x2")
    c2id = callid_of(inv)
    atag = inv[3].split("tag=")[1]
    ok(a1 is not None and a2 is not None,
       "alice is in a call with bob and in one with carol")
    a1.request("REFER", extra=[
        "Refer-To: <sip:carol@%s?Replaces=%s%%3Bto-tag%%3Dx2%%3B"
        "from-tag%%3D%s>" % (D, c2id, atag),
        "Referred-By: <sip:alice@%s>" % D])
    ref = bob.next(want="REFER")
    if ref:
        bob.answer(ref, 202, "Accepted",
                   extra=["Contact: <%s>" % bob.contact])
    alice.next(want="final")
    inv3, got3, fin3, b3, c3 = establish(
        bob, carol, 80, extra=["Replaces: %s;to-tag=x2;from-tag=%s" %
                               (c2id, atag),
                               "Referred-By: <sip:alice@%s>" % D])
    c3id = callid_of(inv3)
    ok(got3 is not None and got3.get("replaces") ==
       "%s;to-tag=x2;from-tag=%s" % (c2id, atag) and fin3 is not None and
       fin3.code == 200,
       "bob's INVITE with Replaces (naming alice's answered call to "
       "carol) reaches carol, not 481 at the edge; she answers",
       (got3 and got3.lines, fin3 and fin3.first))
    # carol's phone ends the replaced call, alice ends hers with bob
    c2.request("BYE")
    bye = alice.next(want="BYE")
    if bye:
        alice.answer(bye, 200, "OK")
    carol.next(want=200)
    a1.request("BYE")
    bye2 = bob.next(want="BYE")
    if bye2:
        bob.answer(bye2, 200, "OK")
    alice.next(want=200)
    ok(bye is not None and bye2 is not None,
       "carol's BYE ends the replaced call at alice; alice hangs up on bob")
    ok(bus.wait(lambda: bus.last("alice", c1)[:2] == ("del", "terminated")
                and bus.last("bob", c1)[:2] == ("del", "terminated")
                and bus.last("alice", c2id)[:2] == ("del", "terminated")
                and bus.last("carol", c2id)[:2] == ("del", "terminated")
                and bus.last("bob", c3id) == ("set", "confirmed", None)
                and bus.last("carol", c3id) == ("set", "confirmed", None)),
       "the lamps of all three follow: alice idle (both her calls over), "
       "bob and carol in the call that replaced hers",
       (bus.seq("alice", c1), bus.seq("alice", c2id),
        bus.seq("bob", c3id), bus.seq("carol", c3id)))
    b3.request("BYE")
    bye = carol.next(want="BYE")
    if bye:
        carol.answer(bye, 200, "OK")
    bob.next(want=200)

    # ---- two phones killed mid-call: the session timer ends the call
    dave = cp.Phone(app, "dave", "davepw")
    erin = cp.Phone(app, "erin", "erinpw", "tcp")
    ok(dave.register().code == 200 and erin.register().code == 200,
       "dave (UDP) and erin (TCP) registered")
    inv, got, fin, a, b = establish(
        dave, erin, 90, extra=["Supported: timer",
                               "Session-Expires: 2;refresher=uac"],
        se_answer="2;refresher=uac")
    cid = callid_of(inv)
    ok(fin is not None and fin.code == 200 and
       bus.wait(lambda: bus.last("erin", cid) ==
                ("set", "confirmed", None)),
       "dave calls erin, session interval 2 s; the lamps show the call")
    erin.ua.t.close()
    time.sleep(0.3)
    t0 = time.time()
    if a:
        a.request("INFO")
    r = dave.next(2.0, want="final")
    ok(r is not None and r.code == 430 and time.time() - t0 < 1.0,
       "erin's TCP connection gone: dave's INFO to her gets 430 Flow "
       "Failed at once (RFC 5626 §5.3), not silence", r and r.first)
    dave.ua.t.close()
    ok(bus.wait(lambda: bus.last("dave", cid) ==
                ("del", "terminated", "timeout") and
                bus.last("erin", cid) == ("del", "terminated", "timeout"),
                timeout=8.0),
       "both phones killed: after the interval the call is over for both "
       "(lamps idle), the edge's BYEs going nowhere",
       (bus.seq("dave", cid), bus.seq("erin", cid)))
    ok(app.alive(), "the edge is alive")
    bus.close()
finally:
    app.close(tap)
