"""EADDRINUSE / EADDRNOTAVAIL explained: call, errno, address, port, cause and holders."""
import math
import time

from lib import Agent, Netns, check, check_eq, events
from test_timewait import SERVER_FIRST

HOLD = """
import socket, sys
from sockutil import listener, say, try_bind, wait_go
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "listen":
    s = listener(port, sys.argv[3], socket.AF_INET6 if ":" in sys.argv[3] else socket.AF_INET,
                 reuseaddr=False, v6only=False if ":" in sys.argv[3] else None)
elif kind == "bound":
    s, err = try_bind(port, sys.argv[3])
elif kind == "udp":
    s, err = try_bind(port, sys.argv[3], proto=socket.SOCK_DGRAM)
say(ready=True)
wait_go()
"""

TRY = """
import json, socket, sys
from sockutil import say, try_bind, wait_go
a = json.loads(sys.argv[1])
fam = socket.AF_INET6 if ":" in a["addr"] else socket.AF_INET
s, err = try_bind(a["port"], a["addr"], fam, reuseaddr=a.get("reuseaddr", False),
                  reuseport=a.get("reuseport", False), listen=a.get("listen", False),
                  proto=socket.SOCK_DGRAM if a.get("udp") else socket.SOCK_STREAM)
say(err=err)
wait_go()
"""


def attempt(ns, agent, **kw):
    """Tries the bind and keeps the process alive until the agent has reported it."""
    import json
    p = ns.py(TRY, json.dumps(kw))
    err = p.line()["err"]
    if err:
        bind_errors(agent, ns)
    p.send()
    p.finish()
    return err


def bind_errors(agent, ns, n=1, timeout=10):
    return agent.wait_count(lambda r: r.get("type") == "bind_error" and r["netns"] == ns.inum,
                            n, timeout)


def make_time_waits(ns, port, reuseaddr, n=3):
    """n server-closed connections on port; the listener is closed after them."""
    ns.py(SERVER_FIRST, str(port), str(n), "1" if reuseaddr else "0").finish()


def test_restart_without_reuseaddr_hits_time_wait():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        make_time_waits(ns, 7201, reuseaddr=False)
        check_eq(attempt(ns, agent, port=7201, addr="127.0.0.1", listen=True), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq((r["call"], r["proto"], r["errno"], r["addr"], r["port"]),
                 ("bind", "tcp", "EADDRINUSE", "127.0.0.1", 7201), "failure")
        check_eq(r["cause"], "time_wait", "cause")
        check_eq(r["reuseaddr"], False, "new socket's SO_REUSEADDR")
        check_eq(len(r["holders"]), 3, "holders")
        for h in r["holders"]:
            check_eq((h["state"], h["sport"], h["reuseaddr"]), ("TIME-WAIT", 7201, False), "holder")
            check(50000 < h["expires_in_ms"] <= 63000, "remaining time %r", h["expires_in_ms"])
        check("SO_REUSEADDR" in r["hint"] and "frees in" in r["hint"], "hint %r", r["hint"])


def test_restart_reuseaddr_only_on_new_socket():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        make_time_waits(ns, 7202, reuseaddr=False)
        check_eq(attempt(ns, agent, port=7202, addr="127.0.0.1", reuseaddr=True), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq((r["cause"], r["reuseaddr"]), ("time_wait", True), "cause and option")
        check("listener that did not set SO_REUSEADDR" in r["hint"], "hint %r", r["hint"])


def test_restart_reuseaddr_on_both_succeeds():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        make_time_waits(ns, 7203, reuseaddr=True)
        check_eq(len(ns.ss("state", "time-wait")), 3, "TIME_WAITs present")
        check_eq(attempt(ns, agent, port=7203, addr="127.0.0.1", reuseaddr=True, listen=True), None,
                 "bind with SO_REUSEADDR on both")
        time.sleep(1)
        check_eq(events(agent, "bind_error", ns.inum), [], "no bind_error")


def test_listener_conflict_names_owner():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        holder = ns.py(HOLD, "listen", "7204", "0.0.0.0")
        holder.line()
        check_eq(attempt(ns, agent, port=7204, addr="127.0.0.1", reuseaddr=True), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq(r["cause"], "listen", "cause")
        h = r["holders"][0]
        check_eq((h["state"], h["saddr"], h["sport"]), ("LISTEN", "0.0.0.0", 7204), "holder")
        check_eq((h.get("pid"), h.get("comm")), (holder.pid, "python3"), "owner")
        check(("pid %d" % holder.pid) in r["hint"], "hint names the owner: %r", r["hint"])
        holder.send()
        holder.finish()


def test_bound_only_conflict():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        holder = ns.py(HOLD, "bound", "7205", "127.0.0.1")
        holder.line()
        check_eq(attempt(ns, agent, port=7205, addr="127.0.0.1"), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq(r["cause"], "bound", "cause")
        check_eq((r["holders"][0]["state"], r["holders"][0].get("pid")), ("UNCONN", holder.pid),
                 "holder")
        holder.send()
        holder.finish()


def test_reuseport_on_both_succeeds():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        p = ns.py("""
            from sockutil import say, try_bind
            a, e1 = try_bind(7206, reuseport=True, listen=True)
            b, e2 = try_bind(7206, reuseport=True, listen=True)
            say(errs=[e1, e2])
        """)
        check_eq(p.finish()[0]["errs"], [None, None], "both listen")
        time.sleep(1)
        check_eq(events(agent, "bind_error", ns.inum), [], "no bind_error")


def test_second_listen_fails_after_two_reuseaddr_binds():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        p = ns.py("""
            import errno
            from sockutil import say, try_bind, wait_go
            a, e1 = try_bind(7207, reuseaddr=True)
            b, e2 = try_bind(7207, reuseaddr=True)
            a.listen(8)
            try:
                b.listen(8)
                e3 = None
            except OSError as e:
                e3 = errno.errorcode[e.errno]
            say(errs=[e1, e2, e3])
            wait_go()
        """)
        check_eq(p.line()["errs"], [None, None, "EADDRINUSE"], "bind, bind, listen")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["call"], r["port"], r["addr"], r["reuseaddr"]), ("listen", 7207, "127.0.0.1", True),
                 "listen failure")
        check_eq(r["cause"], "listen", "cause")
        check_eq(r["holders"][0]["state"], "LISTEN", "holder state")
        check("SO_REUSEPORT" in r["hint"], "hint %r", r["hint"])


def test_dual_stack_any_blocks_ipv4():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        holder = ns.py(HOLD, "listen", "7208", "::")
        holder.line()
        check_eq(attempt(ns, agent, port=7208, addr="0.0.0.0", reuseaddr=True), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq((r["family"], r["addr"], r["cause"]), ("ipv4", "0.0.0.0", "listen"), "failure")
        h = r["holders"][0]
        check_eq((h["family"], h["saddr"], h.get("v6only")), ("ipv6", "::", False), "holder")
        check("IPV6_V6ONLY" in r["hint"], "hint explains the dual-stack overlap: %r", r["hint"])
        holder.send()
        holder.finish()


def test_udp_bind_conflict():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        holder = ns.py(HOLD, "udp", "7209", "127.0.0.1")
        holder.line()
        check_eq(attempt(ns, agent, port=7209, addr="127.0.0.1", udp=True), "EADDRINUSE", "bind")
        r = bind_errors(agent, ns)[0]
        check_eq((r["proto"], r["cause"], r["port"]), ("udp", "bound", 7209), "failure")
        check_eq(r["holders"][0].get("pid"), holder.pid, "owner")
        holder.send()
        holder.finish()


def test_connect_ephemeral_exhausted():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003")
        p = ns.py("""
            import errno, socket
            from sockutil import listener, say, wait_go
            ls = listener(7210)
            held = [socket.create_connection(("127.0.0.1", 7210)) for _ in range(4)]
            try:
                socket.create_connection(("127.0.0.1", 7210))
                err = None
            except OSError as e:
                err = errno.errorcode[e.errno]
            say(err=err)
            wait_go()
        """)
        check_eq(p.line()["err"], "EADDRNOTAVAIL", "fifth connect")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["call"], r["errno"], r["addr"], r["port"]),
                 ("connect", "EADDRNOTAVAIL", "127.0.0.1", 7210), "failure")
        check_eq(r["cause"], "ephemeral_exhausted", "cause")
        check_eq(r["holders_total"], 4, "connections holding the range")
        check("toward 127.0.0.1:7210" in r["hint"] and "40000-40003" in r["hint"],
              "hint %r", r["hint"])


def test_bind_port0_exhausted():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40001")
        p = ns.py("""
            from sockutil import say, try_bind, wait_go
            held = [try_bind(0)[0] for _ in range(2)]
            s, err = try_bind(0)
            say(err=err, held=[h.getsockname()[1] for h in held if h])
            wait_go()
        """)
        out = p.line()
        check_eq(out["err"], "EADDRINUSE", "third bind(port 0)")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq(r["holders_total"], 2, "sockets holding the range")
        check_eq((r["call"], r["port"], r["cause"]), ("bind", 0, "ephemeral_exhausted"), "failure")
        check("ip_local_port_range" in r["hint"], "hint %r", r["hint"])


def test_storm_is_coalesced_and_counted():
    n = 3000
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum, "-i", "1") as agent:
        holder = ns.py(HOLD, "listen", "7211", "127.0.0.1")
        holder.line()
        start = time.time()
        p = ns.py("""
            import sys
            from sockutil import say, try_bind
            errs = sum(1 for _ in range(int(sys.argv[1])) if try_bind(7211)[1])
            say(errs=errs)
        """, str(n))
        check_eq(p.finish()[0]["errs"], n, "failures made")
        seconds = math.ceil(time.time() - start) + 1  # the seconds the storm touched
        time.sleep(2.5)
        recs = events(agent, "bind_error", ns.inum)
        # the first 10 failures of each second, and one record with the repeats of each
        check(len(recs) <= 11 * seconds, "a storm of %d s must not print one line per failure: "
              "%d", seconds, len(recs))
        check_eq(sum(r.get("repeats", 1) for r in recs), n, "every failure accounted for")
        port = [x for x in agent.last_counts()["ports"] if x["port"] == 7211 and x["netns"] == ns.inum]
        check_eq(port[0]["bind_errors"], n, "exact per-port count")
        holder.send()
        holder.finish()
