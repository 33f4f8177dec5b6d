#!/usr/bin/env python3
"""make bench: connection-churn throughput with and without twscope (and tcpstates), interleaved,
plus kernel time per connection, agent CPU, wakeups, memory and dropped events, checked against
the goals.

Every twscope mode runs with the options a user would pass (the default interval included), and
each run lasts at least one interval, so the periodic work (the 100 ms tick, the per-second
sample, the census and the report of each interval) lands in it. `periodic` is the hooks-only
floor plus that periodic work, to isolate it.

Each run is a fresh network namespace with a server that closes first (churn -c server).
Throughput runs keep kernel.bpf_stats_enabled=0 (the stats cost ~2 clock reads per program run);
a separate pass per mode turns them on to read run_time_ns, and runs perf stat where the CPU has
counters.
"""
import argparse
import glob
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
TCPSTATES = "/usr/sbin/tcpstates"
# perf stat counters per connection, where the CPU (or the VM) exposes them
PERF_EVENTS = ("cycles", "instructions", "LLC-load-misses")

# mode: (twscope options, what it measures); the hooks modes use a hidden bench flag
MODES = {
    "baseline": (None, "no tracer"),
    "hooks": (["--bench-hooks-only", "-i", "3600"],
              "every program attached, each returning at once; no interval in the run"),
    "periodic": (["--bench-hooks-only"],
                 "the hooks plus the agent's periodic work at the default interval"),
    "counts": (["--events", "none"], "counts and timelines only, default interval"),
    "default": ([], "as a user runs it: tw,bind events, text, default interval"),
    "all": (["--events", "all", "--json"], "every event as JSON, default interval"),
    "tcpstates": (None, "libbpf-tools tcpstates"),
}


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


def proc_switches(pid):
    """Context switches of every thread of pid: (voluntary, involuntary). A voluntary switch is
    the agent going to sleep, so each one is followed by a wakeup."""
    vol = inv = 0
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        inv += int(line.split()[1])
        except OSError:
            continue
    return vol, inv


def cap_eff(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return -1


class Tool:
    """A tracer running beside the churn; no process for the baseline."""

    def __init__(self, mode, binary):
        self.mode = mode
        opts = MODES[mode][0]
        if mode == "tcpstates":
            self.cmd = [TCPSTATES]
        elif opts is not None:
            self.cmd = [binary] + opts
        else:
            self.cmd = None
        self.p = None

    def start(self):
        if not self.cmd:
            return
        self.err = open("/tmp/twscope-bench-%s.err" % self.mode, "w+")
        # output to /dev/null: a pipe left unread would stall the agent, a file would fill
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.p.poll() is not None:
                self.err.seek(0)
                raise RuntimeError("%s exited: %s" % (self.mode, self.err.read().strip()))
            if self.mode == "tcpstates":
                if fd_ids(self.p.pid, "prog_id")[0]:
                    time.sleep(1)
                    return
            elif cap_eff(self.p.pid) == 0:
                # twscope drops every capability once attached and seeded, just before ready
                time.sleep(0.2)
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
    runs = {m: [] for m in modes}
    sysctl("kernel.bpf_stats_enabled", 0)
    for r in range(args.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]  # interleave, rotate the start
        for m in order:
            t = Tool(m, args.binary)
            t.start()
            settle()
            pid = t.p.pid if t.p else None
            c0 = cpu_ticks(pid) if pid else 0
            s0 = proc_switches(pid) if pid else (0, 0)
            res = churn(args.churn, args.seconds, args.threads)
            run = {"rate": res["rate"]}
            if pid:
                secs = res["seconds"]
                s1 = proc_switches(pid)
                run["cpu"] = (cpu_ticks(pid) - c0) / CLK_TCK / secs * 100
                run["wakeups"] = (s1[0] - s0[0]) / secs
                run["switches"] = (s1[0] + s1[1] - s0[0] - s0[1]) / secs
                run["rss"] = rss_kb(pid)
                run["maps"] = fd_ids(pid, "map_id")[1]
            run["lost"] = t.stop()
            runs[m].append(run)
            print("  round %d %-10s %8.0f conn/s" % (r + 1, m, res["rate"]), file=sys.stderr,
                  flush=True)
    return runs


def perf_counters():
    """The perf stat events this machine counts, or (None, why not)."""
    try:
        p = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(PERF_EVENTS), "-a", "--",
                            "sleep", "0.1"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "perf is not usable (%s)" % e
    ok = []
    for line in p.stderr.splitlines():
        f = line.split(",")
        if len(f) >= 3 and f[2] in PERF_EVENTS and f[0] and not f[0].startswith("<"):
            ok.append(f[2])
    if not ok:
        return None, ("perf stat counts none of %s here (no PMU exposed to this machine): "
                      "no cycles or LLC misses per connection" % ", ".join(PERF_EVENTS))
    return ok, None


def perf_start(events):
    if not events:
        return None
    out = tempfile.NamedTemporaryFile("w+", suffix=".perf")
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-a", "-o", out.name, "-e",
                          ",".join(events)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(0.2)
    return p, out


def perf_stop(h):
    if not h:
        return {}
    p, out = h
    p.send_signal(signal.SIGINT)
    p.wait(30)
    counts = {}
    out.seek(0)
    for line in out:
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] and not f[0].startswith("<"):
            try:
                counts[f[2]] = float(f[0])
            except ValueError:
                pass
    out.close()
    return counts


def prog_stats(pid):
    out = {}
    for i in sorted(fd_ids(pid, "prog_id")[0]):
        p = json.loads(subprocess.run(["bpftool", "prog", "show", "id", str(i), "--json"],
                                      capture_output=True, text=True).stdout)
        out[p["name"]] = (p.get("run_cnt", 0), p.get("run_time_ns", 0))
    return out


def prog_costs(args, mode, events):
    """Per program of one mode over one churn run: runs and ns per connection, and the perf
    stat counters of the whole machine per connection."""
    sysctl("kernel.bpf_stats_enabled", 1)
    t = Tool(mode, args.binary)
    try:
        t.start()
        settle()
        before = prog_stats(t.p.pid)
        h = perf_start(events)
        res = churn(args.churn, args.seconds, args.threads)
        perf = perf_stop(h)
        after = prog_stats(t.p.pid)
        n = max(res["connections"], 1)
        progs = {}
        for name, (cnt, ns) in after.items():
            c0, t0 = before.get(name, (0, 0))
            if cnt > c0:
                progs[name] = ((cnt - c0) / n, (ns - t0) / (cnt - c0), (ns - t0) / n)
        return {"progs": progs, "perf": {k: v / n for k, v in perf.items()}}
    finally:
        t.stop()
        sysctl("kernel.bpf_stats_enabled", 0)


def baseline_perf(args, events):
    if not events:
        return {}
    settle()
    h = perf_start(events)
    res = churn(args.churn, args.seconds, args.threads)
    return {k: v / max(res["connections"], 1) for k, v in perf_stop(h).items()}


def busy_report():
    """What else runs now: a throughput figure taken beside it is noise."""
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    ps = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                        text=True).stdout
    procs = {}
    for line in ps.splitlines():
        pid, ppid, cmd = (line.strip().split(None, 2) + [""])[:3]
        procs[int(pid)] = (int(ppid), cmd)
    mine, pid = set(), os.getpid()
    while pid in procs and pid not in mine:  # this bench and the make that runs it
        mine.add(pid)
        pid = procs[pid][0]
    others = []
    for pid, (_, cmd) in procs.items():
        if pid in mine:
            continue
        if re.search(r"qemu-system|make (test|vmtest|soak|bench)|tests/integration/run\.py", cmd):
            others.append(cmd.split()[0] if "qemu" in cmd else cmd[:60])
    return load, sorted(set(others))


def fmt(v, f="%.1f"):
    return f % v if v is not None else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./twscope")
    ap.add_argument("--churn", default="build/churn")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=11,
                    help="per run; at least the default interval (10 s), so every run holds "
                    "one interval's work")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--renderbench", default="build/renderbench",
                    help="the agent's user-space cost per record, in CPU time (skipped if absent)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of %s" % ", ".join(
                        "%s (%s)" % (m, d) for m, (_, d) in MODES.items()))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root", file=sys.stderr)
        return 2
    modes = [m for m in args.modes.split(",")
             if m != "tcpstates" or os.path.exists(TCPSTATES)]
    bad = [m for m in modes if m not in MODES]
    if bad or "baseline" not in modes:
        print("bench: --modes takes baseline (required), %s; got %r"
              % (", ".join(m for m in MODES if m != "baseline"), args.modes), file=sys.stderr)
        return 2
    others = subprocess.run(["pgrep", "-x", "twscope|tcpstates"], capture_output=True,
                            text=True).stdout.split()
    if others:
        print("bench: twscope or tcpstates already running (pid %s): its programs would weigh on "
              "every mode, baseline included" % ", ".join(others), file=sys.stderr)
        return 2
    load, busy = busy_report()
    events, perf_note = perf_counters()
    stats_before = sysctl("kernel.bpf_stats_enabled")
    try:
        runs = throughput(args, modes)
        traced = [m for m in modes if m not in ("baseline", "tcpstates")]
        costs = {m: prog_costs(args, m, events) for m in traced}
        base_perf = baseline_perf(args, events)
    finally:
        sysctl("kernel.bpf_stats_enabled", stats_before)
    load_after, busy_after = busy_report()

    rates = {m: [r["rate"] for r in v] for m, v in runs.items()}
    med = {m: statistics.median(v) for m, v in rates.items()}

    # each run against the baseline (or the floor) of its own round: slow drifts cancel out
    def ratios(m, ref):
        return sorted(r / b for r, b in zip(rates[m], rates[ref]))

    def rel(m, ref):
        if ref not in rates or m == ref:
            return "-"
        v = ratios(m, ref)
        text = "%.1f%%" % (statistics.median(v) * 100)
        if len(v) >= 4:  # the middle half: how far to trust the median
            q = statistics.quantiles(v, n=4)
            text += " (%.0f-%.0f)" % (q[0] * 100, q[2] * 100)
        return text

    def agent(m, key, f="%.1f"):
        v = [r[key] for r in runs[m] if key in r]
        return fmt(statistics.median(v), f) if v else "-"

    def peak(m, key, scale):
        v = [r[key] for r in runs[m] if key in r]
        return "%.1f" % (max(v) / scale) if v else "-"

    # the load after is the churn's own: only what else ran counts then
    quiet = load < 0.6 and not busy and not busy_after
    print("twscope bench, %s, %s, %d cores, %d rounds x %g s, churn %d threads, server closes first"
          % (time.strftime("%Y-%m-%d"), os.uname().release, os.cpu_count(), args.rounds,
             args.seconds, args.threads))
    print("machine: %s (1-minute load %.2f before, %.2f after the throughput runs%s)" % (
        "quiet" if quiet else "NOT quiet, throughput figures are noise", load, load_after,
        "; also running: " + ", ".join(busy + busy_after) if busy or busy_after else ""))
    print()
    print("| mode | median conn/s | vs baseline (middle half) | vs hooks (middle half) "
          "| kernel ns/conn | agent CPU % | switches/s | wakeups/s | RSS MiB | map MiB "
          "| lost events |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in modes:
        kns = sum(c[2] for c in costs[m]["progs"].values()) if m in costs else None
        print("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            m, med[m], rel(m, "baseline"), rel(m, "hooks"), fmt(kns, "%.0f"),
            agent(m, "cpu"), agent(m, "switches", "%.0f"), agent(m, "wakeups", "%.0f"),
            peak(m, "rss", 1024), peak(m, "maps", 1048576),
            sum(r["lost"] for r in runs[m]) if m not in ("baseline", "hooks", "periodic",
                                                         "tcpstates") else "-"))
    print()
    if events:
        print("perf stat -a per connection (one run per mode, bpf stats on):")
        print()
        print("| mode | " + " | ".join(events) + " |")
        print("|---|" + "---:|" * len(events))
        rows = [("baseline", base_perf)] + [(m, costs[m]["perf"]) for m in costs]
        for m, per in rows:
            print("| %s | %s |" % (m, " | ".join(fmt(per.get(e), "%.0f") for e in events)))
    else:
        print("note: %s" % perf_note)
    if os.path.exists(args.renderbench):
        out = subprocess.run([args.renderbench], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print()
        print("agent's user-space cost per record (renderbench, CPU time, %d records): reorder "
              "%.0f ns, text line %.0f ns, JSON line %.0f ns" % (
                  r["records"], r["reorder_ns"], r["text_ns"], r["json_ns"]))
    print()
    print("| program | mode | runs/conn | ns/run | ns/conn |")
    print("|---|---|---:|---:|---:|")
    for m, c in costs.items():
        for name, (runs_per, ns, per_conn) in sorted(c["progs"].items()):
            print("| %s | %s | %.2f | %.0f | %.0f |" % (name, m, runs_per, ns, per_conn))

    goals = []
    if "default" in med and "hooks" in med:
        v = statistics.median(ratios("default", "hooks"))
        goals.append(("default mode >= 98%% of the hooks-only floor (%.1f%%)" % (v * 100),
                      v >= 0.98))
    if "all" in med:
        v = statistics.median(ratios("all", "baseline"))
        goals.append(("--events all --json >= 90%% of baseline (%.1f%%)" % (v * 100), v >= 0.90))
    if "default" in med:
        v = statistics.median([r["cpu"] for r in runs["default"]])
        goals.append(("agent CPU <= 2%% of a core in default mode (%.1f%%)" % v, v <= 2))
        rss = max(r["rss"] for r in runs["default"])
        maps = max(r["maps"] for r in runs["default"])
        goals.append(("RSS and map memory reported (default: %.1f MiB, %.1f MiB)" % (
            rss / 1024, maps / 1048576), rss > 0 and maps > 0))
    print()
    for name, ok in goals:
        print("%s  %s" % ("PASS" if ok else "FAIL", name))
    if not quiet:
        print("(the machine was not quiet: the throughput goals above are not to be trusted)")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
