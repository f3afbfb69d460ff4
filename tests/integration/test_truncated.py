"""test_truncated: a UDP datagram with fewer bytes after its head than
its Content-Length says (cut short on the way, or one request sent in two
datagrams) is never acted on: 400 with the reason and a log line (RFC 3261
§18.3, RFC 4475 §3.1.2.2). Over TCP the same bytes are a message not yet
whole: the edge waits for the rest, then answers. Checked on the wire
with OPTIONS to the edge (which it answers itself) and a REGISTER (which
must bind nothing), while another client is served meanwhile."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n")
REASON = "Content-Length Larger Than The Datagram"


def head(method, ruri, t, clen, user="carol", extra=()):
    """A request's head from transport t, promising clen body bytes."""
    ip, port = t.local[0], t.local[1]
    return ("\r\n".join([
        "%s %s SIP/2.0" % (method, ruri),
        "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
            t.proto.upper(), ip, port, sc.rand(10)),
        "Max-Forwards: 70",
        "From: <sip:%s@%s>;tag=%s" % (user, app.domain, sc.rand(6)),
        "To: <sip:%s@%s>" % (user, app.domain),
        "Call-ID: %s@test" % sc.rand(12),
        "CSeq: 1 %s" % method] + list(extra) + [
        "Content-Type: text/plain",
        "Content-Length: %d" % clen, "", ""])).encode()


def final(t, timeout=2.0):
    end = time.time() + timeout
    while time.time() < end:
        raw = t.recv(max(0.05, end - time.time()))
        if raw and raw.startswith(b"SIP/2.0"):
            r = sc.Response(raw)
            if r.code >= 200:
                return r
    return None


try:
    app.add_user("carol", "carol-pw")
    app.start()
    other = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carol-pw")
    ruri = "sip:%s" % app.domain

    # 1. cut short: 100 promised, 10 there
    t = sc.Transport("127.0.0.1", app.port)
    t.send(head("OPTIONS", ruri, t, 100) + b"0123456789")
    r = final(t)
    ok(r is not None and r.code == 400 and REASON in r.reason,
       "UDP OPTIONS with 100 bytes promised and 10 sent: 400 (%s)" %
       (r and r.reason), r)
    said = "OPTIONS from 127.0.0.1:%d: 400 %s" % (t.local[1], REASON)
    ok(said in app.wait_log([said]), "... and the edge logs it", said)

    # 2. the same request in two datagrams: the first is cut short, the
    # second is not a SIP message at all
    t.send(head("OPTIONS", ruri, t, 20) + b"0123456789")
    r = final(t)
    t.send(b"abcdefghij")
    r2 = final(t, 1.0)
    ok(r is not None and r.code == 400 and r2 is None,
       "one request in two datagrams: 400 to the first, nothing to the "
       "second", (r, r2))

    # 3. as many as promised, and more than promised: answered
    t.send(head("OPTIONS", ruri, t, 10) + b"0123456789")
    r = final(t)
    ok(r is not None and r.code == 200,
       "as many bytes as promised: 200", r)
    t.send(head("OPTIONS", ruri, t, 4) + b"0123456789")
    r = final(t)
    ok(r is not None and r.code == 200,
       "more bytes than promised (the rest is ignored, RFC 3261 §18.3): "
       "200", r)

    # 4. a REGISTER cut short binds nothing, whatever its credentials
    # would have been: it is refused before the challenge
    contact = "<sip:carol@%s:%d>" % t.local
    t.send(head("REGISTER", ruri, t, 50, extra=(
        "Contact: " + contact, "Expires: 600")) + b"x")
    r = final(t)
    ok(r is not None and r.code == 400 and REASON in r.reason,
       "a REGISTER cut short: 400, not 401", r)
    q = other.register(contacts=[], expires=None)
    ok(q is not None and q.code == 200 and
       not any(c.startswith("sip:carol@127.0.0.1:%d" % t.local[1])
               for c, _ in q.contacts()),
       "... and bound nothing", q and q.contacts())
    t.close()

    # 5. meanwhile another client is served
    r = other.register(expires=60)
    ok(r is not None and r.code == 200,
       "another client registers meanwhile", r)

    # 6. over TCP the same bytes wait for the rest
    tt = sc.Transport("127.0.0.1", app.port, "tcp")
    tt.send(head("OPTIONS", ruri, tt, 100) + b"0123456789")
    early = final(tt, 1.0)
    tt.send(b"x" * 90)
    r = final(tt, 3.0)
    ok(early is None and r is not None and r.code == 200,
       "TCP: 10 of 100 bytes is not yet a message (no answer); with the "
       "other 90 it is: 200", (early, r))
    tt.close()
    other.close()
    ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
