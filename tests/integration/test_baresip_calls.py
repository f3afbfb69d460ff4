"""test_baresip_calls: real soft clients, baresip 1.0.0 from Debian (libre
1.1.0), call each other through the Lamplight edge the way users do, and
a bus subscriber (`lamplightctl watch dialog`) sees each call's states
under the keys USER/CALL-ID (what every busy lamp is built from).

1. alice (UDP) calls bob (UDP), who answers by himself; alice puts him on
   hold and takes him back (re-INVITEs with a=sendonly, then sendrecv,
   along the Record-Route, each answered 200) and hangs up.
2. Blind transfer: alice calls bob, then transfers him to carol (REFER
   inside the call); bob's client accepts it (202), calls carol, who
   answers, and tells alice (NOTIFY, sipfrag 200); alice's client then
   hangs up its call with bob. Bob's and carol's call is confirmed,
   alice's is over, and the lamps end right.
3. alice on TCP calls bob on UDP: the call crosses transports; bob holds,
   resumes and hangs up (requests from the callee, the other way).

Each client runs with its SIP trace (-s), so every message it sent to the
edge and got from it is in its output: that is what is checked, besides
what the client says to its user. Commands are typed on the client's
stdin (its stdio module), each when the previous step is seen done:

  /dial sip:bob@D   /hold   /resume   /transfer sip:carol@D   /hangup

  alice              edge               bob                 carol
  INVITE ---------->  (407, INVITE+auth) -->
         <-- 180, 200 <-------------------- (auto answer)
  INVITE a=sendonly (Route) ------------->  200 a=recvonly
  REFER Refer-To carol ------------------>  202
         <----------------------- NOTIFY 100   INVITE ------------>
         <----------------------- NOTIFY 200          <---------- 200
  BYE ---------------------------------->  200
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

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(), "log_level = debug\n")
EDGE = None            # "127.0.0.1:PORT", once the edge runs
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRACE = re.compile(r"\x1b\[36;1m#\n(.*?)\x1b\[;m", re.S)


class Reader:
    """A child process whose output a thread collects as it comes."""

    def __init__(self, argv, stdin=None):
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b""
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        fd = self.p.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.buf += chunk

    def text(self):
        with self.lock:
            return self.buf.decode("utf-8", "replace")

    def wait(self, pred, timeout=8.0):
        """pred(self) true within timeout."""
        end = time.time() + timeout
        while True:
            if pred(self):
                return True
            if time.time() >= end or self.p.poll() is not None:
                return bool(pred(self))
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(5)


class Sip:
    """One message of a client's SIP trace."""

    def __init__(self, block):
        lines = block.replace("\r\n", "\n").split("\n")
        m = re.match(r"(\w+) (\S+) -> (\S+)", lines[0])
        self.proto, self.src, self.dst = m.groups() if m else ("", "", "")
        self.sent = self.dst == EDGE       # by the client, to the edge
        self.first = lines[1] if len(lines) > 1 else ""
        self.headers = []
        i = 2
        while i < len(lines) and lines[i]:
            n, _, v = lines[i].partition(":")
            self.headers.append((n.strip().lower(), v.strip()))
            i += 1
        self.body = "\n".join(lines[i + 1:])
        r = re.match(r"SIP/2\.0 (\d+)", self.first)
        self.code = int(r.group(1)) if r else None
        self.method = None if r else self.first.split(" ")[0]

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else ""

    @property
    def cseq(self):
        return self.get("cseq")

    @property
    def callid(self):
        return self.get("call-id")

    def totag(self):
        return "tag=" in self.get("to")

    def __repr__(self):
        return "%s %s->%s %s [%s]" % ("sent" if self.sent else "got",
                                      self.src, self.dst, self.first,
                                      self.cseq)


class Baresip(Reader):
    """A baresip client of the appliance, SIP trace on, commands typed on
    its stdin. answer: it answers calls by itself."""

    def __init__(self, tag, user, transport, answer=True):
        acc = ('<sip:%s@%s;transport=%s>;auth_pass=%s-pw;'
               'outbound="sip:127.0.0.1:%d;transport=%s";regint=600' %
               (user, app.domain, transport, user, app.port, transport))
        if answer:
            acc += ";answermode=auto"
        d = lptest.baresip_home(app, "%s-%s-%s" % (tag, user, transport),
                                acc)
        self.home = d
        with open(os.path.join(d, "config"), "a") as f:
            f.write("module stdio.so\n")    # reads commands from stdin
        self.user = user
        self.transport = transport
        # -t bounds it; the test ends it (SIGTERM) when its case is done
        Reader.__init__(self, ["baresip", "-f", d, "-s", "-t", "90"],
                        stdin=subprocess.PIPE)

    def stop(self, sig=signal.SIGTERM):
        Reader.stop(self, sig)
        # all it printed, SIP trace included, beside its configuration
        # (kept with LP_KEEP=1)
        with open(os.path.join(self.home, "output.txt"), "w") as f:
            f.write(ANSI.sub("", self.text()))

    def cmd(self, line):
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
        except OSError:
            pass

    def says(self, text):
        return text in ANSI.sub("", self.text())

    def wait_says(self, text, timeout=8.0):
        return self.wait(lambda b: b.says(text), timeout)

    def msgs(self):
        return [Sip(b) for b in TRACE.findall(self.text())]

    def find(self, pred):
        return [m for m in self.msgs() if pred(m)]

    def wait_msg(self, pred, timeout=8.0):
        self.wait(lambda b: b.find(pred), timeout)
        got = self.find(pred)
        return got[0] if got else None

    def listcalls(self, timeout=5.0):
        """What /listcalls shows now: one line per call ("[line 1]
        0:00:03  ESTABLISHED  (on hold)  sip:bob@..."), or None."""
        start = len(self.text())
        self.cmd("/listcalls")
        pat = re.compile(r"--- Active calls \(\d+\) ---\n"
                         r"((?:[^\n]+\n)*)\n")
        got = []

        def seen(b):
            m = pat.search(ANSI.sub("", b.text()[start:]))
            if m:
                got[:] = [" ".join(ln.split())
                          for ln in m.group(1).splitlines()]
            return m is not None

        return got if self.wait(seen, timeout) else None

    def registered(self, timeout=8.0):
        return self.wait_says("useragent registered successfully",
                              timeout)

    def ladder(self):
        """Its messages with the edge but REGISTERs, one line each."""
        out = []
        for m in self.msgs():
            if m.cseq.endswith("REGISTER"):
                continue
            sdp = re.findall(r"a=(sendrecv|sendonly|recvonly|inactive)",
                             m.body)
            out.append("%s %s [%s]%s" % (
                "sent" if m.sent else "got", m.first, m.cseq,
                " a=" + sdp[0] if sdp else
                " | " + m.body.splitlines()[0] if m.method == "NOTIFY"
                and m.body else ""))
        return out

    def tail(self, n=2500):
        """The last of its output, for a failure's detail."""
        t = ANSI.sub("", self.text()).replace("\r\n", "\n")
        t = re.sub(r"[^\n]*\r", "", t)     # status lines and echo
        return "%s@%s:\n%s" % (self.user, self.transport, t[-n:])


class Watch(Reader):
    """`lamplightctl watch dialog`: the snapshot, then every change."""

    def __init__(self, timeout=60):
        Reader.__init__(self, [app.ctl_path, "-c", app.conf, "watch",
                               "dialog", "--timeout", str(timeout)])
        self.since = time.time()

    def ready(self):
        """Subscribed (the bus is given time to connect, as elsewhere)."""
        time.sleep(max(0.0, self.since + 0.8 - time.time()))

    def events(self):
        out = []
        for ln in self.text().splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
        return out

    def seq(self, user, callid):
        return [(e["type"], e["data"]["state"], e["data"].get("reason"))
                for e in self.events()
                if e.get("key") == "%s/%s" % (user, callid)]


def why(facts, *clients):
    """A failure's detail (TAP shows its last 20 lines): each client's
    last messages with the edge, then `facts`."""
    per = max(3, 18 // max(1, len(clients)))
    lines = []
    for c in clients:
        lines += ["%s@%s %s" % (c.user, c.transport, ln)
                  for ln in c.ladder()[-per:]]
    return "\n".join(lines + [repr(facts)])


def snapshot():
    """The calls the bus holds now: {key: data}."""
    r = app.ctl("watch", "dialog", "--timeout", "1", check=False)
    out = {}
    for ln in r.stdout.splitlines():
        try:
            e = json.loads(ln)
        except ValueError:
            continue
        if e.get("type") == "set":
            out[e["key"]] = e["data"]
        else:
            out.pop(e.get("key"), None)
    return out


CALL = [("set", "trying", None), ("set", "early", None),
        ("set", "confirmed", None)]
ENDED = CALL + [("del", "terminated", "bye")]


def dial(caller, callee, watch):
    """caller dials callee's user, who answers: the Call-ID, or None."""
    watch.ready()
    caller.cmd("/dial sip:%s@%s" % (callee.user, app.domain))
    up = caller.wait_says("Call established: sip:%s@" % callee.user) and \
        callee.wait_says("Call established: sip:%s@" % caller.user)
    inv = caller.find(lambda m: m.sent and m.method == "INVITE")
    cid = inv[-1].callid if inv else None
    if cid:
        watch.wait(lambda w: len(w.seq(callee.user, cid)) >= 3, 5)
    return cid if up else None


def reinvite(sender, other, direction, since):
    """sender's re-INVITE (CSeq above `since`) offering `direction` and
    its 200, as sender's and other's traces show them: (sent INVITE,
    200 it got, INVITE the other got, ACK the other got)."""
    def sent_inv(m):
        return m.sent and m.method == "INVITE" and m.totag() and \
            ("a=%s" % direction) in m.body and \
            int(m.cseq.split()[0]) > since

    inv = sender.wait_msg(sent_inv)
    cseq = inv.cseq if inv else "-"
    ans = sender.wait_msg(lambda m: not m.sent and m.cseq == cseq and
                          m.code is not None and m.code >= 200)
    got = other.wait_msg(lambda m: not m.sent and m.method == "INVITE"
                         and m.cseq == cseq)
    ack = other.wait_msg(lambda m: not m.sent and m.method == "ACK" and
                         m.cseq.split()[0] == cseq.split()[0])
    return inv, ans, got, ack


def cseq_num(m):
    return int(m.cseq.split()[0]) if m else 0


def hold_resume(holder, other):
    """holder puts the call on hold and takes it back. Returns (shown,
    good, seen): what holder's /listcalls showed while held and after;
    whether both re-INVITEs reached the other party and were answered
    200 with the matching direction, their ACKs delivered too; and those
    messages."""
    last = holder.find(lambda m: m.sent and m.method == "INVITE")
    since = cseq_num(last[-1]) if last else 0
    holder.cmd("/hold")
    held = reinvite(holder, other, "sendonly", since)
    shown = [holder.listcalls()]
    holder.cmd("/resume")
    back = reinvite(holder, other, "sendrecv", cseq_num(held[0]))
    shown.append(holder.listcalls())
    good = held[2] is not None and "a=sendonly" in held[2].body
    for (inv, ans, got, ack), want in ((held, "recvonly"),
                                      (back, "sendrecv")):
        good = good and inv is not None and ans is not None and \
            ans.code == 200 and ("a=%s" % want) in ans.body and \
            got is not None and ack is not None
    return shown, good, (held, back)


def one_call(lines, state, peer, hold=False):
    """/listcalls shows exactly one call, in `state`, with `peer`."""
    return lines is not None and len(lines) == 1 and \
        (" %s " % state) in lines[0] and \
        ("(on hold)" in lines[0]) == hold and \
        (" sip:%s@%s" % (peer, app.domain)) in lines[0]


def case_hold():
    watch = Watch()
    alice = Baresip("hold", "alice", "udp", answer=False)
    bob = Baresip("hold", "bob", "udp")
    try:
        ok(alice.registered() and bob.registered(),
           "hold: alice's and bob's baresip register over UDP",
           alice.tail() + bob.tail())
        cid = dial(alice, bob, watch)
        ok(cid is not None, "hold: alice calls bob; bob's client answers; "
           "both say the call is established", why(None, alice, bob))
        if cid is None:
            return
        shown, good, seen = hold_resume(alice, bob)
        ok(one_call(shown[0], "ESTABLISHED", "bob", hold=True) and
           one_call(shown[1], "ESTABLISHED", "bob") and
           ANSI.sub("", bob.text()).count("call: got re-INVITE "
                                          "(SDP Offer)") == 2,
           "hold: alice's client lists the call on hold, then not; bob's "
           "says it got two re-INVITEs", why(shown, alice, bob))
        ok(good, "hold: the re-INVITE with a=sendonly reaches bob through "
           "the edge and comes back 200 a=recvonly; the one with "
           "a=sendrecv 200 a=sendrecv; both ACKs reach bob",
           why(seen, alice, bob))
        alice.cmd("/hangup")
        bye = alice.wait_msg(lambda m: not m.sent and m.code == 200 and
                             m.cseq.endswith(" BYE"))
        got = bob.wait_msg(lambda m: not m.sent and m.method == "BYE")
        la, lb = alice.listcalls(), bob.listcalls()
        ok(bye is not None and got is not None and la == [] and lb == [],
           "hold: alice hangs up; the BYE reaches bob and comes back 200; "
           "neither client lists a call", why((la, lb), alice, bob))
        watch.wait(lambda w: len(w.seq("bob", cid)) >= 4, 5)
        sa, sb = watch.seq("alice", cid), watch.seq("bob", cid)
        ok(sa == ENDED and sb == ENDED,
           "hold: the bus shows trying, early, confirmed, terminated "
           "(bye) for alice and bob, nothing more for the hold",
           (sa, sb))
    finally:
        for p in (alice, bob, watch):
            p.stop()


def case_transfer():
    watch = Watch()
    alice = Baresip("xfer", "alice", "udp", answer=False)
    bob = Baresip("xfer", "bob", "udp")
    carol = Baresip("xfer", "carol", "udp")
    try:
        ok(alice.registered() and bob.registered() and carol.registered(),
           "transfer: alice's, bob's and carol's baresip register",
           alice.tail() + bob.tail() + carol.tail())
        cid1 = dial(alice, bob, watch)
        ok(cid1 is not None, "transfer: alice calls bob, bob answers",
           why(None, alice, bob))
        if cid1 is None:
            return
        alice.cmd("/transfer sip:carol@%s" % app.domain)
        refer = alice.wait_msg(lambda m: m.sent and m.method == "REFER")
        acc = alice.wait_msg(lambda m: not m.sent and refer is not None
                             and m.cseq == refer.cseq and m.code and
                             m.code >= 200)
        got = bob.wait_msg(lambda m: not m.sent and m.method == "REFER")
        ok(refer is not None and refer.callid == cid1 and
           "sip:carol@" in refer.get("refer-to") and
           acc is not None and acc.code == 202 and got is not None and
           got.callid == cid1,
           "transfer: alice's REFER (Refer-To carol) goes inside the call "
           "through the edge to bob, whose client accepts it: 202",
           why((refer, acc, got), alice, bob))
        up = carol.wait_says("Call established: sip:bob@") and \
            bob.wait_says("Call established: sip:carol@")
        inv = bob.find(lambda m: m.sent and m.method == "INVITE" and
                       m.callid != cid1)
        cid2 = inv[-1].callid if inv else None
        ok(up and cid2 is not None and
           bob.says("menu: transferring call %s to 'sip:carol@" % cid1),
           "transfer: bob's client calls carol, carol's answers; both say "
           "the call is established", why(cid2, bob, carol))
        frag = alice.wait_msg(lambda m: not m.sent and m.method == "NOTIFY"
                              and m.body.startswith("SIP/2.0 200"))
        ok(frag is not None and frag.get("event").startswith("refer") and
           frag.callid == cid1,
           "transfer: bob's NOTIFY (sipfrag 200 OK) reaches alice "
           "inside her call", why(frag, alice, bob))
        bye = alice.wait_msg(lambda m: not m.sent and m.code == 200 and
                             m.cseq.endswith(" BYE") and m.callid == cid1)
        la, lb, lc = alice.listcalls(), bob.listcalls(), carol.listcalls()
        ok(bye is not None and la == [] and
           one_call(lb, "ESTABLISHED", "carol") and
           one_call(lc, "ESTABLISHED", "bob"),
           "transfer: alice's client ends her call with bob (BYE, 200) "
           "and lists none; bob's and carol's list their call with each "
           "other", why((la, lb, lc), alice, bob, carol))
        watch.wait(lambda w: len(w.seq("bob", cid1)) >= 4 and
                   cid2 is not None and len(w.seq("carol", cid2)) >= 3, 5)
        s1 = (watch.seq("alice", cid1), watch.seq("bob", cid1))
        s2 = (watch.seq("bob", cid2 or "-"), watch.seq("carol", cid2 or "-"))
        ok(s1 == (ENDED, ENDED),
           "transfer: on the bus alice's call with bob went trying, early, "
           "confirmed, terminated (bye), for both", s1)
        ok(s2 == (CALL, CALL),
           "transfer: on the bus bob's new call with carol is trying, "
           "early, confirmed, for both", s2)
        snap = snapshot()
        want = {"bob/%s" % cid2: ("initiator", "sip:carol@" + app.domain),
                "carol/%s" % cid2: ("recipient", "sip:bob@" + app.domain)}
        have = {k: (v["direction"], v["peer"]) for k, v in snap.items()
                if v["state"] == "confirmed"}
        ok(have == want and len(snap) == 2,
           "transfer: the lamps end right: alice idle, bob and carol on "
           "the phone with each other (the bus's snapshot holds only "
           "their call, confirmed)", snap)
        bob.cmd("/hangup")
        carol.wait_msg(lambda m: not m.sent and m.method == "BYE")
        watch.wait(lambda w: len(w.seq("carol", cid2)) >= 4, 5)
        s2 = (watch.seq("bob", cid2), watch.seq("carol", cid2))
        snap = snapshot()
        ok(s2 == (ENDED, ENDED) and snap == {} and
           bob.listcalls() == [] and carol.listcalls() == [],
           "transfer: bob hangs up; the call ends on the bus, no lamp "
           "stays lit, no client lists a call", (s2, snap))
    finally:
        for p in (alice, bob, carol, watch):
            p.stop()


def case_tcp_udp():
    watch = Watch()
    alice = Baresip("mixed", "alice", "tcp", answer=False)
    bob = Baresip("mixed", "bob", "udp")
    try:
        ok(alice.registered() and bob.registered(),
           "TCP/UDP: alice registers over TCP, bob over UDP",
           alice.tail() + bob.tail())
        cid = dial(alice, bob, watch)
        inv = bob.find(lambda m: not m.sent and m.method == "INVITE" and
                       not m.totag())
        rrs = inv[0].all("record-route") if inv else []
        sent = alice.find(lambda m: m.sent and m.method == "INVITE")
        ok(cid is not None and inv and inv[0].proto == "UDP" and
           sent and sent[-1].proto == "TCP" and len(rrs) == 2 and
           "transport=udp" in rrs[0] and "transport=tcp" in rrs[1],
           "TCP/UDP: alice (TCP) calls bob (UDP); both say the call is "
           "established; bob's INVITE is Record-Routed once per leg, UDP "
           "on top, TCP below", why(rrs, alice, bob))
        if cid is None:
            return
        shown, good, seen = hold_resume(bob, alice)
        tcp = alice.find(lambda m: not m.sent and m.proto == "TCP" and
                         m.method == "INVITE" and m.totag())
        ok(good and len(tcp) == 2 and
           one_call(shown[0], "ESTABLISHED", "alice", hold=True) and
           one_call(shown[1], "ESTABLISHED", "alice"),
           "TCP/UDP: bob (UDP) holds and resumes: both re-INVITEs reach "
           "alice on her TCP connection and come back 200; bob's client "
           "lists the call on hold, then not",
           why((shown, seen), alice, bob))
        bob.cmd("/hangup")
        bye = alice.wait_msg(lambda m: not m.sent and m.method == "BYE")
        done = bob.wait_msg(lambda m: not m.sent and m.code == 200 and
                            m.cseq.endswith(" BYE"))
        la, lb = alice.listcalls(), bob.listcalls()
        ok(bye is not None and bye.proto == "TCP" and done is not None and
           la == [] and lb == [],
           "TCP/UDP: bob hangs up; the BYE reaches alice over TCP and "
           "comes back 200; neither client lists a call",
           why((bye, la, lb), alice, bob))
        watch.wait(lambda w: len(w.seq("alice", cid)) >= 4, 5)
        sa, sb = watch.seq("alice", cid), watch.seq("bob", cid)
        ok(sa == ENDED and sb == ENDED,
           "TCP/UDP: the bus shows trying, early, confirmed, terminated "
           "(bye) for both", (sa, sb))
    finally:
        for p in (alice, bob, watch):
            p.stop()


try:
    for u in ("alice", "bob", "carol"):
        app.add_user(u, u + "-pw")
    app.start()
    EDGE = "127.0.0.1:%d" % app.port
    time.sleep(0.3)
    for case in (case_hold, case_transfer, case_tcp_udp):
        case()
    ok(app.alive(), "the edge is alive", app.log()[-2000:])
finally:
    if tap.failed:
        for ln in app.log().splitlines()[-40:]:
            print("# edge: " + ln)
    app.close(tap)

sys.exit(tap.done())
