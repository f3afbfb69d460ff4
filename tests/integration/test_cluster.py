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
    at once; a node killed is listed silent once 10 s pass;
  - `lamplightctl node forget` refuses a running node, forgets a stopped
    one;
  - the nodes share the bindings and subscriptions tables, and each
    holds its own rows alone: a restarted edge or presence daemon loads
    its node's (not the other's, which it would probe, expire or
    NOTIFY), `lamplightctl status` names each binding's node;
  - configurations that cannot make a node are refused at start with a
    line naming the key: node_id without cluster_bus, on SQLite, a
    wildcard or a port without room for the snapshot socket, a bad id.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone  # noqa: E402

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
    port = lptest.free_port_pair(2)
    a = lptest.Appliance(lptest.build_dir(),
                         "store = %s\nnode_id = %s\n"
                         "cluster_bus = tcp://127.0.0.1:%d\n"
                         "route_presence = udp:127.0.0.1:%d\n"
                         "probe_interval = 0\n%s"
                         % (url, node_id, port, lptest.free_port(),
                            extra))
    a.bus_port = port
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
phones = []
try:
    a, b = node("a"), node("b")
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
    ok(rc != 0 and "node_id 'a' is another node's" in out and
       "lamplightctl node forget a" in out,
       "a second node a with another key does not start, says why",
       out[-400:])
    # the same key (the state folder copied) while a runs
    os.makedirs(os.path.join(c.dir, "state"), exist_ok=True)
    shutil.copy(os.path.join(a.dir, "state", "cluster.key"),
                os.path.join(c.dir, "state", "cluster.key"))
    rc, out = refused_start(c)
    ok(rc != 0 and "node_id 'a' is running already" in out,
       "with a's key too, while a runs: refused", out[-400:])
    after = pg.sql("SELECT public_key, instance, bus FROM admin.nodes "
                   "WHERE node_id = 'a'", db=db)
    ok(before == after and a.alive(), "nothing written, a still runs")

    r = ctl(a, "node", "forget", "b")
    ok(r.returncode != 0 and "running" in r.stderr and "b" in listed(),
       "node forget refuses a running node", r.stderr)

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
    ok(log.count("1 binding(s) restored") == 1 and "alice" not in
       pg.sql("SELECT aor FROM registrar.bindings WHERE node = 'b'",
              db=db), "node b's edge, restarted, restores bob's binding "
       "alone", log[-300:])
    ok(sorted(pg.sql("SELECT aor || ' ' || node FROM registrar.bindings",
                     db=db).strip().split("\n")) == ["alice a", "bob b"],
       "and alice's stays node a's")

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
             "cluster_bus = tcp://127.0.0.1:65535\n" % url,
             "is not tcp://ADDRESS:PORT", "no port for the snapshots"),
            ("store = %s\nnode_id = Node_1\n"
             "cluster_bus = tcp://127.0.0.1:7000\n" % url,
             "node_id 'Node_1'", "a bad node_id")):
        bad = lptest.Appliance(lptest.build_dir(), extra)
        apps.append(bad)
        rc, out = refused_start(bad)
        ok(rc != 0 and want in out, "refused at start: " + what,
           out[-300:])
finally:
    if alice:
        alice.close()
    for ph in phones:
        ph.close()
    for x in apps:
        x.close(tap)
    pg.close()

sys.exit(tap.done())
