#!/usr/bin/env python3
"""test_cluster: nodes of a cluster (`node_id`, `cluster_bus`) sharing
one PostgreSQL started here, each an edge with a state folder (and a bus
key) of its own:

  - each node claims its id at start: `lamplightctl node list` shows
    both running, with their bus and SIP addresses and their load;
  - a node's bus is CURVE on tcp://: another node (a key the admin
    database lists) watching it with `lamplightctl watch reg --node`
    gets the registrations made on it; a box whose key is no node's gets
    nothing, and the node logs the refusal with the address;
  - a second node with the same node_id and another key, or the same key
    while the first runs, does not start, says why, and changes nothing;
  - a clean stop marks the node stopped, and a restart claims it again
    at once; a node killed is listed silent once 10 s pass, and the
    other takes over its bindings (the page shows them in its load);
  - `lamplightctl node forget` refuses a running node, forgets a stopped
    one; the admin page's Nodes (on a node only) shows each node's state,
    addresses and load;
  - the nodes share the bindings and subscriptions tables, and each
    holds its own rows alone: a restarted edge or presence daemon loads
    its node's (not the other's, which it would probe, expire or
    NOTIFY), `lamplightctl status` names each binding's node;
  - a call through node b to a user whose phone is on node a goes to
    a's edge, which takes it on b's word (P-Asserted-Identity, from a
    node's address only) to the phone: 180 and 200 back, the ACK and
    the BYE along the four Record-Routes; a node's lamps see the call
    on its own bus; a user with no device anywhere gets 480; the same
    INVITE from an address that is no node's is challenged;
  - a MESSAGE through node b for a user whose phones are on node a goes
    to a's edge and IM relay, which delivers it (200 back to the
    sender, From the sender), 30 in a row too, though node a lets one
    source send 5 a second (another node carries many phones); one for a
    user with no device anywhere is kept by b's relay (202);
  - configurations that cannot make a node are refused at start with a
    line naming the key: node_id without cluster_bus, on SQLite, a
    wildcard or a port without room for the snapshot socket, a bad id.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone  # noqa: E402
import callphone as cp  # noqa: E402
import lpweb  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

if not lptest.Postgres.available():
    tap.skip("nodes of a cluster", "no PostgreSQL server programs")
    sys.exit(tap.done())

# LP_STORE would name a store of its own: this test names it
os.environ.pop("LP_STORE", None)
pg = lptest.Postgres()
url = pg.new_db()
db = url.rsplit("/", 1)[1]
apps = []


def node(node_id, extra=""):
    a = lptest.cluster_node(url, node_id, extra)
    apps.append(a)
    return a


def ctl(app, *args, timeout=30):
    return subprocess.run([app.ctl_path, "-c", app.conf] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def listed():
    """node id -> (state, bus, sip, load) from `node list`."""
    out = {}
    for line in ctl(a, "node", "list").stdout.splitlines()[1:]:
        f = line.split(None, 4)
        if len(f) >= 4:
            out[f[0]] = (f[1], f[2], f[3], f[4] if len(f) > 4 else "")
    return out


def refused_start(app):
    """Start the edge expecting it to exit: its exit code and log."""
    p = subprocess.run([app.registrar_path, "-c", app.conf],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


alice = None
web = None
phones = []
try:
    # a's flood limit low: another node's requests must not count
    a, b = node("a", "flood_rate = 5\nflood_burst = 5\n"), node("b")
    a.add_user("alice", "alice-pw")
    a.start()
    b.start()
    n = listed()
    ok(set(n) == {"a", "b"} and n["a"][0] == "running" and
       n["b"][0] == "running", "both nodes claimed their ids and run", n)
    ok(n["a"][1] == "tcp://127.0.0.1:%d" % a.bus_port and
       n["a"][2] == "udp:127.0.0.1:%d" % a.port,
       "node list names a's bus and SIP addresses", n.get("a"))
    ok("cluster: node a, bus tcp://127.0.0.1:%d (snapshots "
       "tcp://127.0.0.1:%d)" % (a.bus_port, a.bus_port + 1) in a.log(),
       "a's log names its bus", a.log()[-400:])
    keys = pg.sql("SELECT node_id || ' ' || public_key FROM admin.nodes "
                  "ORDER BY 1", db=db).split("\n")
    ka = ctl(a, "node", "key").stdout.strip()
    ok(len(ka) == 40 and ("a " + ka) in keys,
       "a's public key (lamplightctl node key) is its row's", keys)
    ok(oct(os.stat(os.path.join(a.dir, "state", "cluster.key")).st_mode
           & 0o777) == "0o640", "the key file is mode 0640")

    alice = sc.UA("127.0.0.1", a.port, a.domain, "alice", "alice-pw")
    r = alice.register(expires=600)
    ok(r is not None and r.code == 200, "alice registers on node a",
       r and r.code)
    time.sleep(2.5)
    n = listed()
    ok(n.get("a", ("",) * 4)[3] == "bindings 1",
       "node a's load says one binding", n.get("a"))

    w = ctl(b, "watch", "reg", "--node", "a", "--count", "1",
            "--timeout", "10")
    ok(w.returncode == 0 and '"key":"alice"' in w.stdout,
       "node b, over a's CURVE bus, gets alice's registration",
       w.stdout + w.stderr)

    # a box that is no node: a key of its own that no row lists
    rogue = lptest.Appliance(lptest.build_dir(), "store = %s\n" % url)
    apps.append(rogue)
    w = ctl(rogue, "watch", "reg", "--node", "a", "--timeout", "4")
    log = a.wait_log(["refused 127.0.0.1 on the bus"], timeout=5)
    ok(w.returncode != 0 and "alice" not in w.stdout,
       "a box whose key is no node's gets nothing",
       w.stdout[:300] + w.stderr[:300])
    rk = ctl(rogue, "node", "key").stdout.strip()
    ok("cluster: refused 127.0.0.1 on the bus: its key %s is no node's"
       % rk in log, "node a logs the refusal with the address and the key",
       log[-600:])

    # the same id with another key: refused, nothing written
    c = node("a")
    before = pg.sql("SELECT public_key, instance, bus FROM admin.nodes "
                    "WHERE node_id = 'a'", db=db)
    rc, out = refused_start(c)
    ok(rc == 78 and "node_id 'a' is another node's" in out and
       "lamplightctl node forget a" in out,
       "a second node a with another key does not start, says why, and "
       "exits 78 (EX_CONFIG: systemd does not start it again)",
       (rc, out[-400:]))
    # the same key (the state folder copied) while a runs
    os.makedirs(os.path.join(c.dir, "state"), exist_ok=True)
    shutil.copy(os.path.join(a.dir, "state", "cluster.key"),
                os.path.join(c.dir, "state", "cluster.key"))
    rc, out = refused_start(c)
    ok(rc == 1 and "node_id 'a' is running already" in out,
       "with a's key too, while a runs: refused, exit 1 (systemd tries "
       "again: the id is free once a stops)", (rc, out[-400:]))
    after = pg.sql("SELECT public_key, instance, bus FROM admin.nodes "
                   "WHERE node_id = 'a'", db=db)
    ok(before == after and a.alive(), "nothing written, a still runs")

    r = ctl(a, "node", "forget", "b")
    ok(r.returncode != 0 and "running" in r.stderr and "b" in listed(),
       "node forget refuses a running node", r.stderr)

    # a call across nodes: dave on b calls erin, whose phone is on a
    for u in ("dave", "erin", "fay"):
        a.add_user(u, u + "-pw")
    dave = cp.Phone(b, "dave", "dave-pw")
    erin = cp.Phone(a, "erin", "erin-pw")
    phones.extend([dave.ua, erin.ua])
    ok(dave.register().code == 200 and erin.register().code == 200,
       "dave registers on node b, erin on node a")
    ok("cluster: following node a" in b.wait_log(
        ["cluster: following node a"], timeout=5),
       "node b follows node a's bus")
    bus_a = cp.Bus(a, 20)
    time.sleep(2.5)                    # b has a's reg snapshot
    inv, first = cp.call(b, dave, "erin")
    ok(first is not None and first.code == 407,
       "dave's INVITE on node b is challenged there")
    req = erin.next(want="INVITE", timeout=5)
    rrs = req.all("record-route") if req else []
    ok(req is not None and len(rrs) == 4 and
       req.get("p-asserted-identity") == "<sip:dave@%s>" % b.domain and
       req.body == cp.SDP,
       "erin's phone on node a gets it, Record-Routed by both edges, "
       "dave asserted", req and req.lines)
    if req:
        erin.answer(req, 180, "Ringing", tag="e1")
    ring = dave.next(want=180)
    ok(ring is not None, "her 180 reaches dave through both edges")
    if req:
        erin.answer(req, 200, "OK", tag="e1",
                    extra=["Contact: <%s>" % erin.contact,
                           "Content-Type: application/sdp"])
    fin = dave.next(want="final")
    ok(fin is not None and fin.code == 200 and
       fin.all("record-route") == rrs, "her 200 reaches dave with the "
       "four Record-Routes", fin and fin.lines)
    if req and fin and fin.code == 200:
        ld, le_ = cp.legs(dave, erin, inv, req, fin, 2)
        ld.request("ACK")
        ack = erin.next(want="ACK")
        ok(ack is not None, "dave's ACK reaches erin along the route")
        le_.request("BYE")
        bye = dave.next(want="BYE")
        ok(bye is not None, "erin's BYE reaches dave along the route")
        if bye:
            dave.answer(bye, 200)
        done = erin.next(want=200)
        ok(done is not None, "and his 200 reaches her")
    callid = inv[5].split(": ", 1)[1] if inv else ""
    got = bus_a.wait(lambda: ("del", "terminated", "bye") in
                     bus_a.seq("erin", callid))
    ok(("set", "confirmed", None) in bus_a.seq("erin", callid) and
       ("del", "terminated", "bye") in bus_a.seq("erin", callid),
       "node a's own bus has erin's call, confirmed then ended (its "
       "lamps see it)", bus_a.seq("erin", callid))
    inv2, first = cp.call(b, dave, "fay")
    fin2 = dave.next(want="final")
    ok(fin2 is not None and fin2.code == 480,
       "fay, with no device on any node: 480", fin2 and fin2.first)
    # a forged node call: the same INVITE with an asserted identity, from
    # an address that is no node's, is challenged like any other
    rogue_ph = cp.Phone(a, "dave", "wrong")
    phones.append(rogue_ph.ua)
    rogue_ph.send(cp.invite_lines(a, rogue_ph, "erin", "forged" +
                                  sc.rand(6), 1, "z9hG4bK" + sc.rand(8),
                                  extra=["P-Asserted-Identity: "
                                         "<sip:dave@%s>" % a.domain]),
                  cp.SDP)
    r = rogue_ph.next(want="final")
    ok(r is not None and r.code == 407 and erin.next(timeout=1,
                                                      want="INVITE")
       is None, "an asserted identity from an address that is no node's "
       "is challenged, and nothing reaches erin", r and r.first)
    # the same from a node's address (a row made for it, as if the
    # source were forged) but not signed with the nodes' secret: 403
    rp = rogue_ph.ua.t.local[1]
    pg.sql("INSERT INTO admin.nodes (node_id, public_key, bus, sip, "
           "instance, started, seen) VALUES ('fake', '%s', "
           "'tcp://127.0.0.1:9', 'udp:127.0.0.1:%d', 'f', 1, "
           "extract(epoch from now())::bigint + 60)" % ("x" * 40, rp),
           db=db)
    a.wait_log(["following node fake"], timeout=5)
    for sig, what in (("", "without " "X-Lamplight-Node"),
                      ("X-Lamplight-Node: 55.0123456789abcdef",
                       "with a made-up one")):
        rogue_ph.send(cp.invite_lines(
            a, rogue_ph, "erin", "forged" + sc.rand(6), 1,
            "z9hG4bK" + sc.rand(8),
            extra=["P-Asserted-Identity: <sip:dave@%s>" % a.domain] +
            ([sig] if sig else [])), cp.SDP)
        r = rogue_ph.next(want="final")
        ok(r is not None and r.code == 403 and
           r.first.endswith("Not Signed By A Node") and
           erin.next(timeout=1, want="INVITE") is None,
           "from a node's address %s: 403, nothing reaches erin" % what,
           r and r.first)
    rogue_ph.send(["MESSAGE sip:hal@%s SIP/2.0" % a.domain,
                   rogue_ph.via("z9hG4bK" + sc.rand(8)),
                   "Max-Forwards: 70",
                   "From: <sip:dave@%s>;tag=x1" % a.domain,
                   "To: <sip:hal@%s>" % a.domain,
                   "Call-ID: forged" + sc.rand(6), "CSeq: 1 MESSAGE",
                   "P-Asserted-Identity: <sip:dave@%s>" % a.domain,
                   "Content-Type: text/plain"], b"forged")
    r = rogue_ph.next(want="final")
    ok(r is not None and r.code == 403, "and an unsigned MESSAGE from it: "
       "403", r and r.first)
    ok("without a good X-Lamplight-Node: refused" in a.log(),
       "node a logs each refusal")
    pg.sql("DELETE FROM admin.nodes WHERE node_id = 'fake'", db=db)

    # a MESSAGE across nodes
    a.start("imrelay")
    b.start("imrelay")
    for u in ("gus", "hal"):
        a.add_user(u, u + "-pw")
    gus, hal = Phone(b, "gus"), Phone(a, "hal")
    phones.extend([gus, hal])
    ok(gus.register().code == 200 and hal.register().code == 200,
       "gus registers on node b, hal on node a")
    time.sleep(2.5)
    r = gus.message("hal", b"across the nodes")
    got = hal.wait_messages(1)
    ok(r is not None and r.code == 200 and
       [m.body for m in got] == [b"across the nodes"],
       "gus's MESSAGE through node b reaches hal on node a: 200",
       r and r.code)
    ok(got and "sip:gus@" in (got[0].get("from") or ""),
       "From gus", got and got[0].get("from"))
    codes = [getattr(gus.message("hal", b"m%d" % i), "code", None)
             for i in range(30)]
    got = hal.wait_messages(31)
    ok(codes == [200] * 30 and len(got) == 31,
       "30 more in a row through node b: every one 200 and delivered",
       (codes, len(got)))
    ok("flood: 127.0.0.1:%d" % b.port not in a.log(),
       "node a's flood_rate of 5 a second did not hold node b back "
       "(no datagram of it dropped, none had to be sent again)",
       [ln for ln in a.log().splitlines() if "flood" in ln][:3])
    r = gus.message("fay", b"for later")
    ok(r is not None and r.code == 202,
       "one for fay (no device anywhere): kept, 202", r and r.code)

    # one table, each node's rows its own
    a.add_user("bob", "bob-pw")
    a.add_user("carol", "carol-pw")
    bob = Phone(b, "bob")
    carol = Phone(a, "carol")
    phones.extend([bob, carol])
    r = bob.register(expires=600)
    ok(r is not None and r.code == 200, "bob registers on node b")
    st = ctl(b, "status").stdout
    ok(any("alice" in ln and "node a" in ln for ln in st.splitlines()) and
       any("bob" in ln and "node b" in ln for ln in st.splitlines()),
       "lamplightctl status names each binding's node", st)
    a.start("presence")
    b.start("presence")
    r, _ = carol.subscribe("alice")
    ok(r is not None and r.code == 200, "carol watches alice on node a")
    ok(carol.wait_notify() is not None, "and gets a NOTIFY")
    ok(pg.sql("SELECT node FROM presence.subs", db=db).split() == ["a"],
       "her subscription's row is node a's")
    b.stop("presence")
    b.start("presence")
    log = b.wait_log(["subscription(s) restored"], name="presence")
    ok("0 subscription(s) restored" in log, "node b's presence daemon, "
       "restarted, leaves node a's subscription alone", log[-300:])
    a.stop("presence")
    a.start("presence")
    log = a.wait_log(["subscription(s) restored"], name="presence")
    ok("1 subscription(s) restored" in log, "node a's takes it back",
       log[-300:])
    b.stop()
    b.start()
    log = b.log()
    ok(log.count("3 binding(s) restored") == 1,
       "node b's edge, restarted, restores its three bindings (bob's, "
       "dave's and gus's) alone", log[-300:])
    rows = sorted(pg.sql("SELECT aor || ' ' || node FROM "
                         "registrar.bindings", db=db).strip().split("\n"))
    ok(rows == ["alice a", "bob b", "dave b", "erin a", "gus b", "hal a"],
       "and alice's, erin's and hal's stay node a's", rows)

    # a clean stop, then a restart at once
    a.stop()
    ok(listed().get("a", ("",))[0] == "stopped", "a stopped cleanly is "
       "listed stopped")
    a.start()
    ok(listed().get("a", ("",))[0] == "running",
       "and restarted at once, claims its id again")

    # b killed: silent after 10 s, then forgotten
    b.stop(sig=signal.SIGKILL)
    time.sleep(11)
    ok(listed().get("b", ("",))[0] == "silent",
       "b killed is listed silent once 10 s pass", listed().get("b"))
    log = a.wait_log(["took over 3 binding(s) of node b"], timeout=10)
    ok("cluster: took over 3 binding(s) of node b" in log,
       "a's edge takes over the 3 bindings b held", log[-500:])
    time.sleep(2.5)          # a says its load every 2 s
    a.ctl("admin", "add", "root", "--password", "rootroot")
    web = lpweb.Web(a)
    wc = lpweb.Client(web)
    wc.login("root", "rootroot")
    page = wc.get("/lamplight/nodes")
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"state-(\w+)\">"
                      r"[^<]*</td><td>[^<]*</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td><td>([^<]*)</td></tr>", page.text)
    ok(page.code == 200 and
       ("a (this one)", "running", "tcp://127.0.0.1:%d" % a.bus_port,
        "udp:127.0.0.1:%d" % a.port, "bindings 6") in rows and
       any(rw[0] == "b" and rw[1] == "silent" for rw in rows),
       "the page's Nodes: a running with its addresses and load (its "
       "bindings and b's), b silent", rows or page.text[:400])
    ok('href="/lamplight/nodes"' in wc.get("/lamplight/board").text,
       "the navigation has Nodes on a node")
    r = ctl(a, "node", "forget", "b")
    ok(r.returncode == 0 and "b" not in listed(),
       "and can be forgotten", r.stderr)
    ok(a.alive(), "a runs on")

    # configurations that cannot make a node
    for extra, want, what in (
            ("node_id = x\n", "node_id and cluster_bus are set together",
             "node_id without cluster_bus"),
            ("node_id = x\ncluster_bus = tcp://127.0.0.1:7000\n",
             "node_id needs store = postgresql", "a node on SQLite"),
            ("store = %s\nnode_id = x\ncluster_bus = tcp://0.0.0.0:7000\n"
             % url, "is not tcp://ADDRESS:PORT", "a wildcard bus"),
            ("store = %s\nnode_id = x\n"
             "cluster_bus = tcp://127.0.0.1:65533\n" % url,
             "is not tcp://ADDRESS:PORT", "no ports for the snapshots"),
            ("store = %s\nnode_id = Node_1\n"
             "cluster_bus = tcp://127.0.0.1:7000\n" % url,
             "node_id 'Node_1'", "a bad node_id"),
            ("store = %s\nnode_id = x\n"
             "cluster_bus = tcp://127.0.0.1:0000007000\n" % url,
             "is not tcp://ADDRESS:PORT", "a port of ten digits"),
            ("store = %s\nnode_id = x\nadmin_db = /tmp/x.db\n"
             "cluster_bus = tcp://127.0.0.1:7000\n" % url,
             "and admin_db there too", "the admin database in a file"),
            ("store = %s\nnode_id = x\nworkers = 2\n"
             "cluster_bus = tcp://127.0.0.1:7000\n" % url,
             "node_id needs workers = 1", "two edge workers")):
        bad = lptest.Appliance(lptest.build_dir(), extra)
        apps.append(bad)
        rc, out = refused_start(bad)
        ok(rc == 78 and want in out, "refused at start (78): " + what,
           (rc, out[-300:]))
finally:
    if web:
        web.close(tap)
    if alice:
        alice.close()
    for ph in phones:
        ph.close()
    for x in apps:
        x.close(tap)
    pg.close()

sys.exit(tap.done())
