"""nodes: presence across two nodes of a cluster, against the same
within one node. Two nodes (every daemon each) share one durable
PostgreSQL (bench.pg_server); BENCH_FANOUT watchers (1,000) subscribe
on node a to one user; that user PUBLISHes BENCH_ROUNDS times (20), on
node a ("one node") and then on node b ("across"), each a new note,
and the time from the authenticated PUBLISH to the last watcher's
NOTIFY (kernel stamps, presence.fanout) is printed as p50 and p99 for
both, with the CPU each node's presence daemon used per round and
their ratio. Across nodes, the document crosses the bus once per
PUBLISH and node a composes and sends every NOTIFY.

    python3 bench/nodes.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import presence  # noqa: E402
import lptest  # noqa: E402  (bench puts tests/integration on the path)


def main():
    url = bench.pg_server().new_db()
    apps = []
    try:
        for nid in ("a", "b"):
            apps.append(lptest.cluster_node(
                url, nid, "log_level = warning\n"
                "subscribe_max_per_watcher = 1000\n", bench.BUILD,
                bench.DOMAIN))
        a, b = apps
        p = os.path.join(bench.WORK, "nodes-users.csv")
        with open(p, "w") as f:
            for i in range(bench.FANOUT + 1):
                f.write("u%05d,pw%05d,Bench %d\n" % (i, i, i))
        a.ctl("user", "import", p)
        procs = {}
        for app in apps:
            app.start()
            procs[app] = app.start("presence")
            app.start("blf")
        for app, other in ((a, "b"), (b, "a")):
            app.wait_log(["following node " + other], name="presence",
                         timeout=10)
        watch = presence.Client(a.port, bench.DOMAIN)
        pairs = [("u%05d" % i, "pw%05d" % i, "u00000")
                 for i in range(1, bench.FANOUT + 1)]
        n = presence.subscribe(watch, pairs)
        watch.drain(2)
        print("%d watchers subscribed on node a to u00000" % n)
        rows = []
        for label, app in (("one node", a), ("across", b)):
            pub = presence.Client(app.port, bench.DOMAIN)
            pids = [procs[a].pid, procs[b].pid]
            cpu0 = [bench.proc_cpu([x]) for x in pids]
            times, missed = presence.fanout(watch, "u00000", "pw00000", n,
                                            bench.ROUNDS, pub=pub)
            cpu1 = [bench.proc_cpu([x]) for x in pids]
            per = [(y - x) * 1000 / bench.ROUNDS for x, y in zip(cpu0, cpu1)]
            rows.append((label, bench.pct(times, 50), bench.pct(times, 99),
                         missed, per))
            pub.s.close()
        print("%-9s %9s %9s %7s %14s %14s" % (
            "PUBLISH", "p50 ms", "p99 ms", "missed", "a CPU ms/rnd",
            "b CPU ms/rnd"))
        for label, p50, p99, missed, per in rows:
            print("%-9s %9.1f %9.1f %7d %14.1f %14.1f" % (
                label, p50, p99, missed, per[0], per[1]))
        print("across / one node: p50 %.2f, p99 %.2f" % (
            rows[1][1] / rows[0][1], rows[1][2] / rows[0][2]))
    finally:
        for app in apps:
            app.close()


if __name__ == "__main__":
    main()
