#!/usr/bin/env python3
"""test_store_copy: a one-box office moves to PostgreSQL and back, as its
administrator would (docs/admin-guide.md, "PostgreSQL"):

  - an appliance on SQLite gets users, an administrator, a watcher rule,
    a desk phone with a BLF key, registrations (one with a Latin-1
    User-Agent, which must cross both ways byte for byte), a
    publication, a subscription and two kept messages, then its daemons
    stop;
  - `lamplightctl store copy --from sqlite:STATE --to postgresql://...`
    copies every table, prints each table's rows, and PostgreSQL holds
    as many as SQLite did; a second copy into the same place is refused
    and changes nothing;
  - an appliance started on that PostgreSQL database (with the old
    device.key) has the phone's same credentials, the registration,
    the publication (a new watcher sees it) and the kept messages, each
    delivered once, in order;
  - `store migrate` names each database's engine and version, and a copy
    back from PostgreSQL to fresh SQLite files counts the same rows.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone, pidf  # noqa: E402

tap = lptest.Tap()
ok = tap.ok

if not lptest.Postgres.available():
    tap.skip("lamplightctl store copy", "no PostgreSQL server programs")
    sys.exit(tap.done())

os.environ.pop("LP_STORE", None)     # this test names its stores
pg = lptest.Postgres()
url = pg.new_db()
db = url.rsplit("/", 1)[1]
MAC = "001565000042"
phones = []
apps = []


def appliance(extra=""):
    ports = [lptest.free_port() for _ in range(3)]
    a = lptest.Appliance(lptest.build_dir(),
                         "route_presence = udp:127.0.0.1:%d\n"
                         "route_imrelay = udp:127.0.0.1:%d\n"
                         "route_blf = udp:127.0.0.1:%d\n"
                         "route_timeout = 2500\n"
                         "probe_interval = 0\n" % tuple(ports) + extra)
    apps.append(a)
    return a


def phone(app, user):
    p = Phone(app, user)
    phones.append(p)
    return p


def count(table):
    return int(pg.sql("SELECT count(*) FROM " + table, db=db).strip())


def ctl(app, *args):
    return subprocess.run([app.ctl_path, "-c", app.conf] + list(args),
                          capture_output=True, text=True, timeout=120)


try:
    # ---- a box on SQLite ----
    one = appliance()
    for u in ("alice", "bob", "carol", "gus"):
        one.add_user(u, u + "-pw")
    one.ctl("admin", "add", "root", "--password", "root-pass-1")
    one.ctl("watcher", "block", "bob", "mallory")
    one.ctl("device", "add", MAC, "--vendor", "yealink", "--owner",
            "alice")
    one.ctl("key", "set", MAC, "1", "blf", "bob", "--label", "Bob")
    shown = one.ctl("device", "show", MAC).stdout
    for d in ("registrar", "presence", "imrelay", "blf"):
        one.start(d)
    D = one.domain
    alice, bob = phone(one, "alice"), phone(one, "bob")
    ok(alice.register(expires=3600).code == 200, "alice registers")
    gus = sc.UA("127.0.0.1", one.port, one.domain, "gus", "gus-pw")
    send = gus.t.send
    gus.t.send = lambda data: send(data.replace(b"@L1@", b"T\xe9l\xe9"))
    r = gus.register(extra=["User-Agent: @L1@phone"], expires=3600)
    ok(r is not None and r.code == 200,
       "gus registers with a Latin-1 User-Agent", r and r.code)
    gus.close()
    bob.register(expires=3600)
    r = bob.publish(pidf("bob", D, note="Moving house"), expires=3600)
    ok(r is not None and r.code == 200, "bob publishes", r and r.first)
    r, _ = alice.subscribe("bob", expires=3600)
    ok(r is not None and r.code == 200, "alice watches bob", r and r.first)
    for text in (b"one", b"two"):
        r = alice.message("carol", text)
    ok(r is not None and r.code == 202, "two messages kept for carol",
       r and r.first)
    for d in ("registrar", "presence", "imrelay", "blf"):
        one.stop(d)
    for p in phones:
        p.close()
    phones.clear()
    state = os.path.join(one.dir, "state")

    # ---- the copy ----
    r = ctl(one, "store", "copy", "--from", "sqlite:" + state, "--to", url)
    ok(r.returncode == 0 and "copied: 5 database(s), every table" in
       r.stdout,
       "store copy from SQLite to PostgreSQL succeeds", r.stdout + r.stderr)
    want = {"admin.users": 4, "admin.admins": 1, "admin.watcher_rules": 1,
            "admin.devices": 1, "admin.device_keys": 1,
            "registrar.bindings": 3, "presence.pubs": 1,
            "presence.subs": 1, "imrelay.msgs": 2}
    got = {t: count(t) for t in want}
    ok(got == want, "PostgreSQL holds every row (%s)" %
       ", ".join("%s %d" % kv for kv in sorted(got.items())), got)
    ok(all(("%s: %d row(s)" % (t, n)) in r.stdout
           for t, n in want.items()),
       "and lamplightctl printed each table's count", r.stdout)
    copied = set(re.findall(r"(?m)^(\w+\.\w+): \d+ row", r.stdout))
    tables = set(pg.sql("SELECT table_schema || '.' || table_name FROM "
                        "information_schema.tables WHERE table_schema IN "
                        "('admin', 'registrar', 'presence', 'blf', "
                        "'imrelay') AND table_name <> 'meta'",
                        db=db).split())
    ok(copied == tables, "every table of every schema was copied (%d)"
       % len(tables), (sorted(copied ^ tables)))
    secret = pg.sql("SELECT value FROM registrar.meta WHERE key = "
                    "'nonce_secret'", db=db).strip()
    ok(len(secret) >= 32, "the registrar's secret came along")
    r2 = ctl(one, "store", "copy", "--from", "sqlite:" + state, "--to",
             url)
    ok(r2.returncode != 0 and "already holds rows" in r2.stderr and
       count("admin.users") == 4,
       "a second copy into the same place is refused, nothing changed",
       r2.stderr)
    # a destination of which only the last database holds rows: refused
    # before the first database is copied
    url2 = pg.new_db()
    db2 = url2.rsplit("/", 1)[1]
    r4 = ctl(one, "store", "copy", "--from", "sqlite:" + state, "--to",
             url2)
    ok(r4.returncode == 0, "a copy into a second database", r4.stderr)
    pg.sql("TRUNCATE " + ", ".join(sorted(
        t for t in tables if not t.startswith("imrelay."))), db=db2)
    r4 = ctl(one, "store", "copy", "--from", "sqlite:" + state, "--to",
             url2)
    n2 = int(pg.sql("SELECT count(*) FROM admin.users", db=db2).strip())
    ok(r4.returncode != 0 and "imrelay: the destination already holds "
       "rows" in r4.stderr and n2 == 0,
       "a destination whose imrelay holds rows is refused before admin "
       "is copied (admin.users: %d)" % n2, r4.stdout + r4.stderr)
    r3 = ctl(one, "store", "copy", "--from", "sqlite:" + state, "--to",
             url + "#x")
    ok(r3.returncode != 0 and "usage" not in r3.stdout,
       "an address with a fragment (the hash sign) is refused", r3.stderr)

    # ---- a box on PostgreSQL, with the old device key ----
    two = appliance("store = %s\n" % url)
    os.makedirs(os.path.join(two.dir, "state"), exist_ok=True)
    shutil.copy(os.path.join(state, "device.key"),
                os.path.join(two.dir, "state", "device.key"))
    r = ctl(two, "store", "migrate")
    ok(r.returncode == 0 and "admin      postgresql, schema version 5"
       in r.stdout and "imrelay    postgresql, schema version 2"
       in r.stdout, "store migrate names each engine and version",
       r.stdout + r.stderr)
    ok(two.ctl("device", "show", MAC).stdout == shown,
       "the phone's credentials and keys are the same on PostgreSQL")
    for d in ("registrar", "presence", "imrelay", "blf"):
        two.start(d)
    st = subprocess.run([two.ctl_path, "-c", two.conf, "status"],
                        capture_output=True, timeout=30).stdout
    ok(b"alice" in st and b"bob" in st, "the registrations are there",
       st.decode("utf-8", "replace"))
    ok(b"T\xe9l\xe9phone" in st, "gus's Latin-1 User-Agent, byte for "
       "byte, out of PostgreSQL", st.decode("utf-8", "replace"))
    gus, carol = phone(two, "gus"), phone(two, "carol")
    r, _ = gus.subscribe("bob")
    n = gus.wait_notify()
    ok(n is not None and "Moving house" in n.text(),
       "a new watcher sees bob's publication from the old box",
       n and n.text())
    ok(carol.register(expires=600).code == 200, "carol registers")
    got = carol.wait_messages(2, timeout=8)
    time.sleep(1.0)
    ok([m.body for m in carol.messages] == [b"one", b"two"],
       "carol gets both kept messages, each once, in order",
       [m.body for m in carol.messages])

    # ---- and back to SQLite ----
    for d in ("registrar", "presence", "imrelay", "blf"):
        two.stop(d)
    back = tempfile.mkdtemp(prefix="lp-back-")
    r = ctl(two, "store", "copy", "--from", url, "--to", "sqlite:" + back)
    now = {t: count(t) for t in want}
    ok(r.returncode == 0 and all(("%s: %d row(s)" % (t, n)) in r.stdout
                                 for t, n in now.items()),
       "a copy back to fresh SQLite files counts the same rows as "
       "PostgreSQL holds now", r.stdout + r.stderr)
    conf = os.path.join(back, "back.conf")
    with open(conf, "w") as f:
        f.write("domain = %s\nstate_dir = %s\nruntime_dir = %s/run\n"
                % (D, back, back))
    st = subprocess.run([two.ctl_path, "-c", conf, "status"],
                        capture_output=True, timeout=30).stdout
    ok(b"T\xe9l\xe9phone" in st and b"alice" in st,
       "and the SQLite copy has gus's User-Agent byte for byte",
       st.decode("utf-8", "replace"))
    shutil.rmtree(back, ignore_errors=True)
finally:
    for p in phones:
        p.close()
    for a in apps:
        a.close(tap)
    pg.close()

sys.exit(tap.done())
