"""test_units: the systemd units (packaging/systemd) as built: every
daemon's unit and lamplight.target pass `systemd-analyze verify` (with
ExecStart pointed at the binaries of this build), and each daemon's unit
is rated OK or better by `systemd-analyze security --offline=true`.
There is no systemd as PID 1 here: the units are checked, not run."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
build = os.path.abspath(lptest.build_dir())
DAEMONS = {"registrar": "registrar", "presence": "presence",
           "imrelay": "imrelay", "blf": "blf"}
units_dir = os.path.join(build, "packaging", "systemd")
target = os.path.join(lptest.ROOT, "packaging", "systemd",
                      "lamplight.target")

if not shutil.which("systemd-analyze"):
    tap.skip("systemd units", "systemd-analyze is not installed")
    sys.exit(tap.done())

d = tempfile.mkdtemp(prefix="lp-units-")
try:
    files = []
    for name, folder in DAEMONS.items():
        unit = "lamplight-%s.service" % name
        with open(os.path.join(units_dir, unit)) as f:
            text = f.read()
        m = re.search(r"(?m)^ExecStart=(\S+)", text)
        tap.ok(m and m.group(1).endswith("/sbin/lamplight-" + name),
               "%s runs lamplight-%s from sbin" % (unit, name),
               m and m.group(1))
        for key in ("Type=notify", "WatchdogSec=", "Restart=on-failure",
                    "User=lamplight", "StateDirectory=lamplight",
                    "RuntimeDirectory=lamplight",
                    "RuntimeDirectoryPreserve=yes", "ProtectSystem=strict",
                    "ProtectHome=yes", "PrivateTmp=yes",
                    "NoNewPrivileges=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                    "SystemCallFilter=@system-service",
                    "CapabilityBoundingSet=\n", "PartOf=lamplight.target"):
            if key not in text:
                tap.ok(False, "%s has %s" % (unit, key.strip()))
                break
        else:
            tap.ok(True, "%s: notify, watchdog, restart, its own user, "
                   "state and runtime directories, the sandbox" % unit)
        # the binary of this build, so that verify finds it executable
        text = text.replace(m.group(1), os.path.join(
            build, "daemons", folder, "lamplight-" + name))
        path = os.path.join(d, unit)
        with open(path, "w") as f:
            f.write(text)
        files.append(path)
    shutil.copy(target, d)
    files.append(os.path.join(d, "lamplight.target"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + files,
                       capture_output=True, text=True, cwd=d)
    tap.ok(r.returncode == 0 and not r.stderr.strip() and
           not r.stdout.strip(),
           "systemd-analyze verify: the four units and lamplight.target "
           "are clean", r.stdout + r.stderr)
    for path in files[:-1]:
        r = subprocess.run(["systemd-analyze", "security",
                            "--offline=true", path],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)",
                      r.stdout + r.stderr)
        tap.ok(m and m.group(2) in ("OK", "PERFECT"),
               "systemd-analyze security rates %s OK or better (%s)" % (
                   os.path.basename(path),
                   m and "%s %s" % (m.group(1), m.group(2))),
               (r.stdout + r.stderr)[-600:])
finally:
    shutil.rmtree(d, ignore_errors=True)

sys.exit(tap.done())
