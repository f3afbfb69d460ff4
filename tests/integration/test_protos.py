"""test_protos: all 4,527 PROTOS c07-sip cases (tests/corpus/,
INVITEs with every kind of malformed field, each followed by its
teardown request) sent to the edge: over UDP, or over TCP for the 81 that
no datagram holds. The edge must not crash or hang: it answers a valid
REGISTER after every batch and at the end, with no sanitizer report; the
valid case (0) is answered, no case gets a 5xx other than 503, and what
it did with each case is counted. Its log stays UTF-8 without control
characters whatever the cases hold."""

import os
import re
import socket
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
ARCHIVE = os.path.join(lptest.CORPUS, "protos-c07-sip",
                       "c07-sip-cases.tar.xz")

# the flood limit off: 9,000 unauthenticated requests from one port are
# what it is for (test_flood), this is the parser's test
app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n"
                       "flood_rate = 0\n")
BATCH = 150


def cases():
    """(number, invite template, teardown template), in order."""
    with tarfile.open(ARCHIVE) as tf:
        members = sorted((m for m in tf.getmembers()
                          if re.search(r"cases/\d+$", m.name)),
                         key=lambda m: m.name)
        for m in members:
            raw = tf.extractfile(m).read()
            parts = []
            while raw:
                sp = raw.index(b" ")
                n = int(raw[:sp])
                parts.append(raw[sp + 1:sp + 1 + n])
                raw = raw[sp + 1 + n:]
            yield int(m.name.rsplit("/", 1)[1]), parts[0], \
                parts[1] if len(parts) > 1 else None


def fill(tmpl, num, port, kind):
    """The template with its placeholders filled as the PROTOS tool
    does: the body's real length in Content-Length."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in tmpl else b"\n\n"
    subs = {b"<To>": ("bob@%s" % app.domain).encode(),
            b"<From>": ("alice@%s" % app.domain).encode(),
            b"<From-Address>": b"127.0.0.1",
            b"<From-IP>": b"127.0.0.1",
            b"<Local-Port>": str(port).encode(),
            b"<Branch-ID>": ("%s%d" % (kind, num)).encode(),
            b"<Call-ID>": ("protos%d" % num).encode(),
            b"<CSeq>": b"1",
            b"<Teardown-Method>": b"CANCEL"}
    for k, v in subs.items():
        tmpl = tmpl.replace(k, v)
    # the length of the body as sent, its placeholders filled (the body
    # of the template is longer: a cut-short datagram gets 400)
    body = tmpl.split(sep, 1)[1] if sep in tmpl else b""
    return tmpl.replace(b"<Content-Length>", str(len(body)).encode())


UA = None


def alive():
    """alice's one device registers again (the same contact each time)."""
    global UA
    if UA is None:
        UA = sc.UA("127.0.0.1", app.port, app.domain, "alice", "alicepw")
    r = UA.register(expires=60)
    return r is not None and r.code == 200


def drain(sock, answers, until):
    while True:
        left = until - time.time()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            data = sock.recv(70000)
        except socket.timeout:
            return
        m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*protos(\d+)", data)
        code = re.match(rb"SIP/2\.0 (\d{3})", data)
        if m and code:
            answers.setdefault(int(m.group(1)), []).append(
                int(code.group(1)))


def tcp_case(invite, teardown):
    """One connection; what came back (b"" if it was closed)."""
    s = socket.create_connection(("127.0.0.1", app.port), 5)
    got = b""
    try:
        s.sendall(invite)
        if teardown:
            s.sendall(teardown)
        s.settimeout(1.0)
        while True:
            d = s.recv(70000)
            if not d:
                break
            got += d
    except (socket.timeout, OSError):
        pass
    finally:
        s.close()
    return got


try:
    app.add_user("alice", "alicepw")
    app.add_user("bob", "bobpw")
    app.start()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    port = u.getsockname()[1]
    answers, over_tcp, tcp_answered = {}, 0, 0
    hung = []
    total = 0
    t0 = time.time()
    batch = 0
    for num, inv, td in cases():
        total += 1
        invite = fill(inv, num, port, "i")
        teardown = fill(td, num, port, "t") if td else None
        if len(invite) > 65000 or (teardown and len(teardown) > 65000):
            over_tcp += 1
            if re.match(rb"SIP/2\.0 \d{3}", tcp_case(invite, teardown)):
                tcp_answered += 1
            continue
        u.sendto(invite, ("127.0.0.1", app.port))
        if teardown:
            u.sendto(teardown, ("127.0.0.1", app.port))
        batch += 1
        if batch >= BATCH:
            drain(u, answers, time.time() + 0.15)
            batch = 0
            if not app.alive() or not alive():
                hung.append(num)
                break
    drain(u, answers, time.time() + 2.0)
    took = time.time() - t0
    u.close()

    tap.ok(total == 4527, "all %d PROTOS c07-sip cases read" % total)
    tap.ok(app.alive() and not hung,
           "the edge is alive and answered a valid REGISTER after every "
           "batch of %d cases (%.1f s in all)" % (BATCH, took), hung)
    tap.ok(alive(), "after the last case a user still registers")
    codes = {}
    for num, cs in answers.items():
        for c in cs:
            codes[c] = codes.get(c, 0) + 1
    bad = sorted((num, cs) for num, cs in answers.items()
                 if any(c >= 500 and c not in (503, 513) for c in cs))
    tap.ok(not bad, "no case got a 5xx other than 503 and 513 (a head "
           "over 32 KiB)", bad[:10])
    tap.ok(0 in answers and 407 in answers[0],
           "the valid case (0) is answered: 407, credentials wanted",
           answers.get(0))
    n400 = sum(1 for cs in answers.values() if 400 in cs)
    print("# answered %d of %d UDP cases; answers by code: %s; "
          "%d of %d TCP cases answered (the others closed)"
          % (len(answers), total - over_tcp, sorted(codes.items()),
             tcp_answered, over_tcp))
    raw = open(os.path.join(app.dir, "registrar.log"), "rb").read()
    try:
        text = raw.decode("utf-8")
        ctl = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    except UnicodeDecodeError as e:
        text, ctl = "", e
    dropped = len(re.findall(r"refused before decoding", text))
    tap.ok(text and not ctl and dropped > 0,
           "the edge's log is UTF-8 with no control character (what a "
           "peer sent is escaped), and says what it dropped unread (%d "
           "lines)" % dropped, ctl)
    # a malformed From of 60 KiB over TCP: the TCP guard refuses it at
    # the end of its head, unanswered (an answer would repeat it), before
    # libre's parser (itself guarded: libcommon/base/reguard.c) sees it
    junk = b":" * 60000
    msg = (b"OPTIONS sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:"
           b"5;branch=z9hG4bKbig\r\nFrom:%s 1 <sip:bob@%s>;tag=1\r\n"
           b"To: <sip:alice@%s>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n"
           b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
           % (app.domain.encode(), junk, app.domain.encode(),
              app.domain.encode()))
    t1 = time.time()
    tcp_case(msg, None)
    ok1 = alive()
    took1 = time.time() - t1
    tap.ok(ok1 and "closed: Header Too Long, unanswered" in app.log(),
           "a 60 KiB malformed From over TCP is refused at once with a log "
           "line, and a REGISTER right after it is answered (%.2f s)"
           % took1)
    tap.ok(len(answers) > 0.8 * (total - over_tcp) and n400 > 500,
           "most cases are answered, many with 400 and a reason (%d "
           "answered, %d with 400); the rest are messages libre cannot "
           "decode at all, or heads too big to decode in good time, "
           "dropped with a log line" % (len(answers), n400))
finally:
    app.close(tap)

sys.exit(tap.done())
