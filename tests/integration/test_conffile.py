"""test_conffile: the configuration keys are the same in the code
(libcommon/base/conf.c), the reference (docs/configuration.md) and the file
the package installs (packaging/lamplight.conf, every key listed); that
file, with every listed default uncommented, is accepted as it is (only
the paths and the port moved to a scratch directory)."""

import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
ROOT = lptest.ROOT
with open(os.path.join(ROOT, "libcommon", "base", "conf.c")) as f:
    keys = re.findall(r'\{"([a-z_]+)",\s+K_', f.read())
with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
    documented = re.findall(r"(?m)^\| `([a-z_]+)` \|", f.read())
with open(os.path.join(ROOT, "packaging", "lamplight.conf")) as f:
    sample = f.read()
listed = re.findall(r"(?m)^#? ?([a-z_]+) =", sample)

tap.ok(len(keys) > 40, "conf.c has its keys (%d)" % len(keys))
tap.ok(sorted(keys) == sorted(documented),
       "docs/configuration.md documents every key, and no other",
       (set(keys) ^ set(documented)))
tap.ok(set(keys) == set(listed),
       "packaging/lamplight.conf lists every key, and no other",
       (set(keys) ^ set(listed)))

d = tempfile.mkdtemp(prefix="lp-conf-")
port = lptest.free_port()
lines = []
for ln in sample.splitlines():
    m = re.match(r"^# ?([a-z_]+) = ?(.*)$", ln)
    if m:
        ln = "%s = %s" % (m.group(1), m.group(2))
    key = ln.split("=")[0].strip()
    if key in ("state_dir", "runtime_dir", "admin_db", "listen",
               "tls_certificate", "bus_registrar_pub",
               "bus_registrar_snapshot", "bus_presence_pub",
               "bus_presence_snapshot", "node_id", "cluster_bus",
               "cluster_key"):
        continue
    lines.append(ln)
lines += ["state_dir = %s/state" % d, "runtime_dir = %s/run" % d,
          "listen = udp:127.0.0.1:%d" % port]
conf = os.path.join(d, "lamplight.conf")
with open(conf, "w") as f:
    f.write("\n".join(lines) + "\n")
r = subprocess.run([os.path.join(lptest.build_dir(), "tools",
                                 "lamplightctl"), "-c", conf, "user",
                    "list"], capture_output=True, text=True, timeout=30)
tap.ok(r.returncode == 0, "every default of the file, uncommented, is "
       "accepted (lamplightctl reads it)", r.stderr)
subprocess.run(["rm", "-rf", d])
sys.exit(tap.done())
