"""test_imrelay: the IM relay behind the real edge, driven by test phones
(RFC 3428 pager mode):

  alice -- MESSAGE bob -> edge -> imrelay -> edge -> each of bob's devices
        <- 200 once a device took it; bob sees alice as From, and the
           Date, Content-Type and body byte for byte
  carol is offline: alice's MESSAGEs get 202, are kept, and reach carol
        in order, with their Date, when she registers

and: 404 for an unknown user, 413 over im_max_size, 513 for a message too
big for a UDP-only device while a TCP device gets 30 KB whole, an
isComposing to an offline user is answered 480 and not kept, a message
to self reaches the user's other device only, a retransmitted MESSAGE is
answered again and delivered once, devices that refuse for now make it
kept and tried again, a device's refusal reaches the sender, the relay
killed with messages kept, and killed again with deliveries in flight,
then the edge killed while a device holds its answer: every message
arrives exactly once; a message behind more than the user's devices
take in a third of im_deliver_wait (at least 64) is refused at once; a
copy lost on the way goes again as soon as an overload of the relay
ends, not at Timer E's next; the per-user cap (486) and expiry.
"""

import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
from presphone import Phone  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
iport = lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "route_timeout = 2500\n"
                       "im_deliver_wait = 1500\n"
                       "im_max_size = 40000\n"
                       "bus_heartbeat = 1\n"
                       "probe_interval = 0\n" % iport)
phones = []


def phone(user, proto="udp"):
    p = Phone(app, user, proto=proto)
    phones.append(p)
    return p


def bodies(msgs):
    return [m.body for m in msgs]


def keep_for(user, msgs):
    """alice writes `msgs` to `user`, who is offline: each is kept"""
    r = None
    for b in msgs:
        r = alice.message(user, b)
    ok(r is not None and r.code == 202,
       "%s offline: %d kept" % (user, len(msgs)), r and r.first)


try:
    for u in ("alice", "bob", "carol", "dave", "erin", "frank", "gina",
              "hank", "ivan", "jo"):
        app.add_user(u, u + "-pw")
    app.start("registrar")
    app.start("imrelay")

    alice = phone("alice")
    bob = phone("bob")
    bob2 = phone("bob", proto="tcp")
    for p in (alice, bob, bob2):
        ok(p.register(expires=600).code == 200,
           "%s registers (%s)" % (p.user, p.ua.proto))
    time.sleep(0.5)    # the relay hears of it on the bus

    # --- online, to both devices ---
    date = "Tue, 01 Dec 2026 10:00:00 GMT"
    text = "Hello Bob, lunch at 12? \xe2\x82\xac".encode("latin-1")
    r = alice.message("bob", text, ctype="text/plain;charset=UTF-8",
                      extra=["Date: " + date])
    ok(r is not None and r.code == 200, "online MESSAGE: 200",
       r and r.first)
    got = bob.wait_messages(1)
    got2 = bob2.wait_messages(1)
    ok(len(got) == 1 and len(got2) == 1,
       "each of bob's two devices (UDP and TCP) gets it once",
       (len(got), len(got2)))
    m = got[0] if got else None
    ok(m is not None and m.body == text,
       "the body arrives byte for byte")
    ok(m is not None and m.get("content-type") ==
       "text/plain;charset=UTF-8" and m.get("date") == date,
       "Content-Type and Date unchanged", m and m.raw[:600])
    ok(m is not None and "<sip:alice@lamplight.test>" in m.get("from"),
       "bob sees alice as From", m and m.get("from"))
    ok(m is not None and m.first.startswith("MESSAGE sip:bob@127.0.0.1"),
       "to the device's own contact", m and m.first)

    # --- other content types pass unchanged ---
    cpim = (b"From: <im:alice@lamplight.test>\r\nTo: <im:bob@lamplight.test>"
            b"\r\nDateTime: 2026-12-01T10:00:00Z\r\n\r\nContent-Type: "
            b"text/html\r\n\r\n<b>hi</b>")
    r = alice.message("bob", cpim, ctype="message/cpim")
    got = bob.wait_messages(2)
    ok(r is not None and r.code == 200 and len(got) == 2 and
       got[1].body == cpim and got[1].get("content-type") == "message/cpim",
       "message/cpim passes through", r and r.first)
    comp = (b'<?xml version="1.0" encoding="UTF-8"?>\n<isComposing '
            b'xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active'
            b'</state><contenttype>text/plain</contenttype></isComposing>')
    r = alice.message("bob", comp,
                      ctype="application/im-iscomposing+xml")
    got = bob.wait_messages(3)
    ok(r is not None and r.code == 200 and len(got) == 3 and
       got[2].body == comp, "isComposing to an online user: delivered",
       r and r.first)

    # --- refusals ---
    r = alice.message("nobody", b"hi")
    ok(r is not None and r.code == 404, "unknown user: 404", r and r.first)
    big = alice.message("bob", b"x" * 40001, timeout=6)
    # over UDP a 40 KB request is one datagram on loopback: whole
    ok(big is not None and big.code == 413,
       "over im_max_size: 413 with a reason", big and big.first)
    ok(big is not None and "40000" in big.reason,
       "the reason names the cap", big and big.first)

    # a big one: the TCP device gets it whole, the UDP one cannot
    alice_tcp = phone("alice", proto="tcp")
    ok(alice_tcp.register(expires=600).code == 200, "alice on TCP too")
    time.sleep(0.3)
    n1, n2 = len(bob.messages), len(bob2.messages)
    payload = bytes((i * 7) % 26 + 97 for i in range(30000))
    r = alice_tcp.message("bob", payload)
    got2 = bob2.wait_messages(n2 + 1)
    ok(r is not None and r.code == 200, "30 KB MESSAGE over TCP: 200",
       r and r.first)
    ok(len(got2) == n2 + 1 and got2[-1].body == payload,
       "the TCP device gets 30 KB whole (edge and relay read whole "
       "datagrams)", len(got2[-1].body) if got2 else None)
    time.sleep(0.3)
    ok(len(bob.messages) == n1,
       "the UDP device is not sent what does not fit a datagram")

    dave = phone("dave")
    ok(dave.register(expires=600).code == 200, "dave registers (UDP)")
    time.sleep(0.3)
    r = alice_tcp.message("dave", payload)
    ok(r is not None and r.code == 513,
       "too big for a UDP-only device: 513", r and r.first)
    ok(not dave.messages, "nothing cut short reaches dave")

    # --- retransmission ---
    n = len(dave.messages)
    r = alice.message("dave", b"once")
    r2 = alice.resend()
    time.sleep(0.3)
    ok(r is not None and r.code == 200 and r2 is not None and
       r2.code == 200 and r.get("to") == r2.get("to"),
       "a retransmitted MESSAGE gets the same answer again",
       (r and r.first, r2 and r2.first))
    ok(len(dave.messages) == n + 1, "and is delivered once",
       len(dave.messages) - n)

    # --- to self ---
    na, nt = len(alice.messages), len(alice_tcp.messages)
    r = alice.message("alice", b"note to self")
    got = alice_tcp.wait_messages(nt + 1)
    time.sleep(0.3)
    ok(r is not None and r.code == 200 and len(got) == nt + 1 and
       got[-1].body == b"note to self",
       "to self: the user's other device gets it", r and r.first)
    ok(len(alice.messages) == na, "the sending device does not")

    # --- a refusal of the recipient reaches the sender ---
    dave.message_code = 415
    r = alice.message("dave", b"<unwanted/>", ctype="application/x-weird")
    ok(r is not None and r.code == 415, "every device refuses: the "
       "sender hears it (415), nothing kept", r and r.first)
    dave.message_code = 200

    # --- offline: kept, then delivered in order with the Date ---
    r = alice.message("carol", comp,
                      ctype="application/im-iscomposing+xml")
    ok(r is not None and r.code == 480,
       "isComposing to an offline user: 480", r and r.first)
    sent = []
    codes = []
    for i in range(3):
        body = ("offline %d" % i).encode()
        extra = ["Date: Tue, 01 Dec 2026 09:0%d:00 GMT" % i] if i < 2 else []
        r = alice.message("carol", body, extra=extra)
        codes.append(r.code if r else None)
        sent.append(body)
    ok(codes == [202, 202, 202], "offline: 202 Accepted, kept", codes)
    ok("kept for 'carol' (3 kept)" in app.wait_log(
        ["kept for 'carol' (3 kept)"], "imrelay"), "three kept")

    carol = phone("carol")
    ok(carol.register(expires=600).code == 200, "carol registers")
    got = carol.wait_messages(3)
    ok(bodies(got) == sent, "carol gets the three, in order, no "
       "isComposing", bodies(got))
    ok(len(got) == 3 and got[0].get("date") ==
       "Tue, 01 Dec 2026 09:00:00 GMT" and got[1].get("date") ==
       "Tue, 01 Dec 2026 09:01:00 GMT",
       "with their original Date", [g.get("date") for g in got])
    ok(len(got) == 3 and (got[2].get("date") or "").endswith(" GMT"),
       "one sent without a Date has the time it was kept",
       got[2].get("date") if len(got) == 3 else None)
    ok(len(got) == 3 and "<sip:alice@lamplight.test>" in got[0].get("from"),
       "from alice")
    time.sleep(1.0)
    ok(len(carol.messages) == 3, "and each once", len(carol.messages))

    # --- devices that do not take it now: kept, tried again ---
    carol.message_code = 480
    r = alice.message("carol", b"try again")
    ok(r is not None and r.code == 202,
       "every device answers 480: kept (202)", r and r.first)
    carol.message_code = 200
    got = carol.wait_messages(5, timeout=6)
    ok(len(got) >= 5 and got[-1].body == b"try again",
       "tried again after the back-off: delivered",
       bodies(got))

    # --- the relay killed with messages kept ---
    carol.close()
    phones.remove(carol)
    erin_msgs = [("kept %d" % i).encode() for i in range(4)]
    # erin has never registered: kept
    for b in erin_msgs[:2]:
        alice.message("erin", b)
    app.stop("imrelay", signal.SIGKILL)
    app.start("imrelay")
    for b in erin_msgs[2:]:
        r = alice.message("erin", b)
    ok(r is not None and r.code == 202, "after a restart: still 202",
       r and r.first)
    # and killed again while erin's device holds its answers
    erin = phone("erin")
    erin.message_delay = 1.2
    ok(erin.register(expires=600).code == 200, "erin registers")
    first = erin.wait_messages(1, timeout=3)
    ok(len(first) >= 1, "the kept messages are on their way (up to 16 at "
       "once, in order)", bodies(first))
    app.stop("imrelay", signal.SIGKILL)
    time.sleep(0.2)
    app.start("imrelay")
    erin.message_delay = 0
    got = erin.wait_messages(4, timeout=10)
    time.sleep(1.5)
    ok(bodies(erin.messages) == erin_msgs,
       "after two kills, one in the middle of a delivery: every message "
       "once, in order", bodies(erin.messages))
    ok("delivered to 'erin'" in app.wait_log(["message 1"], "imrelay"),
       "the relay logs the deliveries")

    # --- the edge killed while a copy waits for the device's answer
    frank_msgs = [("for frank %d" % i).encode() for i in range(2)]
    keep_for("frank", frank_msgs)
    frank = phone("frank")
    frank.message_delay = 1.2
    ok(frank.register(expires=600).code == 200, "frank registers")
    first = frank.wait_messages(1, timeout=3)
    ok(len(first) >= 1, "the kept copies reached frank's phone",
       bodies(first))
    app.stop("registrar", signal.SIGKILL)
    time.sleep(0.3)
    app.start("registrar")
    frank.message_delay = 0
    frank.wait_messages(2, timeout=12)
    time.sleep(1.5)
    ok(bodies(frank.messages) == frank_msgs,
       "the edge killed in the middle of a delivery: every message once "
       "(the device absorbs the same copy again)", bodies(frank.messages))

    # --- a new message behind kept ones: it waits its turn in memory and
    # its sender hears 200, not 202; nothing more is written ---
    gina_kept = [("for gina %d" % i).encode() for i in range(3)]
    keep_for("gina", gina_kept)
    gina = phone("gina")
    gina.message_delay = 0.5
    ok(gina.register(expires=600).code == 200, "gina registers")
    r = alice.message("gina", b"live")
    ok(r is not None and r.code == 200,
       "a message sent while the kept ones go: 200 once delivered in its "
       "turn (not 202)", r and r.first)
    gina.wait_messages(4, timeout=5)
    time.sleep(0.5)
    ok(bodies(gina.messages) == gina_kept + [b"live"],
       "gina's device got the kept messages first, then the new one, "
       "each once", bodies(gina.messages))
    log = app.log("imrelay")
    ok(log.count("kept for 'gina'") == 3,
       "only the three sent while gina was offline were written to the "
       "store", log.count("kept for 'gina'"))

    # --- behind while nothing fails: a message whose turn is far off is
    # refused (503 with Retry-After) instead of kept; those already
    # waiting go in their turn ---
    for i in range(16):
        alice.message("hank", ("for hank %d" % i).encode())
    hank = phone("hank")
    # im_deliver_wait is 1500 ms here: a wait over 500 ms is "behind"
    hank.message_delay = 1.1       # 16 copies in flight fill the window
    ok(hank.register(expires=600).code == 200, "hank registers")
    hank.wait_messages(16, timeout=3)
    first = []                     # alice's next, behind the 16
    t = threading.Thread(target=lambda: first.append(
        alice.message("hank", b"waits its turn")))
    t.start()
    time.sleep(0.8)
    r = bob.message("hank", b"too late")
    hank.message_delay = 0         # the kept ones' answers come at 1.1 s
    t.join(8)
    ok(r is not None and r.code == 503 and r.get("retry-after"),
       "hank's queue has waited over im_deliver_wait / 3: the next message "
       "gets 503 with Retry-After", r and r.first)
    ok(first and first[0] is not None and first[0].code == 200,
       "the one waiting its turn is delivered when a copy ends (200)",
       first and first[0] and first[0].first)
    ok("behind: 1 MESSAGEs" in app.wait_log(["behind: "], "imrelay"),
       "the relay logs that it is behind")
    hank.wait_messages(17, timeout=4)
    ok(b"too late" not in bodies(hank.messages) and
       bodies(hank.messages)[-1] == b"waits its turn",
       "the refused one was not delivered, the other came last",
       bodies(hank.messages)[-3:])

    # --- behind by count: more wait before a new message than the
    # user's devices took lately (at least IM_AHEAD_MIN, 64): 503 at
    # once, not after a third of im_deliver_wait ---
    ivan_kept = [("for ivan %02d" % i).encode() for i in range(70)]
    keep_for("ivan", ivan_kept)
    ivan = phone("ivan")
    # 16 at a time, each answered after 1 s: none goes in the first
    # second, and the 70 take about 5 s
    ivan.message_delay = 1.0
    ok(ivan.register(expires=600).code == 200, "ivan registers")
    ivan.wait_messages(1, timeout=3)
    t0 = time.monotonic()
    r = bob.message("ivan", b"behind 70")
    took = time.monotonic() - t0
    # without the count, it would wait first in line (the age rule
    # needs one waiting before it) and be kept: 202 after 1.5 s
    ok(r is not None and r.code == 503 and r.get("retry-after"),
       "a message behind 70 kept ones, none of them gone yet: 503 with "
       "Retry-After at once (%.2f s), not kept after waiting" % took,
       r and r.first)
    ivan.wait_messages(70, timeout=12)
    ivan.message_delay = 0
    r = bob.message("ivan", b"after")
    ok(r is not None and r.code == 200,
       "once they went: the next one is delivered (200)", r and r.first)
    time.sleep(0.3)
    ok(bodies(ivan.messages) == ivan_kept + [b"after"],
       "ivan got the 70 in order, then the next, and not the refused one",
       bodies(ivan.messages)[-3:])

    # --- an overload ends: copies in flight go again at once. jo's
    # device loses the copy and Timer E's retransmissions at 0.5, 1.5
    # and 3.5 s (the next would be at 7.5 s); then the relay is stopped
    # for 0.3 s while a datagram waits for it (a datagram late by over
    # 100 ms: overloaded), and 600 ms after it caught up the copy goes
    # again ---
    jo = phone("jo")
    jo.message_drop = 4
    ok(jo.register(expires=600).code == 200, "jo registers")
    r = alice.message("jo", b"through the overload")
    ok(r is not None and r.code == 202,
       "jo's device answers nothing: kept after im_deliver_wait",
       r and r.first)
    end = time.monotonic() + 8
    while len(jo.message_arrivals) < 4 and time.monotonic() < end:
        time.sleep(0.02)
    ok(len(jo.message_arrivals) == 4 and not jo.messages,
       "the copy and three retransmissions were lost",
       len(jo.message_arrivals))
    relay = app.procs["imrelay"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.send_signal(signal.SIGSTOP)
    s.sendto(b"\r\n\r\n", ("127.0.0.1", iport))   # a keep-alive, late
    time.sleep(0.3)
    relay.send_signal(signal.SIGCONT)
    s.close()
    t1 = time.monotonic()
    got = jo.wait_messages(1, timeout=5)
    took = jo.message_arrivals[-1] - t1 if got else None
    ok(got and bodies(got) == [b"through the overload"] and took < 2.5,
       "the copy came again %s s after the relay caught up (Timer E's "
       "next: 3.5 s later)" % (took and "%.2f" % took), took)
    ok(re.search(r"overload over: [1-9][0-9]* copies in flight sent "
                 "again now", app.wait_log(["overload over"], "imrelay")),
       "the relay logs the copies it sent again (jo's among them)")

    ok(app.alive("imrelay") and app.alive("registrar"), "daemons alive")
finally:
    for p in phones:
        p.close()
    app.close(tap)

# --- caps: per-user store limit, expiry ---
iport2 = lptest.free_port()
app = lptest.Appliance(lptest.build_dir(),
                       "route_imrelay = udp:127.0.0.1:%d\n"
                       "im_store_max = 2\n"
                       "im_store_expiry = 2\n"
                       "probe_interval = 0\n" % iport2)
phones = []
try:
    for u in ("alice", "bob"):
        app.add_user(u, u + "-pw")
    app.start("registrar")
    app.start("imrelay")
    alice = phone("alice")
    ok(alice.register(expires=600).code == 200, "alice registers")
    codes = [getattr(alice.message("bob", b"m%d" % i), "code", None)
             for i in range(3)]
    ok(codes == [202, 202, 486], "over im_store_max: 486", codes)
    log = app.wait_log(["expired undelivered"], "imrelay", timeout=5)
    ok(log.count("expired undelivered") == 2,
       "kept messages expire after im_store_expiry", log[-800:])
    bob = phone("bob")
    ok(bob.register(expires=600).code == 200, "bob registers")
    time.sleep(1.0)
    ok(not bob.messages, "nothing expired is delivered")
    r = alice.message("bob", b"fresh")
    ok(r is not None and r.code == 200, "and the store has room again",
       r and r.first)
finally:
    for p in phones:
        p.close()
    app.close(tap)

sys.exit(tap.done())
