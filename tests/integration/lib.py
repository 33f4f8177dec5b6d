"""Integration test helpers: a private network namespace, the agent under test, assertions.

Every test gets its own namespace (ip netns add), drives loopback sockets inside it, and
asserts on the agent's NDJSON output. Nothing here touches an address outside loopback.
"""
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("TWSCOPE_BINARY", os.path.join(HERE, "..", "..", "twscope"))
NS_PREFIX = "twt-%d-" % os.getpid()
# Every bound on waiting is multiplied by this: an emulated guest of another architecture
# (make vmtest ARCH=arm64) loads the programs in a minute, not in seconds.
SLOW = float(os.environ.get("TWSCOPE_TEST_SLOW", "1"))
_ns_counter = itertools.count()


class TestFailure(AssertionError):
    pass


def check(cond, msg, *args):
    """Fails the test with msg % args unless cond; returns cond so callers can chain."""
    if not cond:
        raise TestFailure(msg % args if args else msg)
    return cond


def check_eq(got, want, what):
    check(got == want, "%s: got %r, want %r", what, got, want)


def run(cmd, check_rc=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check_rc and p.returncode != 0:
        raise TestFailure("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


class Netns:
    """A fresh network namespace with lo up; deleted (with its sockets) on exit."""

    def __init__(self):
        self.name = NS_PREFIX + str(next(_ns_counter))
        self.procs = []

    def __enter__(self):
        run(["ip", "netns", "add", self.name])
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        self.inum = os.stat("/run/netns/" + self.name).st_ino
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        run(["ip", "netns", "del", self.name], check_rc=False)

    def sysctl(self, key, value):
        run(["ip", "netns", "exec", self.name, "sysctl", "-qw", "%s=%s" % (key, value)])

    def cmd(self, args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def py(self, code, *args):
        """Starts a Python snippet inside the namespace; it can `import sockutil`."""
        env = dict(os.environ, PYTHONPATH=HERE)
        p = subprocess.Popen(self.cmd([sys.executable, "-c", textwrap.dedent(code)] + list(args)),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        self.procs.append(Proc(p))
        return self.procs[-1]

    def ss(self, *filters):
        return run(self.cmd(["ss", "-Htan"] + list(filters))).stdout.splitlines()


class Proc:
    """A snippet process; its stdout carries one JSON object per line."""

    def __init__(self, p):
        self.p = p
        self.pid = p.pid  # ip netns exec execs the command: same pid
        self.buf = ""  # read from stdout by line(), not yet returned

    def poll(self):
        return self.p.poll()

    def kill(self):
        self.p.kill()

    def wait(self, timeout=30):
        try:
            return self.p.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise TestFailure("snippet pid %d did not finish in %ds" % (self.pid, timeout))

    def line(self, timeout=15):
        """Next JSON line from the snippet. Read by hand: a buffered reader may hold a second
        line that select() on the pipe would never report."""
        deadline = time.time() + timeout * SLOW
        while "\n" not in self.buf:
            r, _, _ = select.select([self.p.stdout], [], [], max(0, deadline - time.time()))
            check(r, "snippet pid %d said nothing in %ds", self.pid, timeout)
            chunk = os.read(self.p.stdout.fileno(), 65536).decode()
            if not chunk:
                err = self.p.stderr.read()
                raise TestFailure("snippet pid %d ended: %s" % (self.pid, err.strip()))
            self.buf += chunk
        s, self.buf = self.buf.split("\n", 1)
        return json.loads(s)

    def send(self, text="go"):
        """Releases a snippet blocked in sockutil.wait_go()."""
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def finish(self, timeout=30):
        try:
            out, err = self.p.communicate(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise TestFailure("snippet pid %d did not finish in %ds" % (self.pid, timeout))
        check(self.p.returncode == 0, "snippet pid %d failed (%s): %s", self.pid,
              self.p.returncode, err.strip())
        out, self.buf = self.buf + out, ""
        return [json.loads(x) for x in out.splitlines() if x.strip()]


class Agent:
    """twscope --json under test; records parsed as they arrive, every line must be JSON."""

    def __init__(self, *args):
        self.args = [BINARY, "--json"] + [str(a) for a in args]
        self.records = []
        self.bad_lines = []
        self.lock = threading.Condition()
        self.p = None
        self.stderr = ""

    def __enter__(self):
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()
        if not self.wait_for(lambda r: r.get("type") == "ready", 30):
            self.stop()
            raise TestFailure("agent not ready: %s" % self.stderr.strip())
        return self

    def __exit__(self, *exc):
        self.stop()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    self.bad_lines.append(line)
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.stderr += line

    def wait_for(self, pred, timeout=15):
        """First record matching pred, or None after timeout."""
        deadline = time.time() + timeout * SLOW
        with self.lock:
            while True:
                for r in self.records:
                    if pred(r):
                        return r
                left = deadline - time.time()
                if left <= 0 or (self.p.poll() is not None and not self.reader.is_alive()):
                    return None
                self.lock.wait(min(left, 0.2))

    def wait_count(self, pred, n, timeout=15):
        deadline = time.time() + timeout * SLOW
        while True:
            got = self.select(pred)
            if len(got) >= n or time.time() > deadline:
                return got
            time.sleep(0.1)

    def select(self, pred):
        with self.lock:
            return [r for r in self.records if pred(r)]

    def stop(self):
        """SIGINT, then every line must have parsed as JSON and the exit be clean."""
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(20 * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise TestFailure("agent did not stop on SIGINT")
            self.reader.join(5)
            self.err_reader.join(5)
        if self.p:
            check(not self.bad_lines, "agent printed non-JSON lines: %r", self.bad_lines[:3])
            check(self.p.returncode == 0, "agent exited %s: %s", self.p.returncode,
                  self.stderr.strip())

    def last_counts(self):
        c = self.select(lambda r: r.get("type") == "counts")
        return c[-1] if c else None


def free_port():
    """A loopback port free at this moment (for the agent's /metrics)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def events(agent, typ, netns=None, **match):
    """Records of one type (and netns), with field equality filters."""
    def ok(r):
        if r.get("type") != typ or (netns is not None and r.get("netns") != netns):
            return False
        return all(r.get(k) == v for k, v in match.items())
    return agent.select(ok)
