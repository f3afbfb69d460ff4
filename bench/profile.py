"""profile: where one kind of request's CPU goes, in every Lamplight
process it crosses (issue 20, item 3). Lamplight starts in the held part's
setting (bench.Held's subscriptions, the 20 registered devices that answer
MESSAGE and OPTIONS), SIPp sends one kind of request at a fixed rate, and
for each daemon this prints:

- its CPU per 1,000 requests, from /proc, in a run without perf;
- in a second run under `perf record --call-graph dwarf` (all daemons in
  one perf), its hottest functions by self time, and the hottest
  whole call chains; every chain is written, folded (one line per chain,
  "daemon;outer;...;inner samples", what flame graph tools read), to
  profile.KIND.folded in the working directory.

    python3 bench/profile.py register|publish|message [rate] [seconds]

rate: requests a second (default 1,000), seconds: each run's length (10).
BENCH_STORE=postgresql runs Lamplight on a durable scratch PostgreSQL
server (bench.pg_server) and counts that server's CPU as "postgres".
PROFILE_RUNS=N makes N runs without perf and prints each daemon's median
(for A/B comparisons, with BENCH_BUILD naming the other build);
PROFILE_PERF=0 skips the perf run. PROFILE_BURST=R sends, after those
runs, R requests a second for the same length (an overload, as a rate
search's failing steps), rests PROFILE_REST seconds (15), and makes the
runs again, printing each daemon's figure before and after: what an
overload leaves behind that costs CPU later (the perf run, if any, is
then after the burst). Needs perf (Debian linux-perf) and root or perf_event_paranoid <= 0.
"""

import collections
import shutil
import time
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

# kind: (SIPp scenario, injection file maker, requests measured a call)
KINDS = {
    "register": ("register.xml", lambda: bench.users_csv(), 1),
    "publish": ("publish.xml", lambda: bench.users_csv(), 3),
    "message": ("message.xml", bench.recovery_senders, 1),
}
NAMES = ("edge", "presence", "blf", "imrelay")
RUNS = int(os.environ.get("PROFILE_RUNS", "1"))
PERF = os.environ.get("PROFILE_PERF", "1") != "0"
BURST = int(os.environ.get("PROFILE_BURST", "0"))
REST = float(os.environ.get("PROFILE_REST", "15"))


def group(p):
    """A pid, or a tuple of them counted as one (PostgreSQL's)."""
    return list(p) if isinstance(p, tuple) else [p]


def measure(srv, pids, users, calls, secs, scenario, per_call, kind, rate):
    """RUNS runs at the fixed rate: {pid: [CPU s per 1,000, ...]}."""
    per = {p: [] for p in pids}
    for _ in range(RUNS):
        cpu0 = {p: bench.proc_cpu(group(p)) for p in pids}
        ok, failed = bench.sipp(srv.port, users, calls, secs,
                                scenario=scenario)[:2]
        cpu1 = {p: bench.proc_cpu(group(p)) for p in pids}
        n = ok * per_call
        print("%s at %d/s for %g s: %d requests answered, %d calls "
              "failed" % (kind, rate, secs, n, failed))
        for p in pids:
            per[p].append((cpu1[p] - cpu0[p]) / n * 1000 if n else 0)
    return per


def report(pids, per, label=""):
    for p, name in pids.items():
        print("  %sCPU s per 1000, %-8s %.3f%s" % (
            label, name, bench.median_of(per[p]),
            "  (median of %s)" % ", ".join("%.3f" % v for v in per[p])
            if RUNS > 1 else ""))


def fold(script, pids):
    """perf script's text to folded chains: {"daemon;outer;..;inner": n}."""
    chains = collections.Counter()
    stack, who = [], None
    for line in script.splitlines() + [""]:
        if not line.strip():
            if who is not None and stack:
                chains[";".join([who] + stack[::-1])] += 1
            stack, who = [], None
        elif not line[0].isspace():
            parts = line.split()
            pid = int(parts[1].split("/")[0]) if len(parts) > 1 and \
                parts[1].split("/")[0].isdigit() else -1
            who = pids.get(pid, parts[0])
        else:
            parts = line.split(None, 1)
            sym = parts[1] if len(parts) > 1 else "?"
            sym = sym.rsplit(" (", 1)[0].split("+0x")[0]
            stack.append(sym.replace(";", ":"))
    return chains


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "publish"
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    scenario, inj, per_call = KINDS[kind]
    users = inj()
    bench.STEP = secs
    srv = bench.Lamplight(held=True)
    held = devs = None
    try:
        bench.sipp(srv.port, users, 200, 2, scenario=scenario)  # warm up
        held = bench.Held(srv)
        devs = bench.recovery_devices(srv)
        pids = dict(zip(srv.pids(), NAMES))
        if bench.pg_pids():
            # BENCH_STORE=postgresql: the server's CPU is the store's
            pids[tuple(bench.pg_pids())] = "postgres"
        calls = max(1, rate // per_call)
        per = measure(srv, pids, users, calls, secs, scenario, per_call,
                      kind, rate)
        report(pids, per)
        if BURST:
            ok, failed = bench.sipp(srv.port, users,
                                    max(1, BURST // per_call), secs,
                                    scenario=scenario)[:2]
            print("burst at %d/s for %g s: %d calls passed, %d failed; "
                  "resting %g s" % (BURST, secs, ok, failed, REST))
            time.sleep(REST)
            after = measure(srv, pids, users, calls, secs, scenario,
                            per_call, kind, rate)
            report(pids, per, "before: ")
            report(pids, after, "after:  ")
        script = ""
        if not PERF:
            return
        data = os.path.join(bench.WORK, "perf.data")
        perf = subprocess.Popen(
            ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384",
             "-o", data, "-p", ",".join(str(q) for p in pids
                                        for q in group(p))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        bench.sipp(srv.port, users, calls, secs, scenario=scenario)
        perf.send_signal(2)
        perf.wait()
        script = subprocess.run(
            ["perf", "script", "-i", data, "-F", "comm,pid,ip,sym,dso"],
            capture_output=True, text=True).stdout
    finally:
        if devs:
            bench.stop_procs(devs)
        if held:
            held.stop()
        srv.stop()
    chains = fold(script, pids)
    out = "profile.%s.folded" % kind
    with open(out, "w") as f:
        for chain, n in chains.most_common():
            f.write("%s %d\n" % (chain, n))
    total = sum(chains.values()) or 1
    for name in NAMES:
        mine = {c: n for c, n in chains.items() if c.startswith(name + ";")}
        sub = sum(mine.values())
        if not sub:
            continue
        self_t = collections.Counter()
        for c, n in mine.items():
            self_t[c.rsplit(";", 1)[1]] += n
        print("\n%s: %.1f %% of the samples; self time:" % (
            name, 100.0 * sub / total))
        for sym, n in self_t.most_common(15):
            print("  %5.1f %%  %s" % (100.0 * n / sub, sym))
    print("\nfolded chains: %s (%d)" % (out, len(chains)))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(bench.WORK, ignore_errors=True)
