"""sipclient: a small SIP client for integration tests: builds requests,
sends them over UDP or TCP, parses responses, answers digest challenges
(MD5, SHA-256, SHA-512-256, RFC 7616/8760). Only what the tests need."""

import hashlib
import random
import re
import socket
import ssl
import string
import time


def rand(n=10):
    return "".join(random.choice(string.ascii_lowercase + string.digits)
                   for _ in range(n))


def parse_headers(lines):
    """[(lower-case name, value)], folded lines joined."""
    headers = []
    for line in lines:
        if line[:1] in (" ", "\t") and headers:
            n, v = headers[-1]
            headers[-1] = (n, v + " " + line.strip())
            continue
        n, _, v = line.partition(":")
        headers.append((n.strip().lower(), v.strip()))
    return headers


class Response:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
        if not m:
            raise ValueError("not a response: %r" % lines[0])
        self.code = int(m.group(1))
        self.reason = m.group(2)
        self.headers = parse_headers(lines[1:])

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def contacts(self):
        """[(uri, {param: value})] of every Contact."""
        out = []
        for v in self.all("contact"):
            for part in split_commas(v):
                m = re.match(r"\s*(?:\"[^\"]*\"\s*)?<([^>]*)>(.*)", part)
                if not m:
                    continue
                params = {}
                for p in m.group(2).split(";")[1:]:
                    k, _, val = p.partition("=")
                    params[k.strip().lower()] = val.strip()
                out.append((m.group(1), params))
        return out

    def __repr__(self):
        return "<%d %s>" % (self.code, self.reason)


def split_commas(v):
    parts, cur, q, ang = [], "", False, False
    for ch in v:
        if ch == '"':
            q = not q
        elif ch == "<" and not q:
            ang = True
        elif ch == ">" and not q:
            ang = False
        if ch == "," and not q and not ang:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_challenge(value):
    scheme, _, rest = value.partition(" ")
    params = {}
    for m in re.finditer(r'([a-zA-Z-]+)=("([^"]*)"|[^,\s]+)', rest):
        params[m.group(1).lower()] = m.group(3) if m.group(3) is not None \
            else m.group(2)
    params["scheme"] = scheme
    return params


HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256,
          "SHA-512-256": lambda b: hashlib.new("sha512_256", b)}


def H(alg, s):
    return HASHES[alg.upper()](s.encode()).hexdigest()


def digest_response(alg, user, realm, password, method, uri, nonce, nc,
                    cnonce, qop="auth"):
    ha1 = H(alg, "%s:%s:%s" % (user, realm, password))
    ha2 = H(alg, "%s:%s" % (method, uri))
    return H(alg, "%s:%s:%08x:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))


class Transport:
    def __init__(self, host, port, proto="udp", local="127.0.0.1"):
        self.host, self.port, self.proto = host, port, proto
        if proto == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((local, 0))
        elif proto == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE   # a test certificate
            raw = socket.create_connection((host, port), timeout=5)
            self.sock = ctx.wrap_socket(raw)
        else:
            self.sock = socket.create_connection(
                (host, port), timeout=5, source_address=(local, 0))
        self.buf = b""
        self.last_from = None     # UDP: where the last datagram came from
        self.local = self.sock.getsockname()

    def send(self, data):
        if self.proto == "udp":
            self.sock.sendto(data, (self.host, self.port))
        else:
            self.sock.sendall(data)

    def recv(self, timeout=3.0):
        """One message, or None on timeout."""
        self.sock.settimeout(timeout)
        deadline = time.time() + timeout
        try:
            if self.proto == "udp":
                data, self.last_from = self.sock.recvfrom(65535)
                return data
            while True:
                msg = self._frame()
                if msg is not None:
                    return msg
                self.sock.settimeout(max(0.01, deadline - time.time()))
                chunk = self.sock.recv(65535)
                if not chunk:
                    return None
                self.buf += chunk
        except (socket.timeout, ConnectionError):
            return None

    def _frame(self):
        while self.buf.startswith(b"\r\n"):
            self.buf = self.buf[2:]
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("utf-8", "replace")
        m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        clen = int(m.group(1)) if m else 0
        if len(self.buf) < end + 4 + clen:
            return None
        msg = self.buf[:end + 4 + clen]
        self.buf = self.buf[end + 4 + clen:]
        return msg

    def close(self):
        self.sock.close()


class UA:
    """A user agent that registers."""

    def __init__(self, server, port, domain, user, password, proto="udp",
                 algorithms=None, local="127.0.0.1"):
        self.t = Transport(server, port, proto, local)
        self.domain, self.user, self.password = domain, user, password
        self.server, self.port, self.proto = server, port, proto
        self.callid = rand(16) + "@test"
        self.cseq = 0
        self.tag = rand(8)
        self.nc = 0
        self.algorithms = algorithms
        self.last_chall = None

    def contact_uri(self, suffix=""):
        ip, port = self.t.local[0], self.t.local[1]
        tp = "" if self.proto == "udp" else ";transport=" + self.proto
        return "sip:%s%s@%s:%d%s" % (self.user, suffix, ip, port, tp)

    def build(self, method, ruri, headers, body=b"", cseq=None):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        ip, port = self.t.local[0], self.t.local[1]
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
                     self.proto.upper(), ip, port, rand(12)),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (self.user, self.domain,
                                                self.tag),
                 "To: <sip:%s@%s>" % (self.user, self.domain),
                 "Call-ID: %s" % self.callid,
                 "CSeq: %d %s" % (cseq, method)]
        lines += headers
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def request(self, method, ruri, headers, body=b"", timeout=3.0,
                cseq=None):
        self.t.send(self.build(method, ruri, headers, body, cseq))
        while True:
            raw = self.t.recv(timeout)
            if raw is None:
                return None
            r = Response(raw)
            if r.code >= 200:
                return r

    def auth_header(self, chall, method, ruri, password=None, user=None,
                    nc=None):
        alg = chall.get("algorithm", "MD5")
        self.nc = self.nc + 1 if nc is None else nc
        cnonce = rand(8)
        u = user or self.user
        resp = digest_response(alg, u, chall["realm"],
                               password if password is not None
                               else self.password, method, ruri,
                               chall["nonce"], self.nc, cnonce)
        return ('Authorization: Digest username="%s", realm="%s", '
                'nonce="%s", uri="%s", response="%s", algorithm=%s, '
                'cnonce="%s", qop=auth, nc=%08x' % (
                    u, chall["realm"], chall["nonce"], ruri, resp, alg,
                    cnonce, self.nc))

    def pick(self, r):
        challs = [parse_challenge(v) for v in r.all("www-authenticate")]
        if self.algorithms:
            for want in self.algorithms:
                for c in challs:
                    if c.get("algorithm", "MD5").upper() == want.upper():
                        return c
            return None
        return challs[0] if challs else None

    def register(self, contacts=None, expires=None, extra=None,
                 password=None, user=None):
        ruri = "sip:%s" % self.domain
        hdrs = []
        if contacts is None:
            contacts = ["<%s>" % self.contact_uri()]
        hdrs += ["Contact: %s" % c for c in contacts]
        if expires is not None:
            hdrs.append("Expires: %d" % expires)
        hdrs += extra or []
        r = self.request("REGISTER", ruri, hdrs)
        if r is None or r.code != 401:
            return r
        chall = self.pick(r)
        if chall is None:
            return r
        self.last_chall = chall
        self.nc = 0
        auth = self.auth_header(chall, "REGISTER", ruri, password, user)
        return self.request("REGISTER", ruri, hdrs + [auth])

    def close(self):
        self.t.close()
