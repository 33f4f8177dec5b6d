#!/usr/bin/env python3
"""`make test`: unit tests (cmocka binaries), then integration tests; one summary line at the end."""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def unit(binaries):
    passed = failed = 0
    for b in binaries:
        p = subprocess.run([b], capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        ok = re.search(r"\[  PASSED  \] (\d+) test", out)
        bad = re.search(r"\[  FAILED  \] (\d+) test", out)
        n_ok = int(ok.group(1)) if ok else 0
        n_bad = int(bad.group(1)) if bad else (0 if p.returncode == 0 else 1)
        passed += n_ok
        failed += n_bad
        name = os.path.basename(b)
        if os.path.basename(os.path.dirname(os.path.dirname(b))) == "asan":
            name = "asan/" + name  # the same test built with the sanitizers
        print("%s %-40s %d passed, %d failed" % ("PASS" if not n_bad else "FAIL", name, n_ok,
                                                n_bad), flush=True)
        if n_bad:
            print("\n".join(l for l in out.splitlines() if "FAIL" in l or "ERROR" in l
                            or "Failure" in l or "assert" in l.lower()))
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", help="the agent, for the integration tests")
    ap.add_argument("--unit-only", action="store_true", help="skip the integration tests")
    ap.add_argument("units", nargs="*")
    args = ap.parse_args()
    if not args.unit_only and not args.binary:
        ap.error("--binary is required unless --unit-only")
    up, uf = unit(args.units)
    print("unit: %d passed, %d failed" % (up, uf), flush=True)
    if args.unit_only:
        return 0 if uf == 0 else 1
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "integration", "run.py"),
                          "--binary", args.binary], stdout=subprocess.PIPE, text=True)
    out = ""
    for line in p.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        out += line
    p.wait()
    m = re.search(r"integration: (\d+) passed, (\d+) failed", out)
    ip_, if_ = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    print("%d passed, %d failed" % (up + ip_, uf + if_))
    return 0 if uf + if_ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
