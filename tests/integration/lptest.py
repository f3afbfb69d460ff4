"""lptest: the integration harness: a scratch appliance (configuration,
users, state) on 127.0.0.1 with ports of its own, the real daemons
started and stopped, readiness learned from sd_notify, TAP output."""

import atexit
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# the SIP torture corpora, vendored (tests/corpus/README.md)
CORPUS = os.path.join(ROOT, "tests", "corpus")


# Ports this process handed out: nothing is bound to one until its
# daemon starts, so the kernel may offer it again, and two addresses of
# one configuration on the same port are refused (a route_ address on
# route_edge: a benchmark run failed so, 2026-12-07).
_given = set()


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, and not handed out
    before by this process."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        if port in _given:
            continue
        _given.add(port)
        return port
    raise RuntimeError("no free port")


def _bind_all(p, n):
    """Whether P to P+n-1 bind (UDP and TCP) now; if so they are given
    out."""
    socks = []
    try:
        for q in range(p, p + n):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", q))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    _given.update(range(p, p + n))
    return True


def free_port_pair(n=2):
    """A port P with P and P+1 free (UDP and TCP): baresip listens for
    TLS on its SIP port + 1. n: P to P+n-1 free (edge workers' route_edge
    ports)."""
    for _ in range(100):
        p = free_port()
        if not any(port in _given for port in range(p + 1, p + n)) and \
                _bind_all(p, n):
            return p
    raise RuntimeError("no free port pair")


def wait_port(port, timeout=10.0):
    """True once something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, detail=None):
        self.n += 1
        desc = desc.replace("\n", " ").replace("#", " ")
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if detail is not None:
                for line in str(detail).splitlines()[-20:]:
                    print("# " + line)
        sys.stdout.flush()
        return cond

    def todo(self, desc, why):
        """A known failure outside our code: counted, visible, not fatal."""
        self.n += 1
        print("not ok %d - %s # TODO %s" % (self.n, desc, why))

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why))

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0


class Appliance:
    """A configuration, a state directory and the daemons, all scratch."""

    def __init__(self, build, extra_conf="", domain="lamplight.test",
                 env=None, route_edge=True, addr="127.0.0.1"):
        """addr: the loopback address its SIP listens on (a node of a
        cluster may have one of its own, as on a machine of its own)."""
        self.build = os.path.abspath(build)
        self.addr = addr
        self.env = dict(env or {})     # for the daemons' environment
        self.dir = tempfile.mkdtemp(prefix="lp-it-")
        self.port = free_port()
        self.domain = domain
        self.conf = os.path.join(self.dir, "lamplight.conf")
        self.procs = {}
        with open(self.conf, "w") as f:
            f.write("domain = %s\n" % domain)
            f.write("listen = udp:%s:%d\n" % (addr, self.port))
            f.write("listen = tcp:%s:%d\n" % (addr, self.port))
            f.write("state_dir = %s/state\n" % self.dir)
            f.write("runtime_dir = %s/run\n" % self.dir)
            # LP_LOG_LEVEL=debug: every daemon's log in full
            f.write("log_level = %s\n"
                    % os.environ.get("LP_LOG_LEVEL", "info"))
            # the back daemons' own way into the edge, as shipped;
            # LP_WORKERS=N: every test's edge as N workers (they need
            # route_edge and the N - 1 ports above it)
            self.workers = int(os.environ.get("LP_WORKERS", "1"))
            self.back_port = (free_port_pair(self.workers)
                              if self.workers > 1 else free_port()) \
                if route_edge else None
            if route_edge:
                f.write("route_edge = udp:%s:%d\n" % (addr, self.back_port))
            if route_edge and self.workers > 1:
                f.write("workers = %d\n" % self.workers)
            # LP_STORE=postgresql: every test's databases in a database
            # of their own on one scratch PostgreSQL server
            if os.environ.get("LP_STORE") == "postgresql":
                f.write("store = %s\n" % Postgres.shared().new_db())
            f.write(extra_conf)

    @property
    def ctl_path(self):
        return os.path.join(self.build, "tools", "lamplightctl")

    @property
    def registrar_path(self):
        return os.path.join(self.build, "daemons", "registrar",
                            "lamplight-registrar")

    @property
    def presence_path(self):
        return os.path.join(self.build, "daemons", "presence",
                            "lamplight-presence")

    @property
    def blf_path(self):
        return os.path.join(self.build, "daemons", "blf", "lamplight-blf")

    @property
    def imrelay_path(self):
        return os.path.join(self.build, "daemons", "imrelay",
                            "lamplight-imrelay")

    def ctl(self, *args, check=True, timeout=60):
        r = subprocess.run([self.ctl_path, "-c", self.conf] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("lamplightctl %s: %s" % (args, r.stderr))
        return r

    def add_tls(self, port=None):
        """A TLS listen address with a test certificate (before start);
        its port."""
        port = port or free_port()
        cert = tls_certificate(self.dir)
        with open(self.conf, "a") as f:
            f.write("listen = tls:127.0.0.1:%d\ntls_certificate = %s\n"
                    % (port, cert))
        return port

    def add_user(self, user, password, *extra):
        return self.ctl("user", "add", user, "--password", password, *extra)

    def start(self, name="registrar", timeout=10):
        """Start a daemon; return when it said READY=1 (sd_notify)."""
        path = {"registrar": self.registrar_path,
                "presence": self.presence_path,
                "blf": self.blf_path,
                "imrelay": self.imrelay_path}[name]
        nsock_path = os.path.join(self.dir, "notify-%s.sock" % name)
        if os.path.exists(nsock_path):
            os.unlink(nsock_path)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(nsock_path)
        env = dict(os.environ, NOTIFY_SOCKET=nsock_path, **self.env)
        env.pop("JOURNAL_STREAM", None)
        log = open(os.path.join(self.dir, "%s.log" % name), "a")
        p = subprocess.Popen([path, "-c", self.conf], stdout=log,
                             stderr=subprocess.STDOUT, env=env)
        self.procs[name] = p
        deadline = time.time() + timeout
        ready = False
        ns.settimeout(0.2)
        while time.time() < deadline and p.poll() is None:
            try:
                msg = ns.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg.split("\n"):
                ready = True
                break
        ns.close()
        if not ready:
            raise RuntimeError("%s not ready: %s" % (name, self.log(name)))
        return p

    def stop(self, name="registrar", sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        p.send_signal(sig)
        try:
            return p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def alive(self, name="registrar"):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def log(self, name="registrar"):
        try:
            with open(os.path.join(self.dir, "%s.log" % name)) as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, texts, name="registrar", timeout=3.0):
        """The daemon's log once it holds every one of texts (a daemon
        writes its log line after its answer), or as it is at timeout."""
        end = time.time() + timeout
        while True:
            log = self.log(name)
            if all(t in log for t in texts) or time.time() >= end:
                return log
            time.sleep(0.05)

    def sanitizer_reports(self):
        """AddressSanitizer, LeakSanitizer or UBSan output in any log."""
        found = []
        for f in os.listdir(self.dir):
            if not f.endswith(".log"):
                continue
            with open(os.path.join(self.dir, f), errors="replace") as fh:
                text = fh.read()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                           "runtime error:"):
                i = text.find(marker)
                if i >= 0:
                    found.append("%s: %s" % (f, text[i:i + 1500]))
        return found

    def close(self, tap=None):
        for name in list(self.procs):
            self.stop(name)
        reports = self.sanitizer_reports()
        if tap is not None:
            tap.ok(not reports, "no sanitizer report from the daemons",
                   "\n".join(reports))
        if os.environ.get("LP_KEEP"):
            print("# kept %s" % self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def pg_bin(name):
    """A PostgreSQL server program (Debian: /usr/lib/postgresql/N/bin),
    the newest version there, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4])
                   if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else None


def low_ports(n):
    """P to P+n-1 free (UDP and TCP) below the kernel's range of
    ephemeral ports: a port a daemon binds late (the presence daemon's
    node-facing bus) must not be taken meanwhile by some process's
    outgoing connection."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    if low < 4096 + n:
        return free_port_pair(n)       # no room below: as it comes
    rnd = random.Random(os.getpid())
    for _ in range(200):
        p = rnd.randrange(max(1024, low - 12000), low - n)
        if not any(q in _given for q in range(p, p + n)) and \
                _bind_all(p, n):
            return p
    raise RuntimeError("no free low ports")


def cluster_postgres(tap, what):
    """The scratch PostgreSQL server of a test of several nodes and the
    database they share (LP_STORE no longer applies), or the test
    skipped where there is no server."""
    if not Postgres.available():
        tap.skip(what, "no PostgreSQL server programs")
        sys.exit(tap.done())
    os.environ.pop("LP_STORE", None)
    pg = Postgres()
    return pg, pg.new_db()


def cluster_close(tap, phones, apps, pg):
    """The end of a test of several nodes: its phones, its nodes (every
    node's sanitizer reports in one line of the test) and its server."""
    for p in phones:
        p.close()
    for app in apps:
        for name in list(app.procs):
            app.stop(name)
    reports = [r for app in apps for r in app.sanitizer_reports()]
    tap.ok(not reports, "no sanitizer report from any node's daemons",
           "\n".join(reports))
    for app in apps:
        app.close()
    pg.close()


def cluster_node(url, node_id, extra="", build=None,
                 domain="lamplight.test", addr="127.0.0.1"):
    """An Appliance that is node `node_id` of a cluster on the PostgreSQL
    database `url`, on the loopback address `addr` (SIP, cluster_bus and
    the back daemons): cluster_bus with its four ports free (.bus_port
    the first), route ports of its own."""
    port = low_ports(4)
    a = Appliance(build or build_dir(),
                  "store = %s\nnode_id = %s\n"
                  "cluster_bus = tcp://%s:%d\n"
                  "route_presence = udp:%s:%d\n"
                  "route_blf = udp:%s:%d\n"
                  "route_imrelay = udp:%s:%d\n"
                  "probe_interval = 0\n%s"
                  % (url, node_id, addr, port, addr, free_port(), addr,
                     free_port(), addr, free_port(), extra), domain,
                  addr=addr)
    a.bus_port = port
    return a


class Postgres:
    """A scratch PostgreSQL server: initdb and pg_ctl in a temporary
    folder, listening on 127.0.0.1 on a port of its own (and a socket in
    that folder), trust authentication, fsync off (a test's data need not
    survive the machine). As root it runs as the user postgres (Debian's
    package makes it), or nobody. new_db() gives each caller a database
    of its own. durable: fsync and synchronous commits on, as a server
    in service has them (benchmarks)."""

    _shared = None

    @classmethod
    def shared(cls):
        """One server for the whole test process, stopped at its exit."""
        if cls._shared is None:
            cls._shared = Postgres()
            atexit.register(cls._shared.close)
        return cls._shared

    @staticmethod
    def available():
        return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None

    def __init__(self, durable=False, settings=""):
        self.durable = durable
        self.settings = settings      # more -c options, for benchmarks
        self.dir = tempfile.mkdtemp(prefix="lp-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        self.ndb = 0
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
                break
        self._run([pg_bin("initdb"), "-D", self.data, "-U", "lamplight",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                  timeout=120)
        self.start()
        self._run([pg_bin("psql") or "psql", "-h", "127.0.0.1", "-p",
                   str(self.port), "-U", "lamplight", "-d", "postgres",
                   "-q", "-c", "CREATE DATABASE lamplight"])

    def _run(self, cmd, timeout=60):
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(cmd), r.stdout,
                                              r.stderr))
        return r

    def url(self, db="lamplight"):
        return "postgresql://lamplight@127.0.0.1:%d/%s" % (self.port, db)

    def new_db(self):
        """A fresh database's address."""
        self.ndb += 1
        name = "lp%d_%d" % (os.getpid(), self.ndb)
        self.sql("CREATE DATABASE %s" % name, db="postgres")
        return self.url(name)

    def sql(self, text, db="lamplight"):
        """psql's unaligned output of one command."""
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v",
                            "ON_ERROR_STOP=1", self.url(db), "-c", text],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr)
        return r.stdout

    def start(self):
        self._run([pg_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60",
                   "-l", os.path.join(self.dir, "server.log"), "-o",
                   "-p %d -k %s -c listen_addresses=127.0.0.1 "
                   "-c fsync=%s -c max_connections=200 %s"
                   % (self.port, self.dir,
                      "on" if self.durable else "off", self.settings),
                   "start"], timeout=90)

    def stop(self, mode="fast"):
        """mode: fast (clean), immediate (as if the machine died)."""
        self._run([pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w",
                   "stop"], timeout=90)

    def close(self):
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired, OSError):
            pass
        if not os.environ.get("LP_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def baresip_home(app, name, account, apps=()):
    """A baresip configuration folder for a client of `app`: SIP on a free
    port pair of 127.0.0.1 (baresip listens for TLS on port + 1), L16
    audio from a sine generator (no sound card here), the account line,
    and the application modules `apps` besides account and menu."""
    d = os.path.join(app.dir, "baresip-" + name)
    os.makedirs(d, exist_ok=True)
    port = free_port_pair()
    mods = "".join("module_app %s.so\n" % m
                   for m in ("account",) + tuple(apps) + ("menu",))
    with open(os.path.join(d, "config"), "w") as f:
        f.write("poll_method epoll\n"
                "sip_listen 127.0.0.1:%d\n"
                "module_path /usr/lib/baresip/modules\n"
                "module l16.so\n"
                "module ausine.so\n"
                "%s"
                "audio_source ausine,440\n"
                "audio_player ausine,440\n"
                "net_interface 127.0.0.1\n" % (port, mods))
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write(account + "\n")
    return d


def tls_certificate(directory, cn="lamplight.test"):
    """A self-signed RSA-2048 certificate and its key in one PEM file
    (what tls_certificate takes): its path."""
    pem = os.path.join(directory, "sip.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", pem, "-out", pem + ".crt",
                    "-days", "2", "-subj", "/CN=" + cn],
                   capture_output=True, text=True, check=True)
    with open(pem, "a") as f, open(pem + ".crt") as c:
        f.write(c.read())
    return pem


def build_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.join(ROOT, "build")
