#!/usr/bin/env python3
"""test_cluster_load: a node killed under load (issue 21 item 4). Three
nodes (a, b, c: every daemon each) on one PostgreSQL started here; SIPp
keeps registering on a, publishing on c and sending MESSAGEs through c
to phones registered on b while every daemon of b is killed (SIGKILL).
What the phones and SIPp see on the wire:

  - the survivors' load is not disturbed: SIPp's REGISTERs on a and
    PUBLISHes on c all succeed, before, during and after the death;
  - no registration is lost: the 100 bindings SIPp made on b and the
    five phones' are a survivor's (`lamplightctl status`), and the
    phones are reached from it: SIPp's MESSAGEs through c arrive again;
  - no subscription is lost: each phone on b watched the user SIPp
    publishes for and a BLF key; within 15 s of the kill each gets a
    NOTIFY from a survivor's edge in the same dialog, CSeq higher, still
    active, and the publisher's last word after the load;
  - no message is lost or doubled: every MESSAGE SIPp had answered 200
    or 202 reaches its phone exactly once (what was unanswered during
    the death the sender knows of; none of it arrives twice either);
  - the lamps are right within 15 s: a watcher on a sees the call that
    passed through b alone end, and the call through a and c stay up;
    a call after the death to a phone b held lights its lamp;
  - a real client, baresip on b watching pz, shows pz go offline after
    b's death, told by a survivor in the dialog b had.

Each node has a loopback address of its own (127.0.0.1, .2, .3), as it
would have a machine.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone, pidf  # noqa: E402
from presphone import basic_of as basic  # noqa: E402
from presphone import dialog_states as dialogs  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
SCEN = os.path.join(lptest.ROOT, "tests", "sipp")

pg, url = lptest.cluster_postgres(tap, "a node killed under load")
apps = []
phones = []
sipps = []
NLOAD = 100                      # users SIPp registers on b before
VICTIMS = ["v%d" % i for i in range(5)]


def node(node_id, addr):
    a = lptest.cluster_node(url, node_id, "presence_default_policy = allow\n"
                            "publish_expires_min = 1\n"
                            "reg_max_contacts = 64\n", addr=addr)
    apps.append(a)
    return a


def users_csv(app, name, rows):
    path = os.path.join(app.dir, name)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for r in rows:
            f.write(";".join(r) + "\n")
    return path


def cred(u):
    return "[authentication username=%s password=%s-pw]" % (u, u)


def sipp(app, scenario, csv, calls, rate, tag, trace=False, timeout=120):
    """SIPp against `app`'s edge, in the background: (process, files)."""
    err = os.path.join(app.dir, "sipp-%s-err.log" % tag)
    msgs = os.path.join(app.dir, "sipp-%s-msg.log" % tag)
    cmd = ["sipp", "%s:%d" % (app.addr, app.port), "-sf", scenario,
           "-inf", csv,
           "-m", str(calls), "-r", str(rate), "-i", "127.0.0.1",
           "-p", str(lptest.free_port()), "-t", "u1", "-nostdin",
           "-timeout", "%ds" % timeout, "-timeout_error",
           "-recv_timeout", "10000", "-max_retrans", "4",
           "-trace_err", "-error_file", err]
    if trace:
        cmd += ["-trace_msg", "-message_file", msgs]
    p = subprocess.Popen(cmd, cwd=app.dir, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    sipps.append(p)
    return p, err, msgs


def sipp_end(run, timeout=150):
    """(exit code, successful calls, failed calls, output)"""
    p, err, _ = run
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    good = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    bad = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    try:
        with open(err) as f:
            out += f.read()[-2000:]
    except OSError:
        pass
    return (p.returncode, int(good.group(1)) if good else -1,
            int(bad.group(1)) if bad else -1, out[-2500:])


def answered(msgfile):
    """The Call-IDs of the MESSAGEs SIPp saw answered 200 or 202."""
    try:
        with open(msgfile, errors="replace") as f:
            text = f.read()
    except OSError:
        return set()
    out = set()
    for block in re.split(r"\n-{10,}[^\n]*\n", text):
        if "message received" not in block:
            continue
        if not re.search(r"^SIP/2\.0 20[02] ", block, re.M) or \
                not re.search(r"^CSeq:\s*2 MESSAGE", block, re.M | re.I):
            continue
        m = re.search(r"^Call-ID:\s*(\S+)", block, re.M | re.I)
        if m:
            out.add(m.group(1))
    return out



try:
    a, b, c = (node("a", "127.0.0.1"), node("b", "127.0.0.2"),
               node("c", "127.0.0.3"))
    users = (["m%03d" % i for i in range(40)] +
             ["l%03d" % i for i in range(NLOAD)] + VICTIMS +
             ["pz", "sender", "wa", "ca", "cc", "xa", "xb", "bz"])
    with open(os.path.join(a.dir, "users.csv"), "w") as f:
        f.write("# user,password\n")
        for u in users:
            f.write("%s,%s-pw\n" % (u, u))
    a.ctl("user", "import", os.path.join(a.dir, "users.csv"))
    for app in (a, b, c):
        app.start()
    for app in (a, b, c):
        for d in ("presence", "blf", "imrelay"):
            app.start(d)
    for app, others in ((a, "bc"), (b, "ac"), (c, "ab")):
        for o in others:
            app.wait_log(["following node " + o], name="presence",
                         timeout=8)
    ok(all("following node" in app.log("presence") for app in (a, b, c)),
       "three nodes on one PostgreSQL follow one another")

    # before: SIPp registers 100 users on b; five phones register on b,
    # each watching pz (published on c) and a BLF key for ca (on a)
    reg_b = sipp(b, os.path.join(SCEN, "register.xml"),
                 users_csv(b, "l.csv", [(u, cred(u), b.domain) for u in
                                        users if u.startswith("l")]),
                 NLOAD, 50, "reg-b")
    rc, good, bad, out = sipp_end(reg_b)
    ok(rc == 0 and good == NLOAD, "SIPp registers %d users on node b"
       % NLOAD, out)
    vict = [Phone(b, u) for u in VICTIMS]
    phones.extend(vict)
    wa, ca, cc = Phone(a, "wa"), Phone(a, "ca"), Phone(c, "cc")
    xa, xb = Phone(b, "xa"), Phone(b, "xb")
    phones.extend([wa, ca, cc, xa, xb])
    ok(all(p.register().code == 200 for p in vict + [wa, ca, cc, xa, xb]),
       "five phones register on b; wa and ca on a, cc on c, xa and xb "
       "on b")
    pres, lamp = {}, {}
    for v in vict:
        r1, pres[v.user] = v.subscribe("pz")
        r2, lamp[v.user] = v.subscribe("ca", event="dialog",
                                       accept="application/dialog-info+xml")
    ok(all(pres.values()) and all(lamp.values()),
       "each phone on b watches pz and has a BLF key for ca")
    wl = {}
    for who in ("ca", "xa"):
        _, wl[who] = wa.subscribe(who, event="dialog",
                                  accept="application/dialog-info+xml")
    ok(all(wl.values()), "wa on a has BLF keys for ca and xa")
    pzp = Phone(c, "pz")
    phones.append(pzp)
    ok(pzp.register().code == 200, "pz registers on c")
    # a real client on b: baresip, with pz in its contacts
    bz = lptest.baresip_home(
        b, "bz", '<sip:bz@%s;transport=udp>;auth_pass=bz-pw;'
        'outbound="sip:%s:%d;transport=udp";regint=600'
        % (b.domain, b.addr, b.port), apps=("contact", "presence"))
    with open(os.path.join(bz, "contacts"), "w") as f:
        f.write('"pz" <sip:pz@%s>;presence=p2p\n' % b.domain)
    bares = subprocess.Popen(["baresip", "-f", bz, "-t", "240"],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    sipps.append(bares)
    blines = []            # (when, line) of what it prints

    def read_baresip():
        for line in bares.stdout:
            blines.append((time.time(), re.sub(r"\x1b\[[0-9;]*m", "",
                                               line.rstrip())))
    threading.Thread(target=read_baresip, daemon=True).start()
    r = pzp.publish(pidf("pz", c.domain, note="morning"), expires=600)
    ok(r is not None and r.code == 200 and
       all(v.wait_notify(lambda n: b"morning" in n.body, timeout=8,
                         callid=pres[v.user].callid) for v in vict),
       "pz publishes on c: every phone on b hears it from b")
    before = {v.user: max((n.cseq for n in v.notifies
                           if n.get("call-id") == pres[v.user].callid),
                          default=0) for v in vict}
    r, call_ac = ca.call("cc")
    r2, call_b = xa.call("xb")
    ok(r is not None and r.code == 200 and r2 is not None and
       r2.code == 200, "ca (a) calls cc (c); xa calls xb, both on b")
    cid_ac, cid_b = r.get("call-id"), r2.get("call-id")
    ok(wa.wait_notify(lambda n: (cid_ac, "confirmed") in dialogs(n),
                      timeout=8, callid=wl["ca"].callid) and
       wa.wait_notify(lambda n: (cid_b, "confirmed") in dialogs(n),
                      timeout=8, callid=wl["xa"].callid),
       "wa's lamps for ca and xa light")
    for v in vict:
        v.notifies.clear()
    wa.notifies.clear()

    # the load, for about 36 s: REGISTERs on a, PUBLISHes on c (three a
    # call), MESSAGEs through c to the five phones on b
    reg_a = sipp(a, os.path.join(SCEN, "register.xml"),
                 users_csv(a, "m.csv", [(u, cred(u), a.domain) for u in
                                        users if u.startswith("m")]),
                 540, 15, "reg-a")
    pub_c = sipp(c, os.path.join(lptest.ROOT, "bench", "publish.xml"),
                 users_csv(c, "p.csv", [("pz", cred("pz"), c.domain)]),
                 108, 3, "pub-c")
    msg_c = sipp(c, os.path.join(SCEN, "cluster_message.xml"),
                 users_csv(c, "s.csv", [("sender", cred("sender"), c.domain,
                                         v) for v in VICTIMS]),
                 360, 10, "msg-c", trace=True)
    time.sleep(6)
    t0 = time.time()
    for name in ("registrar", "presence", "blf", "imrelay"):
        b.stop(name, signal.SIGKILL)

    # subscriptions: each phone on b hears from a survivor
    survivors = {(a.addr, a.port): "a", (c.addr, c.port): "c"}
    got = {}
    for v in vict:
        n = v.wait_notify(lambda n: n.src in survivors,
                          timeout=max(0.1, 20 - (time.time() - t0)),
                          callid=pres[v.user].callid)
        got[v.user] = n
    late = max(((n.t - t0) if n else 99) for n in got.values())
    ok(all(n is not None and n.cseq > before[u] and
           "active" in (n.get("subscription-state") or "")
           for u, n in got.items()) and late < 15,
       "node b killed under load: within 15 s each phone b held gets a "
       "NOTIFY for pz from a survivor's edge, same dialog, higher CSeq, "
       "active (the last after %.1f s)" % late,
       {u: n and (n.src, n.cseq, before[u], n.get("subscription-state"))
        for u, n in got.items()})
    lamps = [v.wait_notify(lambda n: n.src in survivors and
                           (cid_ac, "confirmed") in dialogs(n),
                           timeout=max(0.1, 20 - (time.time() - t0)),
                           callid=lamp[v.user].callid) for v in vict]
    late = max(((n.t - t0) if n else 99) for n in lamps)
    ok(all(lamps) and late < 15, "and for its BLF key for ca, ca's call "
       "through a and c still confirmed (%.1f s)" % late)
    n = wa.wait_notify(lambda n: (cid_b, "confirmed") not in dialogs(n),
                       timeout=max(0.1, 20 - (time.time() - t0)),
                       callid=wl["xa"].callid)
    ok(n is not None and n.t - t0 < 15, "wa's lamp for xa goes out: the "
       "call through b alone died with it (%.1f s)"
       % ((n.t - t0) if n else 99), n and n.body[:400])
    time.sleep(1)
    ok(not any((cid_ac, "confirmed") not in dialogs(n) for n in
               wa.notifies if n.get("call-id") == wl["ca"].callid),
       "and its lamp for ca stays lit", [x.body[:300] for x in
                                         wa.notifies])

    # the load ends; the survivors' went through untouched
    rc, good, bad, out = sipp_end(reg_a)
    ok(rc == 0 and good == 540 and bad == 0, "SIPp's 540 REGISTERs on "
       "node a, during the death, all succeed (%d)" % good, out)
    rc, good, bad, out = sipp_end(pub_c)
    ok(rc == 0 and good == 108 and bad == 0, "SIPp's 108 PUBLISH rounds "
       "(324 PUBLISHes) on node c all succeed (%d)" % good, out)
    rc, good, bad, out = sipp_end(msg_c)
    acked = answered(msg_c[2])
    ok(good == len(acked) and good > 0,
       "SIPp's MESSAGEs through c: %d answered 200 or 202, %d not "
       "(sent while b was dying)" % (good, bad), out)

    # registrations: b's bindings are a survivor's, its phones reached
    st = subprocess.run([a.ctl_path, "-c", a.conf, "status"],
                        capture_output=True, text=True, timeout=30).stdout
    rows = [ln for ln in st.splitlines() if re.match(r"[lv]\d", ln)]
    left = [ln for ln in rows if ln.rstrip().endswith("node b")]
    ok(len(rows) == NLOAD + len(VICTIMS) and not left,
       "no registration lost: the %d bindings b held are a survivor's "
       "(lamplightctl status), none left on b" % (NLOAD + len(VICTIMS)),
       st[-1500:])
    took = [app.log() for app in (a, c)]
    ok(sum(("took over %d binding(s) of node b" %
            (NLOAD + len(VICTIMS) + 3)) in t for t in took) == 1,
       "one survivor's edge took them all (with xa's, xb's and bz's)",
       [t[-400:] for t in took])
    after = [v.messages[-1] for v in vict if v.messages]
    ok(len(after) == len(vict) and all(m.src in survivors and
                                       m.t > t0 + 10 for m in after),
       "each phone b held gets SIPp's MESSAGEs from a survivor's edge "
       "after the takeover",
       [(m.src, round(m.t - t0, 1)) for m in after])

    # messages: each answered one delivered exactly once
    time.sleep(3)
    seen = {}
    for v in vict:
        for m in v.messages:
            k = m.body.decode(errors="replace").strip()
            seen[k] = seen.get(k, 0) + 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    lost = sorted(k for k in ("load " + cid for cid in acked)
                  if k not in seen)
    ok(not lost and not twice,
       "no message lost or doubled: each of the %d answered MESSAGEs "
       "reached its phone once (%d arrived in all)" % (len(acked),
                                                       len(seen)),
       {"lost": lost[:10], "twice": twice[:10]})

    # after: pz's last word reaches every phone b held; a call to one
    # lights its lamp
    r = pzp.publish(pidf("pz", c.domain, note="evening"), expires=600)
    ok(r is not None and r.code == 200 and
       all(v.wait_notify(lambda n: b"evening" in n.body and
                         n.src in survivors, timeout=8,
                         callid=pres[v.user].callid) for v in vict),
       "pz publishes on c after the load: every phone b held hears it "
       "from a survivor")
    t_leave = time.time()
    pzp.publish(b"", etag=r.get("sip-etag") if r else None, expires=0)
    ok(pzp.register(expires=0).code == 200, "pz leaves")
    time.sleep(2)
    bares.kill()           # (SIGTERM: it would unregister from b, dead)
    bares.wait()
    time.sleep(0.2)
    changes = [(t, ln) for t, ln in blines if "changed status" in ln]
    # (pz was online when it subscribed: baresip prints no change then)
    ok(len(changes) == 1 and changes[0][0] > t_leave and
       "<sip:pz@%s> changed status from Online to Offline" % b.domain
       in changes[0][1],
       "baresip on b shows pz go offline when pz leaves, after b died "
       "(the NOTIFY of a survivor, in the dialog b had), and no change "
       "before", [(round(t - t_leave, 1), ln) for t, ln in blines][-20:])
    _, wv = wa.subscribe("v0", event="dialog",
                         accept="application/dialog-info+xml")
    r, call_v = ca.call("v0")
    cid_v = r.get("call-id") if r else None
    ok(r is not None and r.code == 200 and wv is not None and
       wa.wait_notify(lambda n: (cid_v, "confirmed") in dialogs(n),
                      timeout=8, callid=wv.callid) is not None,
       "ca calls v0, whose binding b held: the call is answered and wa's "
       "lamp for v0 lights", r and r.code)
    for ph, d in ((ca, call_v), (ca, call_ac)):
        if d:
            ph.in_dialog("BYE", d)
    ok(all(app.alive(d) for app in (a, c)
           for d in ("registrar", "presence", "blf", "imrelay")),
       "the survivors' daemons run on")
finally:
    for p in sipps:
        if p.poll() is None:
            p.kill()
    lptest.cluster_close(tap, phones, apps, pg)
sys.exit(tap.done())
