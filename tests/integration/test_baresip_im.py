"""test_baresip_im: two real soft clients, baresip 1.0.0 from Debian,
exchange instant messages through Lamplight (the edge and the IM
relay). Bob (TCP) starts first and writes to alice, who is not yet
registered: the relay keeps it (202). Alice (UDP) starts, registers and
gets it; she writes back to bob, who is online: 200 at once. Each client
prints what it received (baresip's stdio UI).
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
app = lptest.Appliance(lptest.build_dir(),
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "probe_interval = 0\n" % lptest.free_port())


def baresip(user, peer, text, transport):
    """A baresip client whose current contact is `peer`, sending it
    `text` at start (/message, from the contact module)."""
    d = lptest.baresip_home(
        app, user, '<sip:%s@%s;transport=%s>;auth_pass=%s-pw;'
        'outbound="sip:127.0.0.1:%d;transport=%s";regint=600' % (
            user, app.domain, transport, user, app.port, transport),
        apps=("contact",))
    with open(os.path.join(d, "contacts"), "w") as f:
        f.write('"%s" <sip:%s@%s>\n' % (peer, peer, app.domain))
    with open(os.path.join(d, "config"), "a") as f:
        f.write("module stdio.so\n")    # prints what arrives
    # stdio polls its stdin: a pipe, which epoll takes (/dev/null not)
    # -t bounds it; the test ends it (SIGTERM) once the relay has seen
    # both messages through, so a slow machine only makes it wait longer
    return subprocess.Popen(["baresip", "-f", d, "-t", "90", "-e",
                             "/message " + text], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


try:
    app.add_user("alice", "alice-pw")
    app.add_user("bob", "bob-pw")
    app.start()
    app.start("imrelay")
    time.sleep(0.5)        # the relay has the registrations' snapshot

    bob = baresip("bob", "alice", "hi alice, bob here", "tcp")
    log = app.wait_log(["to 'alice': 202"], "imrelay", timeout=5)
    tap.ok("MESSAGE from 'bob' to 'alice': 202 Accepted" in log,
           "bob writes to alice, not registered: kept (202)", log[-800:])
    alice = baresip("alice", "bob", "hello bob from alice", "udp")
    log = app.wait_log(["MESSAGE from 'alice' to 'bob': 200",
                        "delivered to 'alice'"], "imrelay", timeout=45)
    time.sleep(0.3)     # each client prints before it answers; margin
    for p in (alice, bob):
        p.terminate()   # baresip ends cleanly on SIGTERM, flushing stdout
    ao = alice.communicate(timeout=30)[0]
    bo = bob.communicate(timeout=30)[0]
    tap.ok('sip:bob@%s: "hi alice, bob here"' % app.domain in ao,
           "alice registers and her baresip shows bob's kept message",
           ao[-1200:])
    tap.ok('sip:alice@%s: "hello bob from alice"' % app.domain in bo,
           "bob's baresip shows alice's message", bo[-1200:])
    tap.ok("MESSAGE from 'alice' to 'bob': 200 OK" in log and
           "delivered to 'alice'" in log,
           "alice's went at once (200); bob's left the store once "
           "delivered", log[-1200:])
    tap.ok(app.alive() and app.alive("imrelay"), "edge and relay alive")
finally:
    app.close(tap)

sys.exit(tap.done())
