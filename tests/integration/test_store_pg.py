#!/usr/bin/env python3
"""test_store_pg: the store's unit tests (test_store, test_store_admin,
test_store_msgs, test_store_pres) again against a real PostgreSQL
server, each in a database of its own (LP_TEST_PG: testdb.h); their
cases counted here one by one."""

import os
import subprocess
import sys

import lptest

UNITS = ["store", "store_admin", "store_msgs", "store_pres"]


def main():
    tap = lptest.Tap()
    build = os.path.abspath(lptest.build_dir())
    if not lptest.Postgres.available():
        tap.skip("the store's tests on PostgreSQL",
                 "no PostgreSQL server programs (postgresql-15)")
        return tap.done()
    pg = lptest.Postgres()
    try:
        for name in UNITS:
            exe = os.path.join(build, "tests", "test_" + name)
            env = dict(os.environ, LP_TEST_PG=pg.new_db())
            r = subprocess.run([exe], capture_output=True, text=True,
                               env=env, timeout=120)
            seen = 0
            for line in r.stdout.splitlines():
                if line.startswith("ok ") or line.startswith("not ok "):
                    good = line.startswith("ok ")
                    desc = line.split(" - ", 1)[-1]
                    tap.ok(good, "%s on PostgreSQL: %s" % (name, desc))
                    seen += 1
                elif line.startswith("# "):
                    print(line)
            tap.ok(r.returncode == 0 and seen > 0,
                   "test_%s on PostgreSQL ends well (%d cases)"
                   % (name, seen), r.stderr[-2000:])
    finally:
        pg.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
