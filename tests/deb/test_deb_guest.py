#!/usr/bin/env python3
"""`make deb-vmtest ARCH=arm64`, the guest half: on a debootstrapped Debian 12 (a real dpkg
database, no twscope), the package is installed as the README says (apt install ./deb, so its
maintainer scripts run), the packaged `twscope` is started as a new user would, a server without
SO_REUSEADDR leaves TIME_WAITs on loopback and its restart fails with EADDRINUSE; the agent's
terminal output must show the TIME_WAITs and explain the failure. Then the package is purged.
Root, inside the guest only (it changes the system's packages). Ends with one summary line."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

SLOW = float(os.environ.get("TWSCOPE_TEST_SLOW", "1"))
WANTS = "/etc/systemd/system/multi-user.target.wants/twscope.service"
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

# The README's first case: 3 connections whose server closes first (TIME_WAITs of a listener
# without SO_REUSEADDR), then a restarted server's bind, which sets SO_REUSEADDR and still fails.
TRAFFIC = r"""
import errno, socket, sys, time
port = int(sys.argv[1])
ls = socket.socket()
ls.bind(("127.0.0.1", port))
ls.listen(8)
for _ in range(3):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = ls.accept()
    # the server's FIN first; the socket stays open so that the client's FIN makes it a TIME_WAIT
    # (closed at once, a slow guest often orphans it in FIN_WAIT2 before the client's FIN)
    a.shutdown(socket.SHUT_WR)
    assert c.recv(1) == b""
    c.close()
    assert a.recv(1) == b""
    a.close()
ls.close()
time.sleep(0.5)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", port))
except OSError as e:
    print("bind:", errno.errorcode.get(e.errno, e.errno))
    sys.exit(0 if e.errno == errno.EADDRINUSE else 1)
print("bind: succeeded")
sys.exit(1)
"""


def indent(lines):
    return "".join("    " + line + "\n" for line in lines)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(*cmd, ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if ok and p.returncode != 0:
        raise Failure("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                           (p.stderr or p.stdout).strip()[-800:]))
    return p


def status():
    p = run("dpkg-query", "-W", "-f=${Status} ${Version}", "twscope", ok=False)
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Terminal:
    """The packaged agent started by name, as `sudo twscope`; what it prints, collected."""

    def __init__(self):
        self.text = ""
        self.lock = threading.Lock()
        self.p = subprocess.Popen(["twscope"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=ENV)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.text += line

    def output(self):
        with self.lock:
            return self.text

    def wait_for(self, pred, timeout):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            if pred(self.output()):
                return True
            if self.p.poll() is not None:
                time.sleep(0.5)  # the reader's last lines
                return pred(self.output())
            time.sleep(0.5)
        return False

    def stop(self):
        """Ctrl-C, as the banner says; exit status."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(30 * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise Failure("twscope did not stop on Ctrl-C")
        time.sleep(0.5)
        return self.p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", required=True)
    ap.add_argument("--version", required=True)
    args = ap.parse_args()
    deb = os.path.abspath(args.deb)
    results = []

    def step(name, fn):
        try:
            fn()
            results.append(True)
            print("PASS %s" % name, flush=True)
            return True
        except (Failure, OSError, subprocess.SubprocessError) as e:
            results.append(False)
            print("FAIL %s  %s" % (name, e), flush=True)
            return False

    def database():
        st = open("/var/lib/dpkg/status").read()
        n = len(re.findall(r"^Status: install ok installed$", st, re.M))
        check(n >= 50, "/var/lib/dpkg/status lists %d installed packages" % n)
        check(status() == "not-installed", "twscope is already there: %s" % status())
        check(shutil.which("twscope") is None, "a twscope is on PATH before the install")

    def install():
        check(os.path.isfile(deb), "no package %s" % deb)
        start = time.time()
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", deb)
        print("  apt-get install took %.0f s" % (time.time() - start))
        check(status() == "install ok installed " + args.version, "status %r" % status())
        # the postinst (dh_installsystemd) enables the unit
        check(os.path.islink(WANTS), "the postinst did not enable the unit (no %s)" % WANTS)
        check(shutil.which("twscope") == "/usr/sbin/twscope",
              "twscope on PATH is %s" % shutil.which("twscope"))
        out = run("twscope", "--version").stdout
        check(out.startswith("twscope %s" % args.version), "--version: %r" % out)

    def quick_start():
        port = free_port()
        me = "127.0.0.1:%d" % port
        t = Terminal()
        try:
            check(t.wait_for(lambda o: "Ctrl-C to stop" in o, 120),
                  "no banner from twscope: %r" % t.output()[-1500:])
            tr = subprocess.run([sys.executable, "-c", TRAFFIC, str(port)], capture_output=True,
                                text=True, timeout=60 * SLOW)
            check(tr.returncode == 0, "the traffic made no EADDRINUSE: %s" %
                  (tr.stdout + tr.stderr).strip())
            t.wait_for(lambda o: "cause:" in o and len(re.findall(
                r"tw_enter .* %s > 127\.0\.0\.1:\d+ +TIME_WAIT local" % re.escape(me), o)) >= 3,
                30)
        finally:
            rc = t.stop()
        out = t.output()
        try:
            shown(out, port, rc)
            print("  twscope printed:\n" + indent(out.splitlines()[:14]))
        except Failure:
            print("  twscope printed:\n" + indent(out.splitlines()))
            raise

    def shown(out, port, rc):
        me = "127.0.0.1:%d" % port
        flat = " ".join(out.split())
        tw = re.findall(r"tw_enter .* %s > 127\.0\.0\.1:\d+ +TIME_WAIT local, frees in" %
                        re.escape(me), out)
        check(len(tw) == 3, "%d tw_enter lines of %s, expected 3" % (len(tw), me))
        check(re.search(r"bind_error .* bind\(%s\) tcp EADDRINUSE reuseaddr=1" % re.escape(me),
                        out), "no bind_error of bind(%s) EADDRINUSE" % me)
        hint = ("cause: time_wait; held by 3 TIME_WAIT sockets of a listener that did not set "
                "SO_REUSEADDR; set SO_REUSEADDR on the listening socket before bind()")
        check(hint in flat, "the failure is not explained as %r" % hint)
        held = re.findall(r"^ +TIME-WAIT %s > 127\.0\.0\.1:\d+ +no process" % re.escape(me), out,
                          re.M)
        check(len(held) == 3, "%d holders listed under the failure, expected 3" % len(held))
        check(re.search(r"^local +%d " % port, out, re.M), "no timeline row of port %d" % port)
        check(rc == 0, "twscope exited %s on Ctrl-C" % rc)

    def purge():
        run("apt-get", "purge", "-y", "-q", "twscope")
        check(status() == "not-installed", "status %r" % status())
        check(not os.path.lexists(WANTS), "the unit's link is left after the purge")
        check(not os.path.exists("/usr/sbin/twscope"), "the binary is left after the purge")

    step("a real dpkg database, no twscope yet", database)
    if step("apt-get install ./%s, its postinst ran, twscope on PATH" % os.path.basename(deb),
            install):
        step("twscope as the quick start: TIME_WAITs and an explained EADDRINUSE", quick_start)
        step("apt-get purge twscope, its postrm ran", purge)
    failed = results.count(False)
    print("deb-vmtest: %d passed, %d failed" % (results.count(True), failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
