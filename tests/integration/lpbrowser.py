"""lpbrowser: a real headless Chromium (Debian's chromium), driven over
the W3C WebDriver protocol by Debian's chromedriver: plain HTTP and JSON,
so the tests need nothing beyond the Python standard library."""

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import lptest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def available():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


class Browser:
    def __init__(self, logdir):
        self.port = lptest.free_port()
        self.log = open(os.path.join(logdir, "chromedriver.log"), "a")
        self.p = subprocess.Popen([CHROMEDRIVER, "--port=%d" % self.port],
                                  stdout=self.log, stderr=self.log)
        self.base = "http://127.0.0.1:%d" % self.port
        lptest.wait_port(self.port, 15)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking",
                         "--disable-dev-shm-usage",
                         "--window-size=1280,900"]}}}}
        r = self._call("POST", "/session", caps, timeout=60)
        self.sid = r["sessionId"] if "sessionId" in r else \
            r["value"]["sessionId"]

    def _call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method,
                                     headers={"Content-Type":
                                              "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (
                method, path, e.read()[:500]))

    def cmd(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.sid, path),
                          body)["value"]

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def find(self, css):
        v = self.cmd("POST", "/element", {"using": "css selector",
                                          "value": css})
        if not isinstance(v, dict) or ELEMENT not in v:
            raise RuntimeError("no element %s: %s" % (css, v))
        return v[ELEMENT]

    def type(self, css, text):
        el = self.find(css)
        self.cmd("POST", "/element/%s/clear" % el, {})
        self.cmd("POST", "/element/%s/value" % el, {"text": text})

    def click(self, css):
        self.cmd("POST", "/element/%s/click" % self.find(css), {})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script,
                                                  "args": list(args)})

    def text(self, css="body"):
        return self.cmd("GET", "/element/%s/text" % self.find(css))

    def wait(self, script, timeout=5.0, *args):
        """Until the script returns something true; its last value."""
        deadline = time.time() + timeout
        v = None
        while time.time() < deadline:
            v = self.js(script, *args)
            if v:
                return v
            time.sleep(0.1)
        return v

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def close(self):
        try:
            self._call("DELETE", "/session/%s" % self.sid, timeout=10)
        except Exception:
            pass
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
