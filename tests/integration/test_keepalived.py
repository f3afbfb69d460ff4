#!/usr/bin/env python3
"""test_keepalived: the keepalived example the package ships
(packaging/keepalived/keepalived.conf, docs/admin-guide.md "A floating
address") is a configuration keepalived accepts (`keepalived -t`), its
interface set to one this machine has, and the same with a line taken
out is not (so the check can fail); its health check names the edge's
unit as the package installs it. The addresses moving between two
machines is not tried here."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
ok = tap.ok
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(ROOT, "packaging", "keepalived", "keepalived.conf")

ka = shutil.which("keepalived") or (
    "/usr/sbin/keepalived" if os.path.exists("/usr/sbin/keepalived")
    else None)
ifaces = sorted(i for i in os.listdir("/sys/class/net") if i != "lo")
if not ka:
    tap.skip("the keepalived example", "keepalived is not installed")
    sys.exit(tap.done())
if not ifaces:
    tap.skip("the keepalived example", "no network interface but lo")
    sys.exit(tap.done())

with open(EXAMPLE) as f:
    text = f.read()
units = open(os.path.join(ROOT, "packaging", "systemd",
                          "meson.build")).read()
ok("lamplight-registrar.service" in text and
   "'lamplight-registrar'" in units,
   "the health check asks systemd about the edge's unit")

d = tempfile.mkdtemp(prefix="lp-ka-")
try:
    good = os.path.join(d, "good.conf")
    with open(good, "w") as f:
        f.write(text.replace("interface eth0", "interface " + ifaces[0]))
    r = subprocess.run([ka, "-t", "-f", good], capture_output=True,
                       text=True, timeout=30)
    ok(r.returncode == 0, "keepalived -t accepts the example (on %s)"
       % ifaces[0], r.stdout + r.stderr)
    bad = os.path.join(d, "bad.conf")
    with open(bad, "w") as f:
        f.write(text.replace("interface eth0", "interface " + ifaces[0])
                .replace("virtual_router_id 51", "", 1))
    r = subprocess.run([ka, "-t", "-f", bad], capture_output=True,
                       text=True, timeout=30)
    ok(r.returncode != 0 and "virtual router id" in r.stdout + r.stderr,
       "and refuses it without a virtual_router_id",
       r.stdout + r.stderr)
finally:
    shutil.rmtree(d, ignore_errors=True)
sys.exit(tap.done())
