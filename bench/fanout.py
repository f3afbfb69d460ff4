"""fanout: the presence fan-out alone, on Lamplight, with where the CPU
goes: 1,000 watchers of one user, 20 PUBLISHes, the time to the last
NOTIFY (p50/p99) and the CPU each process used per round (the edge, the
presence daemon, this client), from /proc. With an argument (`edge` or
`presence`) that daemon runs under `perf record --call-graph dwarf` into
perf.<name> in the working directory.

    python3 bench/fanout.py [edge|presence]
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import presence  # noqa: E402

ROUNDS = 20


def main():
    who = sys.argv[1] if len(sys.argv) > 1 else None
    srv = bench.Lamplight(pres=True)
    try:
        c = presence.Client(srv.port, bench.DOMAIN)
        pairs = [("u%05d" % i, "pw%05d" % i, "u00000")
                 for i in range(min(bench.FANOUT, bench.USERS))]
        n = presence.subscribe(c, pairs)
        c.drain(2)
        pids = srv.pids()[:2] + [os.getpid()]
        perf = None
        if who:
            pid = pids[0 if who == "edge" else 1]
            perf = subprocess.Popen(
                ["perf", "record", "--call-graph", "dwarf,16384", "-o",
                 "perf." + who, "-p", str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu0 = [bench.proc_cpu([p]) for p in pids]
        times, missed = presence.fanout(c, "u00000", "pw00000", n, ROUNDS)
        cpu1 = [bench.proc_cpu([p]) for p in pids]
        if perf:
            perf.send_signal(2)
            perf.wait()
        per = [(b - a) * 1000 / ROUNDS for a, b in zip(cpu0, cpu1)]
        print("%d watchers, %d rounds, %d missed: p50 %.1f ms, p99 %.1f ms"
              % (n, len(times), missed, bench.pct(times, 50),
                 bench.pct(times, 99)))
        print("CPU ms per round: edge %.1f, presence %.1f, client %.1f"
              % tuple(per))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
