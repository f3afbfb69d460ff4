"""test_unusual: requests that are valid but unusual, or that libre would
drop unanswered, get a final answer on every transport (issue 24).

- Long valid requests (many headers, long headers, 60 KB in all, under
  sip_max_message) over UDP, TCP and TLS: answered 200.
- A request without Content-Length: over UDP it is allowed (RFC 3261
  §20.14) and answered; over TCP and TLS its end cannot be framed, so
  the edge answers 400 with the reason, then closes the connection.
- An RFC 2543-style request, its Via without a branch (libre 1.1.0
  cannot decode it): served on every transport (test_rfc2543).
- A branch without the magic cookie (RFC 2543 style) is answered.
- Over UDP, a header line or a head over the edge's caps is answered
  400 Header Too Long or 513 Message Too Large before it is decoded,
  except when the long header is one an answer repeats and the answer
  would be over 8 KiB (a From of 9 KB): then no answer.
- Over TCP and TLS, an address header over sip_max_address_header gets
  400 and a message over sip_max_message 513 before the close (libre's
  parser or buffer dropped them with the connection, unanswered), except
  when the answer would repeat a 70 KB From.
- Each refusal is logged; another client is served meanwhile."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
tport = lptest.free_port()
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n")


def request(proto, port, extra=(), branch="cookie", clen=True, name=""):
    """OPTIONS to the edge over a new connection (or socket): the first
    final answer, or None. clen: True (0), False (none) or a number;
    name: a display name in From."""
    t = sc.Transport("127.0.0.1", port, proto)
    ip, lport = t.local[0], t.local[1]
    via = "Via: SIP/2.0/%s %s:%d" % (proto.upper(), ip, lport)
    if branch == "cookie":
        via += ";branch=z9hG4bK" + sc.rand(10)
    elif branch:
        via += ";branch=" + branch
    lines = ["OPTIONS sip:%s SIP/2.0" % app.domain, via,
             "Max-Forwards: 70",
             "From: %s<sip:carol@%s>;tag=%s" % (
                 '"%s" ' % name if name else "", app.domain, sc.rand(6)),
             "To: <sip:carol@%s>" % app.domain,
             "Call-ID: %s@test" % sc.rand(12), "CSeq: 1 OPTIONS"]
    lines += list(extra)
    if clen is True:
        lines.append("Content-Length: 0")
    elif clen is not False:
        lines.append("Content-Length: %d" % clen)
    t.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        while True:
            raw = t.recv(3.0)
            if raw is None or not raw.startswith(b"SIP/2.0"):
                return None
            r = sc.Response(raw)
            if r.code >= 200:
                return r
    except OSError:
        return None
    finally:
        t.close()


try:
    app.add_tls(tport)
    app.add_user("carol", "carol-pw")
    app.start()
    other = sc.UA("127.0.0.1", app.port, app.domain, "carol", "carol-pw")
    ports = {"udp": app.port, "tcp": app.port, "tls": tport}
    many = ["X-Many-%d: v%d" % (i, i) for i in range(300)]
    long = ["X-Long-%d: %s" % (i, "a" * 1000) for i in range(58)]
    big = ["X-Big: " + "b" * 7000]

    for proto in ("udp", "tcp", "tls"):
        port = ports[proto]
        P = proto.upper()
        for name, extra in (("300 headers", many), ("58 headers of 1 KB "
                            "(60 KB)", long), ("one header of 7 KB", big)):
            if proto == "udp" and extra is long:
                continue       # over one datagram's 64 KB with UDP/IP
            r = request(proto, port, extra)
            ok(r is not None and r.code == 200,
               "%s: a valid request with %s: 200" % (P, name), r)
        r = request(proto, port, branch="1234abcd")
        ok(r is not None and r.code == 200,
           "%s: a branch without the magic cookie (RFC 2543): 200" % P, r)
        time.sleep(1.1)        # a line a second at most: each its own
        r = request(proto, port, branch=None)
        ok(r is not None and r.code == 200,
           "%s: a Via without branch (RFC 2543): 200 (test_rfc2543)" % P,
           r)
        time.sleep(1.1)
        r = request(proto, port, clen=False)
        if proto == "udp":
            ok(r is not None and r.code == 200,
               "UDP: no Content-Length (allowed on UDP): 200", r)
        else:
            ok(r is not None and r.code == 400 and
               "Content-Length" in r.reason,
               "%s: no Content-Length: 400 (%s), then closed" % (
                   P, r and r.reason), r)
        if proto != "udp":
            # over the caps libre's parser and buffer have: answered
            # before the close, unless the answer would repeat 70 KB
            for what, kw, code in (
                    ("a From of 3 KB (over sip_max_address_header)",
                     {"name": "f" * 3000}, 400),
                    ("a Contact of 70 KB (over sip_max_message)",
                     {"extra": ["Contact: <sip:c@h;x=%s>" % ("c" * 70000)]},
                     513),
                    ("Content-Length 100000", {"clen": 100000}, 513),
                    ("a From of 70 KB", {"name": "f" * 70000}, None)):
                time.sleep(1.1)    # a log line a second at most
                r = request(proto, port, **kw)
                if code:
                    ok(r is not None and r.code == code,
                       "%s: %s: %d (%s)" % (P, what, code, r and r.reason),
                       r)
                else:
                    ok(r is None, "%s: %s: closed unanswered (the answer "
                       "would repeat it)" % (P, what), r)
        r = other.register(expires=60)
        ok(r is not None and r.code == 200,
           "%s: another client is served meanwhile" % P, r)

    # over UDP, heads over the edge's caps, refused before decoding:
    # answered unless the long header is one an answer repeats
    for name, extra, code in (
            ("a header line of 9 KB", ["X-Huge: " + "h" * 9000], 400),
            ("a head of 40 KB", ["X-Part-%d: %s" % (i, "p" * 990)
                                 for i in range(40)], 513)):
        time.sleep(1.1)        # a line a second at most: each its own
        r = request("udp", app.port, extra)
        ok(r is not None and r.code == code,
           "UDP: %s: %d (%s)" % (name, code, r and r.reason), r)
    for size, answered in ((3000, True), (9000, False)):
        time.sleep(1.1)
        t = sc.Transport("127.0.0.1", app.port, "udp")
        t.send(("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch="
                "z9hG4bKlongfrom\r\nMax-Forwards: 70\r\nFrom: \"%s\" "
                "<sip:carol@%s>;tag=1\r\nTo: <sip:%s>\r\n"
                "Call-ID: lf%d@x\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n" % (
                    app.domain, t.local[0], t.local[1], "f" * size,
                    app.domain, app.domain, size)).encode())
        raw = t.recv(1.5)
        t.close()
        if answered:
            ok(raw is not None and raw.startswith(b"SIP/2.0 400 Header "
                                                  b"Too Long"),
               "UDP: a From of 3 KB (over sip_max_address_header): 400, "
               "the answer repeating it", raw and raw[:40])
        else:
            ok(raw is None, "UDP: a From of 9 KB: no answer (it would "
               "repeat it, over 8 KiB)", raw and raw[:40])
    log = app.wait_log(["refused before decoding: header 'X-Huge' of",
                        "refused before decoding: head of",
                        "'From' of"])
    ok("over the cap of 8192: 400" in log and
       "over the cap of 32768: 513" in log and
       "over the cap of 1024: 400" in log and
       "no answer (it would repeat the header)" in log,
       "each is logged with what was answered")

    log = app.wait_log(["closed: 400 Header Too Long",
                        "closed: 513 Message Too Large",
                        "closed: Header Too Long, unanswered"])
    ok("closed: 400 Header Too Long" in log and
       "closed: 513 Message Too Large" in log and
       "closed: Message Too Large, unanswered" in log,
       "over TCP and TLS too, each is logged with what was answered")

    log = app.wait_log(["closed: 400 Missing Content-Length"])
    ok("closed: 400 Missing Content-Length" in log,
       "each refusal is logged")
    other.close()
    ok(app.alive(), "the edge is alive")
finally:
    app.close(tap)

sys.exit(tap.done())
