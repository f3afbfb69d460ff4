"""presence: the presence part of the benchmark, one UDP client for
everything SIPp cannot measure well:

- subscribe(): many SUBSCRIBEs in flight at once (a window), each
  challenged (407) and sent again with an MD5 digest; every NOTIFY that
  arrives is answered 200 at once;
- fanout(): one user's PUBLISH (modify, SIP-If-Match) while N watchers are
  subscribed to it: the time from sending the authenticated PUBLISH to the
  arrival of the last watcher's NOTIFY carrying the new note, as the
  kernel stamped it (SO_TIMESTAMPNS), so the client's own speed in reading
  does not count; repeated for a number of rounds.

The watchers all share this client's socket (their Contact); a server
sees one subscriber address with many dialogs, as behind an office NAT.
"""

import hashlib
import os
import select
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def challenge(head):
    """realm and nonce of a Proxy-Authenticate header."""
    out = {}
    for key in ("realm", "nonce"):
        i = head.find(key + '="')
        if i >= 0:
            j = head.find('"', i + len(key) + 2)
            out[key] = head[i + len(key) + 2:j]
    return out


def header(head, name):
    low = head.lower()
    i = low.find("\r\n" + name.lower() + ":")
    if i < 0:
        return None
    j = head.find("\r\n", i + 2)
    return head[i + len(name) + 3:j].strip()


PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
        'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
        'entity="sip:%s@%s"><tuple id="t1"><status><basic>open</basic>'
        '</status><note>%s</note></tuple><dm:person id="p1">'
        '<rpid:activities><rpid:busy/></rpid:activities>'
        '<dm:note>%s</dm:note></dm:person></presence>')


class Tx:
    def __init__(self, method, ruri, user, pw, hdrs, body, to=None):
        self.method, self.ruri, self.user, self.pw = method, ruri, user, pw
        self.hdrs, self.body, self.to = hdrs, body, to or ruri
        self.callid = os.urandom(8).hex()
        self.tag = os.urandom(4).hex()
        self.cseq = 1
        self.done = False
        self.code = None
        self.head = None
        self.sent_at = 0


class Client:
    def __init__(self, port, domain):
        self.port, self.domain = port, domain
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind(("127.0.0.1", 0))
        self.s.setblocking(False)
        self.lport = self.s.getsockname()[1]
        self.tx = {}
        self.n = 0
        self.on_notify = None

    def _send(self, t, auth=None):
        self.n += 1
        lines = ["%s %s SIP/2.0" % (t.method, t.ruri),
                 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%x%s;rport" %
                 (self.lport, self.n, t.tag),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (t.user, self.domain, t.tag),
                 "To: <%s>" % t.to, "Call-ID: " + t.callid,
                 "CSeq: %d %s" % (t.cseq, t.method),
                 "Contact: <sip:%s@127.0.0.1:%d>" % (t.user, self.lport)]
        lines += t.hdrs
        if auth:
            lines.append(auth)
        body = t.body.encode()
        msg = ("\r\n".join(lines) + "\r\nContent-Length: %d\r\n\r\n" %
               len(body)).encode() + body
        self.tx[(t.callid, t.cseq)] = t
        t.sent_at = time.time_ns()
        t.msg, t.retx, t.next_retx = msg, 0, time.time() + 0.5
        self.s.sendto(msg, ("127.0.0.1", self.port))

    def retransmit(self, txs):
        """RFC 3261 Timer E: again after 0.5, 1, 2, 4 s."""
        now = time.time()
        for t in txs:
            if not t.done and now >= t.next_retx and t.retx < 6:
                t.retx += 1
                t.next_retx = now + min(4.0, 0.5 * (2 ** t.retx))
                self.s.sendto(t.msg, ("127.0.0.1", self.port))

    def _auth(self, t, head):
        ch = challenge(header(head, "Proxy-Authenticate") or "")
        if "nonce" not in ch:
            return None
        cnonce = os.urandom(4).hex()
        ha1 = md5("%s:%s:%s" % (t.user, ch["realm"], t.pw))
        ha2 = md5("%s:%s" % (t.method, t.ruri))
        resp = md5("%s:%s:00000001:%s:auth:%s" % (ha1, ch["nonce"], cnonce,
                                                  ha2))
        return ('Proxy-Authorization: Digest username="%s", realm="%s", '
                'nonce="%s", uri="%s", response="%s", algorithm=MD5, '
                'cnonce="%s", qop=auth, nc=00000001' % (
                    t.user, ch["realm"], ch["nonce"], t.ruri, resp, cnonce))

    def start(self, t, auth=None):
        self._send(t, auth)

    def poll(self, timeout):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return
        while True:
            try:
                data, anc, _, _ = self.s.recvmsg(65535, 64)
            except BlockingIOError:
                return
            ts = time.time_ns()
            for level, kind, val in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec * 1000000000 + nsec
            self._dispatch(data, ts)

    def _dispatch(self, data, ts):
        head, _, body = data.partition(b"\r\n\r\n")
        head = head.decode("utf-8", "replace")
        if head.startswith("NOTIFY "):
            keep = [ln for ln in head.split("\r\n")[1:]
                    if ln[:4].lower() in ("via:", "from", "to: ", "call",
                                          "cseq")]
            self.s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                           "\r\nContent-Length: 0\r\n\r\n").encode(),
                          ("127.0.0.1", self.port_of(head)))
            if self.on_notify:
                self.on_notify(head, body, ts)
            return
        if not head.startswith("SIP/2.0 "):
            return
        code = int(head[8:11])
        if code < 200:
            return
        key = (header(head, "Call-ID"),
               int((header(head, "CSeq") or "0 x").split()[0]))
        t = self.tx.pop(key, None)
        if t is None:
            return
        if code == 407 and t.cseq == 1:
            auth = self._auth(t, head)
            if auth:
                t.cseq = 2
                self._send(t, auth)
                return
        t.done, t.code, t.head = True, code, head
        t.answered_at = ts

    def port_of(self, head):
        """A NOTIFY's answer goes back where the top Via says."""
        via = header(head, "Via") or ""
        i = via.find("rport=")
        if i >= 0:
            return int(via[i + 6:].split(";")[0].split(",")[0])
        host = via.split()[1].split(";")[0]
        return int(host.rsplit(":", 1)[1]) if ":" in host else 5060

    def run(self, txs, window=200, timeout=60.0):
        """Every transaction to its end, `window` at a time."""
        todo = list(txs)
        active = []
        end = time.time() + timeout
        while (todo or active) and time.time() < end:
            while todo and len(active) < window:
                t = todo.pop()
                active.append(t)
                self.start(t)
            self.poll(0.05)
            active = [t for t in active if not t.done]
            self.retransmit(active)
        return sum(1 for t in txs if t.done and 200 <= t.code < 300)

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.poll(0.05)


def subscribe(c, pairs, expires=3600, timeout=600.0, event="presence",
              accept="application/pidf+xml"):
    """pairs: (watcher, password, target); the number that got 2xx."""
    txs = [Tx("SUBSCRIBE", "sip:%s@%s" % (target, c.domain), w, pw,
              ["Event: " + event, "Expires: %d" % expires,
               "Accept: " + accept], "")
           for w, pw, target in pairs]
    return c.run(txs, timeout=timeout)


def publish_once(c, user, pw, note, etag=None, timed=False):
    """A PUBLISH: its 407 first, then the authenticated one (timed from
    its sending). (code, etag, t_sent_ns)."""
    hdrs = ["Event: presence", "Expires: 3600",
            "Content-Type: application/pidf+xml"]
    if etag:
        hdrs.append("SIP-If-Match: " + etag)
    t = Tx("PUBLISH", "sip:%s@%s" % (user, c.domain), user, pw, hdrs,
           PIDF % (user, c.domain, note, note))
    c.start(t)
    end = time.time() + 5
    while not t.done and time.time() < end:
        c.poll(0.01)
        c.retransmit([t])
    return (t.code, header(t.head or "", "SIP-ETag") or etag, t.sent_at)


def fanout(c, user, pw, watchers, rounds, pub=None):
    """(times in ms from the PUBLISH to the last NOTIFY, rounds missed).
    pub: the client that PUBLISHes (another node's edge), else c."""
    pub = pub or c
    arrivals = []
    want = {"tok": None}

    def on_notify(head, body, ts):
        if want["tok"] and want["tok"] in body:
            arrivals.append(ts)

    c.on_notify = on_notify
    code, etag, _ = publish_once(pub, user, pw, "warm-up")
    c.drain(3)
    times, missed = [], 0
    for r in range(rounds):
        del arrivals[:]
        want["tok"] = ("round-%03d<" % r).encode()
        code, etag, sent = publish_once(pub, user, pw, "round-%03d" % r,
                                        etag)
        end = time.time() + 15
        while len(arrivals) < watchers and time.time() < end:
            c.poll(0.02)
        if code != 200 or len(arrivals) < watchers:
            missed += 1
        elif arrivals:
            times.append((max(arrivals) - sent) / 1e6)
        c.drain(0.5)
    c.on_notify = None
    return times, missed
