"""test_manpages: a manual page for every program and for the
configuration file (packaging/man), each naming what it documents and
rendered by groff without a warning; every systemd unit's Documentation=
names one of them."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402

tap = lptest.Tap()
MAN = os.path.join(lptest.ROOT, "packaging", "man")
PAGES = {"lamplightctl": 1, "lamplight.conf": 5, "lamplight-registrar": 8,
         "lamplight-presence": 8, "lamplight-imrelay": 8, "lamplight-blf": 8,
         "lamplight.cgi": 8}
groff = shutil.which("groff")
for name, sec in PAGES.items():
    path = os.path.join(MAN, "%s.%d" % (name, sec))
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        tap.ok(False, "%s(%d) exists" % (name, sec))
        continue
    tap.ok(re.search(r"(?m)^\.TH %s %d " % (re.escape(name.upper()), sec),
                     text) and
           re.search(r"(?m)^\.SH NAME\n%s \\- " % re.escape(name), text),
           "%s(%d): its title and NAME" % (name, sec))
    if groff:
        r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", path],
                           capture_output=True, text=True)
        tap.ok(r.returncode == 0 and not r.stderr.strip(),
               "%s(%d) renders without a warning" % (name, sec), r.stderr)
    else:
        tap.skip("%s(%d) renders" % (name, sec), "groff not installed")

units = os.path.join(lptest.ROOT, "packaging", "systemd")
docs = []
for f in ("service.in", "lamplight.target"):
    with open(os.path.join(units, f)) as fh:
        docs += re.findall(r"(?m)^Documentation=man:(\S+)\((\d)\)",
                           fh.read())
ok = bool(docs) and all(n == "@BINARY@" and s == "8" or
                        PAGES.get(n) == int(s) for n, s in docs)
tap.ok(ok, "the units' Documentation= names pages that exist", docs)
sys.exit(tap.done())
