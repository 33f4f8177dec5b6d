#!/usr/bin/env python3
"""make bench: connection-churn throughput with and without twscope (and tcpstates), interleaved,
plus per-program BPF cost, agent CPU, memory and dropped events, checked against the targets.

Each run is a fresh network namespace with a server that closes first (churn -c server).
Throughput runs keep kernel.bpf_stats_enabled=0 (the stats cost ~2 clock reads per program run);
a separate pass per tool turns them on to read run_time_ns / run_cnt.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
TCPSTATES = "/usr/sbin/tcpstates"


def sysctl(key, value=None):
    path = "/proc/sys/" + key.replace(".", "/")
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))


def cpu_idle():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)  # idle + iowait, all


def settle(timeout=20):
    """Waits until the CPUs are idle: the last run's namespace is torn down in the background
    (its TIME_WAITs purged), and that work must not land in the next run."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        i0, t0 = cpu_idle()
        time.sleep(0.3)
        i1, t1 = cpu_idle()
        if t1 > t0 and (i1 - i0) / (t1 - t0) >= 0.95:
            return


def churn(binary, seconds, threads):
    cmd = "ip link set lo up && %s -d %s -t %d --json" % (binary, seconds, threads)
    p = subprocess.run(["unshare", "-n", "sh", "-c", cmd], capture_output=True, text=True,
                       timeout=seconds + 60)
    if p.returncode != 0:
        raise RuntimeError("churn failed: %s" % p.stderr.strip())
    return json.loads(p.stdout.strip().splitlines()[-1])


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_ids(pid, key):
    """BPF program or map ids held by pid, from fdinfo (key "prog_id" or "map_id")."""
    ids, memlock = set(), 0
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = f.read()
        except OSError:
            continue
        m = re.search(r"^%s:\s+(\d+)" % key, info, re.M)
        if m and int(m.group(1)) not in ids:
            ids.add(int(m.group(1)))
            ml = re.search(r"^memlock:\s+(\d+)", info, re.M)
            memlock += int(ml.group(1)) if ml else 0
    return ids, memlock


class Tool:
    """A tracer running beside the churn; None for the baseline."""

    def __init__(self, mode, binary):
        self.mode = mode
        if mode == "default":
            self.cmd = [binary, "-i", "3600"]
        elif mode == "hooks":
            self.cmd = [binary, "--bench-hooks-only", "-i", "3600"]
        elif mode == "all":
            self.cmd = [binary, "--events", "all", "--json", "-i", "3600"]
        elif mode == "tcpstates":
            self.cmd = [TCPSTATES]
        else:
            self.cmd = None
        self.p = None

    def start(self):
        if not self.cmd:
            return
        self.err = open("/tmp/twscope-bench-%s.err" % self.mode, "w+")
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.p.poll() is not None:
                self.err.seek(0)
                raise RuntimeError("%s exited: %s" % (self.mode, self.err.read().strip()))
            ids, _ = fd_ids(self.p.pid, "prog_id")
            if self.mode == "tcpstates" and ids:
                time.sleep(1)
                return
            self.err.seek(0)
            if "Ctrl-C" in self.err.read() or '"ready"' in self.err.read():
                return
            if self.mode == "all" and len(ids) >= 8:
                time.sleep(1.5)
                return
            time.sleep(0.1)
        raise RuntimeError("%s did not start" % self.mode)

    def stop(self):
        """Stops the tool; returns the events it reported lost (twscope prints them at exit)."""
        if not self.p:
            return 0
        self.p.send_signal(signal.SIGINT)
        self.p.wait(60)
        self.err.seek(0)
        m = re.search(r"(\d+) events lost", self.err.read())
        self.err.close()
        return int(m.group(1)) if m else 0


def throughput(args, modes):
    rates = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    rss = {m: 0 for m in modes}
    maps = {m: 0 for m in modes}
    lost = {m: 0 for m in modes}
    sysctl("kernel.bpf_stats_enabled", 0)
    for r in range(args.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]  # interleave, rotate the start
        for m in order:
            t = Tool(m, args.binary)
            t.start()
            settle()
            pid = t.p.pid if t.p else None
            c0 = cpu_ticks(pid) if pid else 0
            res = churn(args.churn, args.seconds, args.threads)
            if pid:
                cpu[m].append((cpu_ticks(pid) - c0) / CLK_TCK / res["seconds"] * 100)
                rss[m] = max(rss[m], rss_kb(pid))
                maps[m] = max(maps[m], fd_ids(pid, "map_id")[1])
            lost[m] += t.stop()
            rates[m].append(res["rate"])
            print("  round %d %-10s %8.0f conn/s" % (r + 1, m, res["rate"]), file=sys.stderr,
                  flush=True)
    return rates, cpu, rss, maps, lost


def prog_costs(args, mode):
    """run_time_ns / run_cnt per program of one tool over one churn run."""
    sysctl("kernel.bpf_stats_enabled", 1)
    t = Tool(mode, args.binary)
    try:
        t.start()
        ids, _ = fd_ids(t.p.pid, "prog_id")
        churn(args.churn, args.seconds, args.threads)
        out = {}
        for i in sorted(ids):
            p = json.loads(subprocess.run(["bpftool", "prog", "show", "id", str(i), "--json"],
                                          capture_output=True, text=True).stdout)
            if p.get("run_cnt"):
                out[p["name"]] = (p["run_cnt"], p["run_time_ns"] / p["run_cnt"])
        return out
    finally:
        t.stop()
        sysctl("kernel.bpf_stats_enabled", 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./twscope")
    ap.add_argument("--churn", default="build/churn")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="baseline,hooks,default,all,tcpstates",
                    help="comma-separated subset of baseline,hooks,default,all,tcpstates "
                    "(hooks: every program attached, each returning at once)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root", file=sys.stderr)
        return 2
    modes = [m for m in args.modes.split(",")
             if m != "tcpstates" or os.path.exists(TCPSTATES)]
    bad = [m for m in modes if m not in ("baseline", "hooks", "default", "all", "tcpstates")]
    if bad or "baseline" not in modes:
        print("bench: --modes takes baseline (required), hooks, default, all, tcpstates; got %r"
              % args.modes, file=sys.stderr)
        return 2
    others = subprocess.run(["pgrep", "-x", "twscope|tcpstates"], capture_output=True,
                            text=True).stdout.split()
    if others:
        print("bench: twscope or tcpstates already running (pid %s): its programs would weigh on "
              "every mode, baseline included" % ", ".join(others), file=sys.stderr)
        return 2
    stats_before = sysctl("kernel.bpf_stats_enabled")
    try:
        rates, cpu, rss, maps, lost = throughput(args, modes)
        costs = {m: prog_costs(args, m) for m in modes if m in ("default", "all")}
    finally:
        sysctl("kernel.bpf_stats_enabled", stats_before)

    med = {m: statistics.median(v) for m, v in rates.items()}
    # each run against the baseline of its own round: slow drifts of the VM cancel out
    ratios = {m: sorted(r / b for r, b in zip(v, rates["baseline"])) for m, v in rates.items()}
    ratio = {m: statistics.median(v) for m, v in ratios.items()}

    def spread(m):
        """The middle half of the per-round ratios: how far to trust the median."""
        v = ratios[m]
        if m == "baseline" or len(v) < 4:
            return "-"
        q = statistics.quantiles(v, n=4)
        return "%.0f-%.0f%%" % (q[0] * 100, q[2] * 100)

    print("twscope bench, %s, %s, %d cores, %d rounds x %g s, churn %d threads, server closes first"
          % (time.strftime("%Y-%m-%d"), os.uname().release, os.cpu_count(), args.rounds,
             args.seconds, args.threads))
    print()
    print("| mode | median conn/s | vs baseline (median of rounds) | middle half | agent CPU % "
          "| RSS MiB | map MiB | lost events |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in modes:
        print("| %s | %.0f | %.1f%% | %s | %s | %s | %s | %s |" % (
            m, med[m], ratio[m] * 100, spread(m),
            "%.1f" % statistics.median(cpu[m]) if cpu[m] else "-",
            "%.1f" % (rss[m] / 1024) if rss[m] else "-",
            "%.1f" % (maps[m] / 1048576) if maps[m] else "-",
            lost[m] if m in ("default", "all") else "-"))
    print()
    print("| program | mode | runs | ns/run |")
    print("|---|---|---:|---:|")
    worst = 0
    for m, progs in costs.items():
        for name, (cnt, ns) in sorted(progs.items()):
            if name.startswith("tw_flush"):
                continue  # run by the agent itself, not per event
            print("| %s | %s | %d | %.0f |" % (name, m, cnt, ns))
            worst = max(worst, ns)
    targets = []
    if "default" in med:
        targets.append(("default mode >= 95% of baseline", ratio["default"] >= 0.95))
        targets.append(("agent CPU <= 5% of a core (default)",
                        statistics.median(cpu["default"]) <= 5))
    if "all" in med:
        targets.append(("all events >= 75% of baseline", ratio["all"] >= 0.75))
        if "tcpstates" in med:
            targets.append(("all events >= 3x tcpstates", ratio["all"] >= 3 * ratio["tcpstates"]))
    if costs:
        targets.append(("every program <= 150 ns/run", worst <= 150))
    print()
    for name, ok in targets:
        print("%s  %s" % ("PASS" if ok else "FAIL", name))
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
