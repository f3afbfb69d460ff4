#!/usr/bin/env python3
"""test_cluster_pres: presence and busy lamps across the nodes of a
cluster (two nodes on one PostgreSQL started here), seen on the wire by
phones on one node for users on the other:

  - bob registers on node b alone: alice's presence subscription on
    node a says he is open (b's `reg` counts on a);
  - bob PUBLISHes a note on node b: alice's next NOTIFY from node a
    carries it, and `lamplightctl watch pub --node b` shows the one
    document b's presence daemon sent the other nodes;
  - bob unpublishes and unregisters on b: closed on a;
  - two of bob's phones publish on b; when the first refreshes, its note
    is the latest on a as on b;
  - b's presence daemon killed while b's edge runs: a publication of 3 s
    expires on a by its own time;
  - a call that passes through node b alone (carol and bob both on b)
    lights erin's BLF key for bob on node a (confirmed) and puts it out
    at the BYE; node a's admin board shows bob busy, with his devices on
    another node;
  - a call from alice (on a) to dave (on b) passes through both edges
    (the two edges started at once on the empty database, and share one
    secret):
    erin's lamp for dave on node a shows it once, not once per node;
  - node b's edge killed (SIGKILL): within 15 s node a's watchers see
    bob's published note gone, and a's logs say b is no longer running
    (silent); node a's edge takes over b's bindings: bob is open again
    on a, and alice's MESSAGE reaches his phone from a's edge; node a
    takes over b's subscriptions: carol (whose phone was on b) gets,
    within 15 s, a NOTIFY from node a's edge for her presence
    subscription and for her lamp, in the same dialogs with a higher
    CSeq, still active, and alice's next PUBLISH on a reaches her; b's
    presence daemon and BLF gateway, which ran on without their edge,
    say b is fenced and send nothing; when b's edge is back they find
    their subscriptions taken and stop (to start again with none of
    them); the message b's relay kept for fay (no device anywhere) is
    node a's, and reaches her, once, when she registers on a.
"""

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import lpweb  # noqa: E402
from presphone import Phone, pidf  # noqa: E402
from presphone import basic_of as basic  # noqa: E402
from presphone import dialog_states as dialogs  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

pg, url = lptest.cluster_postgres(tap, "presence across nodes")
apps = []
phones = []
web = None


def node(node_id):
    a = lptest.cluster_node(url, node_id, "presence_default_policy = allow\n"
                            "publish_expires_min = 1\n")
    apps.append(a)
    return a



try:
    a, b = node("a"), node("b")
    for u in ("alice", "bob", "carol", "dave", "erin", "fay"):
        a.add_user(u, u + "-pw")
    # both edges at once on the empty database: they must end up with
    # one nonce secret (a node's calls are signed with it)
    starts = [threading.Thread(target=app.start) for app in (a, b)]
    for t in starts:
        t.start()
    for t in starts:
        t.join()
    for app in (a, b):
        app.start("presence")
        app.start("blf")
        app.start("imrelay")
    for app, other in ((a, "b"), (b, "a")):
        for d in ("presence", "blf"):
            app.wait_log(["following node " + other], name=d, timeout=8)
    ok(all("cluster: following node b" in a.log(d)
           for d in ("presence", "blf")) and
       "presence bus tcp://127.0.0.1:%d (snapshots tcp://127.0.0.1:%d)"
       % (a.bus_port + 2, a.bus_port + 3) in a.log("presence"),
       "node a's presence daemon and BLF gateway follow node b; a's "
       "presence daemon serves the other nodes on PORT + 2 and + 3",
       a.log("presence")[-500:])

    phones = [Phone(app, u) for app, u in ((a, "alice"), (a, "erin"),
                                            (b, "bob"), (b, "carol"),
                                            (b, "dave"))]
    alice, erin, bob, carol, dave = phones
    ok(all(p.register().code == 200 for p in (alice, erin, bob, carol,
                                                dave)),
       "alice and erin register on node a; bob, carol and dave on b")

    # presence: a watcher on a, the presentity's devices on b
    r, d = alice.subscribe("bob")
    ok(r is not None and r.code == 200, "alice subscribes to bob on a",
       r and r.code)
    n = alice.wait_notify(lambda n: basic(n) == "open", timeout=8)
    ok(n is not None, "bob, registered on node b alone, is open in the "
       "NOTIFY from node a", [x.body[:300] for x in alice.notifies])

    r = bob.publish(pidf("bob", b.domain, note="in Lyon",
                         activity="meeting"), expires=600)
    ok(r is not None and r.code == 200, "bob PUBLISHes on node b",
       r and r.code)
    etag = r.get("sip-etag") if r else None
    n = alice.wait_notify(lambda n: b"in Lyon" in n.body, timeout=8)
    ok(n is not None and b"<rpid:meeting" in n.body.replace(
        b"<meeting", b"<rpid:meeting") and basic(n) == "open",
       "alice's next NOTIFY from node a carries his note and activity",
       n and n.body[:600])
    w = lptest.subprocess.run(
        [a.ctl_path, "-c", a.conf, "watch", "pub", "--node", "b",
         "--count", "1", "--timeout", "10"],
        capture_output=True, text=True, timeout=30)
    msgs = [json.loads(ln) for ln in w.stdout.splitlines() if ln]
    ok(w.returncode == 0 and len(msgs) == 1 and
       msgs[0]["key"].startswith("bob/") and
       "in Lyon" in msgs[0]["data"]["doc"] and
       msgs[0]["data"]["user"] == "bob",
       "node b's bus carries bob's one publication to the other nodes",
       w.stdout[:400] + w.stderr[:300])

    r = bob.publish(b"", etag=etag, expires=0)
    ok(r is not None and r.code == 200, "bob unpublishes", r and r.code)
    n = alice.wait_notify(lambda n: b"in Lyon" not in n.body, timeout=8)
    ok(n is not None and basic(n) == "open", "the note is gone on a, bob "
       "still open", n and n.body[:400])
    r = bob.register(expires=0)
    n = alice.wait_notify(lambda n: basic(n) == "closed", timeout=8)
    ok(n is not None, "bob unregisters on b: closed on a",
       [x.body[:200] for x in alice.notifies])
    ok(bob.register().code == 200, "bob registers on b again")
    ok(alice.wait_notify(lambda n: basic(n) == "open", timeout=8)
       is not None, "open again on a")

    # two of bob's phones publish on b; a refresh of the first makes it
    # the latest there, and on a too
    bob2 = Phone(b, "bob")
    phones.append(bob2)
    r1 = bob.publish(pidf("bob", b.domain, note="first"), expires=600)
    alice.wait_notify(lambda n: b"first" in n.body, timeout=8)
    r2 = bob2.publish(pidf("bob", b.domain, note="second", tid="t2"),
                      expires=600)
    n = alice.wait_notify(lambda n: b"second</" in n.body, timeout=8)
    ok(r1 is not None and r2 is not None and r1.code == r2.code == 200 and
       n is not None, "bob's second phone publishes on b: its note on a",
       n and n.body[:500])
    r = bob.publish(b"", etag=r1.get("sip-etag") if r1 else None,
                    expires=600)
    n = alice.wait_notify(lambda n: re.search(
        rb"<(dm:)?note[^>]*>first<", n.body) is not None, timeout=8)
    ok(r is not None and r.code == 200 and n is not None,
       "the first phone refreshes: its note is the latest on a too",
       n and n.body[:500])
    for ph, rr in ((bob, r), (bob2, r2)):
        ph.publish(b"", etag=rr.get("sip-etag") if rr else None,
                   expires=0)
    alice.wait_notify(lambda n: b"second" not in n.body and
                      b"first" not in n.body, timeout=8)

    # b's presence daemon dies while its edge runs: the node is still
    # followed, and what it published expires on a by its own time
    r = bob.publish(pidf("bob", b.domain, note="brief"), expires=3)
    ok(alice.wait_notify(lambda n: b"brief" in n.body, timeout=8)
       is not None, "bob publishes for 3 s on b: seen on a")
    b.stop("presence", signal.SIGKILL)
    n = alice.wait_notify(lambda n: b"brief" not in n.body, timeout=10)
    ok(n is not None, "b's presence daemon killed: the publication "
       "expires on a all the same", [x.body[:200] for x in alice.notifies])
    b.start("presence")

    # lamps: erin's BLF keys on node a for bob and dave (on b)
    subs = {}
    for who in ("bob", "dave"):
        r, dd = erin.subscribe(who, event="dialog",
                               accept="application/dialog-info+xml")
        subs[who] = dd
        ok(r is not None and r.code == 200,
           "erin's BLF key for %s on node a" % who, r and r.code)
    time.sleep(1)
    erin.notifies.clear()

    def lamp(who, pred, timeout=8):
        cid = subs[who].callid if subs.get(who) else None
        return erin.wait_notify(lambda n: pred(dialogs(n)),
                                timeout=timeout, callid=cid)

    a.ctl("admin", "add", "root", "--password", "rootroot")
    web = lpweb.Web(a)
    wc = lpweb.Client(web)
    wc.login("root", "rootroot")
    r, call = carol.call("bob")
    ok(r is not None and r.code == 200, "carol calls bob, both on node b",
       r and r.code)
    cid = r.get("call-id") if r else None
    n = lamp("bob", lambda ds: (cid, "confirmed") in ds)
    ok(n is not None, "erin's lamp for bob on node a shows the call "
       "through node b confirmed", [x.body[:300] for x in erin.notifies])
    tiles = {t["user"]: t for t in
             json.loads(wc.get("/lamplight/board.json").text)["users"]}
    bt = tiles.get("bob", {})
    ok(bt.get("lamp") == "busy" and bt.get("elsewhere") == 1 and
       bt.get("devices") == [] and tiles.get("erin", {}).get("lamp") ==
       "idle", "node a's admin board: bob busy, his device on another "
       "node (none here), erin idle", bt)
    if call:
        carol.in_dialog("BYE", call)
    n = lamp("bob", lambda ds: (cid, "confirmed") not in ds)
    ok(n is not None and all(s == "terminated" for _, s in dialogs(n)),
       "and out at the BYE", n and n.body[:400])

    r, call = alice.call("dave")
    cid = r.get("call-id") if r else None
    ok(r is not None and r.code == 200, "alice on node a calls dave on b "
       "(through both edges)", r and r.code)
    n = lamp("dave", lambda ds: (cid, "confirmed") in ds)
    ok(n is not None and [x for x in dialogs(n) if x[0] == cid] ==
       [(cid, "confirmed")], "erin's lamp for dave on node a shows the "
       "call once, though both nodes report it", n and n.body[:600])
    if call:
        alice.in_dialog("BYE", call)
    n = lamp("dave", lambda ds: (cid, "confirmed") not in ds)
    ok(n is not None, "and out at the BYE")

    # watchers on b: carol of alice (presence) and of erin (a lamp)
    r, cd = carol.subscribe("alice")
    r2, cl = carol.subscribe("erin", event="dialog",
                             accept="application/dialog-info+xml")
    ok(r is not None and r.code == 200 and r2 is not None and
       r2.code == 200, "carol, on node b, watches alice and erin's lamp")
    first = carol.wait_notify(lambda n: basic(n) == "open", timeout=8,
                              callid=cd.callid if cd else None)
    firstl = carol.wait_notify(timeout=8, callid=cl.callid if cl else None)
    time.sleep(0.5)
    carol.notifies.clear()

    # a message for fay, who has no device anywhere: b's relay keeps it
    r = carol.message("fay", b"while you were out")
    ok(r is not None and r.code == 202, "carol's MESSAGE for fay (no "
       "device anywhere) is kept by node b's relay: 202", r and r.code)

    # node b dies: its word on bob goes with it, and its watchers are
    # node a's
    r = bob.publish(pidf("bob", b.domain, note="back at 3"), expires=600)
    ok(alice.wait_notify(lambda n: b"back at 3" in n.body, timeout=8)
       is not None, "bob publishes again on b: seen on a")
    time.sleep(0.5)
    alice.notifies.clear()
    t0 = time.time()
    # b's edge dies; its presence daemon and BLF gateway run on, cut off
    # from their phones: they must not speak for what a takes over
    b.stop("registrar", signal.SIGKILL)
    n = alice.wait_notify(lambda n: b"back at 3" not in n.body,
                          timeout=20)
    took = (n.t if n else time.time()) - t0
    ok(n is not None and took < 15,
       "node b killed: within 15 s alice's NOTIFY from a is without b's "
       "note (%.1f s)" % took, [x.body[:200] for x in alice.notifies])
    ok("cluster: node b is no longer running (silent)" in
       a.log("presence"), "a's presence daemon says b is no longer "
       "running, silent")
    log = a.wait_log(["took over 3 binding(s) of node b"], timeout=15)
    ok("cluster: took over 3 binding(s) of node b" in log,
       "node a's edge takes over the bindings of bob, carol and dave",
       log[-600:])
    # the note and the devices may go in one NOTIFY, the devices come
    # back in the next; or both in one, if a's edge took the bindings
    # before a's presence daemon wrote it
    if n is None or basic(n) != "open":
        n = alice.wait_notify(lambda n: b"back at 3" not in n.body and
                              basic(n) == "open",
                              timeout=max(0.1, 20 - (time.time() - t0)))
    took = (n.t if n else time.time()) - t0
    time.sleep(1)
    ok(n is not None and took < 15 and
       not any(basic(x) == "closed" for x in alice.notifies),
       "within 15 s bob, whose phone registered through b, is open again "
       "on a and stays so (%.1f s)" % took,
       [x.body[:200] for x in alice.notifies])
    r = alice.message("bob", b"are you there?")
    got = bob.wait_messages(1, timeout=5)
    ok(r is not None and r.code in (200, 202) and got and
       got[-1].body == b"are you there?" and
       got[-1].src == ("127.0.0.1", a.port),
       "a MESSAGE from alice reaches bob's phone from node a's edge",
       (r and r.code, [(m.body, m.src) for m in bob.messages]))
    n = carol.wait_notify(timeout=max(0.1, 20 - (time.time() - t0)),
                          callid=cd.callid if cd else None)
    took = (n.t if n else time.time()) - t0
    ok(n is not None and took < 15 and n.src == ("127.0.0.1", a.port) and
       first is not None and n.cseq > first.cseq and basic(n) == "open" and
       "active" in (n.get("subscription-state") or ""),
       "within 15 s carol's subscription to alice gets a NOTIFY from "
       "node a's edge: alice open, a higher CSeq, still active (%.1f s)"
       % took, n and (n.src, n.cseq, first and first.cseq, n.first,
                      n.get("subscription-state")))
    nl = carol.wait_notify(timeout=5, callid=cl.callid if cl else None)
    ok(nl is not None and nl.src == ("127.0.0.1", a.port) and
       firstl is not None and nl.cseq > firstl.cseq and
       b"dialog-info" in nl.body, "and her lamp for erin one too",
       nl and (nl.src, nl.cseq, firstl and firstl.cseq))
    ok("took over 1 subscription(s) of node b" in a.log("presence") and
       "took over 1 subscription(s) of node b" in a.log("blf"),
       "a's presence daemon and BLF gateway log the takeover")
    r = alice.publish(pidf("alice", a.domain, note="still here"),
                      expires=600)
    n = carol.wait_notify(lambda n: b"still here" in n.body, timeout=8,
                          callid=cd.callid if cd else None)
    ok(r is not None and r.code == 200 and n is not None,
       "alice publishes on a: carol, whose node is dead, hears it from a",
       n and n.body[:300])
    ok("took over 1 kept message(s) of node b" in a.wait_log(
        ["took over 1 kept message(s)"], name="imrelay", timeout=5),
       "a's relay takes over the message b kept", a.log("imrelay")[-400:])
    ok(all("fenced, its rows may be taken over" in b.log(d) and
           "NOTIFYs wait while this node is fenced" in b.log(d)
           for d in ("presence", "blf")),
       "b's presence daemon and BLF gateway, whose edge died, say b is "
       "fenced: their NOTIFYs wait", b.log("presence")[-600:])
    carol.notifies.clear()
    # a killed node starts again as itself once silent for 17 s (the
    # others have taken over what it held by then)
    time.sleep(max(0.0, t0 + 18 - time.time()))
    b.start()
    end = time.time() + 10
    while time.time() < end and (b.alive("presence") or b.alive("blf")):
        time.sleep(0.1)
    ok(not b.alive("presence") and not b.alive("blf") and
       b.procs["presence"].returncode == 1 and
       all("another node took over our subscriptions while this node "
           "was fenced: stopping" in b.log(d) for d in ("presence", "blf")),
       "b's edge back: they find a took their subscriptions, and stop "
       "(exit status 1: systemd starts them again)", b.log("blf")[-600:])
    time.sleep(1)
    ok(not [x for x in carol.notifies if x.src == ("127.0.0.1", b.port)],
       "and nothing they held reaches carol from b's edge",
       [(x.src, x.cseq) for x in carol.notifies])
    # bob's phone registers with b again: a, which took his binding,
    # lets it go
    ok(bob.register().code == 200, "bob registers with b's edge again")
    log = a.wait_log(["'bob': binding"], timeout=5)
    st = a.ctl("status").stdout
    ok("'bob': binding 'sip:bob@" in log and "is another node's now" in
       log and [ln for ln in st.splitlines() if ln.startswith("bob ")
                and ln.rstrip().endswith("node b")] and
       not [ln for ln in st.splitlines() if ln.startswith("bob ") and
            ln.rstrip().endswith("node a")],
       "a's edge, told by b's `reg`, drops its copy: bob's binding is b's "
       "alone", (log[-400:], st))
    for d in ("presence", "blf"):
        b.procs.pop(d, None)
        b.start(d)
    ok("ready: domain 'lamplight.test', 0 subscription(s) restored" in
       b.log("presence"), "started again, b's presence daemon has none of "
       "them", b.log("presence")[-300:])

    # node b frozen whole (every daemon stopped, as a machine suspended
    # or cut off and back): a takes over dave's new subscription; when b
    # runs again, what its presence daemon queued meanwhile must not go
    ok(dave.register().code == 200, "dave registers with b again")
    r, dd = dave.subscribe("alice")
    ok(r is not None and r.code == 200 and
       dave.wait_notify(timeout=8, callid=dd.callid if dd else None),
       "dave, on b, watches alice")
    frozen = [b.procs[d] for d in ("registrar", "presence", "blf")]
    for pr in frozen:
        pr.send_signal(signal.SIGSTOP)
    tf = time.time()
    n = None
    while time.time() < tf + 16 and n is None:
        n = dave.wait_notify(lambda n: n.src == (a.addr, a.port),
                             timeout=0.5,
                             callid=dd.callid if dd else None)
    r = alice.publish(pidf("alice", a.domain, note="while b slept"),
                      expires=600)
    ok(n is not None and r is not None and r.code == 200 and
       dave.wait_notify(lambda n: b"while b slept" in n.body and
                        n.src == (a.addr, a.port), timeout=8,
                        callid=dd.callid if dd else None),
       "b frozen: a takes over dave's subscription, and alice's PUBLISH "
       "reaches him from a", n and n.src)
    dave.notifies.clear()
    for pr in frozen:
        pr.send_signal(signal.SIGCONT)
    end = time.time() + 10
    while time.time() < end and b.alive("presence"):
        time.sleep(0.1)
    time.sleep(1)
    ok(not b.alive("presence") and
       "another node took over our subscriptions" in b.log("presence"),
       "b runs again: its presence daemon finds the subscription taken "
       "and stops", b.log("presence")[-800:])
    ok(not [x for x in dave.notifies if x.src == (b.addr, b.port)],
       "and what it had queued while frozen never reaches dave",
       [(x.src, x.cseq, x.body[:120]) for x in dave.notifies])
    b.procs.pop("presence", None)
    fay = Phone(a, "fay")
    phones.append(fay)
    ok(fay.register().code == 200, "fay registers on node a")
    got = fay.wait_messages(1, timeout=8)
    time.sleep(2)
    ok(len(fay.messages) == 1 and got and
       got[0].body == b"while you were out" and
       "sip:carol@" in (got[0].get("from") or ""),
       "node a's relay delivers it to her, once, From carol",
       [(m.body, m.get("from")) for m in fay.messages])
    ok(a.alive("presence") and a.alive("blf") and a.alive(),
       "node a's daemons run on")
finally:
    if web:
        web.close(tap)
    lptest.cluster_close(tap, phones, apps, pg)
sys.exit(tap.done())
