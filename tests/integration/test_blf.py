"""test_blf: the BLF gateway behind the real edge, with the presence
daemon, driven by test phones: a desk phone's busy lamp for a colleague.

  alice -- SUBSCRIBE bob (Event: dialog) -> edge -> blf
        <- 200, NOTIFY: idle (one terminated dialog), version 0
  carol -- INVITE bob; bob's phone rings  -> alice <- early, recipient,
                                             Call-ID, tags, carol's identity
                                             and target (for pickup)
        bob answers                       -> alice <- confirmed
  carol -- BYE                            -> alice <- terminated
  dave  -- PUBLISH busy                   -> a watcher of dave <- busy lamp
        -- PUBLISH available              -> idle again

and: versions rise by one per NOTIFY and CSeq with them, 404 for an
unknown user, 406, two calls at once are two dialogs, a restart of the
BLF daemon in the middle of a ringing call (the next NOTIFY continues
version and CSeq and shows the call as it is; when it ends the lamp goes
out), the phone quirks: one dialog only, busy to ringing through idle,
the caller's side shown confirmed, and unregistered users shown offline
(blf_unregistered = offline).
"""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone, dialog_version as version, pidf  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
pport, bport = lptest.free_port(), lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_blf = udp:127.0.0.1:%d\n"
                       "route_timeout = 2000\n"
                       "bus_heartbeat = 1\n"
                       "blf_busy_activities = busy, meeting\n"
                       "probe_interval = 0\n" % (pport, bport))
phones = []


def phone(user):
    p = Phone(app, user)
    phones.append(p)
    return p


def states(n):
    return re.findall(r"<state>(\w+)</state>", n.text()) if n else []


def has(text):
    return lambda n: text in n.text()


def dsub(watcher, user):
    return watcher.subscribe(user, event="dialog",
                             accept="application/dialog-info+xml")


def call_state(m, callid):
    """The state a NOTIFY shows for the call with this Call-ID, or None."""
    for d in re.findall(r"<dialog .*?</dialog>", m.text(), re.S):
        if 'call-id="%s"' % callid in d:
            st = re.search(r"<state>(\w+)</state>", d)
            return st.group(1) if st else None
    return None


def ring_callid(callee, n0, timeout=3.0):
    """The Call-ID of the first INVITE callee's phone got after it had
    n0 of them."""
    end = time.time() + timeout
    while len(callee.invites) <= n0 and time.time() < end:
        time.sleep(0.02)
    return callee.invites[n0].get("call-id") \
        if len(callee.invites) > n0 else None


def call_async(caller, callee, out):
    """caller calls callee in the background; out gets (answer, dialog)."""
    t = threading.Thread(target=lambda: out.append(caller.call(callee)),
                         daemon=True)
    t.start()
    return t


try:
    for u in ("alice", "bob", "carol", "dave", "erin", "gus"):
        app.add_user(u, u + "-pw")
    app.start()
    app.start("presence")
    app.start("blf")
    D = app.domain

    alice, bob, carol, dave, erin = (phone(u) for u in
                                     ("alice", "bob", "carol", "dave",
                                      "erin"))
    bob.ring = True
    ok(bob.register() is not None, "bob registers (his phone rings)")

    r, sub = dsub(alice, "bob")
    n0 = alice.wait_notify()
    ok(r is not None and r.code == 200 and sub is not None and
       sub.routes and "flow=" in sub.routes[0],
       "SUBSCRIBE dialog through the edge: 200, Record-Routed", r)
    ok(n0 is not None and n0.get("event") == "dialog" and
       n0.get("content-type") == "application/dialog-info+xml" and
       (n0.get("subscription-state") or "").startswith("active") and
       'state="full"' in n0.text() and
       'entity="sip:bob@%s"' % D in n0.text() and version(n0) == 0 and
       states(n0) == ["terminated"] and "<dialog id=" in n0.text(),
       "the first NOTIFY: full state, entity, version 0, one idle "
       "(terminated) dialog element", n0 and n0.raw)

    # ---- a call: ringing, answered, ended ----
    out = []
    t = call_async(carol, "bob", out)
    early = alice.wait_notify(lambda m: "early" in states(m))
    txt = early.text() if early else ""
    ok(early is not None and 'direction="recipient"' in txt and
       "call-id=" in txt and "local-tag=" in txt and
       "remote-tag=" in txt and
       "<identity>sip:carol@%s</identity>" % D in txt and
       re.search(r'<target uri="sip:carol@[^"]+"/>', txt) and
       re.search(r'<local><identity>sip:bob@[^<]+</identity>'
                 r'<target uri="sip:bob@[^"]+"/></local>', txt),
       "bob's phone rings: early, recipient, Call-ID and both tags, "
       "carol's identity and target (what pickup needs), bob's own "
       "ringing device as the local target", txt)
    bob.answer(200)
    t.join(5)
    conf = alice.wait_notify(lambda m: "confirmed" in states(m))
    ok(out and out[0][0] is not None and out[0][0].code == 200 and
       conf is not None and 'direction="recipient"' in conf.text(),
       "bob answers: confirmed", (out, conf and conf.text()))
    d = out[0][1] if out else None
    if d:
        carol.in_dialog("BYE", d)
    end = alice.wait_notify(lambda m: "terminated" in states(m) and
                            "call-id=" in m.text())
    ok(end is not None, "carol hangs up: terminated", end and end.text())
    seen = [n0, early, conf, end]
    vs = [version(n) for n in seen]
    cs = [n.cseq for n in seen if n]
    ok(None not in vs and vs == sorted(vs) and len(set(vs)) == 4 and
       cs == sorted(cs) and len(set(cs)) == 4,
       "versions and CSeqs rise with each NOTIFY", (vs, cs))
    # every NOTIFY between, taken or not, counted: versions without gaps
    alice.notifies = []

    # ---- the caller's side ----
    r, csub = dsub(alice, "carol")
    alice.wait_notify(lambda m: "carol@" in (m.get("from") or ""))
    out = []
    t = call_async(carol, "bob", out)
    n = alice.wait_notify(lambda m: "carol@" in (m.get("from") or "") and
                          'direction="initiator"' in m.text())
    ok(n is not None and ("early" in states(n) or "trying" in states(n)) and
       "<identity>sip:bob@%s</identity>" % D in n.text(),
       "the caller's lamp: initiator, bob as the remote party",
       n and n.text())
    bob.answer(486)
    t.join(5)
    n = alice.wait_notify(lambda m: "carol@" in (m.get("from") or "") and
                          "terminated" in states(m))
    ok(out and out[0][0] is not None and out[0][0].code == 486 and
       n is not None,
       "bob is busy (486): the caller's lamp goes out", (out, n))

    # ---- the caller gives up while it rings ----
    alice.notifies = []
    out = []
    n0 = len(bob.invites)
    t = call_async(carol, "bob", out)
    cancelled = ring_callid(bob, n0)
    rang = alice.wait_notify(lambda m: call_state(m, cancelled) == "early")
    carol.cancel()
    t.join(5)
    gone = alice.wait_notify(lambda m: call_state(m, cancelled) ==
                             "terminated")
    bob.ringing = []
    ok(rang is not None and out and out[0][0] is not None and
       out[0][0].code == 487 and gone is not None and
       "terminated" in states(gone),
       "carol cancels while bob's phone rings: 487, and bob's lamp shows "
       "the call terminated", (out, gone and gone.text()))

    # ---- two calls at once: two dialogs ----
    alice.notifies = []
    o1, o2 = [], []
    t1 = call_async(carol, "bob", o1)
    t2 = call_async(erin, "bob", o2)
    two = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                            states(m).count("early") == 2, timeout=6)
    ok(two is not None, "two calls ringing at once: two early dialogs",
       two and two.text())
    bob.answer(486)
    bob.answer(486)
    t1.join(5)
    t2.join(5)

    # ---- call pickup (RFC 3891) ----
    SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
           b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
    alice.notifies = []
    out = []
    n0 = len(bob.invites)
    t = call_async(carol, "bob", out)
    ringing = ring_callid(bob, n0)

    def ringing_dialog(m):
        return [d for d in re.findall(r"<dialog .*?</dialog>", m.text(),
                                      re.S)
                if "<state>early<" in d and
                'call-id="%s"' % ringing in d]
    early = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                              ringing_dialog(m))
    # the ringing dialog (calls that just ended are still listed)
    txt = ringing_dialog(early)[0] if early else ""
    cid = re.search(r'call-id="([^"]+)"', txt)
    btag = re.search(r'local-tag="([^"]+)"', txt)
    ctag = re.search(r'remote-tag="([^"]+)"', txt)
    target = re.search(r'<target uri="([^"]+)"', txt)
    rep = "%s;to-tag=%s;from-tag=%s" % (cid.group(1), ctag.group(1),
                                       btag.group(1)) if early else ""
    n = len(carol.invites)
    r, _, _, _ = alice.request("INVITE", target.group(1) if target else "",
                               ["Replaces: " + rep,
                                "Content-Type: application/sdp"], SDP)
    got = carol.invites[n:]
    ok(r is not None and r.code == 200 and got and
       got[0].get("replaces") == rep and
       (got[0].get("p-asserted-identity") or "").startswith(
           "<sip:alice@") and got[0].get("record-route"),
       "directed pickup: alice's INVITE with Replaces, built from the "
       "dialog-info, reaches carol's phone (asserted alice, Record-Routed) "
       "and carol's 200 comes back", (r, got and got[0].raw))
    bob.answer(486)
    t.join(5)

    out = []
    n0 = len(bob.invites)
    t = call_async(carol, "bob", out)
    ringing = ring_callid(bob, n0)
    alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                      ringing_dialog(m))
    n = len(carol.invites)
    r, _, _, _ = alice.request("INVITE", "sip:**bob@" + D,
                               ["Content-Type: application/sdp"], SDP)
    got = carol.invites[n:]
    rep = got[0].get("replaces") if got else ""
    ok(r is not None and r.code == 200 and rep and
       re.match(r"[^;]+;to-tag=[^;]+;from-tag=[^;]+$", rep) and
       got[0].get("call-id") != rep.split(";")[0],
       "pickup by code (**bob): the edge finds bob's ringing call and "
       "sends carol's phone the INVITE with Replaces", (r, rep))
    bob.answer(486)
    t.join(5)
    # who may not see bob's presence may not pick up his calls
    app.ctl("watcher", "block", "bob", "erin")
    out = []
    n0 = len(bob.invites)
    t = call_async(carol, "bob", out)
    ringing = ring_callid(bob, n0)
    alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                      ringing_dialog(m))
    r, _, _, _ = erin.request("INVITE", "sip:**bob@" + D,
                              ["Content-Type: application/sdp"], SDP)
    ok(r is not None and r.code == 403,
       "erin, blocked from bob's presence, may not pick up his call: 403",
       r)
    bob.answer(486)
    t.join(5)
    app.ctl("watcher", "del", "bob", "erin")
    r, _, _, _ = alice.request("INVITE", "sip:**dave@" + D,
                               ["Content-Type: application/sdp"], SDP)
    ok(r is not None and r.code == 480,
       "pickup by code with nothing ringing: 480", r)
    r, _, _, _ = alice.request("INVITE", "sip:bob@" + D,
                               ["Replaces: nosuchcall@x;to-tag=a;"
                                "from-tag=b", "Content-Type: "
                                "application/sdp"], SDP)
    ok(r is not None and r.code == 481,
       "Replaces naming no ringing call: 481", r)

    # ---- presence: do not disturb lights the lamp ----
    r, dsub_ = dsub(erin, "dave")
    erin.wait_notify(lambda m: "dave@" in (m.get("from") or ""))
    dave.register()
    dave.publish(pidf("dave", D, activity="busy"))
    n = erin.wait_notify(lambda m: "lamplight-busy" in m.text())
    ok(n is not None and states(n) == ["confirmed"],
       "dave publishes busy: his lamp shows busy (one confirmed dialog)",
       n and n.text())
    dave.publish(pidf("dave", D, note="back"))
    n = erin.wait_notify(lambda m: "dave@" in (m.get("from") or "") and
                         states(m) == ["terminated"])
    ok(n is not None, "dave available again: idle", n and n.text())

    # ---- refusals ----
    r, _ = dsub(alice, "nobody")
    ok(r is not None and r.code == 404, "a dialog SUBSCRIBE for an unknown "
       "user: 404", r)
    r, _ = alice.subscribe("bob", event="dialog", accept="text/plain")
    ok(r is not None and r.code == 406, "accepting no dialog-info: 406", r)

    # ---- a watched user deleted: the lamp goes out for good ----
    r, _ = dsub(erin, "gus")
    erin.wait_notify(lambda m: "gus@" in (m.get("from") or ""))
    app.ctl("user", "del", "gus")
    n = erin.wait_notify(lambda m: "gus@" in (m.get("from") or "") and
                         (m.get("subscription-state") or "").startswith(
                             "terminated"))
    ok(r is not None and r.code == 200 and n is not None and
       n.get("subscription-state") == "terminated;reason=noresource",
       "a watched user is deleted: NOTIFY terminated;reason=noresource",
       n and n.raw)

    # ---- restart in the middle of a ringing call ----
    alice.notifies = []
    out = []
    t = call_async(carol, "bob", out)
    before = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                               "early" in states(m))
    app.stop("blf", signal.SIGKILL)
    app.start("blf")
    r = alice.refresh(sub, event="dialog")
    after = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                              m.cseq > (before.cseq if before else 0))
    ok(before is not None and after is not None and
       after.cseq == before.cseq + 1 and
       version(after) == version(before) + 1 and
       "early" in states(after) and r is not None and r.code == 200,
       "BLF daemon killed mid-call and started: the refresh succeeds, the "
       "next NOTIFY continues CSeq and version and shows the call ringing",
       (before and before.text(), after and after.text(), r))
    bob.answer(200)
    t.join(5)
    if out and out[0][1]:
        carol.in_dialog("BYE", out[0][1])
    n = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                          "confirmed" not in states(m) and
                          "early" not in states(m) and
                          "terminated" in states(m))
    ok(n is not None, "when the call ends the lamp goes out",
       n and n.text())

    # ---- the edge restarts while a call rings: no lamp stays lit ----
    alice.notifies = []
    out = []
    t = call_async(carol, "bob", out)
    rang = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                             "early" in states(m))
    app.stop("registrar")
    app.start()
    gone = alice.wait_notify(lambda m: "bob@" in (m.get("from") or "") and
                             "early" not in states(m), timeout=8)
    t.join(5)
    bob.ringing = []
    ok(rang is not None and gone is not None and
       "confirmed" not in states(gone),
       "the edge restarts while bob's phone rings: its new snapshot has "
       "no call, and bob's lamp goes out", gone and gone.text())

    # ---- phone quirks, each a switch ----
    time.sleep(5.5)                  # the ended calls leave the documents
    with open(app.conf, "a") as f:
        f.write("blf_single_dialog = yes\nblf_initiator_confirmed = yes\n"
                "blf_idle_between = yes\n")
    app.stop("blf")
    app.start("blf")
    r, esub = dsub(alice, "erin")
    alice.wait_notify(lambda m: "erin@" in (m.get("from") or ""))
    time.sleep(0.5)
    alice.notifies = []

    def of(user):
        return lambda m: user + "@" in (m.get("from") or "")
    o1 = []
    t1 = call_async(carol, "bob", o1)
    bob.answer(200)
    t1.join(5)
    busy = alice.wait_notify(lambda m: of("bob")(m) and
                             "confirmed" in states(m))
    o2 = []
    t2 = call_async(erin, "bob", o2)
    between = alice.wait_notify(lambda m: of("bob")(m) and busy and
                                m.cseq > busy.cseq)
    ring = alice.wait_notify(lambda m: of("bob")(m) and between and
                             m.cseq > between.cseq and
                             "early" in states(m))
    ok(busy is not None and between is not None and ring is not None and
       states(between) == ["terminated"] and states(ring) == ["early"] and
       ring.cseq == between.cseq + 1 and
       "call-id=" not in between.text(),
       "blf_idle_between and blf_single_dialog: busy to ringing goes "
       "through one idle NOTIFY, then one early dialog (the ringing call "
       "before the answered one: blf_early_while_busy)",
       (busy and busy.text(), between and between.text(),
        ring and ring.text()))
    n = alice.wait_notify(lambda m: of("erin")(m) and
                          'direction="initiator"' in m.text())
    ok(n is not None and states(n) == ["confirmed"],
       "blf_initiator_confirmed: erin's call, still ringing at bob, shows "
       "confirmed on her lamp", n and n.text())
    bob.answer(486)
    t2.join(5)
    if o1 and o1[0][1]:
        carol.in_dialog("BYE", o1[0][1])
    n = alice.wait_notify(lambda m: of("bob")(m) and
                          states(m) == ["terminated"] and
                          "call-id=" in m.text(), timeout=6)
    ok(n is not None and n.text().count("<dialog ") == 1,
       "single dialog: the last call's end, one dialog element",
       n and n.text())

    # ---- blf_unregistered = offline ----
    with open(app.conf, "a") as f:
        f.write("blf_unregistered = offline\n")
    app.stop("blf")
    app.start("blf")
    time.sleep(0.5)
    r, _ = dsub(alice, "alice")       # alice never registered
    n = alice.wait_notify(lambda m: "alice@" in (m.get("from") or ""))
    ok(r is not None and r.code == 200 and n is not None and
       n.get("subscription-state") ==
       "terminated;reason=probation;retry-after=60",
       "offline: the lamp of a user without a device ends with "
       "terminated;reason=probation;retry-after=60 (phones show offline "
       "and subscribe again later)", (r, n and n.raw))
    erin.notifies = []
    dave.register(expires=0)
    n = erin.wait_notify(lambda m: "dave@" in (m.get("from") or "") and
                         (m.get("subscription-state") or "").startswith(
                             "terminated"))
    ok(n is not None and "reason=probation" in n.get("subscription-state"),
       "offline: dave unregisters, the lamp watching him ends the same way",
       n and n.raw)
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
