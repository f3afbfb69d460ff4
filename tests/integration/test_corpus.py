"""test_corpus: every RFC 4475 and RFC 5118 torture message sent to the
registrar over UDP and over TCP. What each message expects comes from
tests/corpus/*.json: `respond` (answered, never with 400),
`reject` (no 2xx: an error answer or silence), `drop` (a stray response:
no answer at all). After each message the daemon must still answer
OPTIONS on that transport.

Each transport gets a daemon of its own, and a message whose branch an
earlier message used gets a fresh daemon: the same branch and sent-by
make one transaction, and the second message only a retransmission. Over UDP
the answer goes where the top Via says (RFC 3261 §18.2.2), to hosts that
do not exist here, so the UDP pass adds ";rport" (RFC 3581) to the top
Via's sent-by, which sends the answer back to us and changes nothing else.

  tester                     registrar
  <torture message> -------->
                    <-------- 4xx / 5xx / 2xx / nothing
  OPTIONS          --------->
                    <-------- 200   (alive)
"""

import hashlib
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()

# libre 1.1.0 refuses to decode a Via without a branch parameter (RFC 2543
# style) and drops the whole message before any listener sees it; the
# edge adds a branch first (daemons/registrar/rfc2543.h) on every
# transport. Were that to fail, these would be reported as TAP TODO.
LIBRE_DROPS = {"inv2543": "libre 1.1.0 cannot decode a request whose Via "
               "has no branch (RFC 2543)",
               "longreq": "libre 1.1.0 cannot decode a request whose Via "
               "has no branch (none of its 31 has)"}
# inv2543 has no Content-Length: valid over UDP, where a datagram ends the
# message, but not over a stream (RFC 3261 §20.14): there the edge must
# refuse it (400 Missing Content-Length), not guess where it ends
OVER_STREAM = {"inv2543": "reject"}
CORPUS = lptest.CORPUS


def load(name):
    with open(os.path.join(CORPUS, name + ".json")) as f:
        meta = json.load(f)
    for m in meta["messages"]:
        with open(os.path.join(CORPUS, name, m["file"]), "rb") as f:
            yield m, f.read()


def responses_udp(port, data, wait=0.6):
    """Every answer until 0.6 s of silence, or 0.1 s after a final one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(data, ("127.0.0.1", port))
    s.settimeout(wait)
    out = []
    try:
        while True:
            out.append(s.recv(65535))
            if (code_of(out[-1]) or 0) >= 200:
                s.settimeout(0.1)
    except socket.timeout:
        pass
    s.close()
    return out


def responses_tcp(port, data, wait=0.6):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(data)
    s.settimeout(wait)
    buf = b""
    try:
        while True:
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            if re.match(rb"SIP/2\.0 [2-6]", buf):
                s.settimeout(0.1)
    except (socket.timeout, ConnectionError):
        pass
    s.close()
    return [m for m in re.split(rb"(?=SIP/2\.0 \d{3})", buf) if m]


VIA = re.compile(rb"(?im)^(?:via|v)[ \t]*:[ \t\r\n]*SIP[ \t\r\n]*/"
                 rb"[ \t\r\n]*2\.0[ \t\r\n]*/[ \t\r\n]*[A-Za-z]+"
                 rb"[ \t\r\n]+(?:\[[^\]]*\]|[^;,\s])+(?::[0-9]+)?")


def with_rport(data):
    m = VIA.search(data)
    if not m:
        return data
    return data[:m.end()] + b";rport" + data[m.end():]


def code_of(raw):
    m = re.match(rb"SIP/2\.0 (\d{3})", raw)
    return int(m.group(1)) if m else None


def alive(app, proto):
    u = sc.UA("127.0.0.1", app.port, app.domain, "x", "x", proto)
    try:
        r = u.request("OPTIONS", "sip:" + app.domain, [], timeout=3)
        return r is not None and r.code == 200
    finally:
        u.close()


def intact(name):
    """Every file of NAME/ as NAME.sha256 lists it, and no file missing:
    the corpus is vendored, and an editor or git's line-end handling
    would quietly turn a torture message into another one."""
    bad = []
    with open(os.path.join(CORPUS, name + ".sha256")) as f:
        listed = [ln.split() for ln in f if ln.strip()]
    for digest, fn in listed:
        with open(os.path.join(CORPUS, name, fn), "rb") as g:
            if hashlib.sha256(g.read()).hexdigest() != digest:
                bad.append(fn)
    files = {fn for _, fn in listed}
    used = {m["file"] for m, _ in load(name)}
    return bad + sorted(used - files), len(listed)


for corpus in ("rfc4475", "rfc5118"):
    bad, count = intact(corpus)
    tap.ok(not bad and count > 0, "%s: %d messages match %s.sha256"
           % (corpus, count, corpus), "differ or unlisted: %s" % bad)

for proto in ("udp", "tcp"):
    app = lptest.Appliance(lptest.build_dir())
    try:
        app.start()
        branches = set()
        for corpus in ("rfc4475", "rfc5118"):
            for m, data in load(corpus):
                b = re.search(rb"(?i)branch[ \t\r\n]*=[ \t\r\n]*"
                              rb"([^;,\s]+)", data)
                b = b.group(1) if b else None
                if b in branches:
                    app.stop()
                    app.start()
                    branches = set()
                branches.add(b)
                if proto == "udp":
                    got = responses_udp(app.port, with_rport(data))
                else:
                    got = responses_tcp(app.port, data)
                codes = [c for c in (code_of(r) for r in got) if c]
                final = [c for c in codes if c >= 200]
                exp = m["expect"]
                if proto != "udp":
                    exp = OVER_STREAM.get(m["name"], exp)
                name = "%s %s (%s) over %s: %s" % (
                    corpus, m["name"], exp, proto.upper(),
                    codes or "no answer")
                if exp == "respond":
                    good = bool(final) and 400 not in final[:1]
                elif exp == "reject":
                    good = not any(200 <= c < 300 for c in final)
                elif exp == "drop":
                    good = not codes
                else:  # "survive"
                    good = True
                if not good and m["name"] in LIBRE_DROPS:
                    tap.todo(name, LIBRE_DROPS[m["name"]])
                else:
                    tap.ok(good, name)
                tap.ok(app.alive() and alive(app, proto),
                       "alive after %s over %s" % (m["name"], proto))
    finally:
        app.close(tap)

sys.exit(tap.done())
