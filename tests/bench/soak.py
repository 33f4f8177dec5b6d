#!/usr/bin/env python3
"""make soak: the agent as a long-running daemon under connection churn, namespace churn and
/metrics abuse. Every minute: RSS, fds, CPU, and the churn namespace's counts checked against
its own ss and TcpExt; a verdict at the end. A bench, not a test: it only reports.

Usage: soak.py [--binary ./twscope] [--churn build/churn] [--minutes 30]
All traffic stays on loopback, in namespaces made here; everything stops by itself.
"""
import argparse
import calendar
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from bench import cpu_ticks, rss_kb  # noqa: E402
from test_metrics_http import concurrent_gets  # noqa: E402

PREFIX = "twsoak-%d-" % os.getpid()
CHURN_PORT = 7701
CHURN_BATCH = 1500  # connections per churn run, one run about every 1.5 s
NS_EVERY_S = 6  # a new namespace this often, each deleted NS_LIFE_S later
NS_LIFE_S = 20
NS_PORT, NS_PORTS = 8000, 32  # the ports the churned namespaces serve
TICK = os.sysconf("SC_CLK_TCK")

# In a churned namespace: a served port with TIME_WAITs and a restart that fails on them.
NS_SNIPPET = """
import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.1", port))
s.listen()
for _ in range(5):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = s.accept()
    a.close()
    c.recv(1)
    c.close()
s.close()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    t.bind(("127.0.0.1", port))
except OSError:
    pass
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ns_add(name):
    sh(["ip", "netns", "add", name], check=True)
    sh(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return os.stat("/run/netns/" + name).st_ino


def ns_del(name):
    sh(["ip", "netns", "del", name])


def ss_tw(name, port):
    out = sh(["ip", "netns", "exec", name, "ss", "-Htan", "state", "time-wait",
              "sport", "= :%d" % port]).stdout
    return len(out.splitlines())


def tcpext_tw(name):
    lines = [l.split() for l in sh(["ip", "netns", "exec", name, "cat",
                                    "/proc/net/netstat"]).stdout.splitlines()
             if l.startswith("TcpExt:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))["TW"]


class Churn(threading.Thread):
    """Runs churn batches in one namespace until stopped; pause() holds it between batches."""

    def __init__(self, binary, name):
        super().__init__(daemon=True)
        self.binary, self.name = binary, name
        self.stop = threading.Event()
        self.paused = threading.Event()
        self.idle = threading.Event()
        self.connections = self.failures = 0

    def run(self):
        while not self.stop.is_set():
            if self.paused.is_set():
                self.idle.set()
                time.sleep(0.1)
                continue
            self.idle.clear()
            p = sh(["ip", "netns", "exec", self.name, self.binary, "-n", str(CHURN_BATCH),
                    "-p", str(CHURN_PORT), "-c", "server", "-t", "2", "--json"], timeout=120)
            if p.returncode == 0:
                self.connections += CHURN_BATCH
            else:
                self.failures += 1
            time.sleep(0.5)
        self.idle.set()

    def hold(self):
        self.paused.set()
        self.idle.clear()
        self.idle.wait(180)

    def release(self):
        self.paused.clear()


class NsChurn(threading.Thread):
    """Namespaces created, given listeners, TIME_WAITs and a failed bind, then deleted."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.created = 0
        self.alive = []

    def run(self):
        while not self.stop.is_set():
            name = PREFIX + "ns%d" % self.created
            try:
                ns_add(name)
                sh(["ip", "netns", "exec", name, sys.executable, "-c", NS_SNIPPET,
                    str(NS_PORT + self.created % NS_PORTS)], timeout=30)
            except (subprocess.SubprocessError, OSError):
                pass
            self.alive.append((time.time() + NS_LIFE_S, name))
            self.created += 1
            while self.alive and self.alive[0][0] <= time.time():
                ns_del(self.alive.pop(0)[1])
            self.stop.wait(NS_EVERY_S)
        for _, name in self.alive:
            ns_del(name)


class Abuse(threading.Thread):
    """Slow clients, bursts of concurrent GETs and garbage at /metrics, and one plain GET a
    second that must be answered."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.gets = self.failed = 0

    def get(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port,
                                        timeout=5) as r:
                ok = r.status == 200
        except OSError:
            ok = False
        self.gets += 1
        self.failed += not ok

    def run(self):
        slow, round_ = [], 0
        while not self.stop.is_set():
            round_ += 1
            if round_ % 10 == 1:
                for s in slow:
                    s.close()
                slow = []
                for _ in range(40):
                    try:
                        s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                        s.sendall(b"GET /metrics HTTP/1.1\r\n")
                        slow.append(s)
                    except OSError:
                        pass
                concurrent_gets(self.port, 300, 10)
                for junk in (b"\x16\x03\x01\x00\x00", b"NOT-HTTP\r\n\r\n"):
                    try:
                        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                            s.sendall(junk)
                    except OSError:
                        pass
            elif round_ % 3 == 0:
                for s in slow:
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
            self.get()
            self.stop.wait(1)
        for s in slow:
            s.close()


def last_record(path, after):
    """The newest counts record of the log written after time `after` (time.time())."""
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - 262144))
                lines = f.read().splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            ts = calendar.timegm(time.strptime(rec["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + \
                float("0" + rec["ts"][19:-1])
            if ts >= after:
                return rec
            break
        time.sleep(0.2)
    return None


def exact_check(churn, log, name, netns):
    """Churn held: the row's entered against TcpExt TW, its gauge between two ss counts."""
    churn.hold()
    try:
        time.sleep(1.5)  # events held back and parked cancels settle
        before, tw_total = ss_tw(name, CHURN_PORT), tcpext_tw(name)
        rec = last_record(log, time.time() + 0.01)
        after = ss_tw(name, CHURN_PORT)
    finally:
        churn.release()
    if not rec:
        return False, "no log record"
    row = [p for p in rec["ports"] if p["netns"] == netns and p["port"] == CHURN_PORT]
    if not row:
        return False, "no row for the churn port"
    row = row[0]
    ok = row["tw_entered"] == tw_total and after <= row["tw"] <= before
    return ok, "entered %d / TcpExt TW %d, gauge %d / ss %d..%d, missed %d, lost %d" % (
        row["tw_entered"], tw_total, row["tw"], after, before, rec["missed_events"],
        rec["lost_events"])


def fds(pid):
    """(open files other than sockets, sockets): HTTP clients come and go, nothing else should."""
    files = socks = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        socks += target.startswith("socket:")
        files += not target.startswith("socket:")
    return files, socks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./twscope")
    ap.add_argument("--churn", default="build/churn")
    ap.add_argument("--minutes", type=float, default=30)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root")
        return 1
    churn_ns = PREFIX + "churn"
    netns = ns_add(churn_ns)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    tmp = tempfile.mkdtemp(prefix="twsoak.")
    log, prom = os.path.join(tmp, "tw.log"), os.path.join(tmp, "tw.prom")
    # only the soak's own ports: other work on this host (tests, benches) stays out of its rows
    ports = ",".join(map(str, [CHURN_PORT, port] + list(range(NS_PORT, NS_PORT + NS_PORTS))))
    agent = subprocess.Popen([os.path.abspath(args.binary), "--json", "-i", "1", "-p", ports,
                              "--log", log, "--prom", prom, "--metrics-addr",
                              "127.0.0.1:%d" % port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    churn, nschurn, abuse = Churn(os.path.abspath(args.churn), churn_ns), NsChurn(), Abuse(port)
    threads = (churn, nschurn, abuse)
    rows, start = [], time.time()
    print("soak: %g min, churn %d connections per batch in netns %d, a namespace every %d s, "
          "/metrics abuse on port %d" % (args.minutes, CHURN_BATCH, netns, NS_EVERY_S, port),
          flush=True)
    print("%4s %8s %5s %5s %6s %10s %6s %8s  %s" % ("min", "RSS MiB", "fds", "socks", "CPU %",
                                                   "conns", "netns", "GET fail", "exact check"),
          flush=True)
    try:
        for t in threads:
            t.start()
        ticks, t0 = cpu_ticks(agent.pid), time.time()
        minute = 0
        while time.time() - start < args.minutes * 60 and agent.poll() is None:
            time.sleep(max(0, start + (minute + 1) * 60 - time.time()))
            minute += 1
            if agent.poll() is not None:
                break
            ok, detail = exact_check(churn, log, churn_ns, netns)
            now_ticks, now = cpu_ticks(agent.pid), time.time()
            files, socks = fds(agent.pid)
            row = (minute, rss_kb(agent.pid) / 1024, files, socks,
                   100.0 * (now_ticks - ticks) / TICK / (now - t0), churn.connections,
                   nschurn.created, abuse.failed, ok)
            ticks, t0 = now_ticks, now
            rows.append(row)
            print("%4d %8.1f %5d %5d %6.1f %10d %6d %8d  %s %s" % (
                row[:8] + ("ok" if ok else "OFF", detail)), flush=True)
    finally:
        for t in threads:
            t.stop.set()
        for t in threads:
            t.join(60)
        alive = agent.poll() is None
        if alive:
            agent.terminate()
            agent.wait(30)
        ns_del(churn_ns)
        err = agent.stderr.read()
    verdict = []
    if not alive:
        verdict.append("the agent died (exit %s): %s" % (agent.returncode, err.strip()[-300:]))
    if rows:
        base = rows[min(1, len(rows) - 1)]  # after the first minute's warm-up
        grow = rows[-1][1] - base[1]
        if grow > max(2.0, 0.05 * base[1]):
            verdict.append("RSS grew %.1f MiB (%.1f -> %.1f)" % (grow, base[1], rows[-1][1]))
        if rows[-1][2] > base[2] + 4:
            verdict.append("fds grew %d -> %d" % (base[2], rows[-1][2]))
        off = [r[0] for r in rows if not r[8]]
        if off:
            verdict.append("counts not exact at minute(s) %s" % off)
    if abuse.failed:
        verdict.append("%d of %d plain GETs failed" % (abuse.failed, abuse.gets))
    if churn.failures:
        verdict.append("%d churn runs failed" % churn.failures)
    print("soak: %d connections, %d namespaces, %d GETs; agent exit %s, stderr %d lines" % (
        churn.connections, nschurn.created, abuse.gets, agent.returncode,
        len(err.splitlines())))
    for line in err.splitlines()[:5]:
        print("  agent stderr: %s" % line)
    print("soak verdict: %s" % ("PASS" if not verdict else "FAIL: " + "; ".join(verdict)))
    subprocess.run(["rm", "-rf", tmp])
    return 0 if not verdict else 1


if __name__ == "__main__":
    sys.exit(main())
