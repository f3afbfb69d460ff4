"""callphone: a scripted phone for call tests: it registers with
sipclient, writes requests and answers line by line, reads what the
edge sends it, and keeps one side of a call (Leg) to send requests
inside the dialog along its route set, as a desk phone does; and Bus,
the calls' states the edge publishes, as a lamp sees them."""

import json
import re
import subprocess
import threading
import time

import sipclient as sc

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n" \
      b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def sdp(mode="sendrecv", version=1):
    return (b"v=0\r\no=- 1 %d IN IP4 127.0.0.1\r\ns=-\r\n"
            b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
            b"a=%s\r\n" % (version, mode.encode()))


class Msg:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.first = lines[0]
        self.lines = lines[1:]
        m = re.match(r"SIP/2\.0 (\d+)", self.first)
        self.code = int(m.group(1)) if m else None
        self.method = None if m else self.first.split()[0]

    def all(self, name):
        out = []
        for ln in self.lines:
            n, _, v = ln.partition(":")
            if n.strip().lower() == name.lower():
                out.append(v.strip())
        return out

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def hdrs(self, *names):
        return [ln for ln in self.lines
                if ln.partition(":")[0].strip().lower() in names]

    @property
    def ruri(self):
        return self.first.split()[1] if self.method else None

    @property
    def branch(self):
        m = re.search(r"branch=([^;, ]+)", self.get("via") or "")
        return m.group(1) if m else None


class Phone:
    def __init__(self, app, user, password, proto="udp"):
        self.app = app
        self.ua = sc.UA("127.0.0.1", app.port, app.domain, user, password,
                        proto)
        self.user = user

    def register(self):
        return self.ua.register()

    @property
    def contact(self):
        return self.ua.contact_uri()

    def via(self, branch):
        ip, port = self.ua.t.local
        return "Via: SIP/2.0/%s %s:%d;branch=%s;rport" % (
            self.ua.proto.upper(), ip, port, branch)

    def send(self, lines, body=b""):
        text = "\r\n".join(lines) + "\r\nContent-Length: %d\r\n\r\n" % \
            len(body)
        self.ua.t.send(text.encode() + body)

    def next(self, timeout=3.0, want=None):
        """The next message (of a kind, if given)."""
        end = time.time() + timeout
        while time.time() < end:
            raw = self.ua.t.recv(max(0.05, end - time.time()))
            if not raw:
                continue
            m = Msg(raw)
            if want is None or m.method == want or m.code == want or \
               (want == "final" and m.code and m.code >= 200):
                return m
        return None

    def answer(self, req, code, reason="OK", tag=None, extra=(),
               body=b""):
        keep = req.hdrs("via", "from", "call-id", "cseq", "record-route")
        to = req.get("to")
        if tag and "tag=" not in to:
            to += ";tag=" + tag
        lines = ["SIP/2.0 %d %s" % (code, reason)] + keep + \
            ["To: " + to] + list(extra)
        self.send(lines, body)


def invite_lines(app, caller, callee, callid, cseq, branch, auth=None,
                 method="INVITE", extra=()):
    lines = ["%s sip:%s@%s SIP/2.0" % (method, callee, app.domain),
             caller.via(branch), "Max-Forwards: 70",
             "From: <sip:%s@%s>;tag=a%s" % (caller.user, app.domain,
                                            callid[:6]),
             "To: <sip:%s@%s>" % (callee, app.domain),
             "Call-ID: " + callid, "CSeq: %d %s" % (cseq, method),
             "Contact: <%s>" % caller.contact]
    if method == "INVITE":
        lines.append("Content-Type: application/sdp")
    lines += list(extra)
    if auth:
        lines.append(auth)
    return lines


def ack_non2xx(caller, inv_lines, resp):
    """Hop-by-hop ACK for a non-2xx final: same branch and CSeq."""
    lines = ["ACK " + inv_lines[0].split()[1] + " SIP/2.0", inv_lines[1],
             "Max-Forwards: 70", inv_lines[3], "To: " + resp.get("to"),
             inv_lines[5], inv_lines[6].replace("INVITE", "ACK")]
    caller.send(lines)


def call(app, caller, callee, cseq=1, method="INVITE", extra=(),
         body=None, callid=None):
    """INVITE (or another method), 407, ACK, the same with credentials;
    returns its lines and the 407."""
    callid = callid or "c" + sc.rand(10)
    br = "z9hG4bK" + sc.rand(10)
    if body is None:
        body = SDP if method == "INVITE" else b""
    lines = invite_lines(app, caller, callee, callid, cseq, br,
                         method=method, extra=extra)
    caller.send(lines, body)
    r = caller.next(want="final")
    if not r or r.code != 407:
        return None, r
    if method == "INVITE":
        ack_non2xx(caller, lines, r)
    ch = sc.parse_challenge(r.get("proxy-authenticate"))
    caller.ua.nc = 0
    auth = caller.ua.auth_header(ch, method, lines[0].split()[1]).replace(
        "Authorization:", "Proxy-Authorization:", 1)
    br2 = "z9hG4bK" + sc.rand(10)
    lines = invite_lines(app, caller, callee, callid, cseq + 1, br2, auth,
                         method, extra)
    caller.send(lines, body)
    return lines, r


class Leg:
    """One party of an established call: what it needs to send requests
    inside the dialog (RFC 3261 §12.2.1.1)."""

    def __init__(self, phone, callid, local, remote, route, target, cseq):
        self.phone = phone
        self.callid = callid
        self.local = local      # our From value, with our tag
        self.remote = remote    # our To value, with the peer's tag
        self.route = route      # Route values, in order
        self.target = target    # the peer's Contact URI
        self.cseq = cseq

    def request(self, method, extra=(), body=b"", cseq=None, branch=None):
        """Send a request inside the dialog; returns its lines."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        lines = ["%s %s SIP/2.0" % (method, self.target),
                 self.phone.via(branch or "z9hG4bK" + sc.rand(10)),
                 "Max-Forwards: 70"] + \
            (["Route: " + ", ".join(self.route)] if self.route else []) + \
            ["From: " + self.local, "To: " + self.remote,
             "Call-ID: " + self.callid,
             "CSeq: %d %s" % (cseq, method),
             "Contact: <%s>" % self.phone.contact] + list(extra)
        self.phone.send(lines, body)
        return lines


def legs(caller, callee, inv_lines, req_at_callee, fin, cseq_caller):
    """Both legs of a call set up by `inv_lines` (the caller's INVITE),
    as the callee got it (`req_at_callee`) and as the caller got the 2xx
    (`fin`)."""
    rrs = req_at_callee.all("record-route")
    callid = fin.get("call-id")
    a = Leg(caller, callid, inv_lines[3].split(": ", 1)[1], fin.get("to"),
            list(reversed(rrs)), _uri(fin.get("contact")), cseq_caller)
    b = Leg(callee, callid, fin.get("to"), inv_lines[3].split(": ", 1)[1],
            rrs, _uri(req_at_callee.get("contact")), 100)
    return a, b


def _uri(contact):
    m = re.search(r"<([^>]+)>", contact or "")
    return m.group(1) if m else (contact or "").split(";")[0]


class Bus:
    """Every `dialog` event the registrar publishes (each user's view of
    each call: what busy lamps are made of), read as it comes."""

    def __init__(self, app, seconds):
        self.evs = []
        self.p = subprocess.Popen([app.ctl_path, "-c", app.conf, "watch",
                                   "dialog", "--timeout", str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        time.sleep(0.8)

    def _read(self):
        for ln in self.p.stdout:
            if ln.strip():
                self.evs.append(json.loads(ln))

    def events(self, user, callid):
        return [e for e in self.evs if e["key"] == "%s/%s" % (user, callid)]

    def seq(self, user, callid):
        """(type, state, reason) of each event for USER/CALL-ID."""
        return [(e["type"], e["data"]["state"], e["data"].get("reason"))
                for e in self.events(user, callid)]

    def last(self, user, callid):
        s = self.seq(user, callid)
        return s[-1] if s else ()

    def wait(self, pred, timeout=8.0):
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return True
            time.sleep(0.05)
        return pred()

    def lasted(self, user, callid):
        """Seconds from the call's confirmed to its terminated on the
        bus (by the publisher's clock), or None."""
        t = {e["data"]["state"]: e["time"]
             for e in self.events(user, callid)}
        if "confirmed" in t and "terminated" in t:
            return (t["terminated"] - t["confirmed"]) / 1000.0
        return None

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
