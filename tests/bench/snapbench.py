#!/usr/bin/env python3
"""make bench, part two: what a failed bind costs now that its holders are read in the kernel.

1. Kernel time of the syscall-exit program per failed bind with 1, 100 and 10000 holders on the
   port (sockets bound with SO_REUSEADDR; the failing one has none), from run_time_ns/run_cnt.
2. A storm of failures on one port at a target rate beside the connection churn: churn
   throughput with the storm alone and with the storm and the agent, the agent's CPU, the rate
   the storm reached, the lines the agent printed and the events it lost.
Each measurement runs in a fresh network namespace (unshare -n); nothing leaves loopback.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import CLK_TCK, churn, cpu_ticks, fd_ids, settle, sysctl  # noqa: E402

PORT = 7700

# Holders, then failing binds; prints the wall time of the failing binds in ns per call.
FAILER = r"""
import json, resource, socket, sys, time
n, k, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1024, n + 1024))
import subprocess
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
held = []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    held.append(s)
print("ready", flush=True)
sys.stdin.readline()
t0 = time.perf_counter_ns()
fails = 0
for _ in range(k):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        fails += 1
    s.close()
print(json.dumps({"ns_per_call": (time.perf_counter_ns() - t0) / k, "fails": fails}), flush=True)
"""

# One listener, then failing binds paced at a rate for a while.
STORM = r"""
import json, socket, subprocess, sys, time
rate, secs, port = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
ls = socket.socket()
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("ready", flush=True)
sys.stdin.readline()
start = time.monotonic()
done = 0
while True:
    now = time.monotonic() - start
    if now >= secs:
        break
    while done < now * rate:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            pass
        s.close()
        done += 1
    time.sleep(0.001)
print(json.dumps({"failures": done, "seconds": time.monotonic() - start}), flush=True)
"""


class Agent:
    """The agent as a user runs it, its output in a file: a pipe left unread would stall it."""

    def __init__(self, binary, *args):
        self.out = tempfile.TemporaryFile("w+")
        self.p = subprocess.Popen([binary, "--json"] + list(args), stdout=self.out,
                                  stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            self.out.seek(0)
            if '"ready"' in self.out.readline():
                return
            time.sleep(0.05)
        raise RuntimeError("the agent did not start")

    def prog(self, name):
        for i in sorted(fd_ids(self.p.pid, "prog_id")[0]):
            p = json.loads(subprocess.run(["bpftool", "prog", "show", "id", str(i), "--json"],
                                          capture_output=True, text=True).stdout)
            if p.get("name") == name:
                return p.get("run_cnt", 0), p.get("run_time_ns", 0)
        raise RuntimeError("the agent has no program %s" % name)

    def stop(self):
        self.p.send_signal(2)
        self.p.wait(60)
        self.out.seek(0)
        lines = [json.loads(x) for x in self.out if x.strip()]
        self.out.close()
        counts = [r for r in lines if r.get("type") == "counts"]
        return lines, counts[-1] if counts else {}


def start(code, *args):
    p = subprocess.Popen(["unshare", "-n", sys.executable, "-c", code] + [str(a) for a in args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("bench snippet did not start")
    return p


def finish(p):
    p.stdin.write("go\n")
    p.stdin.flush()
    out = json.loads(p.stdout.readline())
    p.wait(60)
    return out


def holder_costs(binary, ns, calls):
    rows = []
    sysctl("kernel.bpf_stats_enabled", 1)
    try:
        for n in ns:
            k = calls if n < 10000 else calls // 10
            settle()
            bare = finish(start(FAILER, n, k, PORT))
            a = Agent(binary, "-e", "bind")
            try:
                p = start(FAILER, n, k, PORT)
                c0, t0 = a.prog("handle_sys_exit")
                out = finish(p)
                c1, t1 = a.prog("handle_sys_exit")
            finally:
                lines, counts = a.stop()
            seen = [r.get("sockets_seen", 0) for r in lines if r.get("type") == "bind_error"]
            rows.append({"holders": n, "runs": c1 - c0,
                         "kernel_ns": (t1 - t0) / max(c1 - c0, 1),
                         "call_ns_bare": bare["ns_per_call"], "call_ns": out["ns_per_call"],
                         "fails": out["fails"], "seen": max(seen) if seen else 0})
    finally:
        sysctl("kernel.bpf_stats_enabled", 0)
    return rows


# n connections toward one local server, the client closing first: TIME_WAITs on ephemeral
# ports, but the first 2000 kept open when "open" is given (file descriptors are limited).
CENSUS_LOAD = r"""
import resource, socket, subprocess, sys
n, port, keep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "open"
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
    f.write("10000 65000")
ls = socket.socket()
ls.bind(("127.0.0.1", port))
ls.listen(4096)
held = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = ls.accept()
    if keep and i < 2000:
        held.append((c, a))
        continue
    c.close()
    a.recv(1)
    a.close()
print("ready", flush=True)
sys.stdin.readline()
print("{}", flush=True)
"""


def census_costs(binary, sizes):
    """Kernel time of one census (the whole bind hash) with n sockets in the ranges."""
    rows = []
    sysctl("kernel.bpf_stats_enabled", 1)
    try:
        for n in sizes:
            settle()
            load = start(CENSUS_LOAD, n, PORT, "open")
            a = Agent(binary, "-e", "none", "-i", "1")
            try:
                c0, t0 = a.prog("census_run")
                time.sleep(3.5)
                c1, t1 = a.prog("census_run")
            finally:
                a.stop()
                finish(load)
            rows.append({"sockets": n, "runs": c1 - c0, "ms": (t1 - t0) / max(c1 - c0, 1) / 1e6})
    finally:
        sysctl("kernel.bpf_stats_enabled", 0)
    return rows


def storm(binary, churn_bin, rate, secs, threads):
    res = {}
    for mode in ("storm", "storm+agent"):
        settle()
        a = Agent(binary) if mode == "storm+agent" else None
        p = start(STORM, rate, secs, PORT)
        c0 = cpu_ticks(a.p.pid) if a else 0
        p.stdin.write("go\n")
        p.stdin.flush()
        r = churn(churn_bin, secs, threads)
        out = json.loads(p.stdout.readline())
        p.wait(60)
        row = {"churn": r["rate"], "storm_rate": out["failures"] / out["seconds"]}
        if a:
            row["agent_cpu"] = (cpu_ticks(a.p.pid) - c0) / CLK_TCK / out["seconds"] * 100
            lines, counts = a.stop()
            errs = [x for x in lines if x.get("type") == "bind_error"]
            row["lines"] = len(errs)
            row["reported"] = sum(x.get("repeats", 1) for x in errs)
            row["lost"] = counts.get("lost_events", 0)
        res[mode] = row
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./twscope")
    ap.add_argument("--churn", default="build/churn")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = holder_costs(args.binary, (1, 100, 10000), args.calls)
    print("\nfailed bind, holders read at the failure (kernel.bpf_stats_enabled=1):")
    print("  %8s %10s %12s %14s %14s %8s" % ("holders", "runs", "kernel ns", "bind() bare",
                                            "bind() agent", "seen"))
    for r in rows:
        print("  %8d %10d %12.0f %11.0f ns %11.0f ns %8d" % (
            r["holders"], r["runs"], r["kernel_ns"], r["call_ns_bare"], r["call_ns"], r["seen"]))
    crows = census_costs(args.binary, (0, 10000, 40000))
    print("\nephemeral port census, one walk of the bind hash per interval:")
    print("  %8s %6s %10s" % ("sockets", "runs", "ms/run"))
    for r in crows:
        print("  %8d %6d %10.2f" % (r["sockets"], r["runs"], r["ms"]))
    s = storm(args.binary, args.churn, args.rate, args.seconds, args.threads)
    a, b = s["storm"], s["storm+agent"]
    print("\nstorm of failed binds on one port (target %.0f/s, %.0f s) beside the churn:" %
          (args.rate, args.seconds))
    print("  churn with the storm alone   %8.0f conn/s (storm at %.0f/s)" %
          (a["churn"], a["storm_rate"]))
    print("  churn with storm and agent   %8.0f conn/s (storm at %.0f/s), %.1f%%" %
          (b["churn"], b["storm_rate"], b["churn"] / a["churn"] * 100))
    print("  agent CPU %.1f%% of a core; %d bind_error lines for %d failures, %d events lost" %
          (b["agent_cpu"], b["lines"], b["reported"], b["lost"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
