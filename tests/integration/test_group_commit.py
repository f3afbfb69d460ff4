#!/usr/bin/env python3
"""test_group_commit: group commit (`store_group_ms`) seen on the wire,
on a real PostgreSQL server, with a window wide enough to see (1 s; the
default is 2 ms):

  - five phones REGISTER at once: no binding is a row while the window
    is open, and the five 200s come together once it has closed, each
    binding a row by then;
  - a second device of a user already in the group registers: the group
    commits at once (the first device's 200 comes early), then the
    second's, and both bindings are rows;
  - three new SUBSCRIBEs at once: their 200s come together after the
    window, and each watcher's first NOTIFY after its 200;
  - the server stopped inside the window (as if its machine died): every
    REGISTER and new SUBSCRIBE of the group gets 503 with Retry-After,
    none a 200 or a NOTIFY, and none of their rows is there when the
    server is back; then the same requests succeed.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

if not lptest.Postgres.available():
    tap.skip("group commit on PostgreSQL", "no PostgreSQL server programs")
    sys.exit(tap.done())

WINDOW = 1.0
pg = lptest.Postgres()
url = pg.new_db()
db = url.rsplit("/", 1)[1]
pport = lptest.free_port()
# LP_STORE would name a store of its own: this test names it
os.environ.pop("LP_STORE", None)
app = lptest.Appliance(lptest.build_dir(),
                       "store = %s\n"
                       "store_group_ms = %d\n"
                       "route_presence = udp:127.0.0.1:%d\n"
                       "probe_interval = 0\n"
                       % (url, int(WINDOW * 1000), pport))
phones = []


def phone(user):
    p = Phone(app, user)
    phones.append(p)
    return p


def rows(sql):
    return [line for line in pg.sql(sql, db=db).splitlines() if line]


def bound(users):
    return rows("SELECT aor FROM registrar.bindings WHERE aor IN (%s) "
                "ORDER BY 1" % ",".join("'%s'" % u for u in users))


def at_once(calls):
    """Each call in a thread of its own, started together: [(result,
    seconds it took, when it ended)]."""
    out = [None] * len(calls)

    def run(i, f):
        t0 = time.time()
        r = f()
        out[i] = (r, time.time() - t0, time.time())

    ts = [threading.Thread(target=run, args=(i, f))
          for i, f in enumerate(calls)]
    for t in ts:
        t.start()
    return ts, out


def join(ts):
    for t in ts:
        t.join(10)


try:
    users = ["u%d" % i for i in range(1, 10)] + ["w1", "w2", "w3", "w4",
                                                 "w5", "pat"]
    for u in users:
        app.add_user(u, u + "-pw")
    app.start()
    app.start("presence")

    # ---- five REGISTERs share one commit ----
    five = [phone("u%d" % i) for i in range(1, 6)]
    names = [p.user for p in five]
    ts, out = at_once([lambda p=p: p.register(expires=600) for p in five])
    time.sleep(WINDOW / 2)
    inside = bound(names)
    join(ts)
    codes = [r.code if r else None for r, _, _ in out]
    took = [d for _, d, _ in out]
    ends = [e for _, _, e in out]
    ok(inside == [], "inside the window no binding is a row yet", inside)
    ok(codes == [200] * 5 and min(took) >= WINDOW * 0.8 and
       max(ends) - min(ends) < 0.3,
       "five REGISTERs at once: their 200s come together once the window "
       "closed", (codes, ["%.2f" % d for d in took]))
    ok(bound(names) == names, "each binding is a row by its 200",
       bound(names))

    # ---- the same user twice: the group commits first ----
    second = Phone(app, "u1")
    phones.append(second)
    ts, out = at_once([lambda: five[0].register(expires=300)])
    time.sleep(WINDOW * 0.3)
    t1 = time.time()
    r2 = second.register(expires=300)
    d2 = time.time() - t1
    join(ts)
    r1, d1, _ = out[0]
    ok(r1 is not None and r1.code == 200 and d1 < WINDOW * 0.8,
       "a second device of u1 in the window: u1's first REGISTER is "
       "committed at once (%.2f s, not the window's %.1f)" % (d1, WINDOW),
       r1 and r1.first)
    ok(r2 is not None and r2.code == 200 and d2 >= WINDOW * 0.8 and
       len(rows("SELECT uri FROM registrar.bindings WHERE aor = 'u1'"))
       == 2, "then the second device's, in a group of its own: both "
       "bindings are rows", (r2 and r2.first, "%.2f" % d2))

    # ---- three new SUBSCRIBEs share one commit ----
    pat = phone("pat")
    ok(pat.register(expires=600).code == 200, "pat registers")
    watchers = [phone("w%d" % i) for i in range(1, 4)]
    ts, out = at_once([lambda w=w: w.subscribe("pat") for w in watchers])
    time.sleep(WINDOW / 2)
    inside = rows("SELECT watcher FROM presence.subs")
    join(ts)
    firsts = [w.wait_notify(timeout=3) for w in watchers]
    subs = [x[0] for x in out]
    ends = [r.t for r, _ in subs if r is not None]
    ok(inside == [], "inside the window no subscription is a row yet",
       inside)
    ok([r.code if r else None for r, _ in subs] == [200] * 3 and
       min(d for _, d, _ in out) >= WINDOW * 0.8 and
       max(ends) - min(ends) < 0.3,
       "three SUBSCRIBEs at once: their 200s come together once the "
       "window closed", [("%.2f" % d, r and r.first) for (r, _), d, _ in
                         out])
    ok(all(n is not None and r is not None and n.t >= r.t
           for n, (r, _) in zip(firsts, subs)),
       "each watcher's first NOTIFY comes after its 200",
       [(n and n.t, r and r.t) for n, (r, _) in zip(firsts, subs)])
    ok(len(rows("SELECT watcher FROM presence.subs")) == 3,
       "each subscription is a row")

    # ---- the server dies inside the window ----
    late = [phone("u%d" % i) for i in range(6, 10)]
    lwatch = [phone("w4"), phone("w5")]
    ts, out = at_once([lambda p=p: p.register(expires=600) for p in late] +
                      [lambda w=w: w.subscribe("pat")[0] for w in lwatch])
    time.sleep(0.2)
    t_stop = time.time()
    pg.stop("immediate")
    stopped_in = time.time() - t_stop
    join(ts)
    got = [(r.code, r.get("retry-after")) if r else None
           for r, _, _ in out]
    ok(stopped_in < WINDOW * 0.7 and
       got == [(503, "5")] * 4 + [(503, "5")] * 2,
       "PostgreSQL stopped inside the window (%.2f s): every REGISTER and "
       "new SUBSCRIBE of the group gets 503 with Retry-After, none a 200"
       % stopped_in, got)
    time.sleep(0.5)
    ok(not any(w.notifies for w in lwatch),
       "and no NOTIFY reaches their watchers")
    pg.start()
    end = time.time() + 15
    r = None
    while time.time() < end:
        r = late[0].register(expires=600)
        if r is not None and r.code == 200:
            break
        time.sleep(0.5)
    ok(r is not None and r.code == 200,
       "the server back: the registrar writes again", r and r.first)
    ok(bound(["u7", "u8", "u9"]) == [] and
       rows("SELECT watcher FROM presence.subs WHERE watcher IN "
            "('w4', 'w5')") == [],
       "none of the refused requests' rows is there")
    ok(all(p.register(expires=600).code == 200 for p in late[1:]) and
       bound(["u7", "u8", "u9"]) == ["u7", "u8", "u9"],
       "their phones register again: 200, and rows")
    # the presence daemon connects again on its own back-off (5 s)
    end = time.time() + 15
    while time.time() < end:
        r, _ = lwatch[0].subscribe("pat")
        if r is not None and r.code == 200:
            break
        time.sleep(0.5)
    n = lwatch[0].wait_notify(timeout=3)
    ok(r is not None and r.code == 200 and n is not None,
       "a watcher subscribes again: 200, then its NOTIFY",
       r and r.first)
finally:
    for p in phones:
        p.close()
    app.close(tap)
    pg.close()

sys.exit(tap.done())
