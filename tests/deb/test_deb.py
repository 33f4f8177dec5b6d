#!/usr/bin/env python3
"""`make deb-test`: the package installed on this host as an SRE would (apt-get install ./deb),
its unit verified and the service run under the installed unit's restrictions with the installed
/etc/default/twscope, upgraded to a newer build (a local change of the conffile kept), removed,
then purged with nothing of it left. Root; it changes the host's packages, so it is not part of
`make test`. Ends with one summary line."""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
UNIT = "/lib/systemd/system/twscope.service"
DEFAULTS = "/etc/default/twscope"
WANTS = "/etc/systemd/system/multi-user.target.wants/twscope.service"
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


class Failure(Exception):
    pass


def run(*cmd, ok=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=kw.pop("env", ENV), **kw)
    if ok and p.returncode != 0:
        raise Failure("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                           (p.stderr or p.stdout).strip()[-800:]))
    return p


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def status():
    p = run("dpkg-query", "-W", "-f=${Status} ${Version}", "twscope", ok=False)
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def purge():
    if status() != "not-installed":
        run("dpkg", "--purge", "twscope")


class Steps:
    def __init__(self):
        self.passed = self.failed = 0
        self.files = []

    def step(self, name, fn):
        try:
            fn()
            self.passed += 1
            print("PASS %s" % name, flush=True)
            return True
        except (Failure, OSError, subprocess.SubprocessError) as e:
            self.failed += 1
            print("FAIL %s  %s" % (name, e), flush=True)
            return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("deb-test: needs root\n0 passed, 1 failed")
        return 1
    deb = os.path.abspath(args.deb)
    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    newer = version + "+upgradetest1"
    s = Steps()
    purge()

    def install():
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", deb)
        check(status() == "install ok installed " + version, "status %r" % status())
        s.files = [f for f in run("dpkg", "-L", "twscope").stdout.split() if os.path.isfile(f)]
        for f in ("/usr/sbin/twscope", UNIT, DEFAULTS, "/etc/logrotate.d/twscope",
                  "/usr/share/man/man8/twscope.8.gz", "/usr/share/doc/twscope/copyright",
                  "/usr/share/doc/twscope/changelog.gz",
                  "/usr/share/doc/twscope/examples/twscope.rules.yml",
                  "/usr/share/doc/twscope/examples/twscope.json",
                  "/usr/share/doc/twscope/examples/daemonset.yaml"):
            check(f in s.files, "%s is not in the package" % f)
        out = run("/usr/sbin/twscope", "--version").stdout
        check(out.startswith("twscope %s" % version), "--version: %r" % out)
        check(os.path.islink(WANTS), "the unit was not enabled (no %s)" % WANTS)

    def man():
        p = run("man", "--warnings", "twscope", env=dict(ENV, MANPAGER="cat", PAGER="cat",
                                                         MANWIDTH="80"))
        check(p.stderr == "" and "EXIT STATUS" in p.stdout, "man twscope: %r" % p.stderr)

    def verify():
        p = run("systemd-analyze", "verify", UNIT, ok=False)
        check((p.returncode, p.stdout + p.stderr) == (0, ""),
              "systemd-analyze verify: %d %s" % (p.returncode, p.stdout + p.stderr))

    def service():
        # the service as systemd would start it: the installed unit, options and binary
        env = dict(os.environ, TWSCOPE_UNIT=UNIT, TWSCOPE_DEFAULTS=DEFAULTS)
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "integration", "run.py"),
                            "--binary", "/usr/sbin/twscope", "-k", "test_systemd."],
                           capture_output=True, text=True, env=env, timeout=300)
        check(p.returncode == 0 and "integration: 4 passed, 0 failed" in p.stdout, p.stdout.strip())

    def upgrade():
        with open(DEFAULTS, "a") as f:
            f.write("# a local change\n")
        with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "build")) as d:
            run(os.path.join(ROOT, "scripts", "mkdeb.sh"), "--version", newer, "--out",
                os.path.join(d, "deb"), cwd=ROOT)
            run("dpkg", "-i", os.path.join(d, "twscope_%s_%s.deb" % (
                newer, run("dpkg", "--print-architecture").stdout.strip())))
        check(status() == "install ok installed " + newer, "status %r" % status())
        check("# a local change" in open(DEFAULTS).read(), "the local change was lost")
        out = run("/usr/sbin/twscope", "--version").stdout
        check(out.startswith("twscope %s" % newer), "--version after the upgrade: %r" % out)

    def remove():
        run("dpkg", "--remove", "twscope")
        check(status().startswith("deinstall ok config-files"), "status %r" % status())
        check(not os.path.exists("/usr/sbin/twscope"), "the binary is still there")
        check(os.path.exists(DEFAULTS), "a remove took the configuration")

    def purged():
        os.makedirs("/var/log/twscope", exist_ok=True)
        run("dpkg", "--purge", "twscope")
        check(status() == "not-installed", "status %r" % status())
        left = [f for f in s.files + [WANTS, "/var/log/twscope"] if os.path.lexists(f)]
        check(not left, "left after purge: %s" % left)

    ok = s.step("install (apt-get install ./deb), enabled, --version", install)
    if ok:
        s.step("man twscope, no warnings", man)
        s.step("systemd-analyze verify of the installed unit", verify)
        s.step("the service under the installed unit's restrictions", service)
        if s.step("upgrade to %s keeps the changed conffile" % newer, upgrade):
            s.step("remove keeps the configuration", remove)
        s.step("purge leaves nothing", purged)
    purge()
    print("%d passed, %d failed" % (s.passed, s.failed))
    return 0 if s.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
