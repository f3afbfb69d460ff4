"""test_baresip_presence: real soft clients, baresip 1.0.0 (Debian) with
its presence and contact modules, through Lamplight: alice's client
subscribes to bob (a contact marked presence=p2p) and shows him go online
when his client registers and publishes, and offline when it quits;
bob's client's own PUBLISH (pubint) is accepted, and removed when it
quits.

baresip 1.0.0 publishes 100 ms after it starts; when its registration
has not completed by then (a slow machine, the ASan build), its status
is still unknown and that first PUBLISH carries a basic that is neither
open nor closed, which RFC 3863 does not allow: it gets 400 "basic Is
Not open Or closed" (seen with the edge stopped for 0.6 s at bob's
start), and baresip publishes again, open, once registered. That
refusal is the only one allowed here.

  alice(baresip) -- SUBSCRIBE bob --> edge -> presence   (407, 200, NOTIFY)
  bob(baresip)   -- REGISTER, PUBLISH -->                 alice <- NOTIFY open
  bob quits      -- REGISTER 0, PUBLISH Expires 0 -->     alice <- NOTIFY closed
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
app = lptest.Appliance(lptest.build_dir(),
                       "route_presence = udp:127.0.0.1:%d\n"
                       "bus_heartbeat = 1\n" % lptest.free_port())


def baresip(user, seconds, contacts=""):
    d = lptest.baresip_home(
        app, user, '<sip:%s@%s;transport=udp>;auth_pass=%s-pw;'
        'outbound="sip:127.0.0.1:%d;transport=udp";regint=600;'
        'pubint=600' % (user, app.domain, user, app.port),
        apps=("contact", "presence"))
    with open(os.path.join(d, "contacts"), "w") as f:
        f.write(contacts)
    return subprocess.Popen(["baresip", "-f", d, "-t", str(seconds)],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


try:
    app.add_user("alice", "alice-pw")
    app.add_user("bob", "bob-pw")
    app.start()
    app.start("presence")

    alice = baresip("alice", 14, '"Bob" <sip:bob@%s>;presence=p2p\n' %
                    app.domain)
    time.sleep(3)
    bob = baresip("bob", 5)
    time.sleep(2.5)
    w = app.ctl("watch", "pres", "--count", "20", "--timeout", "1",
                check=False).stdout
    bout = bob.communicate(timeout=30)[0]
    aout = alice.communicate(timeout=40)[0]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", aout)
    online = plain.find("<sip:bob@%s> changed status from Offline to "
                        "Online" % app.domain)
    offline = plain.find("<sip:bob@%s> changed status from Online to "
                         "Offline" % app.domain)
    tap.ok("200 OK" in bout, "bob's baresip registers", bout[-800:])
    tap.ok(online >= 0, "alice's baresip shows bob go online when his "
           "client registers and publishes", plain[-1500:])
    tap.ok(offline > online >= 0, "and offline when it quits",
           plain[-1500:])
    tap.ok('"publications":1' in w and '"key":"bob"' in w,
           "bob's client's PUBLISH was taken (the pres topic counts it)",
           w[-1500:])
    log = app.log("presence")
    refused = re.findall(r"PUBLISH from 'bob': ([45]\d\d .*?) \[", log)
    tap.ok("publication of 'bob' removed" in log and
           all(r == "400 Bad Request: basic Is Not open Or closed"
               for r in refused),
           "bob's client removes its publication when it quits; no "
           "PUBLISH of baresip was refused but one sent before it "
           "registered (its status unknown)", log[-1500:])
finally:
    app.close(tap)

sys.exit(tap.done())
