"""Every pair of (existing socket, new bind or listen) of conflict_matrix.py, the kernel as oracle.

Each batch of pairs runs in a fresh namespace whose holders are closed right after the failing
call returns, and the namespace is deleted right after the batch: whatever the agent says must
come from what it took at the failure. For every pair the kernel refused, exactly one bind_error
with the right call, errno, cause and holder; for every pair it allowed, none.
"""
import json
import os
import subprocess
import sys
import time

import conflict_matrix as cm
from lib import HERE, Agent, Netns, TestFailure, check, run

BATCH = 8000
STATE = {"tcp_listen": "LISTEN", "tcp_bound": "UNCONN", "tcp_conn": "ESTAB",
         "tcp_tw": "TIME-WAIT", "udp": "UNCONN"}
CAUSE = {"tcp_listen": "listen", "tcp_bound": "bound", "tcp_conn": "connected",
         "tcp_tw": "time_wait", "udp": "bound"}


def family_name(addr):
    return "ipv6" if ":" in addr else "ipv4"


def v6only_applied(addr):
    """What the kernel keeps: the option, or implied by a specific, non-mapped address."""
    a = cm.bare(addr)
    return addr.endswith("/v6only") or (a not in ("::",) and not a.startswith("::ffff:"))


def expected_holder(h, info, port, ifindex):
    kind, addr, ra, rp, uid, dev = h
    want = {
        "state": STATE[kind],
        "family": family_name(addr),
        "saddr": info["saddr"],
        "sport": port,
        "daddr": info.get("daddr", "::" if ":" in addr else "0.0.0.0"),
        "dport": info.get("dport", 0),
        "reuseaddr": ra,
        "reuseport": rp,
        "uid": 0 if kind == "tcp_tw" else uid,
    }
    if ":" in addr:
        want["v6only"] = v6only_applied(addr)
    if kind == "tcp_tw":
        # a TIME_WAIT has the device of the accepted socket it was, told by the worker
        dev = [d for d, i in ifindex.items() if i == info["bound_dev"]]
        dev = dev[0] if dev else ("?%d" % info["bound_dev"] if info["bound_dev"] else "")
        ifindex = dict(ifindex, **{dev: info["bound_dev"]}) if dev else ifindex
    if dev:
        want["bound_dev"] = ifindex[dev]
    return want


def check_pair(ev, line, pair, ifindex, worker_pid):
    """One pair's events against the kernel's result; returns a list of what is wrong."""
    h, n = pair
    failed = line.get("bind") or line.get("listen")
    call = "bind" if line.get("bind") else "listen"
    if failed not in ("EADDRINUSE", "EADDRNOTAVAIL"):
        return ["%d false event(s): the kernel said %s" % (len(ev), failed)] if ev else []
    if len(ev) != 1:
        return ["%d events for one %s %s" % (len(ev), call, failed)]
    r = ev[0]
    bad = []
    for k, v in (("call", call), ("errno", failed), ("port", line["port"]),
                 ("proto", "udp" if h[0] == "udp" else "tcp"), ("pid", worker_pid)):
        if r.get(k) != v:
            bad.append("%s %r, want %r" % (k, r.get(k), v))
    if failed == "EADDRNOTAVAIL":
        if r["cause"] != "unknown" or r["holders"]:
            bad.append("EADDRNOTAVAIL blamed on %s %r" % (r["cause"], r["holders"]))
        return bad
    if r["cause"] != CAUSE[h[0]]:
        bad.append("cause %s, want %s (%s)" % (r["cause"], CAUSE[h[0]], r["hint"]))
    if r["holders_total"] != 1 or len(r["holders"]) != 1:
        return bad + ["holders %d listed %d, want 1: %r" % (r["holders_total"], len(r["holders"]),
                                                           r["holders"])]
    got = r["holders"][0]
    want = expected_holder(h, line["holder"], line["port"], ifindex)
    for k, v in want.items():
        if got.get(k) != v:
            bad.append("holder %s %r, want %r" % (k, got.get(k), v))
    if "bound_dev" not in want and "bound_dev" in got:
        bad.append("holder bound_dev %r, want none" % got["bound_dev"])
    if h[0] == "tcp_listen" and got.get("pid") != worker_pid:
        bad.append("listener owner %r, want pid %d" % (got.get("pid"), worker_pid))
    if "pid" in got and got["pid"] != worker_pid:
        bad.append("owner pid %r, want %d" % (got["pid"], worker_pid))
    if got.get("orphan"):
        bad.append("called a socket no process holds, but the worker held it")
    if h[0] == "tcp_tw" and not 0 < got.get("expires_in_ms", -1) <= 60000:
        bad.append("TIME_WAIT time left %r" % got.get("expires_in_ms"))
    return bad


RANK = {"LISTEN": 0, "UNCONN": 1, "ESTAB": 2, "TIME-WAIT": 3}


def new_holder(n, kind, saddr, port, ifindex):
    call, addr, ra, rp, uid, dev = n
    want = {"state": "LISTEN" if call == "listen" else "UNCONN", "family": family_name(addr),
            "saddr": saddr, "sport": port, "dport": 0, "reuseaddr": ra, "reuseport": rp,
            "uid": uid}
    if ":" in addr:
        want["v6only"] = v6only_applied(addr)
    if dev:
        want["bound_dev"] = ifindex[dev]
    return want


def check_third(ev, line, pair, verdict, ifindex, worker_pid):
    """Holder and new socket both on the port, a third refused: exactly those that block it."""
    h, n = pair
    if line["third"] != "EADDRINUSE":
        return ["the third socket got %r: the new one should refuse it" % line["third"]]
    if len(ev) != 1:
        return ["%d events for the third socket's bind" % len(ev)]
    r = ev[0]
    third = ("bind", n[1], False, False, n[4], n[5])
    want = [new_holder(n, h[0], line["new"]["saddr"], line["port"], ifindex)]
    if verdict.get((h, third)) == "EADDRINUSE":
        want.append(expected_holder(h, line["holder"], line["port"], ifindex))
    bad = []
    if (r["call"], r["errno"], r.get("pid")) != ("bind", "EADDRINUSE", worker_pid):
        bad.append("reported as %s %s by %s" % (r["call"], r["errno"], r.get("pid")))
    if r["holders_total"] != len(want) or len(r["holders"]) != len(want):
        return bad + ["%d holders (%d listed), want %d: kernel says the first holder %s" % (
            r["holders_total"], len(r["holders"]), len(want),
            "blocks it too" if len(want) == 2 else "does not block it")]
    for w in want:
        if not any(all(g.get(k) == v for k, v in w.items()) for g in r["holders"]):
            bad.append("no holder like %r in %r" % (w, r["holders"]))
    best = min(want, key=lambda w: RANK[w["state"]])["state"]
    cause = {"LISTEN": "listen", "UNCONN": "bound", "ESTAB": "connected",
             "TIME-WAIT": "time_wait"}[best]
    if r["cause"] != cause:
        bad.append("cause %s, want %s" % (r["cause"], cause))
    return bad


def check_setup(ev, line, worker_pid):
    """A holder the kernel would not make is a failure of its own, reported like any other."""
    if line["setup"] not in ("EADDRINUSE", "EADDRNOTAVAIL"):
        return ["%d event(s) for a %s that failed with %s" % (len(ev), line["setup_call"],
                                                            line["setup"])] if ev else []
    if len(ev) != 1:
        return ["%d events for the holder's %s %s" % (len(ev), line["setup_call"], line["setup"])]
    r = ev[0]
    if (r["call"], r["errno"], r["pid"]) != (line["setup_call"], line["setup"], worker_pid):
        return ["holder's own failure reported as %s %s by %s" % (r["call"], r["errno"], r["pid"])]
    if r["errno"] == "EADDRNOTAVAIL" and r["call"] == "bind" and r["holders"]:
        return ["EADDRNOTAVAIL bind blamed on holders %r" % r["holders"]]
    return []


def run_batch(agent, first, last, pairs):
    with Netns() as ns:
        run(ns.cmd(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]))
        for dev in ("v0", "v1"):
            run(ns.cmd(["ip", "link", "set", dev, "up"]))
        ifindex = {dev: int(run(ns.cmd(["cat", "/sys/class/net/%s/ifindex" % dev])).stdout)
                   for dev in ("lo", "v0")}
        start = len(agent.records)
        env = dict(os.environ, PYTHONPATH=HERE)
        p = subprocess.Popen(ns.cmd([sys.executable, os.path.join(HERE, "conflict_matrix.py"),
                                     str(first), str(last)]), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        out, err = p.communicate(timeout=120)
        check(p.returncode == 0, "worker failed: %s", err.strip()[-500:])
        inum = ns.inum
    # the namespace is gone: what is left to see was taken at the failures
    lines = [json.loads(x) for x in out.splitlines()]
    want = sum(1 for l in lines if (l.get("bind") or l.get("listen") or l.get("setup") or
                                    l.get("third")) in ("EADDRINUSE", "EADDRNOTAVAIL"))

    def mine():
        # another test's namespace may get the inode of this one once it is deleted
        with agent.lock:
            return [r for r in agent.records[start:] if r.get("type") == "bind_error" and
                    r.get("netns") == inum and r.get("pid") == p.pid]

    deadline = time.time() + 60
    while len(mine()) < want and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a false event would come as fast as a true one
    by_port = {}
    for r in mine():
        by_port.setdefault(r["port"], []).append(r)
    return {"lines": lines, "by_port": by_port, "ifindex": ifindex, "pid": p.pid}


def verdicts(batches, pairs):
    """The kernel's answer to every single pair: the errno of the new socket's bind, or None."""
    out = {}
    for b in batches:
        for line in b["lines"]:
            if "setup" not in line:
                out[pairs[line["i"]]] = line.get("bind")
    return out


def check_batch(b, pairs, verdict, problems):
    by_port = dict(b["by_port"])
    for line in b["lines"]:
        pair = pairs[line["i"]]
        ev = by_port.pop(line["port"], [])
        if "setup" in line:
            bad = check_setup(ev, line, b["pid"])
        elif "third" in line:
            bad = check_third(ev, line, pair, verdict, b["ifindex"], b["pid"])
        else:
            bad = check_pair(ev, line, pair, b["ifindex"], b["pid"])
        if bad:
            problems.append((pair, line, bad))
    for port, ev in by_port.items():
        problems.append((None, {"port": port}, ["event for a port no pair used: %r" % ev[0]]))


def test_conflict_matrix():
    pairs = cm.pairs()
    problems, batches = [], []
    start = time.time()
    with Agent("-e", "bind", "-i", "3600", "--ringbuf", "16384") as agent:
        for first in range(0, len(pairs), BATCH):
            batches.append(run_batch(agent, first, min(first + BATCH, len(pairs)), pairs))
    made = sum(len(b["lines"]) for b in batches)
    check(made == len(pairs), "pairs run %d of %d", made, len(pairs))
    lost = agent.last_counts()["lost_events"]
    check(lost == 0, "events lost: %r", lost)
    verdict = verdicts(batches, pairs)
    for b in batches:
        check_batch(b, pairs, verdict, problems)
    failed = sum(len(v) for b in batches for v in b["by_port"].values())
    if problems:
        kinds = {}
        for pair, line, bad in problems:
            key = (pair[0][0], pair[1][0], "third" in line) if pair else None
            kinds.setdefault(key, []).append((pair, line, bad))
        msg = ["%d of %d pairs wrong (%d events), by holder kind, call, third socket:" %
               (len(problems), len(pairs), failed)]
        for key, items in sorted(kinds.items(), key=lambda x: -len(x[1])):
            msg.append("  %s: %d, e.g. %r -> %s" % (key, len(items), items[0][0],
                                                  "; ".join(items[0][2])))
        raise TestFailure("\n".join(msg))
    print("matrix: %d pairs, %d failures explained, %.0f s" % (len(pairs), failed,
                                                              time.time() - start))


test_conflict_matrix.timeout = 900
