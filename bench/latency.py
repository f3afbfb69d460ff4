"""latency: registration time measured to the microsecond, which SIPp's
RTT trace (whole milliseconds) cannot give. Starts one registration
(REGISTER, 401, REGISTER with MD5 digest, 200) every 1/rate seconds from
one UDP socket and times each from its first send to its 200. The
client's own work (parsing, one digest) is in every figure alike, for
both servers."""

import hashlib
import os
import re
import select
import socket
import time

CODE = re.compile(rb"^SIP/2\.0 (\d{3})")
CALLID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")
NONCE = re.compile(rb'nonce="([^"]+)"')
REALM = re.compile(rb'realm="([^"]+)"')


def _req(local, domain, user, callid, cseq, auth=""):
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%s@%s>;tag=%s\r\n"
            "To: <sip:%s@%s>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d REGISTER\r\n"
            "Contact: <sip:%s@%s:%d>\r\n"
            "Expires: 3600\r\n%s"
            "Content-Length: 0\r\n\r\n" % (
                domain, local[0], local[1], callid, cseq, user, domain,
                callid[:8], user, domain, callid, cseq, user, local[0],
                local[1], auth)).encode()


def auth(user, password, realm, nonce, uri, method="REGISTER",
         header="Authorization"):
    """An MD5 digest (qop=auth, nc 1) answering one challenge."""
    ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode())
    ha2 = hashlib.md5(("%s:%s" % (method, uri)).encode())
    resp = hashlib.md5(("%s:%s:00000001:0a4f113b:auth:%s" % (
        ha1.hexdigest(), nonce, ha2.hexdigest())).encode()).hexdigest()
    return ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5, cnonce="0a4f113b", qop=auth, '
            'nc=00000001\r\n' % (header, user, realm, nonce, uri, resp))


def udp_socket(port=0):
    """A non-blocking UDP socket on 127.0.0.1 and its address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s, s.getsockname()


def paced(s, rate, total, seconds, start, receive, busy):
    """The load loop the latency clients share: start(i) is called for
    i = 0..total-1 at i/rate seconds; every datagram on socket s goes to
    receive(data); it ends when all started and busy() is false, or
    5 s after the last start was due."""
    def recv_all(sock):
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            receive(data)
    paced_fn(s, rate, total, seconds, start, recv_all, busy)


def paced_fn(s, rate, total, seconds, start, recv_all, busy):
    """paced(), with recv_all(s) reading whatever is waiting on s."""
    started = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds + 5
    while (started < total or busy()) and time.perf_counter() < deadline:
        now = time.perf_counter()
        while started < total and now >= t0 + started / rate:
            start(started)
            started += 1
        wait = max(0.0, min(0.01, t0 + started / rate - now))
        r, _, _ = select.select([s], [], [], wait)
        if r:
            recv_all(s)


def run(port, domain, users, rate, seconds, local_port=0):
    """(registration times in ms, registrations lost or refused);
    users: [(user, password)]."""
    s, local = udp_socket(local_port)
    dst = ("127.0.0.1", port)
    total = int(rate * seconds)
    pending = {}            # callid -> (start, user, password)
    times = []
    tag = os.urandom(4).hex()

    def start(i):
        user, pw = users[i % len(users)]
        callid = "%s%07d" % (tag, i)
        pending[callid.encode()] = (time.perf_counter(), user, pw)
        s.sendto(_req(local, domain, user, callid, 1), dst)

    def receive(data):
        m, c = CODE.match(data), CALLID.search(data)
        if not m or not c or c.group(1) not in pending:
            return
        code = int(m.group(1))
        t, user, pw = pending[c.group(1)]
        if code == 401:
            a = auth(user, pw, REALM.search(data).group(1).decode(),
                     NONCE.search(data).group(1).decode(), "sip:" + domain)
            s.sendto(_req(local, domain, user, c.group(1).decode(), 2, a),
                     dst)
        elif code >= 200:
            del pending[c.group(1)]
            if code == 200:
                times.append((time.perf_counter() - t) * 1000.0)

    paced(s, rate, total, seconds, start, receive, lambda: bool(pending))
    s.close()
    return times, total - len(times)
