"""Exactness under load: counts account for every connection whatever the ring buffer dropped,
and the dropped events are reported exactly."""
import os
import signal
import subprocess
import time

from lib import HERE, Agent, Netns, check, check_eq, events, run

CHURN = os.environ.get("TWSCOPE_CHURN", os.path.join(HERE, "..", "..", "build", "churn"))


def tcpext(ns):
    """The TcpExt counters of the namespace, read inside it."""
    lines = [l.split() for l in run(ns.cmd(["cat", "/proc/net/netstat"])).stdout.splitlines()
             if l.startswith("TcpExt:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def test_counts_exact_when_events_are_dropped():
    n, port = 20000, 7501
    check(os.access(CHURN, os.X_OK), "%s not built (make build/churn)", CHURN)
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "--ringbuf", "64", "-i",
                              "3600") as agent:
        # a stopped agent reads nothing: the rings fill and the kernel must drop events
        agent.p.send_signal(signal.SIGSTOP)
        try:
            p = subprocess.run(ns.cmd([CHURN, "-n", str(n), "-p", str(port), "--json"]),
                               capture_output=True, text=True, timeout=120)
        finally:
            agent.p.send_signal(signal.SIGCONT)
        check_eq(p.returncode, 0, "churn exit code (%s)" % p.stderr.strip())
        time.sleep(1.5)
        live = len(ns.ss("state", "time-wait"))
        ext = tcpext(ns)
    # only this namespace's own rows, against what its own kernel counters and ss say: other
    # namespaces' TIME_WAITs come and go during the run
    counts = agent.last_counts()
    rows = [x for x in counts["ports"] if x["netns"] == ns.inum]
    check_eq([(x["side"], x["port"]) for x in rows], [("local", port)], "this netns's rows")
    row = rows[0]
    check_eq(row["tw_overflow"], ext["TCPTimeWaitOverflow"], "overflows vs the netns's TcpExt")
    # the kernel never runs a program nested in itself on one CPU (a preempted or interrupted
    # run): a skipped close leaves a TIME_WAIT out of its port's row until it ends; the agent
    # reports those skips
    missed = counts["missed_events"]
    # TcpExt TW counts every socket that went into TIME_WAIT (tcp_time_wait), in this netns
    check_eq(ext["TW"], n, "the netns's TcpExt TW after %d connections" % n)
    check(ext["TW"] - missed <= row["tw_entered"] <= ext["TW"],
          "port entered %d vs TcpExt TW %d (%d skipped runs)", row["tw_entered"], ext["TW"],
          missed)
    check_eq(row["tw_entered"], row["tw_expired"] + row["tw_killed"] + row["tw"],
             "entered = expired + killed + live")
    check(live - missed <= row["tw"] <= live, "port gauge %d vs ss %d in the netns (%d skipped "
          "runs)", row["tw"], live, missed)
    got = len(events(agent, "tw_enter", ns.inum)) + len(events(agent, "tw_exit", ns.inum))
    sent = row["tw_entered"] + row["tw_expired"] + row["tw_killed"]
    check(counts["lost_events"] > 0, "the test must overflow the rings: nothing was lost")
    check_eq(got + counts["lost_events"], sent, "events received + lost vs events made")


test_counts_exact_when_events_are_dropped.timeout = 180
