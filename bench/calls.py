"""calls: call set-up time measured to the microsecond. Starts one call
every 1/rate seconds from one UDP socket (INVITE, 407, ACK, INVITE with
MD5 digest, 100/180, 200, then ACK and BYE along the Record-Route) and
times each from its first INVITE to its 200: what a caller waits for
when the callee answers at once. The callee is SIPp (bench/callee.xml).
Also: register(), to put the callee's binding at SIPp's port."""

import os
import re
import time

import latency

CODE = re.compile(rb"^SIP/2\.0 (\d{3})")
CALLID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")
CSEQ = re.compile(rb"(?im)^cseq[ \t]*:[ \t]*\d+[ \t]+(\w+)")
TO = re.compile(rb"(?im)^(?:to|t)[ \t]*:[ \t]*([^\r\n]+)")
RR = re.compile(rb"(?im)^record-route[ \t]*:[ \t]*([^\r\n]+)")
CONTACT = re.compile(rb"(?im)^(?:contact|m)[ \t]*:[ \t]*<([^>]+)>")
NONCE = re.compile(rb'nonce="([^"]+)"')
REALM = re.compile(rb'realm="([^"]+)"')


def register(port, domain, user, password, contact_port):
    """Register user's one device at 127.0.0.1:contact_port, from that
    port (the edge sends to the address a REGISTER came from)."""
    times, lost = latency.run(port, domain, [(user, password)], 1, 1,
                              contact_port)
    return len(times) == 1 and not lost


class Call:
    def __init__(self, local, domain, user, password, callee, callid):
        self.local, self.domain = local, domain
        self.user, self.password = user, password
        self.uri = "sip:%s@%s" % (callee, domain)
        self.callid = callid
        self.start = time.perf_counter()
        self.state = "invite"

    def _msg(self, method, ruri, cseq, branch, to=None, route="",
             extra=""):
        return ("%s %s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
                "%sMax-Forwards: 70\r\n"
                "From: <sip:%s@%s>;tag=%s\r\n"
                "To: %s\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %d %s\r\n"
                "Contact: <sip:%s@%s:%d>\r\n%s"
                "Content-Length: 0\r\n\r\n" % (
                    method, ruri, self.local[0], self.local[1], branch,
                    route, self.user, self.domain, self.callid[:10],
                    to or "<%s>" % self.uri, self.callid, cseq, method,
                    self.user, self.local[0], self.local[1], extra)).encode()

    def invite(self, auth=""):
        cseq = 2 if auth else 1
        self.branch = "%s-%d" % (self.callid, cseq)
        return self._msg("INVITE", self.uri, cseq, self.branch, extra=auth)

    def on_response(self, data):
        """Messages to send for this response, and the set-up time in ms
        when it is the 200 to the INVITE."""
        code = int(CODE.match(data).group(1))
        method = CSEQ.search(data).group(1)
        to = TO.search(data).group(1).decode()
        if method == b"INVITE" and code == 407 and self.state == "invite":
            self.state = "auth"
            ack = self._msg("ACK", self.uri, 1, self.branch, to)
            auth = latency.auth(self.user, self.password,
                                REALM.search(data).group(1).decode(),
                                NONCE.search(data).group(1).decode(),
                                self.uri, "INVITE", "Proxy-Authorization")
            return [ack, self.invite(auth)], None
        if method == b"INVITE" and code == 200 and self.state == "auth":
            self.state = "bye"
            ms = (time.perf_counter() - self.start) * 1000.0
            rr = RR.findall(data)
            route = "".join("Route: %s\r\n" % r.decode()
                            for r in reversed(rr))
            target = CONTACT.search(data).group(1).decode()
            return [self._msg("ACK", target, 2, self.callid + "-a", to,
                              route),
                    self._msg("BYE", target, 3, self.callid + "-b", to,
                              route)], ms
        if method == b"BYE" and code >= 200:
            self.state = "done"
        elif method == b"INVITE" and code >= 300 and self.state != "done":
            self.state = "failed"
        return [], None


def run(port, domain, users, callee, rate, seconds, local_port=0):
    """(set-up times in ms, calls lost or refused); users:
    [(user, password)]; callee: a user name, or a list to take in turn."""
    s, local = latency.udp_socket(local_port)
    dst = ("127.0.0.1", port)
    total = int(rate * seconds)
    calls = {}
    times = []
    tag = os.urandom(4).hex()

    def start(i):
        user, pw = users[i % len(users)]
        who = callee[i % len(callee)] if isinstance(callee, list) \
            else callee
        c = Call(local, domain, user, pw, who, "%s%07d" % (tag, i))
        calls[c.callid.encode()] = c
        s.sendto(c.invite(), dst)

    def receive(data):
        m, cid = CODE.match(data), CALLID.search(data)
        c = calls.get(cid.group(1)) if m and cid else None
        if c is None:
            return
        out, ms = c.on_response(data)
        for msg in out:
            s.sendto(msg, dst)
        if ms is not None:
            times.append(ms)

    def busy():
        return any(c.state not in ("done", "failed")
                   for c in calls.values())

    latency.paced(s, rate, total, seconds, start, receive, busy)
    s.close()
    return times, total - len(times)
