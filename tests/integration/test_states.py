"""State transitions: exact sequences, 4-tuples and owner pids for both sockets; --port; IPv6."""
import socket

from lib import Agent, Netns, check, check_eq, events

SERVER = """
import socket, sys
from sockutil import listener, say, wait_go
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
addr = "::1" if sys.argv[1] == "6" else "127.0.0.1"
port = int(sys.argv[2])
ls = listener(port, addr, fam)
say(ready=True)
c, peer = ls.accept()
c.recv(1)
c.close()          # the server closes first
wait_go()
ls.close()
say(done=True, peer_port=peer[1])
"""

CLIENT = """
import socket, sys
from sockutil import say
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
addr = "::1" if sys.argv[1] == "6" else "127.0.0.1"
s = socket.socket(fam, socket.SOCK_STREAM)
s.connect((addr, int(sys.argv[2])))
s.sendall(b"x")
while s.recv(100):
    pass
say(port=s.getsockname()[1])
s.close()
"""


def transitions(agent, ns, pred):
    return [(r["old"], r["new"], r.get("pid")) for r in events(agent, "state", ns.inum) if pred(r)]


def exchange(fam, port):
    addr = "::1" if fam == "6" else "127.0.0.1"
    with Netns() as ns, Agent("-e", "state", "--netns", ns.inum) as agent:
        server = ns.py(SERVER, fam, str(port))
        server.line()
        client = ns.py(CLIENT, fam, str(port))
        cport = client.finish()[0]["port"]
        server.send()
        server.finish()
        want_len = 12
        agent.wait_count(lambda r: r.get("type") == "state" and r.get("netns") == ns.inum,
                         want_len, 10)
        sp, cp = server.pid, client.pid
        recs = events(agent, "state", ns.inum)
        for r in recs:
            check_eq(r["family"], "ipv6" if fam == "6" else "ipv4", "family")
            check(r["saddr"] == addr and r["daddr"] in (addr, "0.0.0.0", "::"),
                  "unexpected address in %r", r)
            check("comm" not in r or r["comm"] == "python3", "comm of %r", r)
        client_side = transitions(agent, ns, lambda r: r["dport"] == port and r["sport"] in (0, cport))
        check_eq(client_side, [
            ("UNCONN", "SYN-SENT", cp),
            ("SYN-SENT", "ESTAB", cp),
            ("ESTAB", "CLOSE-WAIT", cp),
            ("CLOSE-WAIT", "LAST-ACK", cp),
            ("LAST-ACK", "UNCONN", cp),
        ], "client socket transitions")
        # 6.1 and 6.12 trace the clone's LISTEN -> SYN-RECV before inet_csk_clone_lock() sets its
        # peer: that one record carries the listener's tuple
        child = transitions(agent, ns, lambda r: r["sport"] == port and (
            r["dport"] == cport or (r["old"], r["new"], r["dport"]) == ("LISTEN", "SYN-RECV", 0)))
        check_eq(child, [
            ("LISTEN", "SYN-RECV", sp),   # softirq: owned by the listener's process
            ("SYN-RECV", "ESTAB", sp),
            ("ESTAB", "FIN-WAIT-1", sp),
            ("FIN-WAIT-1", "FIN-WAIT-2", sp),
            ("FIN-WAIT-2", "UNCONN", sp),
        ], "accepted socket transitions")
        lst = transitions(agent, ns, lambda r: r["sport"] == port and r["dport"] == 0
                          and r["new"] != "SYN-RECV")
        check_eq(lst, [("UNCONN", "LISTEN", sp), ("LISTEN", "UNCONN", sp)], "listener transitions")
        check_eq(len(recs), want_len, "number of state records")
        first_syn = [r for r in recs if r["new"] == "SYN-SENT"][0]
        check_eq(first_syn["sport"], 0, "source port before connect() picks one")


def test_state_sequence_ipv4():
    exchange("4", 7001)


def test_state_sequence_ipv6():
    exchange("6", 7002)


def test_port_filter_keeps_other_ports_out():
    with Netns() as ns, Agent("-e", "state", "-p", "7010") as agent:
        for port in (7010, 7011):
            server = ns.py(SERVER, "4", str(port))
            server.line()
            ns.py(CLIENT, "4", str(port)).finish()
            server.send()
            server.finish()
        agent.wait_count(lambda r: r.get("type") == "state" and r.get("netns") == ns.inum, 12, 10)
        recs = events(agent, "state", ns.inum)
        check(len(recs) >= 12, "expected the 12 transitions of port 7010, got %d", len(recs))
        for r in recs:
            check(7010 in (r["sport"], r["dport"]), "record outside --port 7010: %r", r)
            check(7011 not in (r["sport"], r["dport"]), "port 7011 leaked: %r", r)


def test_pid_filter():
    with Netns() as ns:
        server = ns.py(SERVER, "4", "7020")
        server.line()
        with Agent("-e", "state", "--netns", ns.inum, "--pid", server.pid) as agent:
            ns.py(CLIENT, "4", "7020").finish()
            server.send()
            server.finish()
            agent.wait_count(lambda r: r.get("type") == "state", 4, 10)
            recs = events(agent, "state", ns.inum)
            check(len(recs) >= 4, "server transitions missing: %r", recs)
            for r in recs:
                check_eq(r.get("pid"), server.pid, "pid of every record under --pid")
