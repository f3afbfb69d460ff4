"""test_layering: the tree's layout as libcommon/meson.build and
docs/architecture.md state it, held to the code's #include lines.

- Each sub-library of libcommon/ includes only itself and the libraries
  below it: base <- sip, store, bus, xml <- presence; prov on store and
  base.
- The daemons use base, sip, store, bus, xml and presence, never prov; only the
  admin page (web/) and lamplightctl (tools/) use prov.
- store/store_sql.h (the engine and its SQL) is included only inside
  libcommon/store/ and by the store's unit tests, and SQLite's header
  only by libcommon/store/store.c, the engine: the SQL of the tables
  reaches it through store_sql.h's calls alone.
- A header of libcommon is always included by its folder
  ("store/store_users.h"), never by its bare name.
- No import circle inside a folder: a module is X.c with X.h, and module
  A depends on B when A.c or A.h includes B.h, or when A's object file
  uses a symbol that B's defines; that graph has no cycle.
- The same rules between the libraries, read from the object files of the
  build (argument 1, the build folder): a call needs no include to cross.
- Each sub-library has its README.md, and each source file opens with a
  comment that says what it does."""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LIBS = ("base", "sip", "store", "bus", "xml", "presence", "prov", "cluster")
ALLOWED = {
    "base": {"base"},
    "sip": {"base", "sip"},
    "store": {"base", "store"},
    "bus": {"base", "bus"},
    "cluster": {"base", "store", "bus", "cluster"},
    "xml": {"base", "xml"},
    "presence": {"base", "sip", "store", "bus", "xml", "presence"},
    "prov": {"base", "store", "prov"},
}
DAEMON_USE = {"base", "sip", "store", "bus", "xml", "presence", "cluster"}
TOP_USE = set(LIBS)             # web/ and tools/
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
n = 0
failed = 0


def ok(cond, desc, detail=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, desc))
    if not cond:
        failed += 1
        for line in str(detail).splitlines()[:20]:
            print("# " + line)
    sys.stdout.flush()


def sources(top):
    for dp, dn, fn in os.walk(os.path.join(ROOT, top)):
        dn.sort()
        for f in sorted(fn):
            if f.endswith((".c", ".h")):
                yield os.path.join(dp, f)


def includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


def rel(path):
    return os.path.relpath(path, ROOT)


lib_headers = {}
for lib in LIBS:
    for p in sources(os.path.join("libcommon", lib)):
        if p.endswith(".h"):
            lib_headers[os.path.basename(p)] = lib


def check_uses(top, allowed, what):
    """Every include of a libcommon header from `top` is by its folder,
    and names a library in `allowed`."""
    bad = []
    for p in sources(top):
        for inc in includes(p):
            lib = inc.split("/")[0] if "/" in inc else None
            if lib in LIBS:
                if lib not in allowed:
                    bad.append("%s includes %s" % (rel(p), inc))
                elif (inc.endswith("store_sql.h") and
                      not rel(p).startswith(("libcommon/store/",
                                             "tests/unit/test_store"))):
                    bad.append("%s includes %s" % (rel(p), inc))
            elif inc in lib_headers and not os.path.exists(
                    os.path.join(os.path.dirname(p), inc)):
                bad.append("%s includes %s by its bare name (%s/%s)"
                           % (rel(p), inc, lib_headers[inc], inc))
    ok(not bad, "%s includes only %s" % (what, ", ".join(sorted(allowed))),
       "\n".join(bad))


for lib in LIBS:
    check_uses(os.path.join("libcommon", lib), ALLOWED[lib],
               "libcommon/%s" % lib)
for d in sorted(os.listdir(os.path.join(ROOT, "daemons"))):
    check_uses(os.path.join("daemons", d), DAEMON_USE, "daemons/%s" % d)
for top in ("web", "tools"):
    check_uses(top, TOP_USE, top)
check_uses(os.path.join("tests", "unit"), TOP_USE, "tests/unit")
check_uses(os.path.join("tests", "fuzz"), TOP_USE, "tests/fuzz")

def includers(header):
    """Every source of the tree that includes `header`."""
    pat = re.compile(r'^\s*#\s*include\s+[<"]%s[>"]' % re.escape(header),
                     re.M)
    found = []
    for top in ("libcommon", "daemons", "web", "tools", "tests"):
        for p in sources(top):
            with open(p, encoding="utf-8") as f:
                if pat.search(f.read()):
                    found.append(rel(p))
    return sorted(found)


for header, engine in (("sqlite3.h", "store_lite.c"),
                       ("libpq-fe.h", "store_pg.c")):
    who = includers(header)
    ok(who == ["libcommon/store/" + engine],
       "only the store's engine %s includes %s" % (engine, header),
       "\n".join(who))


def objects():
    """{(folder, module): (defined, used)} from the build's object files:
    build/FOLDER/TARGET.p/MODULE.c.o, global symbols only (nm -P)."""
    out = {}
    if not BUILD:
        return out
    for dp, dn, fn in os.walk(BUILD):
        if not dp.endswith(".p"):
            continue
        folder = os.path.relpath(os.path.dirname(dp), BUILD)
        if not folder.startswith(("libcommon", "daemons", "web", "tools")):
            continue
        for f in fn:
            if not f.endswith(".c.o"):
                continue
            defined, used = set(), set()
            nm = subprocess.run(["nm", "-P", os.path.join(dp, f)],
                                capture_output=True, text=True).stdout
            for line in nm.splitlines():
                part = line.split()
                if len(part) < 2:
                    continue
                if part[1] == "U":
                    used.add(part[0])
                elif part[1] in "TDBRCGSVW":
                    defined.add(part[0])
            out[(folder, f[:-len(".c.o")])] = (defined, used)
    return out


OBJS = objects()
OWNER = {}
for (folder, mod), (defined, _) in OBJS.items():
    for sym in defined:
        OWNER[sym] = (folder, mod)

if BUILD:
    ok(len(OBJS) > 50, "the build's object files are read (%d)"
       % len(OBJS))
    for lib in LIBS:
        bad = sorted("%s uses %s of %s/%s" % (mod, sym, *OWNER[sym])
                     for (folder, mod), (_, used) in OBJS.items()
                     if folder == "libcommon/" + lib
                     for sym in used if sym in OWNER and
                     OWNER[sym][0].startswith("libcommon/") and
                     OWNER[sym][0][len("libcommon/"):] not in ALLOWED[lib])
        ok(not bad, "libcommon/%s calls only %s" %
           (lib, ", ".join(sorted(ALLOWED[lib]))), "\n".join(bad))
    bad = sorted("%s/%s uses %s" % (folder, mod, sym)
                 for (folder, mod), (_, used) in OBJS.items()
                 if folder.startswith("daemons/")
                 for sym in used
                 if OWNER.get(sym, ("",))[0] == "libcommon/prov")
    ok(not bad, "no daemon calls prov", "\n".join(bad))


def cycle(folder):
    """A cycle among the modules of `folder` (a list of names), or None."""
    mods = {}
    for (f, mod), (_, used) in OBJS.items():
        if f == folder:
            deps = mods.setdefault(mod, set())
            for sym in used:
                owner = OWNER.get(sym)
                if owner and owner[0] == folder and owner[1] != mod:
                    deps.add(owner[1])
    for p in sources(folder):
        if os.path.dirname(p) != os.path.join(ROOT, folder):
            continue
        mod = os.path.splitext(os.path.basename(p))[0]
        deps = mods.setdefault(mod, set())
        for inc in includes(p):
            if "/" not in inc and os.path.exists(
                    os.path.join(ROOT, folder, inc)):
                dep = os.path.splitext(inc)[0]
                if dep != mod:
                    deps.add(dep)
    state = {}
    path = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in sorted(mods.get(m, ())):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(mods):
        if m not in state:
            c = visit(m)
            if c:
                return c
    return None


folders = [os.path.join("libcommon", lib) for lib in LIBS]
folders += [os.path.join("daemons", d)
            for d in sorted(os.listdir(os.path.join(ROOT, "daemons")))]
folders += ["web", "tools"]
for folder in folders:
    c = cycle(folder)
    ok(c is None, "%s: no import circle" % folder,
       " -> ".join(c or []))

for lib in LIBS:
    readme = os.path.join(ROOT, "libcommon", lib, "README.md")
    ok(os.path.isfile(readme) and os.path.getsize(readme) > 200,
       "libcommon/%s has a README.md" % lib)

uncommented = []
for top in ["libcommon", "daemons", "web", "tools"]:
    for p in sources(top):
        with open(p, encoding="utf-8") as f:
            if not f.read(2) == "/*":
                uncommented.append(rel(p))
ok(not uncommented, "every source file opens with a comment of what it "
   "does", "\n".join(uncommented))

print("1..%d" % n)
sys.exit(1 if failed else 0)
