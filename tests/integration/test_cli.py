"""The binary as a user meets it: bad input, missing privileges, pipes, --help, --version."""
import os
import signal
import subprocess
import time

from lib import BINARY, Agent, Netns, TestFailure, check, check_eq
from test_timewait import SERVER_FIRST


def run_bin(*args, **kw):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=90, **kw)


def test_bad_input_exits_2_with_one_line():
    for args in (["--bogus"], ["-p", "0"], ["-p", "70000"], ["-p", "abc"], ["-i", "x"],
                 ["-e", "nope"], ["--pid", "-3"], ["extra"], ["--metrics-addr", "nope"],
                 ["--pressure", "5"], ["--pressure", "101"], ["--pressure", "x"]):
        p = run_bin(*args)
        check_eq(p.returncode, 2, "exit code of %r" % args)
        check(p.stderr.startswith("twscope: ") and p.stderr.count("\n") == 1,
              "one-line error for %r: %r", args, p.stderr)
        check_eq(p.stdout, "", "stdout of %r" % args)


def test_help_and_version():
    p = run_bin("--help")
    check(p.returncode == 0 and "--metrics-addr" in p.stdout and "--events" in p.stdout,
          "help: %r", p.stdout[:200])
    p = run_bin("--version")
    check(p.returncode == 0 and p.stdout.startswith("twscope "), "version: %r", p.stdout)


def test_not_root_is_refused_clearly():
    p = run_bin(preexec_fn=lambda: (os.setgroups([]), os.setgid(65534), os.setuid(65534)))
    check_eq(p.returncode, 1, "exit code as nobody")
    check("needs root" in p.stderr and p.stderr.count("\n") == 1, "message: %r", p.stderr)


def test_piped_into_head_exits_cleanly():
    with Netns() as ns:
        agent = subprocess.Popen([BINARY, "-e", "tw", "--netns", str(ns.inum)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        head = subprocess.Popen(["head", "-n", "3"], stdin=agent.stdout, stdout=subprocess.PIPE,
                                text=True)
        agent.stdout.close()  # head holds the only reading end
        try:
            # its first line on stderr says it is tracing (slow to come in an emulated VM)
            ready = agent.stderr.readline()
            check("tracing" in ready, "agent not ready: %r", ready)
            ns.py(SERVER_FIRST, "7401", "20").finish()
            out, _ = head.communicate(timeout=20)
            # the next write after head is gone (an event, or the interval's timeline) ends it
            err = agent.stderr.read()
            agent.wait(timeout=20)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
        check_eq(len(out.splitlines()), 3, "head got its lines")
        check_eq(agent.returncode, 0, "the agent's exit status once its stdout closed (%s)"
                 % err.strip())


def test_duration_stops_and_reports_counts():
    start = time.time()
    p = run_bin("--json", "-d", "2", "-e", "none")
    check_eq(p.returncode, 0, "exit code")
    # it stops by itself (run_bin's timeout would fail it), and not before its 2 s
    check(time.time() - start >= 2, "stopped after %.1fs", time.time() - start)
    lines = p.stdout.splitlines()
    check('"type":"ready"' in lines[0], "first line is ready: %r", lines[0])
    check('"type":"counts"' in lines[-1], "a counts record at exit: %r", lines[-1])


def prog_ids(pid):
    """BPF program ids held by a process, from its fdinfo."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def test_sigterm_detaches_cleanly():
    with Agent("-e", "all") as agent:
        ids = prog_ids(agent.p.pid)
        check(len(ids) >= 8, "the agent holds its programs: %r", ids)
        agent.p.terminate()
        agent.p.wait(15)
        check_eq(agent.p.returncode, 0, "exit code on SIGTERM")
    # the kernel frees programs after an RCU grace period: give it a few seconds
    deadline = time.time() + 5
    while True:
        left = [i for i in ids if subprocess.run(["bpftool", "prog", "show", "id", str(i)],
                                                 capture_output=True).returncode == 0]
        if not left or time.time() > deadline:
            break
        time.sleep(0.2)
    check(not left, "programs %r still loaded 5 s after exit", left)


def test_sighup_without_log_is_a_hangup():
    # a closed terminal sends SIGHUP: with no log file to reopen, the agent ends as on SIGTERM
    with Agent("-e", "none", "-i", "1") as agent:
        agent.p.send_signal(signal.SIGHUP)
        try:
            agent.p.wait(15)
        except subprocess.TimeoutExpired:
            raise TestFailure("the agent kept running after SIGHUP without --log")
        check_eq(agent.p.returncode, 0, "exit code on SIGHUP")


def test_binary_is_hardened():
    # Debian's hardening flags: PIE, full RELRO (-z relro -z now), stack protector, fortify
    dyn = run_bin_tool("readelf", "-d", "-l", "-W", BINARY)
    check("GNU_RELRO" in dyn and "BIND_NOW" in dyn, "no full RELRO (GNU_RELRO with BIND_NOW)")
    check("PIE" in dyn, "not a position-independent executable")
    syms = run_bin_tool("nm", "-D", BINARY)
    check("__stack_chk_fail" in syms, "no stack protector")
    check("_chk@" in syms, "no fortified calls (_FORTIFY_SOURCE)")


def run_bin_tool(*cmd):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, "%s exit code (%s)" % (cmd[0], p.stderr.strip()))
    return p.stdout
