#!/usr/bin/env python3
"""Runs scripts/vmtest.sh for each kernel and closes with one summary line over all of them.

Usage: vmtest_all.py CACHE KERNEL... [-- run.py arguments]
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    if len(argv) < 2:
        print("usage: vmtest_all.py CACHE KERNEL... [-- run.py arguments]", file=sys.stderr)
        return 2
    cache, kernels = argv[0], argv[1:]
    passed = failed = 0
    lines = []
    begin = time.time()
    for k in kernels:
        start = time.time()
        p = subprocess.Popen([os.path.join(HERE, "vmtest.sh"), cache, k] + extra,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = ""
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out += line
        p.wait()
        m = re.search(r"^integration: (\d+) passed, (\d+) failed", out, re.M)
        np_, nf = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        if p.returncode and not nf:
            nf = 1  # the guest died or the runner failed without a test failing
        passed += np_
        failed += nf
        lines.append("vmtest %-5s %d passed, %d failed in %.0f s" % (k, np_, nf,
                                                                    time.time() - start))
    print("\n".join(lines))
    print("vmtest took %.0f s" % (time.time() - begin))
    print("vmtest: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
