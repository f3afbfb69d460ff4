"""lpweb: the admin page under test: lighttpd started on a port of its
own for an lptest.Appliance, with the CGI of the build, the page's static
files and the provisioning templates of the source tree; and a small
browser-less client (cookies, forms, digest) for the HTTP tests."""

import http.cookiejar
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import lptest



class Web:
    def __init__(self, app, https=False):
        self.app = app
        self.port = lptest.free_port()
        self.base = "%s://127.0.0.1:%d" % ("https" if https else "http",
                                            self.port)
        os.makedirs(os.path.join(app.dir, "docroot"), exist_ok=True)
        self.conf = os.path.join(app.dir, "lighttpd.conf")
        with open(os.path.join(lptest.ROOT, "web",
                               "lighttpd-standalone.conf.in")) as f:
            text = f.read()
        for k, v in (("DIR", app.dir), ("PORT", str(self.port)),
                     ("SRC", lptest.ROOT),
                     ("CGI", os.path.join(app.build, "web",
                                          "lamplight.cgi")),
                     ("CONF", app.conf),
                     ("ASAN", os.environ.get("ASAN_OPTIONS", "")),
                     ("UBSAN", os.environ.get("UBSAN_OPTIONS", ""))):
            text = text.replace("@%s@" % k, v)
        if https:
            key = os.path.join(app.dir, "web-key.pem")
            cert = os.path.join(app.dir, "web-cert.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey",
                            "rsa:2048", "-nodes", "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                           capture_output=True, check=True)
            text += ('server.modules += ("mod_openssl")\n'
                     'ssl.engine = "enable"\nssl.pemfile = "%s"\n'
                     'ssl.privkey = "%s"\n' % (cert, key))
        with open(self.conf, "w") as f:
            f.write(text)
        self.out = open(os.path.join(app.dir, "lighttpd.out"), "a")
        self.p = subprocess.Popen(["lighttpd", "-D", "-f", self.conf],
                                  stdout=self.out, stderr=self.out)
        if not lptest.wait_port(self.port):
            raise RuntimeError("lighttpd did not start: " + self.log())

    def log(self):
        """What the CGI wrote to stderr (lighttpd passes it on)."""
        self.out.flush()
        with open(os.path.join(self.app.dir, "lighttpd.out")) as f:
            return f.read()

    def sanitizer_report(self):
        """What AddressSanitizer, LeakSanitizer or UBSan said about a CGI
        run (they write to the CGI's stderr), or ""."""
        log = self.log()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:"):
            i = log.find(mark)
            if i >= 0:
                return log[max(0, i - 200):i + 1500]
        return ""

    def close(self, tap=None):
        if tap is not None:
            rep = self.sanitizer_report()
            tap.ok(not rep, "no sanitizer report from the CGI", rep)
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


# the test's own self-signed certificate
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


class Resp:
    def __init__(self, code, headers, body):
        self.code, self.headers, self.body = code, headers, body
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Client:
    """Cookies kept; redirects not followed (the tests look at them)."""

    def __init__(self, web, source="127.0.0.1"):
        self.web = web
        self.jar = http.cookiejar.CookieJar()
        self.source = source
        handlers = [urllib.request.HTTPCookieProcessor(self.jar),
                    NoRedirect()]
        handlers.append(urllib.request.HTTPSHandler(context=UNVERIFIED))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, path, data=None, headers=None, method=None):
        url = self.web.base + path
        body = urllib.parse.urlencode(data).encode() if data is not None \
            else None
        req = urllib.request.Request(url, data=body, headers=headers or {},
                                     method=method)
        if self.source != "127.0.0.1":
            # a second address: the socket is bound to it before connect
            import http.client
            if self.web.base.startswith("https"):
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.web.port, timeout=20,
                    source_address=(self.source, 0), context=UNVERIFIED)
            else:
                conn = http.client.HTTPConnection(
                    "127.0.0.1", self.web.port, timeout=20,
                    source_address=(self.source, 0))
            self.jar.add_cookie_header(req)
            hdrs = dict(req.header_items())
            if body is not None:
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(req.get_method(), path, body, hdrs)
            r = conn.getresponse()
            out = Resp(r.status, r.headers, r.read())

            class Fake:
                def info(self_):
                    return r.headers
            self.jar.extract_cookies(Fake(), req)
            conn.close()
            return out
        try:
            with self.opener.open(req, timeout=20) as r:
                return Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request(path, **kw)

    def post(self, path, data, **kw):
        return self.request(path, data=data, **kw)

    def csrf(self, path):
        """The CSRF token of the forms of a page."""
        r = self.get(path)
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
        return m.group(1) if m else ""

    def login(self, name, password):
        token = self.csrf("/lamplight/login")
        return self.post("/lamplight/login", {"csrf": token, "name": name,
                                              "password": password})


def fetch(web, path, user=None, password=None, basic=False):
    """A phone's fetch: GET, with digest (or Basic) credentials."""
    url = web.base + path
    tls = urllib.request.HTTPSHandler(context=UNVERIFIED)
    if user is None:
        try:
            with urllib.request.build_opener(tls).open(url,
                                                       timeout=20) as r:
                return Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.headers, e.read())
    req = urllib.request.Request(url)
    if basic:
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode())
        opener = urllib.request.build_opener(tls)
    else:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, user, password)
        opener = urllib.request.build_opener(
            urllib.request.HTTPDigestAuthHandler(mgr), tls)
    try:
        with opener.open(req, timeout=20) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())
