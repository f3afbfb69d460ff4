"""presphone: a test phone for presence through the edge: it registers,
publishes (RFC 3903), subscribes (RFC 6665), keeps the subscription
dialog (tags, route set, target) for refreshes, answers every NOTIFY it
receives with a code of the test's choosing (or not at all) and keeps
them in order. Over TLS one lock keeps the reading thread and the
sending one off the connection at the same time (OpenSSL's rule)."""

import contextlib
import queue
import re
import threading
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


def basic_of(n):
    """The first <basic> of a presence NOTIFY n, or None."""
    m = re.search(rb"<basic>(\w+)</basic>", n.body) if n else None
    return m.group(1).decode() if m else None


def dialog_states(n):
    """(call-id, state) of each <dialog> of a dialog-info NOTIFY n."""
    out = []
    for d in re.finditer(rb'<dialog [^>]*call-id="([^"]*)"[^>]*>(.*?)'
                         rb'</dialog>', n.body if n else b"", re.S):
        st = re.search(rb"<state[^>]*>(\w+)</state>", d.group(2))
        out.append((d.group(1).decode(),
                    st.group(1).decode() if st else None))
    return out


def dialog_version(n):
    """The version of the dialog-info document in NOTIFY n, or None."""
    m = re.search(r'<dialog-info [^>]*version="(\d+)"', n.text()) if n \
        else None
    return int(m.group(1)) if m else None


class Msg:
    """A request or a response."""

    def __init__(self, raw):
        self.raw = raw
        self.t = time.time()          # when it arrived
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.first = lines[0]
        m = re.match(r"SIP/2\.0 (\d+) ?(.*)", self.first)
        self.code = int(m.group(1)) if m else None
        self.reason = m.group(2) if m else None
        self.method = None if m else self.first.split()[0]
        self.headers = sc.parse_headers(lines[1:])

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
    def __init__(self, app, user, password=None, proto="udp", port=None):
        self.app = app
        self.user = user
        self.ua = sc.UA(getattr(app, "addr", "127.0.0.1"),
                        port or app.port, app.domain, user,
                        password or user + "-pw", proto)
        self.io = threading.RLock() if proto == "tls" else \
            contextlib.nullcontext()
        self.notifies = []
        self.notify_code = 200     # None: do not answer
        self.last_request = None
        self.ring = False          # True: INVITEs ring (180) until answer()
        self.ringing = []
        self.invites = []          # every INVITE received
        self.seen = set()          # (Call-ID, CSeq) of NOTIFYs kept
        self.messages = []         # MESSAGEs, each transaction once
        self.message_branches = set()
        self.message_code = 200    # None: do not answer
        self.message_delay = 0.0   # seconds before the answer
        self.message_drop = 0      # MESSAGE datagrams to lose unread
        self.message_arrivals = []  # time.monotonic() of each datagram
        self.responses = queue.Queue()
        self.stop = False
        # a phone answers at all times, not only when the test looks
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                m = self.pump(0.1)
            except (OSError, ValueError):
                if self.stop:
                    return
                time.sleep(0.05)
                continue
            if m is not None:
                self.responses.put(m)
            elif self.ua.proto == "tls":
                time.sleep(0.005)   # a sender waiting for the lock goes

    @property
    def aor(self):
        return "sip:%s@%s" % (self.user, self.app.domain)

    def register(self, expires=None):
        """REGISTER (401, then with credentials): the final answer."""
        contact = "<%s>" % self.ua.contact_uri()
        ruri = "sip:" + self.app.domain
        hdrs = ["Contact: " + contact]
        if expires is not None:
            hdrs.append("Expires: %d" % expires)
        ua = self.ua
        r = self.transact(ua.build("REGISTER", ruri, hdrs).decode()
                          .split("\r\n")[:-3])
        if r is None or r.code != 401:
            return r
        ch = sc.parse_challenge(r.get("www-authenticate"))
        ua.nc = 0
        return self.transact(ua.build("REGISTER", ruri, hdrs + [
            ua.auth_header(ch, "REGISTER", ruri)]).decode()
            .split("\r\n")[:-3])

    def _send(self, lines, body=b"", to=None):
        text = "\r\n".join(lines) + "\r\nContent-Length: %d\r\n\r\n" % \
            len(body)
        if not lines[0].startswith("SIP/2.0"):
            self.last_request = (lines, body)
        with self.io:
            if to and self.ua.proto == "udp":
                self.ua.t.sock.sendto(text.encode() + body, to)
            else:
                self.ua.t.send(text.encode() + body)

    @staticmethod
    def reply_to(req):
        """Where an answer over UDP goes (RFC 3261 §18.2.2, RFC 3581):
        the top Via's sent-by, or its received and rport: the server
        that sent the request, which need not be the one we
        registered with (another node, after a failover)."""
        m = re.match(r"\s*SIP/2\.0/UDP\s+([^;:,\s]+)(?::(\d+))?([^,]*)",
                     req.get("via") or "", re.I)
        if not m:
            return None
        host, port = m.group(1), int(m.group(2) or 5060)
        rcv = re.search(r";\s*received=([^;\s]+)", m.group(3))
        rport = re.search(r";\s*rport=(\d+)", m.group(3))
        return (rcv.group(1) if rcv else host,
                int(rport.group(1)) if rport else port)

    def resend(self, timeout=3.0):
        """The last request again, byte for byte, as a phone
        retransmits when the answer was lost: its final answer."""
        lines, body = self.last_request
        return self.transact(lines, body, timeout)

    def _answer(self, req, code, dialog=False, tag=None):
        keep = ["%s: %s" % (n, v) for n, v in req.headers
                if n in ("via", "from", "call-id", "cseq") or
                (n == "record-route" and dialog)]
        to = req.get("to")
        if dialog and ";tag=" not in to:
            to += ";tag=" + (tag or sc.rand(8))
        extra = ["Contact: <%s>" % self.ua.contact_uri()] if dialog else []
        self._send(["SIP/2.0 %d %s" % (code, "OK" if code < 300 else "X")]
                   + keep + ["To: " + to] + extra, to=self.reply_to(req))

    def pump(self, timeout):
        """Receive one message; requests are answered and kept; a
        response is returned."""
        with self.io:
            raw = self.ua.t.recv(timeout)
        if not raw:
            return None
        m = Msg(raw)
        m.src = self.ua.t.last_from    # UDP: the edge's address it left
        if m.method:
            if m.method == "NOTIFY":
                # a retransmission (our answer was slow or lost) is
                # answered again, not kept twice
                key = (m.get("call-id"), m.get("cseq"))
                if key not in self.seen:
                    self.seen.add(key)
                    self.notifies.append(m)
                if self.notify_code is not None:
                    self._answer(m, self.notify_code)
            elif m.method == "INVITE" and self.ring:
                self.invites.append(m)
                tag = sc.rand(8)                  # rings until answer()
                self.ringing.append((m, tag))
                self._answer(m, 180, dialog=True, tag=tag)
            elif m.method == "INVITE":
                self.invites.append(m)
                self._answer(m, 200, dialog=True)   # answers at once
            elif m.method == "MESSAGE":
                self.message_arrivals.append(time.monotonic())
                if self.message_drop > 0:
                    # lost on the way: not seen, not answered
                    self.message_drop -= 1
                    return None
                # a retransmission (the same top Via branch) is not a
                # second message; a new transaction is, even if the same
                br = re.search(r"branch=([^;,\s]+)", m.get("via") or "")
                br = br.group(1) if br else None
                if br not in self.message_branches:
                    self.message_branches.add(br)
                    self.messages.append(m)
                if self.message_code is not None:
                    if self.message_delay:
                        threading.Timer(self.message_delay, self._answer,
                                        (m, self.message_code)).start()
                    else:
                        self._answer(m, self.message_code)
            elif m.method != "ACK":
                self._answer(m, 200)
            return None
        return m

    def transact(self, lines, body=b"", timeout=3.0):
        """Send a request; its final answer (matched by CSeq) or None."""
        cseq = [ln for ln in lines if ln.lower().startswith("cseq:")][0]
        cseq = cseq.split(":", 1)[1].strip()
        self._send(lines, body)
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.responses.get(timeout=max(0.01,
                                                   end - time.time()))
            except queue.Empty:
                return None
            if m.code >= 200 and m.get("cseq") == cseq:
                return m
        return None

    def request(self, method, ruri, headers, body=b"", to=None, ttag=None,
                callid=None, cseq=1, ftag=None, auth=True, routes=(),
                timeout=3.0):
        """A request; a 407 is answered once with credentials."""
        callid = callid or sc.rand(12) + "@test"
        ftag = ftag or sc.rand(8)
        ip, port = self.ua.t.local
        via = []

        def lines(c, extra=()):
            via[:] = ["Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
                self.ua.proto.upper(), ip, port, sc.rand(10))]
            return (["%s %s SIP/2.0" % (method, ruri), via[0],
                     "Max-Forwards: 70",
                     "From: <%s>;tag=%s" % (self.aor, ftag),
                     "To: <%s>%s" % (to or ruri,
                                     ";tag=" + ttag if ttag else ""),
                     "Call-ID: " + callid, "CSeq: %d %s" % (c, method),
                     "Contact: <%s>" % self.ua.contact_uri()] +
                    ["Route: " + r for r in routes] + list(headers) +
                    list(extra))
        r = self.transact(lines(cseq), body, timeout)
        if r is not None and r.code == 407 and method == "INVITE":
            # the ACK of a non-2xx final answer: hop by hop, same branch
            self._send(["ACK %s SIP/2.0" % ruri, via[0], "Max-Forwards: 70",
                        "From: <%s>;tag=%s" % (self.aor, ftag),
                        "To: " + r.get("to"), "Call-ID: " + callid,
                        "CSeq: %d ACK" % cseq])
        if r is not None and r.code == 407 and auth:
            ch = sc.parse_challenge(r.get("proxy-authenticate"))
            self.ua.nc = 0
            a = self.ua.auth_header(ch, method, ruri).replace(
                "Authorization:", "Proxy-Authorization:", 1)
            cseq += 1
            r = self.transact(lines(cseq, [a]), body, timeout)
        return r, callid, ftag, cseq

    def cancel(self):
        """CANCEL the last request sent (an INVITE still ringing): the
        same Via, From, To, Call-ID and CSeq number (RFC 3261 §9.1)."""
        lines, _ = self.last_request
        keep = [ln for ln in lines[1:] if ln.split(":", 1)[0].lower() in
                ("via", "from", "to", "call-id", "max-forwards", "route")]
        cseq = [ln for ln in lines if ln.lower().startswith("cseq:")][0]
        num = cseq.split(":", 1)[1].split()[0]
        ruri = lines[0].split()[1]
        self._send(["CANCEL %s SIP/2.0" % ruri] + keep +
                   ["CSeq: %s CANCEL" % num])

    def answer(self, code=200, timeout=3.0):
        """Answer the oldest ringing INVITE (200 makes the call)."""
        end = time.time() + timeout
        while not self.ringing and time.time() < end:
            time.sleep(0.02)
        if not self.ringing:
            return False
        m, tag = self.ringing.pop(0)
        self._answer(m, code, dialog=True, tag=tag)
        return True

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

    def call(self, callee):
        """INVITE the callee through the edge (its phone answers at
        once) and ACK the 200: the call's dialog."""
        sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
               b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
        r, callid, ftag, cseq = self.request(
            "INVITE", "sip:%s@%s" % (callee, self.app.domain),
            ["Content-Type: application/sdp"], sdp)
        if r is None or r.code != 200:
            return r, None
        d = Dialog(callid, ftag, "sip:%s@%s" % (callee, self.app.domain),
                   r, cseq)
        d.routes = list(reversed(d.routes))    # the UAC's route set
        self.in_dialog("ACK", d, cseq=cseq)
        return r, d

    def in_dialog(self, method, d, cseq=None):
        ip, port = self.ua.t.local
        if cseq is None:
            d.cseq += 1
            cseq = d.cseq
        lines = ["%s %s SIP/2.0" % (method, d.target),
                 "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
                     self.ua.proto.upper(), ip, port, sc.rand(10)),
                 "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (self.aor, d.ftag),
                 "To: <%s>;tag=%s" % (d.to_uri, d.ttag),
                 "Call-ID: " + d.callid, "CSeq: %d %s" % (cseq, method)] + \
            ["Route: " + rt for rt in d.routes]
        if method == "ACK":
            self._send(lines)
            return None
        return self.transact(lines)

    def message(self, target, body, ctype="text/plain", extra=(),
                ruri=None, timeout=6.0):
        """MESSAGE to a user through the edge: the final answer."""
        hdrs = (["Content-Type: " + ctype] if ctype else []) + list(extra)
        return self.request("MESSAGE", ruri or "sip:%s@%s" % (
            target, self.app.domain), hdrs, body, timeout=timeout)[0]

    def wait_messages(self, n, timeout=5.0):
        """The MESSAGEs received once there are n (or at timeout)."""
        end = time.time() + timeout
        while len(self.messages) < n and time.time() < end:
            time.sleep(0.02)
        return list(self.messages)

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
            time.sleep(0.02)

    def close(self):
        self.stop = True
        self.thread.join()
        self.ua.close()
