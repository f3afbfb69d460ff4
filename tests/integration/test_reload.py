"""test_reload: `systemctl reload` (SIGHUP) reads the configuration again
without dropping anything: a changed reg_expires_max applies to the next
REGISTER, a changed subscribe_expires_max to the next SUBSCRIBE, the
binding and the subscription made before are still there; a key that
takes a restart (bus_heartbeat) is named in a warning and keeps its
running value; a changed presence_default_policy decides existing
subscriptions again; a bad file changes nothing and the daemons go on."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
pport = lptest.free_port()
base = ("route_presence = udp:127.0.0.1:%d\nprobe_interval = 0\n"
        "bus_heartbeat = 1\nreg_expires_default = 300\n"
        "subscribe_expires_default = 300\n" % pport)
app = lptest.Appliance(lptest.build_dir(), base +
                       "reg_expires_max = 600\n"
                       "subscribe_expires_max = 600\n")
with open(app.conf) as f:
    original = f.read()


def write_conf(text):
    with open(app.conf, "w") as f:
        f.write(text)


def granted(r):
    m = re.search(r"expires=(\d+)", r.get("contact") or "") if r else None
    return int(m.group(1)) if m else None


def hup_all():
    for name in ("registrar", "presence"):
        app.procs[name].send_signal(signal.SIGHUP)


phones = []
try:
    app.add_user("alice", "alice-pw")
    app.add_user("bob", "bob-pw")
    app.start()
    app.start("presence")
    ua = sc.UA("127.0.0.1", app.port, app.domain, "alice", "alice-pw")
    r = ua.register(expires=3600)
    ok(r and r.code == 200 and granted(r) == 600,
       "reg_expires_max 600: a REGISTER for 3600 s gets 600", r)
    bob = Phone(app, "bob")
    phones.append(bob)
    bob.register()
    r1, d1 = bob.subscribe("alice", expires=3600)
    ok(r1 and r1.code == 200 and r1.get("expires") == "600",
       "subscribe_expires_max 600: a SUBSCRIBE for 3600 s gets 600", r1)

    write_conf(original.replace("reg_expires_max = 600",
                                "reg_expires_max = 900")
               .replace("subscribe_expires_max = 600",
                        "subscribe_expires_max = 900")
               .replace("bus_heartbeat = 1", "bus_heartbeat = 2"))
    hup_all()
    log = app.wait_log(["reload: 2 setting(s) changed"])
    ok("reload: 2 setting(s) changed" in log and
       "bus_heartbeat changed, which takes a restart" in log,
       "SIGHUP: the registrar reads the file again, and names the key "
       "that takes a restart", log[-600:])
    plog = app.wait_log(["reload: 2 setting(s) changed"], "presence")
    ok("reload: 2 setting(s) changed" in plog, "the presence daemon too",
       plog[-400:])
    r = ua.register(expires=3600)
    ok(r and r.code == 200 and granted(r) == 900,
       "after the reload a REGISTER for 3600 s gets 900", r)
    st = app.ctl("status").stdout
    ok("alice" in st, "the binding made before is still there", st)
    r2, d2 = bob.subscribe("alice", expires=3600)
    ok(r2 and r2.code == 200 and r2.get("expires") == "900",
       "and a new SUBSCRIBE gets 900", r2)
    r3 = bob.refresh(d1, expires=3600)
    ok(r3 and r3.code == 200,
       "the subscription made before the reload is still there "
       "(its refresh is answered 200)", r3)

    # the default policy: existing subscriptions are decided again
    conf2 = original.replace("reg_expires_max = 600",
                             "reg_expires_max = 900").replace(
        "subscribe_expires_max = 600", "subscribe_expires_max = 900")
    write_conf(conf2 + "presence_default_policy = block\n")
    app.procs["presence"].send_signal(signal.SIGHUP)
    n = bob.wait_notify(lambda m: "terminated" in
                        (m.get("subscription-state") or ""), timeout=5)
    ok(n is not None and "rejected" in n.get("subscription-state"),
       "presence_default_policy changed to block by a reload: bob's "
       "subscription ends (terminated;reason=rejected)",
       n and n.get("subscription-state"))
    write_conf(conf2)
    app.procs["presence"].send_signal(signal.SIGHUP)

    write_conf(original + "no_such_key = 1\n")
    hup_all()
    log = app.wait_log(["the running configuration stays"])
    ok("unknown key 'no_such_key'" in log and
       "the running configuration stays" in log,
       "a bad file: a warning, nothing changes", log[-400:])
    r = ua.register(expires=3600)
    ok(r and r.code == 200 and granted(r) == 900 and app.alive() and
       app.alive("presence"), "the daemons go on with what they had", r)
    ua.close()
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
