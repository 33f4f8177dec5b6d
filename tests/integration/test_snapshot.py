"""Failures explained from what the kernel held at the failure: holders gone a moment later,
the socket's own uid and port range, the implicit connect of TCP Fast Open, autobinds."""
import os
import signal
import subprocess
import time

from lib import BINARY, Agent, Netns, check, check_eq, events
from test_bind import bind_errors, make_time_waits

IP_LOCAL_PORT_RANGE = 51

# A server that listens, fails its own second bind of the port and exits at once: the holder
# is gone microseconds after the failure, whatever the machine's speed, long before any lookup.
BRIEF_SERVER = """
import os, socket, sys
from sockutil import listener, say
port = int(sys.argv[1])
s = listener(port, reuseaddr=False)
say(pid=os.getpid())
try:
    socket.socket().bind(("127.0.0.1", port))
except OSError:
    os._exit(98)
os._exit(0)
"""

# A server that dies on its first error, as users' scripts do; with "wait", on a word from us.
FRAGILE_SERVER = """
import socket, sys
from sockutil import say, wait_go
s = socket.socket()
if sys.argv[2:] == ["wait"]:
    wait_go()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    say(err=None)
except OSError as e:
    say(err=e.errno)
"""


def test_brief_holder_that_exited_is_named():
    port = 7601
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        brief = ns.py(BRIEF_SERVER, str(port))
        pid = brief.line()["pid"]
        check_eq(brief.wait(30), 98, "the bind failed and the holder exited")
        r = bind_errors(agent, ns)[0]
        check_eq(r["cause"], "listen", "cause")
        h = r["holders"][0]
        check_eq((h["state"], h["sport"], h.get("pid"), h.get("comm")),
                 ("LISTEN", port, pid, "python3"), "the holder, named")
        check(("pid %d" % pid) in r["hint"], "hint names the holder: %r", r["hint"])


# The holder forks a child that keeps the listener, then exits: its socket outlives it.
ORPHANED_LISTENER = """
import os, socket, sys, time
from sockutil import listener, say
s = listener(int(sys.argv[1]), reuseaddr=False)
child = os.fork()
if child == 0:
    for fd in (0, 1, 2):
        os.close(fd)
    time.sleep(60)
    os._exit(0)
say(pid=os.getpid(), child=child)
"""


def test_listener_held_by_a_child_of_an_exited_parent():
    """A daemon: the parent listens, forks and exits; the child holds the socket now."""
    port = 7603
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        holder = ns.py(ORPHANED_LISTENER, str(port))
        out = holder.line()
        holder.finish()  # it has exited; its child still has the socket
        try:
            check(ns.py(FRAGILE_SERVER, str(port)).finish()[0]["err"] == 98, "bind must fail")
            r = bind_errors(agent, ns)[0]
        finally:
            os.kill(out["child"], 9)
        h = r["holders"][0]
        check_eq((h.get("pid"), h.get("comm"), h.get("owner_exited")),
                 (out["child"], "python3", None), "the process that holds it now")
        check("exited" not in r["hint"], "hint: %r", r["hint"])


# Both sockets set SO_REUSEPORT, but the new one was created by uid 1000 (its sk_uid), while
# the caller of bind() is root: the kernel compares the socket owners.
OTHER_OWNER = """
import ctypes, socket, sys
from sockutil import listener, say, wait_go
port = int(sys.argv[1])
ls = listener(port, reuseaddr=False, reuseport=True)
libc = ctypes.CDLL(None, use_errno=True)
libc.setfsuid(1000)
s = socket.socket()
libc.setfsuid(0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    s.bind(("127.0.0.1", port))
    say(err=None)
except OSError as e:
    say(err=e.errno)
wait_go()
"""


def test_uid_compared_is_the_sockets_owner():
    port = 7604
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        p = ns.py(OTHER_OWNER, str(port))
        check_eq(p.line()["err"], 98, "bind across owners")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["uid"], r.get("caller_uid")), (1000, 0), "socket owner and caller")
        check_eq((r["cause"], r["holders"][0]["uid"]), ("listen", 0), "the holder of uid 0")
        check("both sockets must belong to one user" in r["hint"], "hint %r", r["hint"])
        check("set SO_REUSEPORT" not in r["hint"], "hint suggests SO_REUSEPORT: %r", r["hint"])


def test_no_process_claim_only_for_time_waits():
    port = 7605
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        make_time_waits(ns, port, reuseaddr=False, n=2)
        p = ns.py("""
            import socket, sys
            from sockutil import say, try_bind, wait_go
            port = int(sys.argv[1])
            held, _ = try_bind(port + 1)
            for p in (port, port + 1):
                s, err = try_bind(p)
                say(err=err)
            held.close()  # gone before the agent can name it
            wait_go()
        """, str(port))
        check_eq((p.line()["err"], p.line()["err"]), ("EADDRINUSE", "EADDRINUSE"), "both fail")
        tw, bound = sorted(bind_errors(agent, ns, 2), key=lambda r: r["port"])
        p.send()
        p.finish()
        check_eq([(h["state"], "pid" in h) for h in tw["holders"]], [("TIME-WAIT", False)] * 2,
                 "TIME_WAITs, owned by no process")
        h = bound["holders"][0]
        check_eq((bound["cause"], h["state"], h.get("orphan")), ("bound", "UNCONN", False),
                 "a closed-since socket is not called one no process held")
        check("no process holds" not in bound["hint"], "false claim: %r", bound["hint"])


def test_socket_port_range_in_exhaustion_hint():
    port = 7606
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        p = ns.py("""
            import errno, socket, struct, sys
            from sockutil import listener, say, wait_go
            port, opt = int(sys.argv[1]), int(sys.argv[2])
            ls = listener(port)
            def client():
                c = socket.socket()
                c.setsockopt(socket.IPPROTO_IP, opt, struct.pack("I", 40001 << 16 | 40000))
                return c
            held = []
            for _ in range(2):
                c = client()
                c.connect(("127.0.0.1", port))
                held.append(c)
            c = client()
            try:
                c.connect(("127.0.0.1", port))
                say(err=None)
            except OSError as e:
                say(err=errno.errorcode[e.errno])
            wait_go()
        """, str(port), str(IP_LOCAL_PORT_RANGE))
        check_eq(p.line()["err"], "EADDRNOTAVAIL", "third connect")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["cause"], r["range_lo"], r["range_hi"], r["socket_range"]),
                 ("ephemeral_exhausted", 40000, 40001, True), "range")
        check_eq(r["holders_total"], 2, "the two connections toward the port")
        check("the socket's IP_LOCAL_PORT_RANGE" in r["hint"], "hint %r", r["hint"])


def test_fastopen_sendto_is_a_connect():
    port = 7607
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40001")
        p = ns.py("""
            import errno, socket, sys
            from sockutil import listener, say, wait_go
            port = int(sys.argv[1])
            ls = listener(port)
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            errs = []
            for send in (lambda c: c.sendto(b"x", socket.MSG_FASTOPEN, ("127.0.0.1", port)),
                         lambda c: c.sendmsg([b"x"], [], socket.MSG_FASTOPEN,
                                             ("127.0.0.1", port))):
                c = socket.socket()
                try:
                    send(c)
                    errs.append(None)
                except OSError as e:
                    errs.append(errno.errorcode[e.errno])
            say(errs=errs)
            wait_go()
        """, str(port))
        check_eq(p.line()["errs"], ["EADDRNOTAVAIL"] * 2, "sendto and sendmsg(MSG_FASTOPEN)")
        recs = bind_errors(agent, ns, 2)
        p.send()
        p.finish()
        check_eq(len(recs), 2, "both seen")
        for r in recs:
            check_eq((r["call"], r.get("fastopen"), r["addr"], r["port"], r["cause"]),
                     ("connect", True, "127.0.0.1", port, "ephemeral_exhausted"), "failure")
            check_eq(r["holders_total"], 2, "the connections toward it")


def test_listen_autobind_exhausted():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40001")
        p = ns.py("""
            import errno, socket
            from sockutil import say, wait_go
            held = []
            for _ in range(3):
                s = socket.socket()
                try:
                    s.listen(4)
                    held.append(s)
                    err = None
                except OSError as e:
                    err = errno.errorcode[e.errno]
            say(err=err)
            wait_go()
        """)
        check_eq(p.line()["err"], "EADDRINUSE", "third listen() of an unbound socket")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["call"], r["port"], r["cause"], r["holders_total"]),
                 ("listen", 0, "ephemeral_exhausted", 2), "failure")
        check_eq(sorted(h["sport"] for h in r["holders"]), [40000, 40001], "the two listeners")
        check("listen(port 0)" in r["hint"], "hint %r", r["hint"])


def test_bind_address_not_in_the_namespace():
    with Netns() as ns, Agent("-e", "bind", "--netns", ns.inum) as agent:
        p = ns.py("""
            import errno, socket
            from sockutil import say, wait_go
            s = socket.socket()
            try:
                s.bind(("192.0.2.1", 7608))  # TEST-NET-1: bound, never sent to
                say(err=None)
            except OSError as e:
                say(err=errno.errorcode[e.errno])
            wait_go()
        """)
        check_eq(p.line()["err"], "EADDRNOTAVAIL", "bind to an address the netns lacks")
        r = bind_errors(agent, ns)[0]
        p.send()
        p.finish()
        check_eq((r["errno"], r["cause"], r["holders"]), ("EADDRNOTAVAIL", "unknown", []), "r")
        for word in ("no interface", "IP_FREEBIND", "ip_nonlocal_bind"):
            check(word in r["hint"], "hint lacks %r: %r", word, r["hint"])


def test_bind_error_after_the_events_before_it():
    port = 7609
    with Netns() as ns, Agent("-e", "tw,bind", "--netns", ns.inum) as agent:
        # TIME_WAITs and, within a millisecond, the failure they cause: one drain sees both
        p = ns.py("""
            import socket, sys
            from sockutil import listener, say
            port = int(sys.argv[1])
            ls = listener(port, reuseaddr=False)
            for i in range(20):
                c = socket.create_connection(("127.0.0.1", port))
                s, _ = ls.accept()
                s.close()
                c.recv(1)
                c.close()
            ls.close()
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
                say(err=None)
            except OSError as e:
                say(err=e.errno)
        """, str(port))
        check_eq(p.finish()[0]["err"], 98, "the bind after the TIME_WAITs")
        bind_errors(agent, ns)
        agent.wait_count(lambda r: r.get("type") == "tw_enter" and r["netns"] == ns.inum, 20)
        mine = [r for r in agent.records if r.get("netns") == ns.inum and
                r.get("type") in ("tw_enter", "bind_error")]
        check_eq([r["type"] for r in mine], ["tw_enter"] * 20 + ["bind_error"], "order")
        check(all(a["ts"] <= b["ts"] for a, b in zip(mine, mine[1:])), "time order")


def test_terminal_explanation_fits_the_width():
    port = 7610
    with Netns() as ns:
        make_time_waits(ns, port, reuseaddr=False, n=8)
        env = dict(os.environ, COLUMNS="72")
        agent = subprocess.Popen([BINARY, "-e", "bind", "--netns", str(ns.inum), "-d", "120"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        # its first line on stderr says it is tracing (slow to come in an emulated VM)
        check("tracing" in agent.stderr.readline(), "agent not ready")
        check(ns.py(FRAGILE_SERVER, str(port)).finish()[0]["err"] == 98, "the bind must fail")
        # stopped once the failure is in: the agent drains its rings before it exits
        time.sleep(0.5)
        agent.send_signal(signal.SIGINT)
        out, err = agent.communicate(timeout=30)
        check_eq(agent.returncode, 0, "exit code (%s)" % err.strip())
        lines = out.splitlines()
        start = [i for i, l in enumerate(lines) if "bind_error" in l]
        check_eq(len(start), 1, "one failure line")
        para = []
        for l in lines[start[0] + 1:]:
            if not l.startswith("  "):
                break
            para.append(l)
        check(all(len(l) <= 72 for l in para), "lines over 72 columns: %r", para)
        check_eq(sum("TIME-WAIT 127.0.0.1:%d" % port in l for l in para), 5, "holders listed")
        check(any(l.strip() == "and 3 more" for l in para), "the rest counted: %r", para)
        check(para[0].strip().startswith("cause: time_wait;"), "cause first: %r", para[0])
