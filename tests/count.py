"""count: reads meson's testlog.json of each build and prints every test
case (TAP line) that failed, with up to DIAG_LINES of the diagnostic
lines ("# ...") that follow it, then one line: "N passed, N failed" (with
", N skipped" for TAP SKIP and TODO cases). A test program that failed
without saying which case (a crash, a sanitizer report at exit, a
timeout) counts as one more failure. Exits non-zero on any failure."""

import json
import re
import sys

DIAG_LINES = 12      # enough to say why; CI shows the end of this output

passed = failed = skipped = 0
for arg in sys.argv[1:]:
    path, _, label = arg.partition(":")
    try:
        with open(path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        print("%s: %s" % (path, e))
        failed += 1
        continue
    for t in entries:
        name = "%s/%s" % (label, t["name"])
        out = t.get("stdout") or ""
        tp = tf = 0
        diag = 0        # diagnostic lines still to print for a failure
        for line in out.splitlines():
            m = re.match(r"(not )?ok \d+(.*)", line)
            if not m:
                if diag and line.startswith("#"):
                    print("    " + line[:200])
                    diag -= 1
                continue
            diag = 0
            directive = re.search(r"#\s*(SKIP|TODO)", m.group(2), re.I)
            if directive:
                skipped += 1
                if m.group(1):
                    print("%s: known failure:%s" % (name, m.group(2)))
            elif m.group(1):
                tf += 1
                print("%s: FAILED%s" % (name, m.group(2)))
                diag = DIAG_LINES
            else:
                tp += 1
        passed += tp
        failed += tf
        if t["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and tf == 0:
            failed += 1
            print("%s: %s (exit %s) without a failed case; its output "
                  "ends:" % (name, t["result"], t.get("returncode")))
            for line in ((t.get("stderr") or "") + out).splitlines()[-15:]:
                print("    " + line)

line = "%d passed, %d failed" % (passed, failed)
if skipped:
    line += ", %d skipped" % skipped
print(line)
sys.exit(1 if failed else 0)
