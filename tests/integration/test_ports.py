"""Ephemeral-port headroom per destination: ports in use toward it (TIME_WAITs included), the
range less reserved ports, ports bind() took from every destination, and pressure events."""
import os
import subprocess
import tempfile
import time

from lib import BINARY, Agent, Netns, check, check_eq, events

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
