"""Privileges after start: the kept capabilities only, no_new_privs, a seccomp filter, and the
work done after start still done (holders named in another user's netns, outputs written)."""
import os
import subprocess
import sys
import tempfile
import time

from lib import Agent, check, check_eq

# As nobody, in a netns no /run/netns entry names (the agent reaches it only through the
# /proc/PID/ns/net of another user's process): a bind beside a listener, then beside TIME_WAITs
# only, which no process holds (the TCP iterator must run inside that netns to see them).
CONFLICT = """
import socket, sys, time
port = int(sys.argv[1])

def try_bind(reuse):
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse)
    try:
        t.bind(("127.0.0.1", port))
        print("bound", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
    sys.stdin.readline()

s = socket.socket()
s.bind(("127.0.0.1", port))
s.listen()
try_bind(0)
c = socket.create_connection(("127.0.0.1", port))
a, _ = s.accept()
a.close()  # the server closes first: its side goes to TIME_WAIT
c.recv(1)
c.close()
s.close()
time.sleep(1.5)  # past the agent's one walk per port and second
try_bind(1)
"""

CAP_DAC_OVERRIDE = 1
KEPT = 0  # user/privs.c keeps no capability today


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def check_dropped(pid, want):
    st = status(pid)
    for field in ("CapEff", "CapPrm", "CapBnd"):
        check_eq(int(st[field], 16), want, "%s of the agent" % field)
    check_eq((int(st["CapInh"], 16), int(st["CapAmb"], 16)), (0, 0), "CapInh, CapAmb")
    check_eq((st["NoNewPrivs"], st["Seccomp"]), ("1", "2"), "NoNewPrivs, Seccomp (filter)")


def test_privileges_dropped_after_start():
    port = 7601
    with Agent("-e", "bind", "-p", port) as agent:
        check_dropped(agent.p.pid, KEPT)
        # failures are still explained: the snapshot taken in the kernel, owners named by
        # iter/task_file, in a netns of another user that no /run/netns entry names
        p = subprocess.Popen(["unshare", "-n", "sh", "-c",
                              'ip link set lo up && exec setpriv --reuid=65534 --regid=65534 '
                              '--clear-groups "$0" -c "$1" "$2"', sys.executable, CONFLICT,
                              str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        errs = []
        try:
            for n in (1, 2):
                check_eq(p.stdout.readline().strip(), "98", "errno of bind %d" % n)
                netns = os.stat("/proc/%d/ns/net" % p.pid).st_ino  # unshared by now
                got = agent.wait_count(lambda r: r.get("type") == "bind_error" and
                                       r["netns"] == netns and r["port"] == port, n)
                check(len(got) == n, "no bind_error %d after the drop: %s", n,
                      agent.stderr.strip())
                errs.append(got[-1])
                p.stdin.write("go\n")
                p.stdin.flush()
        finally:
            p.communicate(timeout=10)
        check_eq((errs[0]["cause"], [(h["state"], h.get("pid")) for h in errs[0]["holders"]]),
                 ("listen", [("LISTEN", p.pid)]), "beside the listener: cause, holders")
        check_eq((errs[1]["cause"], sorted(set(h["state"] for h in errs[1]["holders"]))),
                 ("time_wait", ["TIME-WAIT"]), "beside TIME_WAITs: cause, holder states")


def test_output_directory_of_another_user_keeps_dac_override():
    # root cannot create files in a directory it neither owns nor may write by its mode bits
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "textfile")
        os.mkdir(out, 0o755)
        os.chown(out, 65534, 65534)
        prom = os.path.join(out, "twscope.prom")
        with Agent("-e", "none", "-i", "1", "--prom", prom) as agent:
            check_dropped(agent.p.pid, KEPT | (1 << CAP_DAC_OVERRIDE))
            first = os.stat(prom).st_mtime_ns
            time.sleep(2.5)
            check(os.stat(prom).st_mtime_ns > first, "the metrics file was not rewritten")
