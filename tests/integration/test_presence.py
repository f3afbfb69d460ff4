"""test_presence: the presence daemon behind the real edge, driven by
test phones over UDP and TCP.

  alice -- SUBSCRIBE bob (Event: presence) -> edge (407, then routed)
        <- 200 (Record-Route: edge;flow=..., Contact: presence daemon)
        <- NOTIFY (via the edge, on alice's flow): bob closed
  bob   -- REGISTER                         -> alice <- NOTIFY open
  bob   -- PUBLISH (RFC 3903: initial, refresh, modify, remove)
                                            -> alice <- NOTIFY each step
  carol -- INVITE bob, bob answers          -> alice <- on-the-phone
  carol -- BYE                              -> alice <- no longer

and: PUBLISH errors (412, 489, 415, 423, 403, hostile documents 400/413),
SUBSCRIBE errors (406, 423, 404, 489), refresh, unsubscribe and fetch
(terminated;reason=timeout with the last state), expiry, presence.winfo
(RFC 3857/3858), watcher rules (confirm/pending, allow, polite-block,
block), a NOTIFY answered 481 ends a subscription, a NOTIFY not answered
is retried, the `pres` bus topic, and restarts of the presence daemon
(SIGTERM and SIGKILL): the next NOTIFY has the next CSeq and the
watcher's refresh succeeds.
"""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import presphone as pp  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone, pidf  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
pport = lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_timeout = 1000\n"
                       "bus_heartbeat = 1\n"
                       "publish_expires_min = 10\n"
                       "subscribe_expires_min = 2\n"
                       "subscribe_max_per_watcher = 6\n"
                       "notify_timeout = 1000\n" % pport)


def basic(n):
    return re.findall(r"<basic>(\w+)</basic>", n.text()) if n else []


def state(n):
    return n.get("subscription-state") if n else None


def has(text):
    return lambda n: text in n.text()


phones = []


def phone(user, proto="udp"):
    p = Phone(app, user, proto=proto)
    phones.append(p)
    return p


try:
    for u in ("alice", "bob", "carol", "dave", "erin", "gus", "hal",
              "ivy", "kim", "lee"):
        app.add_user(u, u + "-pw")
    app.start()
    app.start("presence")
    D = app.domain

    # ---- a publication that will expire (checked at the end) ----
    hal, gus = phone("hal"), phone("gus")
    hal.register()
    r = hal.publish(pidf("hal", D, note="Short-lived"), expires=10)
    ok(r is not None and r.code == 200 and r.get("expires") == "10",
       "a publication for 10 s", r)
    hal_published = time.time()
    r, halsub = gus.subscribe("hal")
    n = gus.wait_notify()
    ok(n is not None and "Short-lived" in n.text(),
       "its watcher sees it", n and n.text())

    # ---- a watcher, a registration, publications ----
    alice, bob = phone("alice"), phone("bob")
    r, sub = alice.subscribe("bob")
    ok(r is not None and r.code == 200 and sub and sub.ttag and
       sub.routes and "flow=" in sub.routes[0] and
       r.get("expires") == "600",
       "SUBSCRIBE presence through the edge: 200, To-tag, Expires, the "
       "edge's Record-Route with a flow token", r and r.headers)
    ok(sub is not None and sub.target.startswith("sip:presence@"),
       "the Contact is the presence daemon's (refreshes reach it)",
       sub and sub.target)
    n = alice.wait_notify()
    ok(n is not None and state(n).startswith("active") and
       n.get("content-type") == "application/pidf+xml" and
       'entity="sip:bob@%s"' % D in n.text() and basic(n) == ["closed"],
       "an immediate NOTIFY: active, PIDF, bob closed (not registered)",
       n and n.raw)
    first_cseq = n.cseq if n else 0

    ok(bob.register() is not None, "bob registers")
    n = alice.wait_notify()
    ok(n is not None and basic(n) == ["open"] and n.cseq == first_cseq + 1,
       "registered with no publication: open, next CSeq", n and n.raw)

    r = bob.publish(pidf("bob", D, note="In a meeting", activity="meeting"))
    etag1 = r.get("sip-etag") if r else None
    ok(r is not None and r.code == 200 and etag1 and
       r.get("expires") == "3600",
       "initial PUBLISH: 200 with SIP-ETag and Expires", r and r.headers)
    n = alice.wait_notify()
    ok(n is not None and "<rpid:meeting/>" in n.text() and
       "<dm:note>In a meeting</dm:note>" in n.text() and
       "xmlns:rpid=" in n.text(),
       "the watcher sees the RPID activity and note, rpid:/dm: prefixes",
       n and n.text())

    r = bob.publish(etag=etag1, expires=1800)
    etag2 = r.get("sip-etag") if r else None
    ok(r is not None and r.code == 200 and etag2 and etag2 != etag1 and
       r.get("expires") == "1800",
       "refresh (SIP-If-Match, no body): 200, a new entity tag", r)
    r = bob.publish(etag=etag1)
    ok(r is not None and r.code == 412,
       "the replaced entity tag: 412 Conditional Request Failed", r)
    r = bob.publish(pidf("bob", D, note="Back"), etag=etag2)
    etag3 = r.get("sip-etag") if r else None
    ok(r is not None and r.code == 200 and etag3 not in (etag1, etag2),
       "modify (SIP-If-Match and a body): 200, a new tag", r)
    n = alice.wait_notify(has("Back"))
    ok(n is not None and "meeting" not in n.text(),
       "the watcher sees the modified document", n and n.text())

    bob2 = phone("bob", "tcp")
    bob2.register()
    r = bob2.publish(pidf("bob", D, basic="open", note="On my mobile",
                          tid="t1"))
    etag_b2 = r.get("sip-etag") if r else None
    n = alice.wait_notify(has("On my mobile"))
    ok(n is not None and len(basic(n)) == 2 and 'id="t1"' in n.text() and
       'id="t1-2"' in n.text(),
       "a second device publishes: both tuples (ids kept unique), the "
       "latest note wins", n and n.text())
    r = bob2.publish(etag=etag_b2, expires=0)
    ok(r is not None and r.code == 200, "remove (Expires: 0): 200", r)
    n = alice.wait_notify(lambda m: "On my mobile" not in m.text())
    ok(n is not None and len(basic(n)) == 1 and "Back" in n.text(),
       "after the removal one tuple and the earlier note remain",
       n and n.text())

    # ---- PUBLISH refused ----
    cases = [
        (dict(body=pidf("bob", D), event="presence.winfo"), 489,
         "another event package: 489"),
        (dict(body=b"hello", ctype="text/plain"), 415,
         "a body that is not PIDF: 415"),
        (dict(body=pidf("bob", D), expires=5), 423,
         "an expiry under publish_expires_min: 423"),
        (dict(body=pidf("alice", D), ruri="sip:alice@" + D), 403,
         "publishing someone else's presence: 403"),
        (dict(body=pidf("bob", D, entity="sip:alice@" + D)), 403,
         "a document whose entity is someone else: 403"),
        (dict(body=b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM '
              b'"file:///etc/passwd">]><presence xmlns="urn:ietf:params:'
              b'xml:ns:pidf" entity="sip:bob@' + D.encode() +
              b'"><note>&x;</note></presence>'), 400,
         "an external entity: 400"),
        (dict(body=b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><presence '
              b'xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@' +
              D.encode() + b'"><note>&b;&b;&b;</note></presence>'), 400,
         "billion laughs: 400"),
        (dict(body=b'<?xml version="1.0"?><presence xmlns="urn:ietf:'
              b'params:xml:ns:pidf" entity="sip:bob@' + D.encode() +
              b'"><tuple id="t"><status><basic>open</basic></status><note>'
              b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
              b'href="file:///etc/passwd" parse="text"/></note></tuple>'
              b'</presence>'), 400,
         "an XInclude: 400 (XInclude Not Allowed)"),
        (dict(body=b'<?xml version="1.0"?><?xml-stylesheet type="text/xsl"'
              b' href="http://192.0.2.1/x.xsl"?><presence xmlns="urn:ietf:'
              b'params:xml:ns:pidf" entity="sip:bob@' + D.encode() +
              b'"/>'), 400,
         "a processing instruction: 400 (Processing Instruction Not "
         "Allowed)"),
        (dict(body=b'<?xml version="1.0"?><presence xmlns="urn:ietf:params'
              b':xml:ns:pidf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
              b'instance" xsi:schemaLocation="urn:ietf:params:xml:ns:pidf '
              b'http://192.0.2.1/pidf.xsd" entity="sip:bob@' + D.encode() +
              b'"/>'), 400,
         "an external schema: 400 (External Schema Not Allowed)"),
        (dict(body=pidf("bob", D).replace(pp.PIDF_NS.encode(),
                                          b"urn:example:other")), 400,
         "the wrong namespace: 400"),
        (dict(body=pidf("bob", D)[:-20]), 400, "not well-formed: 400"),
        (dict(body=b""), 400, "an initial PUBLISH without a body: 400"),
    ]
    for kw, code, what in cases:
        r = bob.publish(**kw)
        said = re.search(r"\((.* Not Allowed)\)", what)
        ok(r is not None and r.code == code and
           (code != 400 or "Bad Request:" in r.reason) and
           (not said or said.group(1) in r.reason),
           "PUBLISH %s (%s)" % (what, r and r.reason), r and r.raw)
        if code == 415:
            ok(r is not None and r.get("accept") == "application/pidf+xml",
               "415 names what is accepted (Accept)", r and r.headers)
        if code == 423:
            ok(r is not None and r.get("min-expires") == "10",
               "423 gives Min-Expires", r and r.headers)
    said = ["PUBLISH from 'bob': 400 Bad Request: %s Not Allowed" % k
            for k in ("XInclude", "Processing Instruction",
                      "External Schema")]
    log = app.wait_log(said, "presence")
    ok(all(t in log for t in said), "the presence daemon logs each of "
       "these refusals with its reason",
       "\n".join(t for t in said if t not in log))
    big = pidf("bob", D, note="x" * 6500)
    r = bob2.publish(big)
    ok(r is not None and r.code == 413,
       "a 6.5 KB document (over pidf_max_size, 6000) over TCP: 413", r)
    big = pidf("bob", D, note="x" * 20000)
    r = bob2.publish(big)
    ok(r is not None and r.code == 513,
       "a 20 KB document over TCP (longer than the edge's UDP link to "
       "the daemon carries): 513, not a broken document", r)
    huge = pidf("bob", D, note="x" * (1 << 20))
    try:
        r = bob2.publish(huge)
    except ConnectionError:
        r = None
    ok(r is None or r.code in (413, 513),
       "a 1 MiB document: refused (the edge closes the connection or "
       "answers 513), never taken", r)
    bob2.close()
    bob2 = phone("bob", "tcp")
    ok(app.alive("presence") and app.alive("registrar"),
       "both daemons alive after the hostile documents")

    # ---- SUBSCRIBE refused ----
    carol = phone("carol")
    r, _ = carol.subscribe("bob", accept="text/plain")
    ok(r is not None and r.code == 406 and
       r.get("accept") == "application/pidf+xml",
       "SUBSCRIBE accepting no PIDF: 406 with Accept", r)
    r, _ = carol.subscribe("bob", expires=1)
    ok(r is not None and r.code == 423 and r.get("min-expires") == "2",
       "SUBSCRIBE under subscribe_expires_min: 423 with Min-Expires", r)
    r, _ = carol.subscribe("nobody")
    ok(r is not None and r.code == 404, "SUBSCRIBE to an unknown user: 404",
       r)
    r, _ = carol.subscribe("bob", event="message-summary")
    ok(r is not None and r.code == 489, "an unknown package: 489", r)

    # ---- only the edge may talk to the presence daemon ----
    t = sc.Transport("127.0.0.1", pport)
    t.send(("SUBSCRIBE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;"
            "branch=z9hG4bKdirect1;rport\r\nMax-Forwards: 70\r\n"
            "From: <sip:mallory@%s>;tag=m1\r\nTo: <sip:bob@%s>\r\n"
            "Call-ID: direct1\r\nCSeq: 1 SUBSCRIBE\r\n"
            "P-Asserted-Identity: <sip:alice@%s>\r\nEvent: presence\r\n"
            "Contact: <sip:mallory@%s:%d>\r\nContent-Length: 0\r\n\r\n"
            % (D, t.local[0], t.local[1], D, D, D, t.local[0],
               t.local[1])).encode())
    raw = t.recv(3)
    t.close()
    ok(raw is not None and raw.startswith(b"SIP/2.0 403 Forbidden: Not "
                                          b"From The Edge"),
       "SUBSCRIBE straight to the presence daemon, with a forged asserted "
       "identity: 403, not from the edge", raw)

    # ---- a call changes the composed state ----
    r, call = carol.call("bob")
    ok(r is not None and r.code == 200 and call is not None,
       "carol calls bob through the edge; bob's phone answers", r)
    n = alice.wait_notify(has("on-the-phone"))
    ok(n is not None and "<rpid:on-the-phone/>" in n.text(),
       "the watcher sees bob on-the-phone (dialog on the bus)",
       n and n.text())
    r = carol.in_dialog("BYE", call) if call else None
    n = alice.wait_notify(lambda m: "on-the-phone" not in m.text())
    ok(n is not None and "Back" in n.text(),
       "after the BYE: no longer on the phone", n and n.text())

    # ---- refresh, winfo, rules ----
    r = alice.refresh(sub)
    n = alice.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       state(n).startswith("active"),
       "in-dialog refresh through the edge: 200 and a NOTIFY", r)

    bobw = phone("bob")
    r, wsub = bobw.subscribe("bob", event="presence.winfo",
                             accept="application/watcherinfo+xml")
    n = bobw.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       n.get("content-type") == "application/watcherinfo+xml" and
       'status="active">sip:alice@%s<' % D in n.text() and
       'version="0"' in n.text(),
       "bob's presence.winfo: alice is an active watcher, version 0",
       n and n.text())
    r, _ = alice.subscribe("bob", event="presence.winfo",
                           accept="application/watcherinfo+xml")
    ok(r is not None and r.code == 403,
       "someone else's presence.winfo: 403", r)

    app.ctl("watcher", "confirm", "bob", "carol")
    r, csub = carol.subscribe("bob")
    n = carol.wait_notify()
    ok(r is not None and r.code == 202 and n is not None and
       state(n).startswith("pending") and not n.body,
       "rule confirm: 202 and a pending NOTIFY without presence", n and n.raw)
    n = bobw.wait_notify(has("carol"))
    ok(n is not None and 'status="pending">sip:carol@' in n.text() and
       'version="1"' in n.text(),
       "bob's winfo shows carol waiting (version 1)", n and n.text())
    app.ctl("watcher", "allow", "bob", "carol")
    n = carol.wait_notify()
    ok(n is not None and state(n).startswith("active") and
       basic(n) == ["open"],
       "the rule becomes allow: carol's subscription is active with "
       "bob's presence", n and n.raw)
    n = bobw.wait_notify(lambda m: 'event="approved" status="active">'
                         'sip:carol@' in m.text())
    ok(n is not None, "bob's winfo: carol approved (RFC 3857 event)",
       bobw.notifies and bobw.notifies[-1].text())

    dave = phone("dave")
    app.ctl("watcher", "polite-block", "bob", "dave")
    r, _ = dave.subscribe("bob")
    n = dave.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       basic(n) == ["closed"] and "Back" not in n.text(),
       "polite-block: dave sees bob offline, and nothing else",
       n and n.text())

    app.ctl("watcher", "block", "bob", "carol")
    n = carol.wait_notify()
    ok(n is not None and state(n) == "terminated;reason=rejected",
       "the rule becomes block: carol's subscription ends rejected",
       n and n.raw)
    n = bobw.wait_notify(lambda m: 'event="rejected" status="terminated">'
                         'sip:carol@' in m.text())
    ok(n is not None, "bob's winfo: carol's subscription rejected",
       bobw.notifies and bobw.notifies[-1].text())
    r, _ = carol.subscribe("bob")
    ok(r is not None and r.code == 403, "a blocked watcher: 403", r)

    # ---- unsubscribe, fetch, expiry ----
    erin = phone("erin")
    r, esub = erin.subscribe("bob")
    erin.wait_notify()
    r = erin.refresh(esub, expires=0)
    n = erin.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       state(n) == "terminated;reason=timeout" and basic(n) == ["open"],
       "unsubscribe (Expires: 0): 200, NOTIFY terminated;reason=timeout "
       "with the last state", n and n.raw)
    r, _ = erin.subscribe("bob", expires=0)
    n = erin.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       state(n) == "terminated;reason=timeout" and basic(n) == ["open"],
       "fetch (Expires: 0 on a new SUBSCRIBE): the state once", n and n.raw)
    r, esub = erin.subscribe("bob", expires=2)
    erin.wait_notify()
    n = erin.wait_notify(timeout=6)
    ok(n is not None and state(n) == "terminated;reason=timeout",
       "a subscription not refreshed ends on time: terminated;"
       "reason=timeout", n and n.raw)
    r = erin.refresh(esub)
    ok(r is not None and r.code == 481, "its refresh after that: 481", r)

    # ---- NOTIFY failures ----
    r, esub = erin.subscribe("bob")
    erin.wait_notify()
    erin.notify_code = None             # lost: the edge answers 408
    bob.publish(pidf("bob", D, note="Lunch"), etag=etag3)
    lost = erin.wait_notify(has("Lunch"))
    time.sleep(1.5)                     # past route_timeout
    erin.notify_code = 200
    again = erin.wait_notify(lambda m: "Lunch" in m.text() and lost and
                             m.cseq > lost.cseq, timeout=8)
    ok(lost is not None and again is not None and again.cseq > lost.cseq,
       "a NOTIFY that got no answer is sent again later (back-off), "
       "with the next CSeq", (lost and lost.get("cseq"),
                              again and again.get("cseq"),
                              again and again.get("subscription-state")))
    r = erin.refresh(esub)
    ok(r is not None and r.code == 200,
       "one lost NOTIFY does not end the subscription", r)
    erin.notify_code = 481
    r = bob.publish(pidf("bob", D, note="Gone fishing"))
    erin.wait_notify(has("Gone fishing"))
    erin.notify_code = 200
    time.sleep(0.5)
    r = erin.refresh(esub)
    ok(r is not None and r.code == 481,
       "a NOTIFY answered 481 ends the subscription", r)

    # ---- a phone that forgets its entity tags: the oldest goes ----
    tags = []
    for i in range(17):
        r = dave.publish(pidf("dave", D, note="boot %d" % i))
        tags.append(r.get("sip-etag") if r and r.code == 200 else None)
    r = dave.publish(etag=tags[0]) if tags[0] else None
    r2 = dave.publish(etag=tags[-1]) if tags[-1] else None
    ok(all(tags) and r is not None and r.code == 412 and
       r2 is not None and r2.code == 200,
       "17 publications of one user (the cap is 16): all taken, the "
       "oldest evicted (412), the newest alive", (tags, r, r2))

    # ---- retransmissions: the answer was lost, the phone sends again;
    # the daemons keep no transactions, their state answers ----
    kim, lee = phone("kim"), phone("lee")
    r1 = kim.publish(pidf("kim", D, note="once"))
    r2 = kim.resend()
    ok(r1 is not None and r1.code == 200 and r2 is not None and
       r2.code == 200 and r2.get("sip-etag") == r1.get("sip-etag"),
       "a retransmitted initial PUBLISH gets the same SIP-ETag",
       (r1, r2))
    r, lsub = lee.subscribe("kim")
    r2 = lee.resend()
    n = lee.wait_notify(has("once"))
    time.sleep(0.5)
    ok(r is not None and r.code == 200 and r2 is not None and
       r2.code == 200 and r2.get("to") == r.get("to") and n is not None and
       n.text().count("<tuple") == 1 and
       not [m for m in lee.notifies if m.get("call-id") == lsub.callid],
       "a retransmitted SUBSCRIBE: the same dialog (To-tag) and one "
       "NOTIFY; the retransmitted PUBLISH made no second tuple",
       (r, r2, n, lee.notifies))
    e1 = r1.get("sip-etag") if r1 else None
    r1 = kim.publish(pidf("kim", D, note="twice"), etag=e1)
    r2 = kim.resend()
    r3 = kim.publish(etag=e1)
    ok(r1 is not None and r1.code == 200 and r2 is not None and
       r2.code == 200 and r1.get("sip-etag") != e1 and
       r2.get("sip-etag") == r1.get("sip-etag") and
       r3 is not None and r3.code == 412,
       "a retransmitted modify gets the same new SIP-ETag; a new request "
       "with the old one gets 412", (r1, r2, r3))
    n = lee.wait_notify(has("twice"))
    r1 = lee.refresh(lsub)
    r2 = lee.resend()
    n2 = lee.wait_notify()
    time.sleep(0.5)
    ok(r1 is not None and r1.code == 200 and r2 is not None and
       r2.code == 200 and n is not None and n2 is not None and
       not lee.notifies,
       "a retransmitted refresh: answered again, one NOTIFY for the "
       "refresh", (r1, r2, n2, lee.notifies))

    # ---- rate control: RFC 6446 max-rate, changes merged ----
    slow = phone("erin")
    hdrs = ["Event: presence;max-rate=1", "Expires: 600",
            "Accept: application/pidf+xml"]
    r, _, _, _ = slow.request("SUBSCRIBE", "sip:bob@" + D, hdrs)
    first = slow.wait_notify()
    t0 = time.time()
    for i in range(4):
        bob.publish(pidf("bob", D, note="step %d" % i))
    last = slow.wait_notify(has("step 3"), timeout=6)
    t1 = time.time()
    got = [m for m in slow.notifies]
    ok(r is not None and r.code == 200 and first is not None and
       last is not None and t1 - t0 >= 0.8 and
       len(got) + 1 <= int(t1 - t0) + 1,
       "max-rate=1: four quick changes, at most one NOTIFY a second, the "
       "changes merged and the last state delivered (%.1f s)" % (t1 - t0),
       (r, first, last, got))

    # ---- RFC 6446 min-rate: the state again without a change ----
    r, msub = lee.subscribe("kim", event="presence;min-rate=2")
    t0 = time.time()
    lee.wait_notify(lambda m: "kim@" in (m.get("from") or ""))
    time.sleep(2.2)
    again = [m for m in lee.notifies if "kim@" in (m.get("from") or "")]
    r2 = lee.refresh(msub, expires=0, event="presence")
    ok(r is not None and r.code == 200 and 3 <= len(again) <= 6 and
       all("twice" in m.text() for m in again),
       "min-rate=2: with nothing changing, the state again about every "
       "0.5 s (%d NOTIFYs in %.1f s)" % (len(again) + 1,
                                         time.time() - t0),
       (r, len(again), r2))

    # ---- caps ----
    codes = []
    for u in ("alice", "bob", "carol", "dave", "erin", "hal", "alice"):
        r, _ = gus.subscribe(u)
        codes.append(r.code if r else None)
    ok(codes.count(403) >= 1 and codes[-1] == 403 and
       all(c in (200, 403) for c in codes),
       "subscribe_max_per_watcher (6): past it, 403", codes)

    # ---- the bus ----
    w = app.ctl("watch", "pres", "--count", "50", "--timeout", "2",
                check=False)
    events = [json.loads(ln) for ln in w.stdout.splitlines() if ln]
    bobs = [e for e in events if e.get("key") == "bob"]
    ok(bobs and bobs[-1]["data"]["basic"] == "open" and
       bobs[-1]["data"]["devices"] >= 1 and
       "pidf" not in bobs[-1]["data"],
       "lamplightctl watch pres: bob's composed presence on the bus, "
       "without the document",
       w.stdout[-1500:] + w.stderr)

    # ---- a user nobody watches: the bus's summary without a document;
    # the document composed when a watcher comes, dropped when it goes ----
    lee.register()
    r1 = lee.publish(pidf("lee", D, basic="closed", note="desk", tid="desk"))
    r2 = lee.publish(pidf("lee", D, activity="meeting", tid="mobile"))
    w = app.ctl("watch", "pres", "--count", "60", "--timeout", "2",
                check=False)
    lees = [json.loads(ln) for ln in w.stdout.splitlines() if ln]
    lees = [e["data"] for e in lees if e.get("key") == "lee"]
    ok(r1 is not None and r1.code == 200 and r2 is not None and
       r2.code == 200 and lees and lees[-1]["basic"] == "open" and
       lees[-1]["activities"] == ["meeting"] and
       lees[-1]["publications"] == 2 and lees[-1]["note"] == "desk",
       "a user nobody watches: the bus has the summary of both "
       "publications (open, meeting, the note)", (r1, r2, lees[-1:]))
    r, ksub = kim.subscribe("lee")
    n = kim.wait_notify(lambda m: "lee@" in m.text())
    ok(n is not None and 'id="desk"' in n.text() and
       'id="mobile"' in n.text() and sorted(basic(n)) ==
       ["closed", "open"] and "<rpid:meeting/>" in n.text() and
       "desk</dm:note>" in n.text(),
       "the first watcher gets the document composed of both "
       "publications", n and n.text())
    r3 = lee.publish(etag=r2.get("sip-etag") if r2 else None, expires=0)
    n = kim.wait_notify(lambda m: "lee@" in m.text())
    ok(r3 is not None and r3.code == 200 and n is not None and
       'id="mobile"' not in n.text() and basic(n) == ["closed"] and
       "meeting" not in n.text(),
       "a publication removed: the watcher's NOTIFY has the other only",
       n and n.text())
    r = kim.refresh(ksub, expires=0)
    kim.wait_notify(lambda m: "lee@" in m.text())
    time.sleep(0.3)    # the subscription ends once that NOTIFY is answered
    r4 = lee.publish(pidf("lee", D, note="gone home", tid="desk"),
                     etag=r1.get("sip-etag") if r1 else None)
    r, _ = kim.subscribe("lee", expires=0)
    n = kim.wait_notify(lambda m: "lee@" in m.text())
    ok(r4 is not None and r4.code == 200 and n is not None and
       "gone home" in n.text() and "desk</dm:note>" not in n.text() and
       basic(n) == ["open"],
       "changed while nobody watched: a fetch gets the new document, not "
       "the one composed for the last watcher", n and n.text())

    # ---- a user deleted: subscriptions to them end ----
    r, _ = erin.subscribe("ivy")
    erin.wait_notify(lambda m: "ivy@" in (m.get("from") or ""))
    app.ctl("user", "del", "ivy")
    n = erin.wait_notify(lambda m: "ivy@" in (m.get("from") or "") and
                         (state(m) or "").startswith("terminated"))
    ok(r is not None and r.code == 200 and n is not None and
       state(n) == "terminated;reason=noresource",
       "a watched user is deleted: NOTIFY terminated;reason=noresource",
       n and n.raw)

    # ---- the publication of 10 s is gone ----
    left = 10.5 - (time.time() - hal_published)
    if left > 0:
        time.sleep(left)
    n = gus.wait_notify(lambda m: "Short-lived" not in m.text() and
                        "hal@" in m.text(), timeout=4)
    ok(n is not None and basic(n) == ["open"],
       "a publication not refreshed expires on time; the watcher sees the "
       "registration's state again", n and n.text())

    # ---- restarts ----
    time.sleep(0.5)
    alice.notifies = []
    for sig, what in ((signal.SIGTERM, "stopped"), (signal.SIGKILL,
                                                    "killed")):
        before = None
        # a modification (a new entity tag for the same publication)
        # must survive the restart, and the draft it replaced must not
        r = bob.publish(pidf("bob", D, note="draft %s" % what,
                             tid="draft"))
        r2 = bob.publish(pidf("bob", D, note="before %s" % what),
                         etag=r.get("sip-etag") if r else None)
        before = alice.wait_notify(has("before %s" % what))
        alice.notifies = []    # the draft's NOTIFY, taken by nobody
        app.stop("presence", sig)
        app.start("presence")
        n = alice.wait_notify()
        ok(before is not None and n is not None and
           n.cseq == before.cseq + 1 and "before %s" % what in n.text()
           and 'id="draft"' not in n.text()
           and set(basic(n)) == {"open"},
           "presence daemon %s and started: the watcher's next NOTIFY "
           "has the next CSeq and the state kept (open: it waited for "
           "the registrations; the modified publication, not the draft "
           "it replaced)" % what, (r, r2, before, n and n.text()))
        r = alice.refresh(sub)
        ok(r is not None and r.code == 200,
           "after the daemon was %s, the watcher's refresh succeeds" % what,
           r)
        time.sleep(0.5)
        alice.notifies = []
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
