"""TIME_WAIT lifecycle: entries, sides, expiry, early kill, overflow, seeding, exact gauges."""
import time

from lib import Agent, Netns, check, check_eq, events

# Server closes first; the client reads EOF and closes: N server-side TIME_WAITs.
SERVER_FIRST = """
import socket, sys
from sockutil import listener, say
port, n = int(sys.argv[1]), int(sys.argv[2])
ls = listener(port, reuseaddr=sys.argv[3] == "1" if len(sys.argv) > 3 else True)
ports = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = ls.accept()
    s.close()
    while c.recv(100):
        pass
    ports.append(c.getsockname()[1])
    c.close()
ls.close()
say(ports=ports, pid=__import__("os").getpid())
"""

# The client closes first: the TIME_WAITs are the client's, toward the served port.
CLIENT_FIRST = """
import socket, sys
from sockutil import listener, say
port, n = int(sys.argv[1]), int(sys.argv[2])
ls = listener(port)
ports = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = ls.accept()
    ports.append(c.getsockname()[1])
    c.close()
    while s.recv(100):
        pass
    s.close()
say(ports=ports, pid=__import__("os").getpid())
"""


def tw_key_counts(agent, ns, side, port):
    c = agent.last_counts()
    for p in (c or {}).get("ports", []):
        if p["netns"] == ns.inum and p["side"] == side and p["port"] == port:
            return p
    return None


def ss_count(ns, port, state="time-wait"):
    return len([l for l in ns.ss("state", state, "( sport = :%d or dport = :%d )" % (port, port))])


def test_server_closes_first_local_side():
    n = 8
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "-i", "1") as agent:
        out = ns.py(SERVER_FIRST, "7101", str(n)).finish()[0]
        enters = agent.wait_count(lambda r: r.get("type") == "tw_enter", n, 10)
        check_eq(len(enters), n, "tw_enter records")
        for r in enters:
            check_eq((r["saddr"], r["sport"], r["daddr"]), ("127.0.0.1", 7101, "127.0.0.1"),
                     "server tuple")
            check_eq(r["side"], "local", "side")
            check(r["substate"] in ("TIME_WAIT", "FIN_WAIT2"), "substate %r", r["substate"])
            check(r["reuseaddr"] is True, "the listener set SO_REUSEADDR: %r", r)
            check(0 < r["expires_in_ms"] <= 63000, "expires_in_ms %r", r["expires_in_ms"])
            check_eq(r.get("pid"), out["pid"], "owner pid of the closed socket")
        check_eq(sorted(r["dport"] for r in enters), sorted(out["ports"]), "client ports")
        time.sleep(1.5)
        p = tw_key_counts(agent, ns, "local", 7101)
        check(p is not None, "no per-port counts for 7101: %r", agent.last_counts())
        check_eq(p["tw"], ss_count(ns, 7101), "gauge vs ss -tan state time-wait")
        check_eq(p["tw"], n, "gauge")
        check_eq(p["tw_entered"], n, "entered")
        check(p["tw_peak"] >= n, "peak %r", p["tw_peak"])


def test_client_closes_first_remote_side():
    n = 5
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "-i", "1") as agent:
        out = ns.py(CLIENT_FIRST, "7102", str(n)).finish()[0]
        enters = agent.wait_count(lambda r: r.get("type") == "tw_enter", n, 10)
        check_eq(len(enters), n, "tw_enter records")
        for r in enters:
            check_eq(r["side"], "remote", "side")
            check_eq((r["dport"], r["daddr"]), (7102, "127.0.0.1"), "destination")
        check_eq(sorted(r["sport"] for r in enters), sorted(out["ports"]), "client ports")
        time.sleep(1.5)
        p = tw_key_counts(agent, ns, "remote", 7102)
        check(p is not None and p.get("addr") == "127.0.0.1", "remote key: %r", p)
        check_eq(p["tw"], n, "remote gauge keyed by destination port")
        keys = [k for k in agent.last_counts()["ports"]
                if k["netns"] == ns.inum and k["side"] == "remote" and k["port"] == 7102]
        check_eq(len(keys), 1, "one key for one destination")
        check(tw_key_counts(agent, ns, "local", 7102) is None, "no local key for a client TW")


def test_client_tw_named_with_owner_tracking():
    # with state events the tw_enter waits for the close, which names the socket's own owner
    n = 4
    with Netns() as ns, Agent("-e", "all", "--netns", ns.inum, "-i", "1") as agent:
        out = ns.py(CLIENT_FIRST, "7104", str(n)).finish()[0]
        enters = agent.wait_count(lambda r: r.get("type") == "tw_enter", n, 10)
        check_eq(len(enters), n, "tw_enter records")
        for r in enters:
            check_eq(r["side"], "remote", "side")
            check_eq(r.get("pid"), out["pid"], "owner of the client socket")
            check(r["substate"] in ("TIME_WAIT", "FIN_WAIT2"), "substate %r", r["substate"])
        check_eq(sorted(r["sport"] for r in enters), sorted(out["ports"]), "client ports")
        time.sleep(1.5)
        p = tw_key_counts(agent, ns, "remote", 7104)
        check(p is not None, "no remote key: %r", agent.last_counts())
        check_eq(p["tw"], n, "gauge")


def test_fin_wait2_expires():
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum) as agent:
        ns.sysctl("net.ipv4.tcp_fin_timeout", 1)
        # the client never closes: the server's orphan waits in FIN_WAIT2 for fin_timeout
        p = ns.py("""
            import socket, time
            from sockutil import listener, say, wait_go
            ls = listener(7103)
            c = socket.create_connection(("127.0.0.1", 7103))
            s, _ = ls.accept()
            s.close()
            say(port=c.getsockname()[1])
            wait_go()
        """)
        cport = p.line()["port"]
        ex = agent.wait_for(lambda r: r.get("type") == "tw_exit" and r["dport"] == cport, 10)
        p.send()
        p.finish()
        check(ex is not None, "no tw_exit within 10 s")
        check_eq(ex["reason"], "expired", "reason")
        ent = events(agent, "tw_enter", ns.inum, dport=cport)
        check_eq(len(ent), 1, "one entry")
        check_eq(ent[0]["substate"], "FIN_WAIT2", "substate")
        check(800 <= ex["age_ms"] <= 3000, "age %r ms close to tcp_fin_timeout=1", ex["age_ms"])


def test_early_kill_by_new_syn():
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum) as agent:
        p = ns.py("""
            import socket
            from sockutil import listener, say
            ls = listener(7104)
            c = socket.create_connection(("127.0.0.1", 7104))
            s, _ = ls.accept()
            s.close()
            while c.recv(100):
                pass
            cport = c.getsockname()[1]
            c.close()
            # same 4-tuple again while the listener exists: the SYN kills the TIME_WAIT
            c2 = socket.socket()
            c2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c2.bind(("127.0.0.1", cport))
            c2.connect(("127.0.0.1", 7104))
            s2, _ = ls.accept()
            say(port=cport)
        """)
        cport = p.finish()[0]["port"]
        ex = agent.wait_for(lambda r: r.get("type") == "tw_exit" and r["dport"] == cport, 10)
        check(ex is not None, "no tw_exit for the reused 4-tuple")
        check_eq(ex["reason"], "killed", "reason")
        check(ex["age_ms"] < 5000, "killed early, age %r", ex["age_ms"])


def test_kill_then_new_time_wait_both_reported():
    """A SYN kills a TIME_WAIT and its connection ends in a new one on the same 4-tuple: the
    kill and the new arm come from one program run (as one ring record), and both are events."""
    n = 12
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum) as agent:
        p = ns.py("""
            import socket, sys
            from sockutil import listener, say
            n = int(sys.argv[1])
            ls = listener(7105)
            cport = 0
            for i in range(n):
                c = socket.socket()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                c.bind(("127.0.0.1", cport))
                c.connect(("127.0.0.1", 7105))
                cport = c.getsockname()[1]
                s, _ = ls.accept()
                s.close()  # the server closes first: its TIME_WAIT, killed by the next SYN
                while c.recv(100):
                    pass
                c.close()
            say(port=cport)
        """, str(n))
        cport = p.finish()[0]["port"]
        enters = agent.wait_count(
            lambda r: r.get("type") == "tw_enter" and r["sport"] == 7105 and r["dport"] == cport,
            n, 10)
        exits = agent.wait_count(
            lambda r: r.get("type") == "tw_exit" and r["sport"] == 7105 and r["dport"] == cport,
            n - 1, 10)
        check_eq(len(enters), n, "tw_enter events")
        check_eq(len(exits), n - 1, "tw_exit events")
        check(all(r["reason"] == "killed" for r in exits), "reasons %r",
              [r["reason"] for r in exits])
        for e, x in zip(enters[1:], exits):
            check(x["ts"] <= e["ts"], "the kill %s comes before the next arm %s", x["ts"],
                  e["ts"])


def test_overflow_counts():
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "-i", "1") as agent:
        ns.sysctl("net.ipv4.tcp_max_tw_buckets", 4)
        ns.py(SERVER_FIRST, "7105", "10").finish()
        ov = agent.wait_count(lambda r: r.get("type") == "tw_overflow", 6, 10)
        time.sleep(1.5)
        enters = events(agent, "tw_enter", ns.inum)
        check_eq(len(enters), 4, "entries while the table has room")
        check_eq(len(ov), 6, "tw_overflow records")
        for r in ov:
            check_eq(r["sport"], 7105, "overflow tuple")
        c = agent.last_counts()
        check(c["totals"]["tw_overflow"] >= 6, "totals.tw_overflow %r", c["totals"])
        p = tw_key_counts(agent, ns, "local", 7105)
        check_eq((p["tw"], p["tw_overflow"]), (4, 6), "per-port gauge and overflows")


def test_existing_time_waits_are_seeded():
    with Netns() as ns:
        ns.py(SERVER_FIRST, "7106", "6").finish()
        check_eq(ss_count(ns, 7106), 6, "TIME_WAITs before the agent")
        with Agent("-e", "tw", "--netns", ns.inum, "-i", "1") as agent:
            ready = agent.select(lambda r: r.get("type") == "ready")[0]
            check(ready["tw_seeded"] >= 6, "ready.tw_seeded %r", ready["tw_seeded"])
            time.sleep(1.5)
            p = tw_key_counts(agent, ns, "local", 7106)
            check(p is not None, "no counts for the seeded port")
            check_eq(p["tw"], 6, "seeded gauge equals ss")
            check_eq(p["tw_entered"], 0, "seeded sockets did not enter while watched")


def test_real_time_wait_expires_after_60s():
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum) as agent:
        out = ns.py(SERVER_FIRST, "7107", "1").finish()[0]
        cport = out["ports"][0]
        ex = agent.wait_for(lambda r: r.get("type") == "tw_exit" and r["dport"] == cport, 75)
        check(ex is not None, "no expiry within 75 s")
        check_eq(ex["reason"], "expired", "reason")
        check(59000 <= ex["age_ms"] <= 66000, "age %r ms of a true TIME_WAIT", ex["age_ms"])
        check_eq(ss_count(ns, 7107), 0, "ss after the expiry")


test_real_time_wait_expires_after_60s.timeout = 110


def test_ipv6_time_wait():
    with Netns() as ns, Agent("-e", "tw", "--netns", ns.inum, "-6") as agent:
        p = ns.py("""
            import socket
            from sockutil import listener, say
            ls = listener(7108, "::1", socket.AF_INET6)
            c = socket.create_connection(("::1", 7108))
            s, _ = ls.accept()
            s.close()
            while c.recv(100):
                pass
            say(port=c.getsockname()[1])
            c.close()
        """)
        cport = p.finish()[0]["port"]
        r = agent.wait_for(lambda r: r.get("type") == "tw_enter", 10)
        check(r is not None, "no tw_enter for IPv6")
        check_eq((r["family"], r["saddr"], r["sport"], r["daddr"], r["dport"], r["side"]),
                 ("ipv6", "::1", 7108, "::1", cport, "local"), "IPv6 TIME_WAIT")
