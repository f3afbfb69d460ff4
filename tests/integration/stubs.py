"""stubs: stand-ins for the back daemons (a UDP SIP endpoint that records
what reaches it, answers with a fixed code, and sends requests to the
edge) and the two things a test phone must do (notice a request, answer
it), for the routing tests."""

import re
import socket
import threading
import time

import lptest
import sipclient as sc


class Stub:
    """A back daemon that answers `code` (None: never) and keeps what it
    received."""

    def __init__(self, code=200):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", lptest.free_port()))
        self.port = self.sock.getsockname()[1]
        self.code = code
        self.got = []
        self.sent = []             # requests sent, as sent
        self.responses = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if data.startswith(b"SIP/2.0"):
                self.responses.append(data)
                continue
            self.got.append(data)
            if self.code is None:
                continue
            head = data.split(b"\r\n\r\n")[0].decode()
            lines = head.split("\r\n")[1:]
            keep = [ln for ln in lines if re.match(
                r"(?i)(via|from|call-id|cseq)\s*:", ln)]
            to = [ln for ln in lines if re.match(r"(?i)to\s*:", ln)][0]
            resp = "SIP/2.0 %d Stub\r\n%s\r\n%s;tag=stub\r\n" \
                   "X-Stub: yes\r\nContent-Length: 0\r\n\r\n" % (
                       self.code, "\r\n".join(keep), to)
            self.sock.sendto(resp.encode(), src)

    def request(self, edge_port, lines, timeout=3.0):
        """Send a request (list of lines, Via added) to the edge; its
        final answer or None."""
        branch = "z9hG4bKstub" + sc.rand(8)
        text = "\r\n".join(
            [lines[0], "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" %
             (self.port, branch)] + lines[1:]) + "\r\n"
        if "Content-Length" not in text:
            text += "Content-Length: 0\r\n"
        text += "\r\n"
        self.responses = []
        self.sent.append(text.encode())
        self.sock.sendto(text.encode(), ("127.0.0.1", edge_port))
        end = time.time() + timeout
        while time.time() < end:
            for raw in list(self.responses):
                r = sc.Response(raw)
                if branch in (r.get("via") or "") and r.code >= 200:
                    return r
            time.sleep(0.02)
        return None

    def last(self):
        return sc.Response(b"SIP/2.0 200 X\r\n" +
                           self.got[-1].split(b"\r\n", 1)[1]) \
            if self.got else None

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def answer(u, raw, code=200):
    """Answer a request a device received, as a phone would."""
    head = raw.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    keep = [ln for ln in head if re.match(
        r"(?i)(via|v|from|f|call-id|i|cseq|to|t)\s*:", ln)]
    u.t.send(("SIP/2.0 %d OK\r\n%s\r\nContent-Length: 0\r\n\r\n" %
              (code, "\r\n".join(keep))).encode())


def incoming(u, method, timeout=3.0):
    """The next request of that method the device receives, or None."""
    end = time.time() + timeout
    while time.time() < end:
        raw = u.t.recv(max(0.05, end - time.time()))
        if raw and raw.startswith(method.encode() + b" "):
            return raw
    return None
