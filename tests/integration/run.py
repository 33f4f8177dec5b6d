#!/usr/bin/env python3
"""Runs the integration tests, each in its own process with a time limit, and summarises.

Usage: run.py [--binary PATH] [-k SUBSTRING]... [-x SUBSTRING]... [--retry N] [--list]
(a test runs when any -k matches, or with no -k, and no -x matches; --retry runs a failed test
up to N more times, for emulated guests whose speed varies with the host's load: a test that
passes on a second run is counted and named as such, one that never passes fails)
A test is a function test_* in tests/integration/test_*.py; it gets nothing and raises on failure.
"""
import argparse
import glob
import importlib
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TIMEOUT = 90
# an emulated guest of another architecture stretches every bound (lib.SLOW)
SLOW = float(os.environ.get("TWSCOPE_TEST_SLOW", "1"))


def discover(patterns, excludes=()):
    sys.path.insert(0, HERE)
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        mod = importlib.import_module(os.path.basename(path)[:-3])
        for name in sorted(dir(mod)):
            fn = getattr(mod, name)
            if name.startswith("test_") and callable(fn):
                full = "%s.%s" % (mod.__name__, name)
                if (not patterns or any(p in full for p in patterns)) and \
                        not any(x in full for x in excludes):
                    found.append((full, getattr(fn, "timeout", DEFAULT_TIMEOUT) * SLOW))
    return found


def leftover_netns(pid):
    prefix = "twt-%d-" % pid
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(prefix):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_one(full, timeout, binary):
    mod, fn = full.split(".")
    code = "import sys; sys.path.insert(0, %r); import %s as m; m.%s()" % (HERE, mod, fn)
    env = dict(os.environ, TWSCOPE_BINARY=binary)
    start = time.time()
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        ok = p.returncode == 0
        why = out.strip().splitlines()[-1] if out.strip() else "exit %d" % p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        ok, why = False, "timed out after %ds" % timeout
    leftover_netns(p.pid)
    return ok, time.time() - start, why, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "..", "twscope"))
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-x", action="append", default=[])
    ap.add_argument("--retry", type=int, default=0)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    tests = discover(args.k, args.x)
    if args.list:
        print("\n".join(t for t, _ in tests))
        return 0
    if os.geteuid() != 0:
        print("integration: needs root (sudo make test): %d tests not run" % len(tests))
        print("0 passed, %d failed" % len(tests))
        return 1
    binary = os.path.abspath(args.binary)
    passed = failed = 0
    retried = []
    for full, timeout in tests:
        for attempt in range(args.retry + 1):
            ok, secs, why, out = run_one(full, timeout, binary)
            if ok:
                break
            print("%s %-55s %5.1fs  %s" % ("FAIL" if attempt == args.retry else "RETRY", full,
                                           secs, why), flush=True)
            if os.environ.get("TWSCOPE_TEST_VERBOSE"):
                print(out)
        if ok:
            passed += 1
            if attempt:
                retried.append(full)
            print("PASS %-55s %5.1fs%s" % (full, secs, " (run %d)" % (attempt + 1) if attempt
                                           else ""), flush=True)
        else:
            failed += 1
    if retried:
        print("integration: passed only on a later run: %s" % ", ".join(retried))
    print("integration: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
