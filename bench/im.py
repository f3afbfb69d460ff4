"""im: instant-message relay time measured to the microsecond. Sends one
MESSAGE every 1/rate seconds from one UDP socket (MESSAGE, 407, MESSAGE
with MD5 digest, 200 once the target's device took it) and times each
from its authenticated MESSAGE to the arrival of its 200, as the kernel
timestamped it: what a sender waits for, less its own challenge round
trip. The target's device is SIPp (bench/im_device.xml)."""

import os
import re
import socket
import time

import latency

CODE = re.compile(rb"^SIP/2\.0 (\d{3})")
CALLID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")
NONCE = re.compile(rb'nonce="([^"]+)"')
REALM = re.compile(rb'realm="([^"]+)"')
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
BODY = b"Are you coming to the 3 o'clock meeting in room 4?"


def _msg(local, domain, user, target, callid, cseq, auth=""):
    return ("MESSAGE sip:%s@%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%s@%s>;tag=%s\r\n"
            "To: <sip:%s@%s>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d MESSAGE\r\n"
            "Content-Type: text/plain\r\n%s"
            "Content-Length: %d\r\n\r\n" % (
                target, domain, local[0], local[1], callid, cseq, user,
                domain, callid[:8], target, domain, callid, cseq, auth,
                len(BODY))).encode() + BODY


def run(port, domain, users, target, rate, seconds):
    """(relay times in ms, messages lost or refused); users:
    [(user, password)]."""
    s, local = latency.udp_socket()
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    dst = ("127.0.0.1", port)
    total = int(rate * seconds)
    pending = {}            # callid -> [user, pw, t_auth_sent]
    times = []
    tag = os.urandom(4).hex()

    def start(i):
        user, pw = users[i % len(users)]
        callid = "%s%07d" % (tag, i)
        pending[callid.encode()] = [user, pw, None]
        s.sendto(_msg(local, domain, user, target, callid, 1), dst)

    def receive(data, ts):
        m, cid = CODE.match(data), CALLID.search(data)
        p = pending.get(cid.group(1)) if m and cid else None
        if p is None:
            return
        code = int(m.group(1))
        if code == 407 and p[2] is None:
            uri = "sip:%s@%s" % (target, domain)
            a = latency.auth(p[0], p[1], REALM.search(data).group(1)
                             .decode(), NONCE.search(data).group(1)
                             .decode(), uri, "MESSAGE",
                             "Proxy-Authorization")
            p[2] = time.time_ns()
            s.sendto(_msg(local, domain, p[0], target,
                          cid.group(1).decode(), 2, a), dst)
        elif code >= 200 and p[2] is not None:
            if code == 200:
                times.append((ts - p[2]) / 1e6)
            del pending[cid.group(1)]

    def recv_all(sock):
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(65535, 64)
            except BlockingIOError:
                return
            ts = time.time_ns()
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and \
                   typ == SO_TIMESTAMPNS:
                    sec, nsec = int.from_bytes(val[:8], "little"), \
                        int.from_bytes(val[8:16], "little")
                    ts = sec * 1000000000 + nsec
            receive(data, ts)

    latency.paced_fn(s, rate, total, seconds, start, recv_all,
                     lambda: bool(pending))
    s.close()
    return times, total - len(times)
