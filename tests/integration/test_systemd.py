"""deploy/systemd/twscope.service: verified and scored by systemd-analyze, and the agent run under
the unit's own restrictions (unitsandbox.py: systemd is not PID 1 here) with the options the
package ships in /etc/default/twscope."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import unitsandbox
from lib import BINARY, Agent, Netns, check, check_eq
from test_bind import attempt, bind_errors, make_time_waits
from test_outputs import free_port, read_log

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
UNIT = os.environ.get("TWSCOPE_UNIT", os.path.join(ROOT, "deploy", "systemd", "twscope.service"))
DEFAULTS = os.environ.get("TWSCOPE_DEFAULTS",
                          os.path.join(ROOT, "deploy", "systemd", "twscope.default"))
MAN = os.path.join(ROOT, "man", "twscope.8")
MAX_EXPOSURE = 4.0


def unit_copy(d):
    """The unit with ExecStart on the binary under test, and a MANPATH that has its man page."""
    man8 = os.path.join(d, "man", "man8")
    os.makedirs(man8)
    shutil.copy(MAN, man8)
    with open(UNIT) as f:
        text = f.read()
    path = os.path.join(d, "twscope.service")
    with open(path, "w") as f:
        f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" + BINARY, text, flags=re.M))
    return path, dict(os.environ, MANPATH=os.path.join(d, "man"))


def test_unit_verifies_clean():
    with tempfile.TemporaryDirectory() as d:
        path, env = unit_copy(d)
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           env=env, timeout=60)
        check_eq((p.returncode, p.stdout + p.stderr), (0, ""), "systemd-analyze verify")


def test_unit_exposure_at_most_4():
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
    check(m, "no exposure level in: %s", p.stdout[-500:] + p.stderr)
    print("exposure %s" % m.group(1))
    check(float(m.group(1)) <= MAX_EXPOSURE, "exposure %s > %.1f:\n%s", m.group(1), MAX_EXPOSURE,
          "\n".join(l for l in p.stdout.splitlines() if l.startswith("\u2717")))


def service_argv(ns, port):
    """The unit's ExecStart with the shipped options, a free metrics port, JSON on stdout, the
    test's own netns, and TIME_WAIT events beside the bind errors the service explains."""
    s = unitsandbox.settings(UNIT)
    argv = unitsandbox.exec_argv(s, unitsandbox.environment_file(DEFAULTS), BINARY)
    i = argv.index("--metrics-addr")
    argv[i + 1] = "127.0.0.1:%d" % port
    return argv + ["--json", "-e", "tw,bind", "-i", "1", "--netns", str(ns.inum)]


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)


def log_path(argv, root):
    """--log FILE of the shipped options, where the sandbox's LogsDirectory puts it here."""
    path = argv[argv.index("--log") + 1]
    check(path.startswith("/var/log/"), "--log %r is outside LogsDirectory", path)
    return os.path.join(root, path[len("/var/log/"):])


def test_service_works_under_the_units_restrictions():
    port = free_port()
    with tempfile.TemporaryDirectory() as logs, Netns() as ns:
        argv = service_argv(ns, port)
        agent = Agent()
        agent.args = unitsandbox.command(UNIT, argv, logs)
        with agent:
            make_time_waits(ns, 7701, reuseaddr=False)
            enters = agent.wait_count(lambda r: r.get("type") == "tw_enter"
                                      and r["netns"] == ns.inum, 3, 15)
            check_eq(len(enters), 3, "tw_enter records")
            check_eq(attempt(ns, agent, port=7701, addr="127.0.0.1", listen=True), "EADDRINUSE",
                     "the restarted server's bind")
            r = bind_errors(agent, ns)[0]
            check_eq((r["cause"], len(r["holders"]), r["snapshot"]), ("time_wait", 3, True),
                     "the failure explained")
            want, deadline = 'twscope_port_bind_errors_total{side="local",port="7701"', \
                time.time() + 10
            while True:
                body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                              timeout=5).read().decode()
                if want in body or time.time() > deadline:
                    break
                time.sleep(0.5)
            check(want in body, "/metrics lacks port 7701")
            st = status(agent.p.pid)
            check_eq((st["CapEff"].strip(), st["NoNewPrivs"].strip(), st["Seccomp"].strip()),
                     ("0000000000000000", "1", "2"), "the agent's privileges after start")
            # the unit's filter, then the agent's own
            check(int(st["Seccomp_filters"]) >= 2, "seccomp filters: %s", st["Seccomp_filters"])
            agent.wait_for(lambda r: r.get("type") == "counts" and r["ports"], 5)
        counts = read_log(log_path(argv, logs))
        check(counts and counts[-1]["type"] == "counts", "no counts record in the log")
        row = [p for c in counts for p in c["ports"] if p["port"] == 7701]
        check(row and row[-1]["bind_errors"] == 1, "log rows for 7701: %r", row[-1:])


test_service_works_under_the_units_restrictions.timeout = 90


def test_sandbox_is_enforced():
    # the harness must be able to fail: without perf_event_open (@debug) the agent cannot attach
    # its tracepoints, and outside LogsDirectory nothing can be written
    with tempfile.TemporaryDirectory() as logs:
        s = unitsandbox.settings(UNIT)
        allowed = unitsandbox.syscall_allowlist(s) - {"perf_event_open"}
        p = subprocess.run(unitsandbox.command(UNIT, [BINARY, "-e", "none", "-d", "1"], logs,
                                               syscalls=allowed),
                           capture_output=True, text=True, timeout=60)
        check_eq(p.returncode, 1, "exit code without perf_event_open (%s)" % p.stderr.strip())
        shell = shutil.which("sh")
        p = subprocess.run(unitsandbox.command(
            UNIT, [shell, "-c", "touch /var/log/twscope/ok && ! touch /var/lib/x 2>/dev/null "
                   "&& ! touch /root/x 2>/dev/null && ls /dev"], logs),
            capture_output=True, text=True, timeout=60)
        check_eq(p.returncode, 0, "writes in the sandbox (%s)" % p.stderr.strip())
        check(os.path.exists(os.path.join(logs, "twscope", "ok")), "LogsDirectory not writable")
        check_eq(sorted(p.stdout.split()), sorted(unitsandbox.DEVICES + ["fd", "shm", "stderr",
                                                                         "stdin", "stdout"]),
                 "/dev under PrivateDevices")
