"""test_chaos: under steady load (a phone re-registering, publishing its
note, calling a colleague and sending messages to a user who is offline,
about twenty requests a second), each daemon in turn (presence, blf,
imrelay, then the edge) is killed with SIGKILL and started again, as
lamplightctl run and systemd do. After each restart, within 5 seconds:
every binding is still there; a new publication reaches the watcher in a
NOTIFY whose CSeq continues the subscription's; a new call lights the
watcher's busy lamp with a dialog-info version above the last. At the
end: the offline user registers and gets every message that was
accepted (202), each once; a new watcher of the loaded phone sees the
last note it published; and the lamp of the colleague it called is idle
again, every call of the load having ended (a BYE without an answer is
sent again, as a phone does)."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone, dialog_version as version  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
pport, bport, iport = (lptest.free_port() for _ in range(3))
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_blf = udp:127.0.0.1:%d\n"
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "route_timeout = 1000\n"
                       "bus_heartbeat = 1\n"
                       "probe_interval = 0\n" % (pport, bport, iport))
phones = []
PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'entity="sip:alice@%s"><tuple id="t1"><status><basic>open</basic>'
        '</status><note>%s</note></tuple></presence>\n')
PIDF_CAROL = PIDF.replace("alice@", "carol@")


def phone(user):
    p = Phone(app, user)
    phones.append(p)
    return p


def until(fn, timeout=5.0):
    """fn() until it returns something true, or the timeout: its value."""
    end = time.time() + timeout
    v = None
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return v


class Load:
    """carol's phone: a refresh, a publication, a call to frank (who
    answers at once) and a message for dave, about twenty requests a
    second, whatever answers they get."""

    def __init__(self, carol):
        self.carol = carol
        self.kept = []           # bodies answered 202
        self.sent = 0
        self.note = None         # the last note published (200)
        self.calls = 0           # calls answered and ended
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def publish(self, i, etag):
        note = "load-%04d" % i
        r = self.carol.publish((PIDF_CAROL % (app.domain, note)).encode(),
                               etag=etag)
        if r is not None and r.code == 412:      # forgotten: anew
            r = self.carol.publish(
                (PIDF_CAROL % (app.domain, note)).encode())
        if r is not None and r.code == 200:
            self.note = note
            return r.get("sip-etag")
        return etag

    def call(self):
        r, d = self.carol.call("frank")
        if d is None:
            return
        # a phone resends a BYE that gets no answer (RFC 3261 17.1.2)
        end = time.time() + 15
        while time.time() < end:
            r = self.carol.in_dialog("BYE", d)
            if r is not None:
                break
        self.calls += 1

    def run(self):
        i = 0
        etag = None
        while not self.stop:
            i += 1
            try:
                if i % 10 == 0:
                    self.carol.register()
                if i % 3 == 0:
                    etag = self.publish(i, etag)
                if i % 5 == 0:
                    self.call()
                body = ("m%04d" % i).encode()
                self.sent += 1
                r = self.carol.message("dave", body, timeout=2.0)
                if r is not None and r.code == 202:
                    self.kept.append(body)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)


try:
    for u in ("alice", "bob", "carol", "dave", "erin", "frank"):
        app.add_user(u, u + "-pw")
    for name in ("registrar", "presence", "blf", "imrelay"):
        app.start(name)
    alice, bob, carol, erin, frank = (phone(u) for u in
                                      ("alice", "bob", "carol", "erin",
                                       "frank"))
    for p in (alice, bob, carol, erin, frank):
        p.register()
    r, psub = bob.subscribe("alice")
    ok(r is not None and r.code == 200, "bob watches alice's presence", r)
    r, dsub = bob.subscribe("alice", event="dialog",
                            accept="application/dialog-info+xml")
    ok(r is not None and r.code == 200, "and her busy lamp", r)
    time.sleep(1.0)
    last_cseq, last_version = 0, -1
    for n in list(bob.notifies):
        if n.get("call-id") == psub.callid:
            last_cseq = max(last_cseq, n.cseq)
        elif n.get("call-id") == dsub.callid:
            v = version(n)
            last_version = max(last_version, v if v is not None else -1)
    bob.notifies.clear()
    load = Load(carol)
    time.sleep(1.0)

    for name in ("presence", "blf", "imrelay", "registrar"):
        app.stop(name, signal.SIGKILL)
        app.start(name)
        t0 = time.time()

        st = until(lambda: all(u in app.ctl("status").stdout
                               for u in ("alice", "bob", "carol", "erin",
                                         "frank")))
        ok(st, "%s killed and restarted: every binding is there" % name)

        note = "after-%s" % name

        def published():
            r = alice.publish((PIDF % (app.domain, note)).encode())
            return r is not None and r.code == 200
        pub = until(published)
        n = bob.wait_notify(lambda m: note in m.text(), timeout=5.0,
                            callid=psub.callid)
        ok(pub and n is not None and n.cseq > last_cseq,
           "%s: alice's new note reaches bob, NOTIFY CSeq %s after %s"
           % (name, n.cseq if n else None, last_cseq))
        if n is not None:
            last_cseq = n.cseq

        def called():
            r, d = erin.call("alice")
            return (r, d) if r is not None and r.code == 200 else None
        c = until(called)
        m = bob.wait_notify(lambda x: "confirmed" in x.text(),
                            timeout=5.0, callid=dsub.callid)
        v = version(m)
        ok(c and v is not None and v > last_version,
           "%s: a call lights alice's lamp for bob, dialog-info version "
           "%s after %s" % (name, v, last_version))
        if v is not None:
            last_version = v
        if c:
            erin.in_dialog("BYE", c[1])
            m = bob.wait_notify(lambda x: "confirmed" not in x.text(),
                                timeout=5.0, callid=dsub.callid)
            if version(m) is not None:
                last_version = version(m)
        bob.notifies.clear()
        print("# %s: all that within %.1f s of its restart"
              % (name, time.time() - t0))
        time.sleep(1.5)          # the load goes on between the kills

    load.stop = True
    load.t.join(20)
    ok(load.calls >= 8 and load.note is not None,
       "the load made %d calls and published up to '%s'"
       % (load.calls, load.note))
    r, d = erin.subscribe("carol")
    n = erin.wait_notify(lambda m: load.note in m.text(), timeout=5.0,
                         callid=d.callid if d else None)
    ok(n is not None, "a new watcher of carol sees her last note, %s"
       % load.note, r)
    r, d = erin.subscribe("frank", event="dialog",
                          accept="application/dialog-info+xml")
    n = erin.wait_notify(lambda m: "dialog-info" in m.text(), timeout=5.0,
                         callid=d.callid if d else None)
    ok(n is not None and "confirmed" not in n.text() and
       "early" not in n.text(), "frank's lamp is idle: every call of "
       "the load ended", n.text()[-600:] if n else r)
    dave = phone("dave")
    dave.register()
    got = dave.wait_messages(len(load.kept), timeout=15.0)
    bodies = [m.body for m in got]
    kept = set(load.kept)
    missing = [b for b in load.kept if b not in bodies]
    dups = len(bodies) - len(set(bodies))
    ok(len(load.kept) > 20 and not missing and not dups,
       "dave registers and gets every one of the %d messages accepted "
       "under load (of %d sent), each once" % (len(kept), load.sent),
       (missing[:5], dups))
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
