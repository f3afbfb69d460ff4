"""blf: the busy-lamp part of the benchmark. An office of PHONES desk
phones, each watching WATCH colleagues (Event: dialog, from one UDP
client); every user's desk phone registered (one UDP socket answering
for all of them: 180 at once, 200 after RING_MS, 200 to BYE); calls at a
steady rate from calls.py (INVITE with MD5 digest, ACK, BYE), each to
the next user in turn. For each call: the time from the callee's 180
leaving its socket to the arrival (kernel timestamp) of the last
watcher's NOTIFY that shows the call early; and NOTIFYs a second over
the run."""

import re
import select
import threading
import time

import calls
import latency
import presence

DIALOG = re.compile(rb"<dialog [^>]*call-id=\"([^\"]+)\"[^>]*>\s*"
                    rb"<state>(\w+)</state>")
TO = re.compile(rb"(?im)^(?:to|t)[ \t]*:[ \t]*([^\r\n]+)")
CALLID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")


class Desks(threading.Thread):
    """Every user's desk phone, on one socket: rings (180) at once,
    answers after ring_ms, answers BYE."""

    def __init__(self, ring_ms, port):
        super().__init__(daemon=True)
        self.s, self.local = latency.udp_socket(port)
        self.ring_ms = ring_ms
        self.t180 = {}          # Call-ID -> ns when the 180 left
        self.later = []         # (due, data, addr)
        self.stop = False

    def answer(self, req, code, addr, tag):
        head = req.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [ln for ln in head[1:] if ln[:4].lower() in
                (b"via:", b"from", b"call", b"cseq", b"reco")]
        to = TO.search(req).group(1)
        if b";tag=" not in to:
            to += b";tag=" + tag
        msg = (b"SIP/2.0 %d X\r\n" % code + b"\r\n".join(keep) +
               b"\r\nTo: " + to + b"\r\nContact: <sip:desk@%s:%d>\r\n"
               % (self.local[0].encode(), self.local[1]) +
               b"Content-Length: 0\r\n\r\n")
        return msg

    def run(self):
        while not self.stop:
            now = time.time()
            while self.later and self.later[0][0] <= now:
                _, data, addr = self.later.pop(0)
                self.s.sendto(data, addr)
            r, _, _ = select.select([self.s], [], [], 0.005)
            if not r:
                continue
            while True:
                try:
                    data, addr = self.s.recvfrom(65535)
                except BlockingIOError:
                    break
                if data.startswith(b"INVITE "):
                    cid = CALLID.search(data).group(1)
                    tag = cid[:8]
                    ring = self.answer(data, 180, addr, tag)
                    self.t180.setdefault(cid, time.time_ns())
                    self.s.sendto(ring, addr)
                    self.later.append((now + self.ring_ms / 1000.0,
                                       self.answer(data, 200, addr, tag),
                                       addr))
                elif data.startswith(b"BYE "):
                    self.s.sendto(self.answer(data, 200, addr, b"x"), addr)


def run(port, domain, users, phones, watch, rate, seconds, ring_ms=300):
    """{p50, p99 (ms), missed, notifies_s, subs}; users: [(user, pw)]."""
    office = users[:phones]
    s, (_, dport) = latency.udp_socket()
    s.close()
    for u, pw in office:       # from the port the desks will answer on
        if not calls.register(port, domain, u, pw, dport):
            raise RuntimeError("%s did not register" % u)
    desks = Desks(ring_ms, dport)
    desks.start()
    c = presence.Client(port, domain)
    pairs = [(office[w][0], office[w][1],
              office[(w + 1 + k) % phones][0])
             for w in range(phones) for k in range(watch)]
    subs = presence.subscribe(c, pairs, event="dialog",
                              accept="application/dialog-info+xml")
    c.drain(2)
    early = {}          # call's Call-ID -> {subscription: first early}
    count = [0]

    def on_notify(head, body, ts):
        count[0] += 1
        sub = presence.header(head, "Call-ID")
        for cid, st in DIALOG.findall(body):
            if st == b"early":
                first = early.setdefault(cid, {})
                first.setdefault(sub, ts)

    c.on_notify = on_notify
    stop = [False]

    def watch_loop():
        while not stop[0]:
            c.poll(0.01)

    w = threading.Thread(target=watch_loop, daemon=True)
    w.start()
    t0 = time.time()
    callees = [u for u, _ in office]
    _, lost = calls.run(port, domain, users[phones:] or users, callees,
                        rate, seconds)
    time.sleep(2)
    took = time.time() - t0
    stop[0] = True
    w.join(2)
    desks.stop = True
    desks.join(2)
    lat, missed = [], 0
    for cid, t in desks.t180.items():
        got = early.get(cid, {})
        if len(got) < watch:
            missed += 1
            continue
        lat.append((max(got.values()) - t) / 1e6)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] \
            if lat else float("nan")
    return {"p50": pct(50), "p99": pct(99), "missed": missed,
            "calls": len(desks.t180), "lost": lost,
            "notifies_s": count[0] / took, "subs": subs}


if __name__ == "__main__":
    import sys
    print(run(int(sys.argv[1]), sys.argv[2], [("u%05d" % i, "pw%05d" % i)
                                               for i in range(400)],
              200, 20, 20, 10))
