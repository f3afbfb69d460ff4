"""test_rfc2543: a phone of RFC 2543's (its Via without branch) served
(rfc2543.h), seen from the wire. carol writes her requests as
such a phone does; bob is a phone of today, registered over UDP.

- OPTIONS to the server: 200, its Via given back exactly as sent.
- carol's INVITE to bob: 407, then with credentials: bob gets it (her
  Via below the edge's, with a branch), answers 486; carol gets 486 with
  her Via exactly as sent. Her INVITE sent again reaches bob no more (the
  edge's transaction took it as the same one); the 486 comes again until
  carol's ACK (hop by hop, of RFC 2543's too), then no more: the ACK
  matched the transaction.
- Another INVITE, bob only rings: carol's CANCEL (RFC 2543's) gets 200
  and reaches bob, bob's 487 reaches carol.
- Over TCP and TLS, OPTIONS without branch, whole and with its head
  cut in two reads: 200, the Via as sent (the TCP guard hands libre each
  head whole, the branch added; a send helper above TLS takes it out).
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n")
D = app.domain


class Old:
    """carol's phone: requests without branch, over UDP"""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.via = "Via: SIP/2.0/UDP 127.0.0.1:%d" % self.port

    def send(self, method, ruri, callid, cseq, cseq_method=None,
             to_tag="", extra=()):
        lines = ["%s %s SIP/2.0" % (method, ruri), self.via,
                 "Max-Forwards: 70",
                 "From: <sip:carol@%s>;tag=c2543" % D,
                 "To: <%s>%s" % (ruri, to_tag), "Call-ID: %s" % callid,
                 "CSeq: %d %s" % (cseq, cseq_method or method)]
        lines += list(extra)
        lines.append("Contact: <sip:carol@127.0.0.1:%d>" % self.port)
        lines.append("Content-Length: 0")
        self.s.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(),
                      ("127.0.0.1", app.port))

    def recv(self, timeout=3.0):
        self.s.settimeout(timeout)
        try:
            data, _ = self.s.recvfrom(65535)
        except socket.timeout:
            return None
        return sc.Response(data)

    def final(self, timeout=3.0):
        end = time.time() + timeout
        while time.time() < end:
            r = self.recv(max(0.05, end - time.time()))
            if r is None:
                return None
            if r.code >= 200:
                return r
        return None

    def wait(self, code, timeout=3.0):
        """the first answer with code (or a final one)"""
        end = time.time() + timeout
        while time.time() < end:
            r = self.recv(max(0.05, end - time.time()))
            if r is None or r.code == code or r.code >= 200:
                return r
        return None

    def finals_for(self, seconds):
        n = 0
        end = time.time() + seconds
        while time.time() < end:
            r = self.recv(max(0.05, end - time.time()))
            if r is not None and r.code >= 200:
                n += 1
        return n


def top_via(r):
    return r.all("via")[0] if r is not None and r.all("via") else ""


def sent_as(r, old):
    """the top Via of an answer: the phone's, nothing added but received
    and rport (§18.2.2, RFC 3581)"""
    v = top_via(r)
    v = re.sub(r";(received|rport)(=[^;]*)?", "", v)
    return v == old.via[len("Via: "):]


def bob_request(bob, method, timeout=3.0):
    end = time.time() + timeout
    while time.time() < end:
        raw = bob.t.recv(max(0.05, end - time.time()))
        if raw is None:
            return None
        if raw.startswith(method.encode() + b" "):
            return raw
    return None


def answer(raw, code, reason, tag="b1"):
    head = raw.split(b"\r\n\r\n")[0].decode().split("\r\n")
    keep = [h for h in head[1:] if re.match(
        r"(?i)(via|v|from|f|call-id|i|cseq|record-route)\s*:", h)]
    to = [h for h in head[1:] if re.match(r"(?i)(to|t)\s*:", h)][0]
    if ";tag=" not in to:
        to += ";tag=" + tag
    return ("SIP/2.0 %d %s\r\n%s\r\n%s\r\nContent-Length: 0\r\n\r\n" % (
        code, reason, "\r\n".join(keep), to)).encode()


try:
    tport = app.add_tls()
    app.add_user("carol", "carol-pw")
    app.add_user("bob", "bob-pw")
    app.start()
    bob = sc.UA("127.0.0.1", app.port, D, "bob", "bob-pw")
    r = bob.register(expires=300)
    ok(r is not None and r.code == 200, "bob registers over UDP", r)
    old = Old()

    old.send("OPTIONS", "sip:%s" % D, "opt-2543@x", 1)
    r = old.final()
    ok(r is not None and r.code == 200 and sent_as(r, old),
       "OPTIONS without branch: 200, the Via given back as sent (%s)"
       % top_via(r), r)

    # an INVITE to bob: 407, then with credentials
    ruri = "sip:bob@%s" % D
    old.send("INVITE", ruri, "inv-2543@x", 1)
    r = old.final()
    ok(r is not None and r.code == 407 and sent_as(r, old),
       "INVITE without branch: 407, the Via as sent", r)
    chall = sc.parse_challenge(r.get("proxy-authenticate")) if r else {}
    old.send("ACK", ruri, "inv-2543@x", 1, to_tag=";tag=" + (
        re.search(r"tag=([^;]+)", r.get("to")).group(1) if r else "x"))

    def creds(method, nc):
        resp = sc.digest_response("MD5", "carol", chall["realm"],
                                  "carol-pw", method, ruri,
                                  chall["nonce"], nc, "cn2543")
        return ('Proxy-Authorization: Digest username="carol", realm="%s",'
                ' nonce="%s", uri="%s", response="%s", algorithm=MD5, '
                'cnonce="cn2543", qop=auth, nc=%08x' % (
                    chall["realm"], chall["nonce"], ruri, resp, nc))

    auth = [creds("INVITE", 1)]
    old.send("INVITE", ruri, "inv-2543@x", 2, extra=auth)
    inv = bob_request(bob, "INVITE")
    vias = re.findall(rb"(?im)^(?:via|v)\s*:\s*([^\r\n]*)", inv or b"")
    ok(inv is not None and len(vias) >= 2 and
       b"127.0.0.1:%d" % old.port in vias[1] and b"branch=" in vias[1],
       "bob gets the INVITE, carol's Via below the edge's with a branch",
       inv)
    bob.t.send(answer(inv, 486, "Busy Here"))
    r = old.final()
    ok(r is not None and r.code == 486 and sent_as(r, old),
       "carol gets bob's 486, her Via as sent (%s)" % top_via(r), r)
    old.send("INVITE", ruri, "inv-2543@x", 2, extra=auth)
    again = bob_request(bob, "INVITE", 1.0)
    ok(again is None, "her INVITE sent again does not reach bob: the "
       "edge's transaction took it as the same one")
    n = old.finals_for(2.0)
    ok(n >= 1, "the 486 comes again while carol does not ACK (%d)" % n)
    old.send("ACK", ruri, "inv-2543@x", 2, to_tag=";tag=b1")
    old.finals_for(0.3)            # one may have crossed the ACK
    n = old.finals_for(2.5)
    ok(n == 0, "after carol's ACK without branch, no more 486 (%d): the "
       "ACK matched the transaction" % n)

    # another INVITE, cancelled while bob rings
    old.send("INVITE", ruri, "can-2543@x", 1, extra=[creds("INVITE", 2)])
    inv = bob_request(bob, "INVITE")
    ok(inv is not None, "bob gets a second INVITE", inv)
    if inv is not None:
        bob.t.send(answer(inv, 180, "Ringing"))
    r = old.wait(180)
    ok(r is not None and r.code == 180 and sent_as(r, old),
       "carol hears it ring, her Via as sent", r)
    old.send("CANCEL", ruri, "can-2543@x", 1)
    r = old.wait(200)
    ok(r is not None and r.code == 200 and r.get("cseq").endswith(
        "CANCEL"), "her CANCEL without branch gets 200", r)
    can = bob_request(bob, "CANCEL")
    ok(can is not None, "bob gets the CANCEL", can)
    if can is not None:
        bob.t.send(answer(can, 200, "OK"))
    if inv is not None:
        bob.t.send(answer(inv, 487, "Request Terminated"))
    r = old.final()
    ok(r is not None and r.code == 487 and sent_as(r, old),
       "carol gets the 487, her Via as sent", r)
    old.send("ACK", ruri, "can-2543@x", 1, to_tag=";tag=b1")
    bob_request(bob, "ACK", 1.0)   # the edge's, hop by hop

    # over TCP and TLS: the guard hands libre each head whole, the
    # branch added; the answer's Via is taken back to what was sent
    for proto, port in (("tcp", app.port), ("tls", tport)):
        t = sc.Transport("127.0.0.1", port, proto)
        via = "SIP/2.0/%s %s:%d" % (proto.upper(), t.local[0], t.local[1])
        for n, cut in ((1, None), (2, 40), (3, 150)):
            msg = ("OPTIONS sip:%s SIP/2.0\r\nVia: %s\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:carol@%s>;tag=t%d\r\n"
                   "To: <sip:%s>\r\nCall-ID: stream-2543@x\r\n"
                   "CSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n" % (
                       D, via, D, n, D, n)).encode()
            if cut:             # the head in two reads, a pause between
                t.send(msg[:cut])
                time.sleep(0.3)
                t.send(msg[cut:])
            else:
                t.send(msg)
            raw = t.recv(3.0)
            r = sc.Response(raw) if raw else None
            v = re.sub(r";(received|rport)(=[^;]*)?", "", top_via(r))
            ok(r is not None and r.code == 200 and v == via,
               "%s: OPTIONS without branch%s: 200, the Via as sent (%s)" % (
                   proto.upper(), " cut at byte %d" % cut if cut else "",
                   top_via(r)), r)
        t.close()

    r = bob.register(expires=0)
    ok(r is not None and r.code == 200, "bob is served meanwhile", r)
    ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
