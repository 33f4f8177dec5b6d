"""TIME_WAITs entered equal the kernel's own count in a private namespace: TcpExt TW + TWKilled
(__inet_twsk_schedule() counts every new tw in one of the two), even when a killed tw's memory
is reused at once by a new tw on the same CPU (its timer has the same address)."""
import time

from lib import Agent, Netns, check, check_eq, events

# One CPU, so the kill and the next arm run there back to back; tw1 is a FIN_WAIT2 orphan
# (tcp_fin_timeout 3 s) killed by the peer's RST in the last moments of its life, while its
# timer is due but not yet run, then tw2 is armed at once (the slab hands tw1's memory back).
REUSE = """
import os, socket, struct, sys, time
from sockutil import listener, say
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
ls = listener(int(sys.argv[1]))

def pair():
    c = socket.create_connection(("127.0.0.1", ls.getsockname()[1]))
    s, _ = ls.accept()
    c.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""
    return c, s

for attempt in range(int(sys.argv[2])):
    c2, s2 = pair()            # c2 in FIN_WAIT2: s2's close makes tw2 (TIME_WAIT)
    c1, s1 = pair()
    port1 = c1.getsockname()[1]
    c1.close()                 # an orphan in FIN_WAIT2: tw1 armed for tcp_fin_timeout
    t0 = time.monotonic()
    say(port1=port1, port2=c2.getsockname()[1])
    line = sys.stdin.readline().split()
    if line[0] == "skip":
        s1.close(); s2.close(); c2.close()
        continue
    time.sleep(max(0.0, t0 + float(line[1]) / 1000 - time.monotonic()))
    s1.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s1.close()                 # RST: tw1 killed
    s2.close()                 # FIN: tw2 armed
    say(done=attempt)
    break
else:
    say(done=-1)
sys.stdin.readline()
"""


def tcpext(ns):
    lines = open_netstat(ns)
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("TcpExt:"):
            return dict(zip(lines[i].split()[1:], (int(x) for x in lines[i + 1].split()[1:])))
    return {}


def open_netstat(ns):
    from lib import run
    return run(ns.cmd(["cat", "/proc/net/netstat"])).stdout.splitlines()


def netns_rows(agent, ns):
    c = agent.last_counts()
    return [p for p in (c or {}).get("ports", []) if p["netns"] == ns.inum]


def test_entered_equals_tcpext_when_a_killed_tw_is_reused():
    fin_timeout_ms = 3000
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "-i", "1") as agent:
        ns.sysctl("net.ipv4.tcp_fin_timeout", fin_timeout_ms // 1000)
        p = ns.py(REUSE, "7701", "8")
        for _ in range(8):
            ports = p.line()
            if "done" in ports:
                break
            r = agent.wait_for(lambda r: r.get("type") == "tw_enter" and
                               r["sport"] == ports["port1"], 10)
            check(r is not None, "no tw_enter for tw1 (port %d)", ports["port1"])
            check_eq(r["substate"], "FIN_WAIT2", "tw1 substate")
            # due from fin_timeout on, fired at its wheel bucket's deadline: kill in between
            window = r["expires_in_ms"] - fin_timeout_ms
            if window < 40:
                p.send("skip")
                continue
            p.send("kill %d" % (fin_timeout_ms + window // 2))
            ports = dict(ports, **p.line())
            break
        check(ports.get("done", -1) >= 0, "no attempt had a kill window of 40 ms")
        tw2 = agent.wait_for(lambda r: r.get("type") == "tw_enter" and
                             r["sport"] == ports["port2"], 10)
        check(tw2 is not None, "no tw_enter for tw2, armed right after tw1's kill")
        killed = agent.wait_for(lambda r: r.get("type") == "tw_exit" and
                                r["sport"] == ports["port1"], 10)
        check(killed is not None and killed["reason"] == "killed", "tw1 exit: %r", killed)
        time.sleep(2.5)
        ext = tcpext(ns)
        rows = netns_rows(agent, ns)
        entered = sum(x["tw_entered"] for x in rows)
        check_eq(entered, ext["TW"] + ext["TWKilled"], "tw_entered vs TcpExt TW + TWKilled")
        check_eq(sum(x["tw"] for x in rows), len(ns.ss("state", "time-wait")) +
                 len(ns.ss("state", "fin-wait-2")), "gauge vs ss")
        p.send()
        p.finish()


test_entered_equals_tcpext_when_a_killed_tw_is_reused.timeout = 90
