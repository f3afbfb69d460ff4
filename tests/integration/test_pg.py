#!/usr/bin/env python3
"""test_pg: the appliance on PostgreSQL (`store = postgresql://...`), on
the wire, against a real server started here:

  - every database a schema of one PostgreSQL database: users added with
    lamplightctl, a registration, a publication, a subscription and a
    kept message each land in their table;
  - a user deleted while registered loses the registration at once (the
    admin schema's triggers notify the registrar: LISTEN/NOTIFY);
  - the server stopped (as if its machine died): REGISTER, PUBLISH,
    SUBSCRIBE and a MESSAGE to keep get 503 with Retry-After (the admin
    page a 503 that says why), nothing is
    acknowledged that was not written, a MESSAGE to a registered phone
    is still delivered, a call lights the BLF lamp (NOTIFYs go, their
    CSeqs written when the database is back, so that they never go
    back after a restart), no daemon dies, each logs why;
  - the server back: the daemons connect again by themselves within the
    back-off (5 s at most), and the same requests succeed;
  - the server restarted while the daemons were idle: the very next
    requests succeed (no 503: the closed connections are noticed first);
  - the daemons restarted: the registration and the kept messages come
    back from PostgreSQL, and each message reaches its user once;
  - a User-Agent that is not UTF-8 (PostgreSQL's text must be): the
    REGISTER succeeds and the bytes come back as they were sent.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import lpweb  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone, pidf  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

if not lptest.Postgres.available():
    tap.skip("the appliance on PostgreSQL", "no PostgreSQL server programs")
    sys.exit(tap.done())

pg = lptest.Postgres()
url = pg.new_db()
db = url.rsplit("/", 1)[1]
pport, iport, bport = (lptest.free_port(), lptest.free_port(),
                       lptest.free_port())
# LP_STORE would name a store of its own: this test names it
os.environ.pop("LP_STORE", None)
app = lptest.Appliance(lptest.build_dir(),
                       "store = %s\n"
                       "route_presence = udp:127.0.0.1:%d\n"
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "route_blf = udp:127.0.0.1:%d\n"
                       "route_timeout = 2500\n"
                       "bus_heartbeat = 1\n"
                       "probe_interval = 0\n" % (url, pport, iport, bport))
phones = []
web = None


def phone(user):
    p = Phone(app, user)
    phones.append(p)
    return p


def rows(sql):
    return [line for line in pg.sql(sql, db=db).splitlines() if line]


def retry(what, f, want, timeout=12.0):
    """f() until its answer's code is `want` (the back-off may hold the
    first tries): the last answer."""
    end = time.time() + timeout
    r = None
    while time.time() < end:
        r = f()
        if r is not None and r.code == want:
            return r
        time.sleep(0.5)
    return r


DAEMONS = ("registrar", "presence", "imrelay", "blf")

try:
    for u in ("alice", "bob", "carol", "erin", "gus"):
        app.add_user(u, u + "-pw")
    ok(rows("SELECT username FROM admin.users ORDER BY 1") ==
       ["alice", "bob", "carol", "erin", "gus"],
       "lamplightctl wrote the users into the schema admin")
    st = subprocess.run([app.ctl_path, "-c", app.conf, "status"],
                        capture_output=True, text=True, timeout=30)
    ok(st.returncode == 0 and "no registrations" in st.stdout,
       "lamplightctl status before the registrar ever ran: no "
       "registrations, no error", st.stdout + st.stderr)
    for d in DAEMONS:
        app.start(d)
    ok(sorted(rows("SELECT nspname FROM pg_namespace WHERE nspname "
                   "NOT LIKE 'pg_%' AND nspname <> 'information_schema' "
                   "AND nspname <> 'public'")) ==
       ["admin", "blf", "imrelay", "presence", "registrar"],
       "each daemon made its schema at its first start")
    ok(rows("SELECT value FROM presence.meta WHERE key = "
            "'schema_version'") == ["4"], "the schemas are versioned")

    alice, bob, carol, erin = (phone("alice"), phone("bob"),
                               phone("carol"), phone("erin"))
    D = app.domain
    web = lpweb.Web(app)
    r = lpweb.Client(web).get("/lamplight/")
    ok(r.code in (200, 303), "the admin page opens", r.code)
    r = alice.register(expires=600)
    ok(r is not None and r.code == 200, "alice registers", r and r.first)
    ok(rows("SELECT aor FROM registrar.bindings") == ["alice"],
       "her binding is a row of registrar.bindings")
    r = bob.register(expires=600)
    r = bob.publish(pidf("bob", D, note="At my desk"))
    ok(r is not None and r.code == 200, "bob publishes", r and r.first)
    ok(rows('SELECT "user" FROM presence.pubs') == ["bob"],
       "the publication is a row of presence.pubs")
    r, sub = alice.subscribe("bob")
    n = alice.wait_notify()
    ok(r is not None and r.code == 200 and n is not None and
       "At my desk" in n.text(), "alice watches bob and sees his note",
       n and n.text())
    ok(rows("SELECT presentity FROM presence.subs") == ["bob"],
       "the subscription is a row of presence.subs")
    r = alice.message("carol", b"first, kept")
    ok(r is not None and r.code == 202, "a MESSAGE to carol (offline): 202",
       r and r.first)
    ok(rows('SELECT "user" FROM imrelay.msgs') == ["carol"],
       "kept as a row of imrelay.msgs")

    # ---- the admin schema's triggers reach the running registrar ----
    r = erin.register(expires=600)
    ok(r is not None and r.code == 200, "erin registers", r and r.first)
    app.ctl("user", "del", "erin")
    end = time.time() + 5
    while time.time() < end and \
            rows("SELECT aor FROM registrar.bindings WHERE aor = 'erin'"):
        time.sleep(0.1)
    ok(not rows("SELECT aor FROM registrar.bindings WHERE aor = 'erin'"),
       "erin deleted while registered: her binding goes at once "
       "(LISTEN/NOTIFY)")

    r = alice.message("bob", b"hello")
    ok(r is not None and r.code == 200 and len(bob.wait_messages(1)) == 1,
       "alice writes to bob (registered): 200", r and r.first)

    r, bsub = carol.subscribe("bob", event="dialog",
                              accept="application/dialog-info+xml")
    n = carol.wait_notify()
    ok(r is not None and r.code == 200 and n is not None,
       "carol watches bob's line (BLF)", r and r.first)

    # ---- the server goes away ----
    pg.stop("immediate")
    r = alice.register(expires=600)
    ok(r is not None and r.code == 503 and r.get("retry-after") == "5",
       "PostgreSQL down: a REGISTER gets 503 with Retry-After: 5",
       r and r.raw[:300])
    r = bob.publish(pidf("bob", D, note="Unsaved"))
    ok(r is not None and r.code == 503 and r.get("retry-after"),
       "a PUBLISH gets 503 with Retry-After", r and r.raw[:300])
    r, _ = carol.subscribe("bob")
    ok(r is not None and r.code == 503 and r.get("retry-after"),
       "a new SUBSCRIBE gets 503 with Retry-After", r and r.raw[:300])
    r = alice.message("carol", b"lost?")
    ok(r is not None and r.code == 503 and r.get("retry-after"),
       "a MESSAGE to keep gets 503 with Retry-After, not 202",
       r and r.raw[:300])
    r = alice.message("bob", b"still here")
    got = bob.wait_messages(2)
    ok(r is not None and r.code == 200 and len(got) == 2,
       "a MESSAGE to a registered phone the relay knew is still "
       "delivered: 200", r and r.first)
    r, call = alice.call("bob")
    seen = []
    end = time.time() + 4
    while time.time() < end and not any(
            "confirmed" in x.text() for x in seen):
        x = carol.wait_notify(callid=bsub.callid, timeout=0.5)
        if x is not None:
            seen.append(x)
    if call is not None:
        alice.in_dialog("BYE", call)
    x = carol.wait_notify(lambda x: "terminated" in x.text(),
                          callid=bsub.callid)
    if x is not None:
        seen.append(x)
    cmax = max([x.cseq for x in seen] or [0])
    ok(r is not None and r.code == 200 and any(
        "confirmed" in x.text() for x in seen) and x is not None,
       "a call between known phones goes on, and bob's lamp with it "
       "(NOTIFYs up to CSeq %d, not stored)" % cmax,
       [x.text()[:200] for x in seen])
    r = lpweb.Client(web).get("/lamplight/")
    ok(r.code == 503 and b"admin database" in r.body and
       r.header("Retry-After") == "5",
       "the admin page says the database cannot be opened: 503 with "
       "Retry-After: 5", (r.code, r.body[:300]))
    ok(all(app.alive(d) for d in DAEMONS), "every daemon still runs")
    log = app.wait_log(["cannot store bindings", "connection lost"])
    ok("cannot store bindings of 'alice'" in log and
       "connection lost" in log, "the registrar says why",
       log[-800:])

    # ---- back ----
    pg.start()
    r = retry("REGISTER", lambda: alice.register(expires=600), 200)
    ok(r is not None and r.code == 200,
       "PostgreSQL back: REGISTER succeeds again without a restart",
       r and r.first)
    r = retry("PUBLISH", lambda: bob.publish(pidf("bob", D,
                                                  note="Saved again")), 200)
    ok(r is not None and r.code == 200, "so does a PUBLISH", r and r.first)
    n = alice.wait_notify(lambda n: "Saved again" in n.text())
    ok(n is not None, "and alice's watch goes on", n and n.text())
    r = retry("MESSAGE", lambda: alice.message("carol", b"second, kept"),
              202)
    ok(r is not None and r.code == 202, "a MESSAGE to keep: 202 again",
       r and r.first)
    ok(rows('SELECT convert_from(body, \'UTF8\') FROM imrelay.msgs '
            'ORDER BY id') == ["first, kept", "second, kept"],
       "both kept messages are rows, the refused one is not")
    log = app.log("registrar")
    ok("connected again" in log, "the registrar logs the reconnection")

    # ---- a restart of the server while the daemons are idle ----
    pg.stop("fast")
    pg.start()
    r = alice.register(expires=600)
    r2 = alice.message("carol", b"third, kept")
    ok(r is not None and r.code == 200 and r2 is not None and
       r2.code == 202, "PostgreSQL restarted while idle: the very next "
       "REGISTER and MESSAGE succeed (the closed connections were seen "
       "and made again at once)", (r and r.first, r2 and r2.first))

    # ---- a User-Agent that is not UTF-8 ----
    ua = sc.UA("127.0.0.1", app.port, D, "gus", "gus-pw")
    send = ua.t.send
    ua.t.send = lambda data: send(data.replace(b"@BAD@", b"\xff\xfe"))
    r = ua.register(extra=["User-Agent: Phone @BAD@"])
    ok(r is not None and r.code == 200,
       "a User-Agent that is not UTF-8 (an old phone's Latin-1): 200",
       r and r.raw[:300])
    ua.close()
    r = alice.register(expires=600)
    ok(r is not None and r.code == 200, "and the next REGISTER is served",
       r and r.first)

    # ---- restarts: the state comes back from PostgreSQL ----
    for d in DAEMONS:
        app.stop(d)
    carol.notifies.clear()
    for d in DAEMONS:
        app.start(d)
    n = carol.wait_notify(callid=bsub.callid, timeout=5)
    ok(n is not None and n.cseq > cmax,
       "the BLF daemon restarted: its NOTIFY's CSeq (%s) goes on past "
       "the ones sent while the database was away (%d): they were "
       "written when it came back" % (n and n.cseq, cmax),
       n and n.raw[:300])
    st = subprocess.run([app.ctl_path, "-c", app.conf, "status"],
                        capture_output=True, timeout=30).stdout
    ok(b"alice" in st, "after a restart the registrar still has alice",
       st.decode("utf-8", "replace"))
    ok(b"Phone \xff\xfe" in st, "and gus's User-Agent, byte for byte "
       "(kept in PostgreSQL's UTF-8 text all the same)",
       st.decode("utf-8", "replace"))
    r = carol.register(expires=600)
    got = carol.wait_messages(3, timeout=8)
    ok(r is not None and r.code == 200 and
       [m.body for m in got] == [b"first, kept", b"second, kept",
                                 b"third, kept"],
       "carol registers after the restart: the kept messages, in order",
       [m.body for m in got])
    time.sleep(1.5)
    ok(len(carol.messages) == 3 and
       not rows("SELECT id FROM imrelay.msgs"),
       "each once, and none left in imrelay.msgs", len(carol.messages))
finally:
    for p in phones:
        p.close()
    if web is not None:
        web.close(tap)
    app.close(tap)
    pg.close()

sys.exit(tap.done())
