"""run: one libFuzzer harness as a test (TAP). It replays every input in
tests/fuzz/regress/NAME/ (each a crash found once, kept as a regression
case), then fuzzes for LAMPLIGHT_FUZZ_SECONDS (20 by default) from the
seeds: tests/fuzz/seeds/NAME/ and, by harness, the SIP corpora of
tests/corpus/, the provisioning templates, the configuration file.
A crash leaves its input in the build folder (fuzz-artefacts/) and fails.
A longer run: LAMPLIGHT_FUZZ_SECONDS=3600 meson test -C build-fuzz
--suite fuzz (README.md, "Fuzzing")."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "corpus")

exe, name = sys.argv[1], sys.argv[2]
seconds = int(os.environ.get("LAMPLIGHT_FUZZ_SECONDS", "20"))
n = 0


def ok(cond, desc, detail=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, desc))
    if not cond and detail:
        for line in detail.splitlines()[-40:]:
            print("# " + line)
    sys.stdout.flush()
    return cond


failed = False
work = tempfile.mkdtemp(prefix="lp-fuzz-%s-" % name)
corpus = os.path.join(work, "corpus")
os.makedirs(corpus)


def add_seed(data, tag):
    with open(os.path.join(corpus, tag), "wb") as f:
        f.write(data)


def seeds():
    d = os.path.join(HERE, "seeds", name)
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, fn), "rb") as f:
            add_seed(f.read(), "seed-" + fn)
    if name == "tcpframe":
        # two bytes that cut the stream into reads, then messages
        stream = b""
        for sub in ("rfc4475", "rfc5118"):
            d = os.path.join(CORPUS, sub)
            for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, fn), "rb") as f:
                    msg = f.read()
                add_seed(b"\x07\x01" + msg, sub + "-" + fn)
                if len(stream) < 8192:
                    stream += b"\r\n" + msg
        add_seed(b"\x2a\x00" + stream, "stream")
    if name == "sipmsg":
        for sub in ("rfc4475", "rfc5118"):
            d = os.path.join(CORPUS, sub)
            for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, fn), "rb") as f:
                    add_seed(f.read(), sub + "-" + fn)
        arc = os.path.join(CORPUS, "protos-c07-sip", "c07-sip-cases.tar.xz")
        if os.path.exists(arc):
            with tarfile.open(arc) as tf:
                for m in tf.getmembers():
                    num = re.search(r"cases/(\d+)$", m.name)
                    if not num or int(num.group(1)) % 25:
                        continue
                    raw = tf.extractfile(m).read()
                    sp = raw.index(b" ")
                    case = raw[sp + 1:sp + 1 + int(raw[:sp])]
                    for k, v in ((b"<To>", b"bob@example.org"),
                                 (b"<From>", b"alice@example.org"),
                                 (b"<From-Address>", b"192.0.2.1"),
                                 (b"<From-IP>", b"192.0.2.1"),
                                 (b"<Local-Port>", b"5060"),
                                 (b"<Branch-ID>", b"1"),
                                 (b"<Call-ID>", b"c"), (b"<CSeq>", b"1"),
                                 (b"<Content-Length>", b"0")):
                        case = case.replace(k, v)
                    add_seed(case[:65535], "protos-" + num.group(1))
    if name == "provtmpl":
        d = os.path.join(ROOT, "web", "prov")
        for fn in sorted(os.listdir(d)):
            with open(os.path.join(d, fn), "rb") as f:
                add_seed(f.read(), fn)
    if name == "conf":
        with open(os.path.join(ROOT, "packaging", "lamplight.conf"),
                  "rb") as f:
            add_seed(f.read(), "lamplight.conf")


try:
    seeds()
    regress = os.path.join(HERE, "regress", name)
    cases = sorted(os.listdir(regress)) if os.path.isdir(regress) else []
    if cases:
        r = subprocess.run([exe] + [os.path.join(regress, c)
                                    for c in cases],
                           capture_output=True, text=True, errors="replace",
                           timeout=300)
        ok(r.returncode == 0, "fuzz_%s: the %d regression inputs run "
           "clean" % (name, len(cases)), r.stderr)
    nseeds = len(os.listdir(corpus))
    art = os.path.join(os.path.dirname(exe), "fuzz-artefacts", name)
    os.makedirs(art, exist_ok=True)
    r = subprocess.run([exe, "-max_total_time=%d" % seconds,
                        "-timeout=10", "-rss_limit_mb=2048",
                        "-max_len=65535", "-print_final_stats=1",
                        "-artifact_prefix=" + art + "/", corpus],
                       capture_output=True, text=True, errors="replace",
                       timeout=seconds + 300)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
    ok(r.returncode == 0 and runs,
       "fuzz_%s: %s inputs in %d s from %d seeds, no crash, no leak, no "
       "undefined behaviour, no hang over 10 s" % (
           name, runs.group(1) if runs else "?", seconds, nseeds),
       r.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)
print("1..%d" % n)
