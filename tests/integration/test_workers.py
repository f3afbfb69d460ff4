"""test_workers: the edge as two processes (`workers = 2`, issue 20 item
2), seen on the wire:

- worker 0 (the process started) makes worker 1, its child; both serve
  the same UDP address (SO_REUSEPORT): with worker 1 stopped (SIGSTOP)
  some phones' REGISTERs go unanswered and others are answered, with
  worker 0 stopped exactly the others; once both run, every one is
  answered (what waited in the stopped worker's queue too)
- twelve phones register (each on its own port, so on either worker),
  and each calls the next: 407, INVITE with credentials, 180, 200, ACK,
  BYE from the callee: every call completes wherever its two phones are,
  and the lamps (the `dialog` bus) show each call confirmed, then
  terminated with the BYE
- a watcher on one phone subscribes to a user who publishes from
  another: the NOTIFY with the note arrives; a MESSAGE between two
  phones arrives
- the bus (worker 0 publishes) holds all twelve registrations, and one
  made on either worker and then removed is removed there too
- SIGHUP reaches both workers; worker 1 killed: the edge ends with
  status 1 and says why; worker 0 killed: worker 1 ends too; SIGTERM:
  both gone, status 0
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
import callphone as cp  # noqa: E402
import presphone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
N = 12


def appliance():
    os.environ["LP_WORKERS"] = "2"
    a = lptest.Appliance(lptest.build_dir(),
                         "route_presence = udp:127.0.0.1:%d\n"
                         "route_imrelay = udp:127.0.0.1:%d\n"
                         "bus_heartbeat = 1\n"
                         "probe_interval = 0\n" % (lptest.free_port(),
                                                   lptest.free_port()))
    return a


def children(pid):
    """The registrar processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid and "lamplight-regis" in st:
            out.append(int(d))
    return out


def gone(pid, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def probes(app, socks, wait):
    """An unauthenticated REGISTER from each socket; which were answered
    (401) within `wait` s."""
    for i, s in enumerate(socks):
        ip, port = s.getsockname()
        s.sendto(("REGISTER sip:%s SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKwk%s;rport\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: <sip:nobody@%s>;tag=w%d\r\n"
                  "To: <sip:nobody@%s>\r\n"
                  "Call-ID: wk%s@test\r\n"
                  "CSeq: 1 REGISTER\r\n"
                  "Contact: <sip:nobody@%s:%d>\r\n"
                  "Content-Length: 0\r\n\r\n"
                  % (app.domain, ip, port, sc.rand(8), app.domain, i,
                     app.domain, sc.rand(8), ip, port)).encode(),
                 ("127.0.0.1", app.port))
    answered = set()
    end = time.time() + wait
    for i, s in enumerate(socks):
        s.settimeout(max(0.01, end - time.time()))
        try:
            if s.recvfrom(65535)[0].startswith(b"SIP/2.0 401"):
                answered.add(i)
        except socket.timeout:
            pass
    return answered


def drain(socks, wait):
    """Which sockets get an answer (a late one) within `wait` s."""
    got = set()
    end = time.time() + wait
    for i, s in enumerate(socks):
        s.settimeout(max(0.01, end - time.time()))
        try:
            s.recvfrom(65535)
            got.add(i)
        except socket.timeout:
            pass
    return got


def spread(app, w1):
    socks = []
    for _ in range(16):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    try:
        os.kill(w1, signal.SIGSTOP)
        try:
            by0 = probes(app, socks, 1.0)
        finally:
            os.kill(w1, signal.SIGCONT)
        late = drain([s for i, s in enumerate(socks) if i not in by0], 3.0)
        ok(0 < len(by0) < len(socks),
           "worker 1 stopped: %d of %d phones answered (worker 0's), the "
           "others not" % (len(by0), len(socks)))
        ok(len(late) == len(socks) - len(by0),
           "... worker 1 answers the others once it runs again")
        w0 = app.procs["registrar"].pid
        os.kill(w0, signal.SIGSTOP)
        try:
            by1 = probes(app, socks, 1.0)
        finally:
            os.kill(w0, signal.SIGCONT)
        drain([s for i, s in enumerate(socks) if i not in by1], 3.0)
        ok(by1 == set(range(len(socks))) - by0,
           "worker 0 stopped: exactly the other phones answered (each "
           "phone's datagrams go to one worker)", (sorted(by0),
                                                   sorted(by1)))
    finally:
        for s in socks:
            s.close()


def one_call(app, caller, callee):
    """A whole call, the BYE from the callee; what went wrong, or ''."""
    lines, r = cp.call(app, caller, callee.user)
    if not lines:
        return "no 407: %s" % (r and r.first)
    inv = callee.next(want="INVITE")
    if inv is None:
        return "the INVITE did not reach %s" % callee.user
    tag = "t" + sc.rand(6)
    callee.answer(inv, 180, "Ringing", tag=tag)
    if caller.next(want=180) is None:
        return "no 180 at the caller"
    callee.answer(inv, 200, "OK", tag=tag,
                  extra=["Contact: <%s>" % callee.contact,
                         "Content-Type: application/sdp"], body=cp.SDP)
    fin = caller.next(want=200)
    if fin is None:
        return "no 200 at the caller"
    a, b = cp.legs(caller, callee, lines, inv, fin, 2)
    a.request("ACK", cseq=2)
    if callee.next(want="ACK") is None:
        return "the ACK did not reach the callee"
    b.request("BYE")
    bye = caller.next(want="BYE")
    if bye is None:
        return "the BYE did not reach the caller"
    caller.answer(bye, 200, "OK")
    if callee.next(want=200) is None:
        return "the 200 to the BYE did not reach the callee"
    return ""


def reg_snapshot(app):
    out = subprocess.run([app.ctl_path, "-c", app.conf, "watch", "reg",
                          "--timeout", "2"], capture_output=True,
                         text=True, timeout=20).stdout
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


app = appliance()
try:
    users = ["w%02d" % i for i in range(N)]
    for u in users:
        app.add_user(u, u + "pw")
    main = app.start("registrar")
    app.start("presence")
    app.start("imrelay")
    kids = children(main.pid)
    ok(len(kids) == 1, "worker 0 made one other worker, its child", kids)
    w1 = kids[0] if kids else None
    if w1:
        spread(app, w1)

    phones = [cp.Phone(app, u, u + "pw") for u in users]
    ok(all(p.register().code == 200 for p in phones),
       "%d phones registered" % N)
    snap = reg_snapshot(app)
    keys = {e["key"] for e in snap if e.get("type") == "set"}
    ok(set(users) <= keys, "the bus holds every phone's registration "
       "(worker 0 publishes for both)", sorted(keys))

    bus = cp.Bus(app, 30)
    failed = []
    for i, p in enumerate(phones):
        why = one_call(app, p, phones[(i + 1) % N])
        if why:
            failed.append("%s->%s: %s" % (p.user, phones[(i + 1) % N].user,
                                          why))
    ok(not failed, "each of %d phones called the next: every call "
       "completed" % N, failed)
    callids = {e["key"].split("/", 1)[1] for e in bus.evs
               if e["key"].startswith("w00/")}
    ended = bus.wait(lambda: all(
        any(e["key"].startswith(u + "/") and e["data"]["state"] ==
            "terminated" for e in bus.evs) for u in users), 5)
    ok(ended and callids, "the lamps saw each user's calls end with "
       "the BYE (dialog terminated on the bus)")
    bus.close()

    # presence and messages between phones of either worker
    watchers = [presphone.Phone(app, u, u + "pw") for u in users[:4]]
    try:
        ok(all(w.register().code == 200 for w in watchers),
           "four presence phones registered")
        r, d = watchers[0].subscribe(users[1])
        ok(r is not None and r.code in (200, 202) and d is not None,
           "w00 subscribes to w01's presence")
        watchers[0].wait_notify()
        r = watchers[1].publish(presphone.pidf(users[1], app.domain,
                                               note="two workers"))
        n = watchers[0].wait_notify(lambda m: b"two workers" in m.body)
        ok(r is not None and r.code == 200 and n is not None,
           "w01 publishes; w00's NOTIFY carries the note")
        app.wait_log(["registrations known"], "imrelay", timeout=10)
        sent = [watchers[i].message(users[(i + 1) % 4],
                                    b"hello %d" % i) for i in range(4)]
        got = [watchers[(i + 1) % 4].wait_messages(1) for i in range(4)]
        ok(all(s is not None and s.code == 200 for s in sent) and
           all(len(g) == 1 and g[0].body == b"hello %d" % i
               for i, g in enumerate(got)),
           "four MESSAGEs between them, each delivered, 200",
           [s and s.code for s in sent])
    finally:
        for w in watchers:
            w.close()

    # unregistered on its worker: gone from the bus too
    phones[6].ua.register(contacts=["*"], expires=0)
    time.sleep(0.3)
    snap = reg_snapshot(app)
    keys = {e["key"] for e in snap if e.get("type") == "set"}
    ok("w06" not in keys and "w07" in keys,
       "w06 unregistered: no longer on the bus, the others still")

    # signals
    os.kill(main.pid, signal.SIGHUP)
    log = app.wait_log(["registrar notice: reload: 0 setting",
                        "registrar/1 notice: reload: 0 setting"],
                       timeout=3)
    ok("registrar notice: reload: 0 setting" in log and
       "registrar/1 notice: reload: 0 setting" in log,
       "SIGHUP: both workers read the file again", log[-600:])
    os.kill(w1, signal.SIGKILL)
    try:
        rc = main.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    ok(rc == 1, "worker 1 killed: the edge ends with status 1 (%s)" % rc)
    ok("edge worker 1 (pid %d) ended" % w1 in app.log(),
       "... and says which worker ended")
    app.procs.pop("registrar", None)

    main = app.start("registrar")
    kids = children(main.pid)
    ok(len(kids) == 1, "started again: two workers")
    main.send_signal(signal.SIGKILL)
    main.wait(5)
    app.procs.pop("registrar", None)
    ok(kids and gone(kids[0]), "worker 0 killed: worker 1 ends too")

    main = app.start("registrar")
    kids = children(main.pid)
    rc = app.stop("registrar")
    ok(rc == 0 and kids and gone(kids[0]),
       "SIGTERM: both workers gone, status 0 (%s)" % rc)
finally:
    app.close(tap)
sys.exit(tap.done())
