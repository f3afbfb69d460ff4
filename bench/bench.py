"""bench: the same SIPp registration load against Lamplight and against
Kamailio 5.6 (doing the same job as fast as it can), one after the other on
loopback, and each figure for both with their ratio:

- the highest rate of authenticated registrations (REGISTER, 401,
  REGISTER, 200) sustained for STEP seconds with under 0.1 % failures;
- p50 and p99 registration time at a fixed rate, timed to the
  microsecond by bench/latency.py (median of 3 runs);
- CPU seconds per 1,000 registrations under SIPp at a fixed rate (all
  server processes; median of 3 runs);
- resident memory after the runs;
- calls (bench/calls.py), presence (bench/presence.py), busy lamps
  (bench/blf.py) and instant messages (bench/im.py): see
  bench/README.md.

Lamplight's state stays durable while measured: every binding change is
committed to SQLite before the answer. Kamailio keeps usrloc in memory
(db_mode 2, write-back), its fastest setting. Usage: bench/run (as root).
"""

import csv
import hashlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import lptest  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import latency  # noqa: E402
import calls  # noqa: E402
import presence  # noqa: E402
import blf  # noqa: E402
import im  # noqa: E402

DOMAIN = "bench.test"
USERS = int(os.environ.get("BENCH_USERS", "1000"))
STEP = float(os.environ.get("BENCH_STEP", "5"))
FIXED_RATE = int(os.environ.get("BENCH_FIXED_RATE", "1000"))
LAT_RATE = int(os.environ.get("BENCH_LATENCY_RATE", "300"))
PARTS = os.environ.get("BENCH_PARTS", "reg,calls,im,pres,blf").split(",")
FANOUT = int(os.environ.get("BENCH_FANOUT", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
SUBS_PER_USER = int(os.environ.get("BENCH_SUBS_PER_USER", "50"))
SETTLE = float(os.environ.get("BENCH_SETTLE", "35"))
CALL_RATE = int(os.environ.get("BENCH_CALL_RATE", "100"))
CALL_FIXED_RATE = int(os.environ.get("BENCH_CALL_FIXED_RATE", "300"))
BLF_PHONES = int(os.environ.get("BENCH_BLF_PHONES", "200"))
BLF_WATCH = int(os.environ.get("BENCH_BLF_WATCH", "20"))
BLF_RATE = float(os.environ.get("BENCH_BLF_RATE", "20"))
BLF_SECONDS = float(os.environ.get("BENCH_BLF_SECONDS", "20"))
IM_RATE = int(os.environ.get("BENCH_IM_RATE", "300"))
IM_FIXED_RATE = int(os.environ.get("BENCH_IM_FIXED_RATE", "1000"))
KAM_IM = os.environ.get("BENCH_KAM_IM", "stateless")
CLK = os.sysconf("SC_CLK_TCK")
WORK = tempfile.mkdtemp(prefix="lp-bench-")
# One client port for the whole run: every run registers the same contacts
# again (a refresh), instead of adding one per user per run until
# reg_max_contacts refuses them.
SIPP_PORT = lptest.free_port()
LAT_PORT = lptest.free_port()
CALLEE_PORT = lptest.free_port()
IM_PORT = lptest.free_port()


def users_csv(name="users.csv", callee=None):
    """SIPp's injection file: user, credentials, domain (and callee)."""
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(USERS):
            u = "u%05d" % i
            f.write("%s;[authentication username=%s password=pw%05d];%s%s\n"
                    % (u, u, i, DOMAIN, ";" + callee if callee else ""))
    return path


def proc_cpu(pids):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return t / CLK


def proc_mem_kib(pids, path, field):
    """The sum of a /proc/PID/<path> field over the processes (KiB)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/%s" % (p, path)) as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def proc_pss_kib(pids):
    """Proportional set size: shared pages (Kamailio's shared memory)
    split between the processes that map them, counted once in all."""
    return proc_mem_kib(pids, "smaps_rollup", "Pss:")


def proc_rss_kib(pids):
    return proc_mem_kib(pids, "status", "VmRSS:")


class Lamplight:
    name = "Lamplight"

    def __init__(self, pres=False):
        self.app = lptest.Appliance(
            os.path.join(ROOT, "build"),
            "log_level = warning\nprobe_interval = 0\n"
            "route_presence = udp:127.0.0.1:%d\n"
            "route_blf = udp:127.0.0.1:%d\n"
            "route_imrelay = udp:127.0.0.1:%d\n"
            "subscribe_max_per_watcher = 1000\n%s" % (
                lptest.free_port(), lptest.free_port(), lptest.free_port(),
                os.environ.get("BENCH_LP_CONF", "").replace("\\n", "\n")),
            DOMAIN)
        self.port = self.app.port
        p = os.path.join(WORK, "lp-users.csv")
        with open(p, "w") as f:
            for i in range(USERS):
                f.write("u%05d,pw%05d,Bench %d\n" % (i, i, i))
            f.write("callee,calleepw,Callee\n")
            f.write("imdev,imdevpw,IM target\n")
        self.app.ctl("user", "import", p)
        self.proc = self.app.start()
        self.pres = self.app.start("presence")
        self.blf = self.app.start("blf")
        self.im = self.app.start("imrelay")

    def pids(self):
        return [self.proc.pid, self.pres.pid, self.blf.pid, self.im.pid]

    def stop(self):
        self.app.close()


class Kamailio:
    name = "Kamailio"

    def __init__(self, pres=False):
        """pres: the presence part's setting: one worker, because with
        SQLite (the database here) two workers answer most SUBSCRIBEs 500
        ("database is locked" on the watchers table, even with
        subscriptions in memory); WAL on the presence database."""
        self.dir = tempfile.mkdtemp(prefix="kamailio-", dir=WORK)
        self.port = lptest.free_port()
        # two files, so that usrloc's write-back flush never holds the
        # lock that auth_db's reads wait for
        db = os.path.join(self.dir, "auth.db")
        locdb = os.path.join(self.dir, "location.db")
        presdb = os.path.join(self.dir, "presence.db")
        schema = "/usr/share/kamailio/db_sqlite"
        version = ("CREATE TABLE version (table_name VARCHAR(32) NOT NULL, "
                   "table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT "
                   "version_table_name_idx UNIQUE (table_name));")
        with open(os.path.join(schema, "usrloc-create.sql")) as fh:
            subprocess.run(["sqlite3", locdb], input=version + fh.read(),
                           text=True, check=True)
        with open(os.path.join(schema, "presence-create.sql")) as fh:
            subprocess.run(["sqlite3", presdb], input=version + fh.read() +
                           "PRAGMA journal_mode=WAL;", text=True,
                           check=True, capture_output=True)
        sql = [version]
        with open(os.path.join(schema, "auth_db-create.sql")) as fh:
            sql.append(fh.read())
        sql.append("BEGIN;")
        creds = [("u%05d" % i, "pw%05d" % i) for i in range(USERS)]
        for u, pw in creds + [("callee", "calleepw"),
                              ("imdev", "imdevpw")]:
            ha1 = hashlib.md5(("%s:%s:%s" % (u, DOMAIN, pw))
                              .encode()).hexdigest()
            sql.append("INSERT INTO subscriber (username, domain, ha1) "
                       "VALUES ('%s', '%s', '%s');" % (u, DOMAIN, ha1))
        sql.append("COMMIT;")
        subprocess.run(["sqlite3", db], input="\n".join(sql), text=True,
                       check=True)
        with open(os.path.join(ROOT, "bench", "kamailio.cfg.in")) as f:
            cfg = f.read()
        cfg = (cfg.replace("@PORT@", str(self.port)).replace("@DB@", db)
               .replace("@LOCDB@", locdb).replace("@PRESDB@", presdb)
               .replace("@CHILDREN@", "1" if pres else
                        os.environ.get("BENCH_KAM_CHILDREN", "2")))
        self.cfg = os.path.join(self.dir, "kamailio.cfg")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(self.dir, "kamailio.log"), "w")
        defs = ["-A", "WITH_BLF"] if pres else []
        if KAM_IM == "stateful":
            defs += ["-A", "WITH_IM_STATEFUL"]
        self.proc = subprocess.Popen(
            ["kamailio", "-f", self.cfg, "-DD", "-E", "-m", "256",
             "-M", "32", "-Y", os.path.join(self.dir, "run")] + defs,
            stdout=self.log, stderr=subprocess.STDOUT)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.wait_ready()

    def wait_ready(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        msg = ("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;"
               "branch=z9hG4bK-ready%%d;rport\r\nMax-Forwards: 70\r\n"
               "From: <sip:b@%s>;tag=1\r\nTo: <sip:b@%s>\r\nCall-ID: r\r\n"
               "CSeq: %%d OPTIONS\r\nContent-Length: 0\r\n\r\n"
               % (DOMAIN, s.getsockname()[1], DOMAIN, DOMAIN))
        for i in range(50):
            if self.proc.poll() is not None:
                raise RuntimeError("kamailio exited; see %s" % self.log.name)
            s.sendto((msg % (i, i + 1)).encode(), ("127.0.0.1", self.port))
            try:
                s.recv(4096)
                return
            except socket.timeout:
                continue
        raise RuntimeError("kamailio not answering")

    def pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [self.proc.pid] + [int(x) for x in out.split()]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sipp(port, users, rate, seconds, rtt=False, scenario="register.xml"):
    """One run; (successful, failed, response times in ms)."""
    d = tempfile.mkdtemp(dir=WORK)
    calls = int(rate * seconds)
    cmd = ["sipp", "127.0.0.1:%d" % port, "-sf",
           os.path.join(ROOT, "bench", scenario), "-inf", users,
           "-r", str(rate), "-rp", "1000", "-m", str(calls),
           "-i", "127.0.0.1", "-p", str(SIPP_PORT), "-t", "u1",
           "-nostdin", "-recv_timeout", "4000",
           "-timeout", "%ds" % (seconds + 20), "-trace_stat", "-stf",
           os.path.join(d, "stat.csv"), "-fd", "1"]
    if rtt:
        cmd += ["-trace_rtt", "-rtt_freq", "1"]
    subprocess.run(cmd, cwd=d, capture_output=True, timeout=seconds + 60)
    ok = failed = 0
    try:
        with open(os.path.join(d, "stat.csv")) as f:
            rows = list(csv.reader(f, delimiter=";"))
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        pass
    times = []
    if rtt:
        for f in os.listdir(d):
            if f.endswith("_rtt.csv"):
                with open(os.path.join(d, f)) as fh:
                    for row in csv.reader(fh, delimiter=";"):
                        try:
                            times.append(float(row[1]))
                        except (ValueError, IndexError):
                            pass
    shutil.rmtree(d, ignore_errors=True)
    return ok, failed + max(0, calls - ok - failed), times


def passes(ok, failed, strict=False):
    """Under 0.1 % failed; with strict (full calls), none."""
    total = ok + failed
    if strict:
        return total > 0 and failed == 0
    return total > 0 and failed / total < 0.001


def step(srv, users, rate, scenario, cool=0, strict=False):
    """A rate passes if one of two tries has under 0.1 % failures: one
    noisy second on a shared 2-core machine must not end the search.
    After a failed try, `cool` seconds of rest."""
    for attempt in (1, 2):
        ok, failed = sipp(srv.port, users, rate, STEP,
                          scenario=scenario)[:2]
        print("  %-9s %6d/s: %d ok, %d failed%s" % (
            srv.name, rate, ok, failed, " (retry)" if attempt == 2 else ""))
        sys.stdout.flush()
        if passes(ok, failed, strict):
            return True
        time.sleep(cool)
    return False


def max_rate(srv, users, scenario="register.xml", rate=500, cool=0,
             strict=False):
    """Double until a step fails, then bisect three times."""
    lo, hi = 0, None
    while hi is None and rate <= 64000:
        if step(srv, users, rate, scenario, cool, strict):
            lo, rate = rate, rate * 2
        else:
            hi = rate
    for _ in range(3):
        if hi is None:
            break
        rate = (lo + hi) // 2
        if step(srv, users, rate, scenario, cool, strict):
            lo = rate
        else:
            hi = rate
    return lo


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def fixed(srv, users):
    p50s, p99s, cpus = [], [], []
    creds = [("u%05d" % i, "pw%05d" % i) for i in range(USERS)]
    for _ in range(3):
        times, lost = latency.run(srv.port, DOMAIN, creds, LAT_RATE, STEP,
                                  LAT_PORT)
        p50s.append(pct(times, 50))
        p99s.append(pct(times, 99))
        pids = srv.pids()
        c0 = proc_cpu(pids)
        ok, failed = sipp(srv.port, users, FIXED_RATE, STEP)[:2]
        c1 = proc_cpu(pids)
        if ok:
            cpus.append((c1 - c0) / ok * 1000)
    return (statistics.median(p50s), statistics.median(p99s),
            statistics.median(cpus) if cpus else float("nan"),
            proc_rss_kib(srv.pids()))


def call_figures(srv, users):
    """Calls from every user to one callee (SIPp answering at once):
    the highest rate, set-up time at CALL_RATE, CPU per 1,000 calls."""
    if not calls.register(srv.port, DOMAIN, "callee", "calleepw",
                          CALLEE_PORT):
        raise RuntimeError("%s: the callee did not register" % srv.name)
    uas = subprocess.Popen(
        ["sipp", "-sf", os.path.join(ROOT, "bench", "callee.xml"), "-i",
         "127.0.0.1", "-p", str(CALLEE_PORT), "-t", "u1", "-nostdin"],
        cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        rate = max_rate(srv, users, "call.xml", 250, strict=True)
        p50s, p99s, cpus = [], [], []
        creds = [("u%05d" % i, "pw%05d" % i) for i in range(USERS)]
        for _ in range(3):
            times, lost = calls.run(srv.port, DOMAIN, creds, "callee",
                                    CALL_RATE, STEP, LAT_PORT)
            p50s.append(pct(times, 50))
            p99s.append(pct(times, 99))
            pids = srv.pids()
            c0 = proc_cpu(pids)
            ok = sipp(srv.port, users, CALL_FIXED_RATE, STEP,
                      scenario="call.xml")[0]
            c1 = proc_cpu(pids)
            if ok:
                cpus.append((c1 - c0) / ok * 1000)
    finally:
        uas.terminate()
        uas.wait()
    return (rate, statistics.median(p50s), statistics.median(p99s),
            statistics.median(cpus) if cpus else float("nan"))


def im_figures(srv, users):
    """Messages from every user to one target (a SIPp device answering
    200 at once): the highest rate, relay time at IM_RATE (median of 3),
    CPU per 1,000 messages at IM_FIXED_RATE."""
    if not calls.register(srv.port, DOMAIN, "imdev", "imdevpw", IM_PORT):
        raise RuntimeError("%s: the IM target did not register" % srv.name)
    dev = subprocess.Popen(
        ["sipp", "-sf", os.path.join(ROOT, "bench", "im_device.xml"), "-i",
         "127.0.0.1", "-p", str(IM_PORT), "-t", "u1", "-nostdin"],
        cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        rate = max_rate(srv, users, "message.xml", 250, cool=SETTLE)
        time.sleep(SETTLE)
        p50s, p99s, cpus = [], [], []
        creds = [("u%05d" % i, "pw%05d" % i) for i in range(USERS)]
        for _ in range(3):
            times, lost = im.run(srv.port, DOMAIN, creds, "imdev", IM_RATE,
                                 STEP)
            p50s.append(pct(times, 50))
            p99s.append(pct(times, 99))
            pids = srv.pids()
            c0 = proc_cpu(pids)
            ok = sipp(srv.port, users, IM_FIXED_RATE, STEP,
                      scenario="message.xml")[0]
            c1 = proc_cpu(pids)
            if ok:
                cpus.append((c1 - c0) / ok * 1000)
            print("  %-9s IM: %d timed (%d lost), %d at %d/s" % (
                srv.name, len(times), lost, ok, IM_FIXED_RATE))
    finally:
        dev.terminate()
        dev.wait()
    return (rate, statistics.median(p50s), statistics.median(p99s),
            statistics.median(cpus) if cpus else float("nan"))


def pres_figures(srv, users):
    """The PUBLISH rate (SIPp, three PUBLISHes a call, nobody watching),
    each failed step followed by a pause of SETTLE s: the transactions of
    an overload (32 s each) must not sink the next step; then the time
    from a PUBLISH to the last of FANOUT watchers' NOTIFYs (p50/p99 over
    ROUNDS); then memory per subscription with USERS * SUBS_PER_USER of
    them."""
    calls_s = max_rate(srv, users, "publish.xml", 250, cool=SETTLE)
    time.sleep(SETTLE)
    c = presence.Client(srv.port, DOMAIN)
    pairs = [("u%05d" % i, "pw%05d" % i, "u00000")
             for i in range(min(FANOUT, USERS))]
    n = presence.subscribe(c, pairs)
    c.drain(2)
    times, missed = presence.fanout(c, "u00000", "pw00000", n, ROUNDS)
    print("  %-9s fan-out: %d watchers, %d rounds, %d missed" % (
        srv.name, n, len(times), missed))
    c.drain(SETTLE)
    pss0 = proc_pss_kib(srv.pids())
    c2 = presence.Client(srv.port, DOMAIN)
    pairs = [("u%05d" % w, "pw%05d" % w, "u%05d" % ((w + 1 + k) % USERS))
             for w in range(USERS) for k in range(SUBS_PER_USER)]
    t0 = time.time()
    n2 = presence.subscribe(c2, pairs)
    took = time.time() - t0
    # transactions end (SIP keeps a non-INVITE server transaction 32 s
    # after its answer): what stays is what the subscriptions cost
    c2.drain(SETTLE)
    pss1 = proc_pss_kib(srv.pids())
    print("  %-9s %d of %d subscriptions in %.1f s; PSS %d -> %d KiB" % (
        srv.name, n2, len(pairs), took, pss0, pss1))
    per = (pss1 - pss0) * 1024.0 / n2 if n2 else float("nan")
    return (calls_s * 3, pct(times, 50), pct(times, 99), per, n2)


def blf_figures(srv, users):
    """An office of BLF_PHONES desk phones each watching BLF_WATCH
    colleagues, calls at BLF_RATE a second for BLF_SECONDS: p50/p99 from
    the callee's 180 to the last watcher's early NOTIFY, NOTIFYs a
    second, and the memory (PSS) the office added."""
    creds = [("u%05d" % i, "pw%05d" % i) for i in range(USERS)]
    pss0 = proc_pss_kib(srv.pids())
    r = blf.run(srv.port, DOMAIN, creds, BLF_PHONES, BLF_WATCH, BLF_RATE,
                BLF_SECONDS)
    pss1 = proc_pss_kib(srv.pids())
    print("  %-9s busy lamps: %d subscriptions, %d calls (%d lost), %d "
          "missed" % (srv.name, r["subs"], r["calls"], r["lost"],
                      r["missed"]))
    return (r["p50"], r["p99"], r["notifies_s"], pss1 - pss0)


def table(title, lp, km, rows):
    print()
    print(title)
    print("%-42s %12s %12s %8s" % ("figure", "Lamplight", "Kamailio",
                                   "ratio"))
    for label, i, fmt, higher in rows:
        a, b = lp[i], km[i]
        if a != a or b != b:   # NaN: a part not measured (BENCH_PARTS)
            continue
        if higher is None:     # a description, neither better nor worse
            print("%-42s %12s %12s %8s" % (label, fmt % a, fmt % b, "-"))
            continue
        ratio = (a / b if higher else b / a) if a and b else float("nan")
        print("%-42s %12s %12s %7.2fx" % (label, fmt % a, fmt % b, ratio))


def main():
    users = users_csv()
    callers = users_csv("callers.csv", "callee")
    senders = users_csv("senders.csv", "imdev")
    results = {}
    only = os.environ.get("BENCH_ONLY")
    for cls in (Lamplight, Kamailio):
        if only and cls.name != only:
            continue
        srv = cls()
        try:
            print("%s: %d users, %s s steps" % (srv.name, USERS, STEP))
            sipp(srv.port, users, 200, 2)      # warm up every user
            nan = float("nan")
            r = (nan,) * 5
            if "reg" in PARTS:
                rate = max_rate(srv, users)
                r = (rate,) + fixed(srv, users)
            c = call_figures(srv, callers) if "calls" in PARTS \
                else (nan,) * 4
            m = im_figures(srv, senders) if "im" in PARTS else (nan,) * 4
            p = (nan,) * 5
            if "pres" in PARTS:
                # a fresh server in its presence setting
                srv.stop()
                srv = cls(pres=True)
                p = pres_figures(srv, users)
            b = (nan,) * 4
            if "blf" in PARTS:
                # a fresh server again: an office and its calls
                srv.stop()
                srv = cls(pres=True)
                b = blf_figures(srv, users)
            results[srv.name] = r + c + p + b + m
        finally:
            srv.stop()
    for name, r in results.items():
        print(name, r)         # every figure, before any table
    if only:
        return
    lp, km = results["Lamplight"], results["Kamailio"]
    table("registrations (REGISTER/401/REGISTER/200, MD5 digest, UDP, "
          "%d users)" % USERS, lp, km, [
              ("max rate with <0.1% failures (/s)", 0, "%d", True),
              ("p50 registration time at %d/s (ms)" % LAT_RATE, 1, "%.3f",
               False),
              ("p99 registration time at %d/s (ms)" % LAT_RATE, 2, "%.3f",
               False),
              ("CPU s per 1000 registrations at %d/s" % FIXED_RATE, 3,
               "%.3f", False),
              ("resident memory (KiB)", 4, "%d", False)])
    table("calls (INVITE/407/INVITE/180/200/ACK/BYE/200 through the "
          "proxy, UDP)", lp, km, [
              ("max full calls/s with 0 failures", 5, "%d", True),
              ("p50 call set-up time at %d/s (ms)" % CALL_RATE, 6, "%.3f",
               False),
              ("p99 call set-up time at %d/s (ms)" % CALL_RATE, 7, "%.3f",
               False),
              ("CPU s per 1000 calls at %d/s" % CALL_FIXED_RATE, 8, "%.3f",
               False)])
    table("presence (PUBLISH/SUBSCRIBE/NOTIFY, MD5 digest, UDP; Lamplight "
          "durable, Kamailio in memory)", lp, km, [
              ("PUBLISH/s with <0.1% failures", 9, "%d", True),
              ("p50 PUBLISH to last of %d NOTIFYs (ms)" % FANOUT, 10,
               "%.1f", False),
              ("p99 PUBLISH to last of %d NOTIFYs (ms)" % FANOUT, 11,
               "%.1f", False),
              ("bytes per subscription (%d subs)" %
               (USERS * SUBS_PER_USER), 12, "%.0f", False)])
    table("busy lamps (%d phones x %d colleagues, %g calls/s, 180 then "
          "200 after 0.3 s)" % (BLF_PHONES, BLF_WATCH, BLF_RATE), lp, km, [
              ("p50 180 Ringing to last early NOTIFY (ms)", 14, "%.2f",
               False),
              ("p99 180 Ringing to last early NOTIFY (ms)", 15, "%.2f",
               False),
              ("NOTIFYs/s during the calls", 16, "%.0f", None),
              ("memory the office added (PSS KiB)", 17, "%d", False)])
    table("instant messages (MESSAGE/407/MESSAGE/200 to one registered "
          "device, UDP; Kamailio %s)" % KAM_IM, lp, km, [
              ("max MESSAGE/s with <0.1% failures", 18, "%d", True),
              ("p50 relay time at %d/s (ms)" % IM_RATE, 19, "%.3f", False),
              ("p99 relay time at %d/s (ms)" % IM_RATE, 20, "%.3f", False),
              ("CPU s per 1000 messages at %d/s" % IM_FIXED_RATE, 21,
               "%.3f", False)])
    print("(ratio: how many times better Lamplight is; above 1 is better)")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
