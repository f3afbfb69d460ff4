"""presphone: a test phone for presence through the edge: it registers,
publishes (RFC 3903), subscribes (RFC 6665), keeps the subscription
dialog (tags, route set, target) for refreshes, answers every NOTIFY it
receives with a code of the test's choosing (or not at all) and keeps
them in order."""

import re
import time

import sipclient as sc

PIDF_NS = "urn:ietf:params:xml:ns:pidf"


def pidf(user, domain, basic="open", note=None, activity=None, tid="t1",
         entity=None):
    person = ""
    if note or activity:
        person = '<dm:person id="p1">'
        if activity:
            person += "<rpid:activities><rpid:%s/></rpid:activities>" % \
                activity
        if note:
            person += "<dm:note>%s</dm:note>" % note
        person += "</dm:person>"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="%s" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
            'entity="%s"><tuple id="%s"><status><basic>%s</basic>'
            '</status></tuple>%s</presence>' % (
                PIDF_NS, entity or "sip:%s@%s" % (user, domain), tid,
                basic, person)).encode()


class Msg:
    """A request or a response."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.first = lines[0]
        m = re.match(r"SIP/2\.0 (\d+) ?(.*)", self.first)
        self.code = int(m.group(1)) if m else None
        self.reason = m.group(2) if m else None
        self.method = None if m else self.first.split()[0]
        self.headers = []
        for ln in lines[1:]:
            n, _, v = ln.partition(":")
            self.headers.append((n.strip().lower(), v.strip()))

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    @property
    def cseq(self):
        return int(self.get("cseq").split()[0])

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<%s>" % self.first


class Dialog:
    """A subscription as its subscriber keeps it."""

    def __init__(self, callid, ftag, to_uri, resp, cseq):
        self.callid, self.ftag, self.to_uri, self.cseq = \
            callid, ftag, to_uri, cseq
        self.ttag = re.search(r";tag=([^;>]+)", resp.get("to")).group(1)
        self.routes = resp.all("record-route")
        m = re.search(r"<([^>]+)>", resp.get("contact") or "")
        self.target = m.group(1) if m else None


class Phone:
    def __init__(self, app, user, password=None, proto="udp"):
        self.app = app
        self.user = user
        self.ua = sc.UA("127.0.0.1", app.port, app.domain, user,
                        password or user + "-pw", proto)
        self.notifies = []
        self.notify_code = 200     # None: do not answer

    @property
    def aor(self):
        return "sip:%s@%s" % (self.user, self.app.domain)

    def register(self, expires=None):
        r = self.ua.register(expires=expires)
        return r

    def _send(self, lines, body=b""):
        text = "\r\n".join(lines) + "\r\nContent-Length: %d\r\n\r\n" % \
            len(body)
        self.ua.t.send(text.encode() + body)

    def _answer(self, req, code):
        keep = ["%s: %s" % (n, v) for n, v in req.headers
                if n in ("via", "from", "to", "call-id", "cseq")]
        self._send(["SIP/2.0 %d %s" % (code, "OK" if code < 300 else "X")]
                   + keep)

    def pump(self, timeout):
        """Receive one message; requests are answered and kept; a
        response is returned."""
        raw = self.ua.t.recv(timeout)
        if not raw:
            return None
        m = Msg(raw)
        if m.method:
            if m.method == "NOTIFY":
                self.notifies.append(m)
                if self.notify_code is not None:
                    self._answer(m, self.notify_code)
            elif m.method != "ACK":
                self._answer(m, 200)
            return None
        return m

    def transact(self, lines, body=b"", timeout=3.0):
        self._send(lines, body)
        end = time.time() + timeout
        while time.time() < end:
            m = self.pump(max(0.05, end - time.time()))
            if m and m.code >= 200:
                return m
        return None

    def request(self, method, ruri, headers, body=b"", to=None, ttag=None,
                callid=None, cseq=1, ftag=None, auth=True, routes=()):
        """A request; a 407 is answered once with credentials."""
        callid = callid or sc.rand(12) + "@test"
        ftag = ftag or sc.rand(8)
        ip, port = self.ua.t.local

        def lines(c, extra=()):
            return (["%s %s SIP/2.0" % (method, ruri),
                     "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
                         self.ua.proto.upper(), ip, port, sc.rand(10)),
                     "Max-Forwards: 70",
                     "From: <%s>;tag=%s" % (self.aor, ftag),
                     "To: <%s>%s" % (to or ruri,
                                     ";tag=" + ttag if ttag else ""),
                     "Call-ID: " + callid, "CSeq: %d %s" % (c, method),
                     "Contact: <%s>" % self.ua.contact_uri()] +
                    ["Route: " + r for r in routes] + list(headers) +
                    list(extra))
        r = self.transact(lines(cseq), body)
        if r is not None and r.code == 407 and auth:
            ch = sc.parse_challenge(r.get("proxy-authenticate"))
            self.ua.nc = 0
            a = self.ua.auth_header(ch, method, ruri).replace(
                "Authorization:", "Proxy-Authorization:", 1)
            cseq += 1
            r = self.transact(lines(cseq, [a]), body)
        return r, callid, ftag, cseq

    def publish(self, body=b"", etag=None, expires=None, ruri=None,
                ctype="application/pidf+xml", event="presence"):
        hdrs = ["Event: " + event]
        if body:
            hdrs.append("Content-Type: " + ctype)
        if etag:
            hdrs.append("SIP-If-Match: " + etag)
        if expires is not None:
            hdrs.append("Expires: %d" % expires)
        return self.request("PUBLISH", ruri or self.aor, hdrs, body)[0]

    def subscribe(self, target, event="presence", expires=600,
                  accept="application/pidf+xml", extra=()):
        hdrs = ["Event: " + event, "Expires: %d" % expires]
        if accept:
            hdrs.append("Accept: " + accept)
        r, callid, ftag, cseq = self.request(
            "SUBSCRIBE", "sip:%s@%s" % (target, self.app.domain),
            hdrs + list(extra))
        d = None
        if r is not None and r.code in (200, 202):
            d = Dialog(callid, ftag, "sip:%s@%s" % (target,
                                                     self.app.domain),
                       r, cseq)
        return r, d

    def refresh(self, d, expires=600, event="presence"):
        d.cseq += 1
        r, _, _, _ = self.request(
            "SUBSCRIBE", d.target, ["Event: " + event,
                                    "Expires: %d" % expires],
            to=d.to_uri, ttag=d.ttag, callid=d.callid, cseq=d.cseq,
            ftag=d.ftag, auth=False, routes=d.routes)
        return r

    def wait_notify(self, pred=None, timeout=4.0, callid=None):
        """The first NOTIFY kept (and not yet taken) that matches."""
        end = time.time() + timeout
        while True:
            for i, n in enumerate(self.notifies):
                if callid and n.get("call-id") != callid:
                    continue
                if pred is None or pred(n):
                    return self.notifies.pop(i)
            if time.time() >= end:
                return None
            self.pump(min(0.2, max(0.01, end - time.time())))

    def drain(self, seconds=0.3):
        end = time.time() + seconds
        while time.time() < end:
            self.pump(0.05)

    def close(self):
        self.ua.close()
