"""test_guess: password guessing with a real attacker's tool. SIPVicious's
svcrack (Debian's sipvicious) tries a dictionary against a user from one
address: after auth_fail_limit wrong answers that user is blocked from
that address (403 with Retry-After, before any password is looked at),
so the right password further down the dictionary is never found; the
real user from another address registers all along; the block ends, and
then the right password works from the guesser's address too. The block
is logged in a line that the shipped fail2ban filter matches (checked
with fail2ban-regex). svwar learns no extension: an unknown user and a
wrong password get the same answer."""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lptest  # noqa: E402
import sipclient as sc  # noqa: E402

tap = lptest.Tap()
if not shutil.which("svcrack"):
    tap.skip("password guessing with svcrack", "sipvicious not installed")
    sys.exit(tap.done())

app = lptest.Appliance(lptest.build_dir(), "probe_interval = 0\n"
                       "auth_fail_limit = 5\n")
FILTER = os.path.join(lptest.ROOT, "packaging", "fail2ban", "filter.conf")


def register(user, password, local="127.0.0.1"):
    ua = sc.UA("127.0.0.1", app.port, app.domain, user, password,
               local=local)
    r = ua.register(expires=60)
    ua.close()
    return r


try:
    app.add_user("101", "sunshine42")
    app.add_user("105", "x-12345678")
    app.start()

    words = ["guess%02d" % i for i in range(40)] + ["sunshine42"] + \
        ["more%02d" % i for i in range(10)]
    dic = os.path.join(app.dir, "dictionary.txt")
    with open(dic, "w") as f:
        f.write("\n".join(words) + "\n")
    r = subprocess.run(["svcrack", "-u", "101", "-d", dic, "-b",
                        "127.0.0.1", "-p", str(app.port), "127.0.0.1"],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    tap.ok("sunshine42" not in out and "found nothing" in out,
           "svcrack with a 51-word dictionary that holds the password: "
           "found nothing", out[-600:])
    log = app.log()
    tap.ok(re.search(r"auth: user '101' from 127\.0\.0\.1 blocked for "
                     r"30 s after 5 failed attempts", log),
           "the fifth wrong answer blocks user 101 from that address, "
           "in the log", log[-800:])
    tap.ok(log.count("further refusals not logged") <= 3,
           "the refusals while blocked are not one log line each")

    r = register("101", "sunshine42", local="127.0.0.2")
    tap.ok(r is not None and r.code == 200,
           "meanwhile the real phone, at another address, registers with "
           "the right password", r and r.code)
    r = register("101", "wrong-again")
    r2 = register("101", "sunshine42")
    tap.ok(r2 is not None and r2.code == 403 and
           int(r2.get("retry-after") or 0) > 0,
           "from the guesser's address even the right password gets 403 "
           "with Retry-After", r2 and (r2.code, r2.get("retry-after")))
    r = register("105", "x-12345678")
    tap.ok(r is not None and r.code == 200,
           "another user from the guesser's address is not blocked",
           r and r.code)

    # shorter blocks, to see one end: the table is the edge's memory, so
    # the restart also forgets the blocks above
    with open(app.conf, "a") as f:
        f.write("auth_block_min = 2\nauth_block_max = 4\n")
    app.stop()
    app.start()
    for i in range(5):
        register("105", "wrong%d" % i)
    r = register("105", "x-12345678")
    tap.ok(r is not None and r.code == 403,
           "five wrong answers for user 105: blocked", r and r.code)
    deadline = time.time() + 20
    r = None
    while time.time() < deadline:
        time.sleep(1)
        r = register("105", "x-12345678")
        if r is not None and r.code == 200:
            break
    tap.ok(r is not None and r.code == 200,
           "the block ends (it doubles with each failure, up to "
           "auth_block_max): then the right password works from that "
           "address too", r and r.code)

    common = "/etc/fail2ban/filter.d/common.conf"
    if shutil.which("fail2ban-regex") and os.path.exists(common):
        # the filter beside fail2ban's common.conf, as once installed
        fdir = os.path.join(app.dir, "filter.d")
        os.makedirs(fdir)
        shutil.copy(common, fdir)
        shutil.copy(FILTER, os.path.join(fdir, "lamplight.conf"))
        logf = os.path.join(app.dir, "registrar.log")
        fr = subprocess.run(["fail2ban-regex", "--datepattern", "{NONE}",
                             "-v", logf, os.path.join(fdir,
                                                      "lamplight.conf")],
                            capture_output=True, text=True, timeout=120)
        m = re.search(r"Failregex: (\d+) total", fr.stdout)
        with open(logf) as f:
            blocks = sum(1 for ln in f if "auth: user '" in ln and
                         "blocked for" in ln)
        tap.ok(fr.returncode == 0 and m and blocks >= 1 and
               int(m.group(1)) == blocks and "127.0.0.1" in fr.stdout,
               "the shipped fail2ban filter matches every block line (%d, "
               "any edge worker's), with the guesser's address" % blocks,
               fr.stdout[-1200:])
    else:
        tap.skip("the fail2ban filter", "fail2ban-regex not installed")

    r = subprocess.run(["svwar", "-e", "100-110", "-m", "REGISTER",
                        "--force", "-b", "127.0.0.1", "-p", str(app.port),
                        "127.0.0.1"], capture_output=True, text=True,
                       timeout=300)
    found = re.findall(r"\|\s*(\d+)\s*\|", r.stdout)
    tap.ok(not found or set(found) >= {"100", "102", "110"},
           "svwar cannot tell existing extensions (101, 105) from the "
           "others", (found, r.stdout[-500:], r.stderr[-300:]))
finally:
    app.close(tap)

sys.exit(tap.done())
