"""Ephemeral-port headroom per destination: ports in use toward it (TIME_WAITs included), the
range less reserved ports, ports bind() took from every destination, and pressure events."""
import os
import subprocess
import tempfile
import time

from lib import BINARY, Agent, Netns, check, check_eq, events, run
from test_bind import bind_errors

# A client of a local server: n connections from the ephemeral range, one socket bound to an
# ephemeral port and never connected; on "close" the client closes first, on "end" it exits.
CLIENT = """
import os, socket, sys
from sockutil import listener, say, wait_go
port, n = int(sys.argv[1]), int(sys.argv[2])
ls = listener(port)
bound = socket.socket()
bound.bind(("127.0.0.1", 0))
cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
ss = [ls.accept()[0] for _ in range(n)]
say(pid=os.getpid(), bound=bound.getsockname()[1], ports=[c.getsockname()[1] for c in cs])
wait_go()
for c in cs:
    c.close()
for s in ss:
    s.recv(1)
    s.close()
say(closed=True)
wait_go()
"""


def dest(agent, ns, port):
    c = agent.last_counts()
    for d in (c or {}).get("destinations", []):
        if d["netns"] == ns.inum and d["port"] == port and d["addr"] == "127.0.0.1":
            return d
    return None


def wait_dest(agent, ns, port, pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = dest(agent, ns, port)
        if d and pred(d):
            return d
        time.sleep(0.2)
    return dest(agent, ns, port)


def setup(ns, tw_reuse="2"):
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40009")
    ns.sysctl("net.ipv4.tcp_tw_reuse", tw_reuse)


def test_headroom_toward_a_destination():
    port = 7801
    with Netns() as ns, Agent("--netns", ns.inum, "-i", "1") as agent:
        setup(ns)
        p = ns.py(CLIENT, str(port), "8")
        out = p.line()
        check(all(40000 <= x <= 40009 for x in out["ports"] + [out["bound"]]), "ports %r", out)
        d = wait_dest(agent, ns, port, lambda d: d["ports_in_use"] == 8)
        check(d is not None, "no destination row for 127.0.0.1:%d", port)
        # 10 ports, 8 connected toward it, 1 taken by bind(): 1 left
        check_eq((d["family"], d["ports_in_use"], d["time_wait"], d["ports_available"],
                  d["ports_bound"], d["headroom"]), ("ipv4", 8, 0, 10, 1, 0.1), "destination")
        check_eq(d["time_wait_reusable"], True, "tcp_tw_reuse=2 reuses loopback TIME_WAITs")
        # the client closes first: its ports stay taken, now by TIME_WAITs
        p.send()
        check(p.line()["closed"], "closed")
        d = wait_dest(agent, ns, port, lambda d: d["time_wait"] == 8)
        check_eq((d["ports_in_use"], d["time_wait"]), (8, 8), "TIME_WAITs still hold the ports")
        p.send()
        p.finish()


def test_pressure_high_then_normal():
    port = 7802
    with Netns() as ns, Agent("--netns", ns.inum, "-i", "1", "--pressure", "70") as agent:
        setup(ns, tw_reuse="0")
        p = ns.py("""
            import os, socket, sys
            from sockutil import listener, say, wait_go
            port = int(sys.argv[1])
            ls = listener(port)
            bound = socket.socket()
            bound.bind(("127.0.0.1", 0))  # takes a port from every destination
            cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
            ss = [ls.accept()[0] for _ in range(8)]
            say(pid=os.getpid())
            wait_go()
            for s in ss:  # the server closes first: the client's ports are free at once
                s.close()
            for c in cs:
                c.recv(1)
                c.close()
            say(closed=True)
            wait_go()
        """, str(port))
        pid = p.line()["pid"]
        high = agent.wait_for(lambda r: r.get("type") == "port_pressure" and
                              r["netns"] == ns.inum and r["level"] == "high", 10)
        check(high is not None, "no port_pressure high")
        check_eq((high["addr"], high["port"], high["ports_in_use"], high["ports_available"],
                  high["time_wait_reusable"]), ("127.0.0.1", port, 8, 10, False), "event")
        check_eq([o["pid"] for o in high["owners"]], [pid], "owners, each once")
        check_eq(([o["sampled"] for o in high["owners"]], high["owners_sampled_of"]), ([8], 8),
                 "all 8 sockets sampled, of the 8 with a file")
        check_eq(high["bound_owners_sampled_of"], 1, "one socket on a bind()-taken port")
        check_eq(([o["pid"] for o in high["bound_owners"]], high["ports_bound"]), ([pid], 1),
                 "the process that took a port with bind()")
        p.send()
        p.line()
        normal = agent.wait_for(lambda r: r.get("type") == "port_pressure" and
                                r["netns"] == ns.inum and r["level"] == "normal", 10)
        check(normal is not None, "no port_pressure normal once the ports were freed")
        p.send()
        p.finish()
        check_eq(len(events(agent, "port_pressure", ns.inum)), 2, "one event per crossing")


def test_prometheus_and_timeline_show_the_use():
    port = 7803
    with Netns() as ns, tempfile.TemporaryDirectory() as d:
        setup(ns)
        prom = os.path.join(d, "twscope.prom")
        agent = subprocess.Popen([BINARY, "--netns", str(ns.inum), "-i", "1", "-d", "5",
                                  "--prom", prom], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        p = ns.py(CLIENT, str(port), "6")
        p.line()
        p.send()
        p.line()
        out, err = agent.communicate(timeout=20)
        p.send()
        p.finish()
        check_eq(agent.returncode, 0, "exit code (%s)" % err.strip())
        with open(prom) as f:
            text = f.read()
        labels = 'netns="%d",family="ipv4",addr="127.0.0.1",port="%d"' % (ns.inum, port)
        check(("twscope_ephemeral_ports_in_use{%s} 6" % labels) in text, "in use: %s",
              [l for l in text.splitlines() if "ephemeral" in l])
        check(("twscope_ephemeral_ports_time_wait{%s} 6" % labels) in text, "time_wait")
        check(('twscope_ephemeral_ports_available{netns="%d",family="ipv4"} 10' % ns.inum)
              in text, "available")
        check(('twscope_ephemeral_ports_bound{netns="%d"} 1' % ns.inum) in text, "bound")
        rows = [l for l in out.splitlines() if l.startswith("remote") and (" %d " % port) in l]
        check(rows and " 6/10 " in rows[-1], "the remote row shows the use: %r", rows)


# The case: 100 ephemeral ports, 85 connections toward one destination and 5 toward an
# IPv6 one, a socket bound before connect; then the first is driven to EADDRNOTAVAIL.
HUNDRED = """
import errno, os, socket, sys
from sockutil import listener, say, wait_go
a, b = int(sys.argv[1]), int(sys.argv[2])
la = listener(a)
lb = listener(b, family=socket.AF_INET6, addr="::1")
bound = socket.socket()
bound.bind(("127.0.0.1", 0))
ca = [socket.create_connection(("127.0.0.1", a)) for _ in range(85)]
cb = [socket.create_connection(("::1", b)) for _ in range(5)]
say(pid=os.getpid(), bound=bound.getsockname()[1])
wait_go()
err = None
while err is None and len(ca) < 200:
    try:
        ca.append(socket.create_connection(("127.0.0.1", a)))
    except OSError as e:
        err = errno.errorcode[e.errno]
say(err=err, toward_a=len(ca))
served = [la.accept()[0] for _ in ca]
wait_go()
for c in ca:  # the client closes first: its ports stay taken by TIME_WAITs
    c.close()
for s in served:  # then the server: a client socket left in FIN_WAIT2 gets its TIME_WAIT
    s.recv(1)
    s.close()
say(closed=True)
wait_go()
"""


def test_hundred_ports_two_destinations():
    a, b = 7811, 7812
    with Netns() as ns:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40099")
        ns.sysctl("net.ipv4.tcp_tw_reuse", "0")
        p = ns.py(HUNDRED, str(a), str(b))
        pid = p.line()["pid"]
        # the agent starts once every connection is up: its first census sees all of them
        with Agent("--netns", ns.inum, "-i", "1") as agent:
            hundred_ports(ns, agent, p, pid, a, b)


def hundred_ports(ns, agent, p, pid, a, b):
    """The rest of test_hundred_ports_two_destinations, the agent running."""
    high = agent.wait_for(lambda r: r.get("type") == "port_pressure" and
                          r["netns"] == ns.inum and r["level"] == "high", 10)
    check(high is not None, "no port_pressure high")
    check_eq((high["addr"], high["port"], high["ports_in_use"], high["ports_available"],
              high["ports_bound"]), ("127.0.0.1", a, 85, 100, 1), "the first destination")
    check_eq([o["pid"] for o in high["owners"]], [pid], "its owner")
    d6 = None
    deadline = time.time() + 10
    while d6 is None and time.time() < deadline:
        d6 = next((d for d in (agent.last_counts() or {}).get("destinations", [])
                   if d["netns"] == ns.inum and d["port"] == b), None)
        time.sleep(0.2)
    check(d6 is not None, "no row for [::1]:%d" % b)
    check_eq((d6["family"], d6["addr"], d6["ports_in_use"], d6["ports_available"]),
             ("ipv6", "::1", 5, 100), "the IPv6 destination")
    # the first one is driven to exhaustion: 100 ports less the bound one
    p.send()
    out = p.line()
    check_eq((out["err"], out["toward_a"]), ("EADDRNOTAVAIL", 99), "connects toward it")
    r = bind_errors(agent, ns)[0]
    check_eq((r["errno"], r["addr"], r["port"], r["cause"]),
             ("EADDRNOTAVAIL", "127.0.0.1", a, "ephemeral_exhausted"), "the failure")
    check("toward 127.0.0.1:%d" % a in r["hint"] and "40000-40099" in r["hint"],
          "hint %r", r["hint"])
    # closed by the client: TIME_WAITs hold the ports and count
    p.send()
    check(p.line()["closed"], "closed")
    d = wait_dest(agent, ns, a, lambda d: d["time_wait"] == 99)
    check_eq((d["ports_in_use"], d["time_wait"]), (99, 99), "TIME_WAITs hold the ports")
    # the TIME_WAITs end (killed here: 60 s is long for a test): back to normal
    run(ns.cmd(["ss", "-K", "-tan", "state", "time-wait"]))
    normal = agent.wait_for(lambda r: r.get("type") == "port_pressure" and
                            r["netns"] == ns.inum and r["level"] == "normal", 10)
    check(normal is not None, "no port_pressure normal once the TIME_WAITs ended: %r",
          dest(agent, ns, a))
    p.send()
    p.finish()
    got = [(e["port"], e["level"]) for e in events(agent, "port_pressure", ns.inum)]
    check_eq(got, [(a, "high"), (a, "normal")], "pressure events: the first destination only")


def test_v4_mapped_clients_count_toward_the_ipv4_destination():
    port = 7813
    with Netns() as ns, Agent("--netns", ns.inum, "-i", "1") as agent:
        setup(ns)
        p = ns.py("""
            import socket, sys
            from sockutil import listener, say, wait_go
            port = int(sys.argv[1])
            ls = listener(port)
            cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            for _ in range(3):
                c = socket.socket(socket.AF_INET6)
                c.connect(("::ffff:127.0.0.1", port))
                cs.append(c)
            say(ports=sorted(c.getsockname()[1] for c in cs))
            wait_go()
        """, str(port))
        check_eq(len(set(p.line()["ports"])), 5, "five local ports")
        d = wait_dest(agent, ns, port, lambda d: d["ports_in_use"] == 5)
        rows = [r for r in (agent.last_counts() or {}).get("destinations", [])
                if r["netns"] == ns.inum]
        p.send()
        p.finish()
        check(d is not None and d["ports_in_use"] == 5, "127.0.0.1:%d: %r" % (port, rows))
        check_eq([(r["family"], r["addr"]) for r in rows], [("ipv4", "127.0.0.1")],
                 "one destination, the IPv4 one")
