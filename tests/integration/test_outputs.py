"""Outputs: the log file (records, totals, SIGHUP rotation, errors), Prometheus file and HTTP
(promtool, a real Prometheus scrape), and the terminal timeline in a tmux pane."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from lib import BINARY, Agent, Netns, check, check_eq, free_port, run
from test_timewait import SERVER_FIRST


def read_log(path):
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    recs = [json.loads(l) for l in lines]  # every record must parse
    for r in recs:
        check_eq(r["type"], "counts", "log record type")
    return recs


def port_row(rec, netns, port, side="local"):
    for p in rec["ports"]:
        if p["netns"] == netns and p["port"] == port and p["side"] == side:
            return p
    return None


def test_log_records_and_totals():
    n = 7
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        log = os.path.join(d, "tw.log")
        with Agent("-e", "none", "--netns", ns.inum, "-i", "1", "--log", log) as agent:
            ns.py(SERVER_FIRST, "7301", str(n)).finish()
            time.sleep(2.5)
        recs = read_log(log)
        check(len(recs) >= 3, "one record per interval and one at exit: %d", len(recs))
        last = recs[-1]
        # totals are host-wide: on a quiet host they equal n, other namespaces can only add
        check(last["totals"]["tw_entered"] >= n, "totals %r after %d connections",
              last["totals"], n)
        row = port_row(last, ns.inum, 7301)
        check_eq((row["tw_entered"], row["tw"]), (n, n), "port 7301 entered and gauge")
        stdout_counts = agent.select(lambda r: r.get("type") == "counts")
        check_eq(stdout_counts[-1]["totals"], last["totals"], "stdout and log agree")


def test_log_sighup_rotation_loses_nothing():
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        log = os.path.join(d, "tw.log")
        with Agent("-e", "none", "--netns", ns.inum, "-i", "1", "--log", log) as agent:
            time.sleep(2.2)
            os.rename(log, log + ".1")  # logrotate's create mode
            agent.p.send_signal(signal.SIGHUP)
            time.sleep(2.2)
            shutil.copy(log, log + ".2")  # copytruncate mode
            with open(log, "r+") as f:
                f.truncate(0)
            time.sleep(2.2)
        rotated = read_log(log + ".1") + read_log(log + ".2") + read_log(log)
        printed = agent.select(lambda r: r.get("type") == "counts")
        check_eq(len(rotated), len(printed), "records in the rotated files vs stdout")
        check_eq([r["ts"] for r in rotated], [r["ts"] for r in printed], "no record lost")


def test_unwritable_log_fails_at_start():
    p = subprocess.run([BINARY, "--log", "/nonexistent-dir/tw.log"], capture_output=True,
                       text=True, timeout=30)
    check_eq(p.returncode, 1, "exit code")
    check(p.stderr.count("\n") == 1 and "/nonexistent-dir/tw.log" in p.stderr,
          "one-line error naming the path: %r", p.stderr)


def mounted_tmpfs(path, size):
    run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "twscope-test", path])


def fill(path):
    """Writes path until the filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_rolls_back_torn_records():
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        mnt, prom = os.path.join(d, "mnt"), os.path.join(d, "m.prom")
        os.mkdir(mnt)
        mounted_tmpfs(mnt, "64k")
        try:
            log = os.path.join(mnt, "tw.log")
            # the log's first page nearly full, then the rest of the disk: the next record
            # only fits in part, a short write
            pad = '{"type":"pad","x":"%s"}\n' % ("x" * (4000 - 23))
            with open(log, "w") as f:
                f.write(pad)
            fill(os.path.join(mnt, "filler"))
            with Agent("-e", "none", "--netns", ns.inum, "-i", "1", "--log", log, "--prom",
                       prom) as agent:
                time.sleep(2.5)
                os.unlink(os.path.join(mnt, "filler"))
                time.sleep(2.5)
            with open(log) as f:
                text = f.read()
        finally:
            run(["umount", "-l", mnt], check_rc=False)
        check(text.startswith(pad), "the log's old content was changed")
        check(text.endswith("\n"), "the log ends inside a record: %r", text[-80:])
        recs = [json.loads(l) for l in text[len(pad):].splitlines()]  # no glued records
        printed = agent.select(lambda r: r.get("type") == "counts")
        check(recs, "no record written once the disk had room again")
        check(len(recs) < len(printed), "no write failed: %d of %d", len(recs), len(printed))
        check_eq([r["ts"] for r in recs], [r["ts"] for r in printed][-len(recs):],
                 "the records after the failures, whole")
        check_eq(agent.stderr.count("writing %s failed" % log), 1, "error reported once")
        with open(prom) as f:
            errors = [l for l in f if l.startswith("twscope_log_write_errors_total ")]
        check_eq(errors, ["twscope_log_write_errors_total %d\n" % (len(printed) - len(recs))],
                 "failed records counted")


def test_log_never_follows_a_planted_symlink():
    with tempfile.TemporaryDirectory() as d:
        victim, log = os.path.join(d, "victim"), os.path.join(d, "tw.log")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, log)
        p = subprocess.run([BINARY, "-d", "1", "--log", log], capture_output=True, text=True,
                           timeout=30)
        check_eq(p.returncode, 1, "exit code")
        check(p.stderr.count("\n") == 1 and "symbolic link" in p.stderr, "message: %r",
              p.stderr)
        with open(victim) as f:
            check_eq(f.read(), "precious\n", "the symlink's target")


def test_prom_refuses_what_is_not_a_regular_file():
    with tempfile.TemporaryDirectory() as d:
        dev, fifo = os.path.join(d, "full"), os.path.join(d, "fifo")
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # what /dev/full is
        os.mkfifo(fifo)
        os.symlink(dev, os.path.join(d, "link.prom"))
        for target in (dev, fifo, os.path.join(d, "link.prom")):
            p = subprocess.run([BINARY, "-d", "1", "--prom", target], capture_output=True,
                               text=True, timeout=30)
            check_eq(p.returncode, 1, "exit code for %s" % target)
            check(p.stderr.count("\n") == 1 and target in p.stderr, "message: %r", p.stderr)
        check(stat.S_ISCHR(os.lstat(dev).st_mode), "the device node was replaced")
        check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the fifo was replaced")
        check(os.path.islink(os.path.join(d, "link.prom")), "the symlink was replaced")
        check_eq(sorted(os.listdir(d)), ["fifo", "full", "link.prom"], "files left behind")


def test_prom_temporary_file_is_not_predictable():
    # the old temporary name was FILE.tmp.PID: planted before the agent runs, it was followed
    with tempfile.TemporaryDirectory() as d:
        victim, prom = os.path.join(d, "victim"), os.path.join(d, "m.prom")
        with open(victim, "w") as f:
            f.write("precious\n")

        def plant():
            os.symlink(victim, "%s.tmp.%d" % (prom, os.getpid()))  # the agent's pid after exec

        p = subprocess.run([BINARY, "-d", "1", "-i", "1", "--prom", prom], capture_output=True,
                           text=True, timeout=30, preexec_fn=plant)
        check_eq(p.returncode, 0, "exit code (%s)" % p.stderr.strip())
        with open(victim) as f:
            check_eq(f.read(), "precious\n", "the planted symlink's target")
        with open(prom) as f:
            check("twscope_build_info" in f.read(), "the metrics file was not written")


def test_failed_start_touches_no_output_file():
    with tempfile.TemporaryDirectory() as d:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        old = {os.path.join(d, "old.prom"): "twscope_build_info 1\n",
               os.path.join(d, "old.log"): '{"type":"counts"}\n'}
        for path, text in old.items():
            with open(path, "w") as f:
                f.write(text)
        new = [os.path.join(d, "new.prom"), os.path.join(d, "new.log")]
        runs = [subprocess.run([BINARY, "--log", log, "--prom", prom, "--metrics-addr",
                                "127.0.0.1:%d" % taken.getsockname()[1]],
                               capture_output=True, text=True, timeout=30)
                for prom, log in (list(old), new)]
        taken.close()
        for path, text in old.items():
            with open(path) as f:
                check_eq(f.read(), text, "content of %s after a failed start" % path)
        check_eq(sorted(os.listdir(d)), ["old.log", "old.prom"], "files after failed starts")
        for p in runs:
            check_eq(p.returncode, 1, "exit code with the metrics address taken")
            check_eq(p.stderr.count("\n"), 1, "one line: %r" % p.stderr)


def test_prom_file_and_http_pass_promtool():
    port = free_port()
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        prom = os.path.join(d, "twscope.prom")
        # its own netns only: labels go to the ports seen first, and the host has its own
        with Agent("-e", "none", "-i", "1", "--netns", ns.inum, "--prom", prom,
                   "--metrics-addr", "127.0.0.1:%d" % port) as agent:
            ns.py(SERVER_FIRST, "7302", "4").finish()
            time.sleep(2.5)
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        with open(prom, "rb") as f:
            text = f.read()
        for what, data in (("file", text), ("http", body)):
            p = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True)
            check(p.returncode == 0, "promtool rejects the %s output: %s", what,
                  (p.stdout + p.stderr).decode()[:500])
            want = r'twscope_time_wait_sockets\{side="local",port="7302",addr="",family="",' \
                   r'netns="%d",netns_cookie="\d+"\} 4$' % ns.inum
            check(re.search(want.encode(), data, re.M), "%s output lacks %r", what, want)
        check_eq(os.listdir(d), ["twscope.prom"], "files in the directory (temporary files?)")


def test_prometheus_scrapes_metrics_addr():
    port, pport = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: twscope\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % port)
        prom = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(d, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % pport],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Agent("-e", "none", "--netns", ns.inum, "--metrics-addr",
                       "127.0.0.1:%d" % port):
                ns.py(SERVER_FIRST, "7303", "5").finish()
                q = urllib.parse.quote('twscope_time_wait_sockets{port="7303",netns="%d"}'
                                       % ns.inum)
                value, deadline = None, time.time() + 40
                while time.time() < deadline and value != "5":
                    time.sleep(1)
                    try:
                        r = json.load(urllib.request.urlopen(
                            "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, q), timeout=5))
                    except OSError:
                        continue
                    res = r.get("data", {}).get("result", [])
                    value = res[0]["value"][1] if res else None
                check_eq(value, "5", "TIME_WAIT gauge queried from Prometheus")
        finally:
            prom.terminate()
            prom.wait(20)


def test_timeline_in_tmux():
    session = "twscope-test-%d" % os.getpid()
    with Netns() as ns:
        cmd = "LANG=C.UTF-8 LC_ALL=C.UTF-8 %s -e none -i 1 --netns %d; sleep 30" % (BINARY, ns.inum)
        run(["tmux", "new-session", "-d", "-s", session, "-x", "230", "-y", "60", cmd])
        try:
            # the agent says it is tracing (slow to come in an emulated VM)
            deadline = time.time() + 30
            while time.time() < deadline and "tracing" not in run(
                    ["tmux", "capture-pane", "-p", "-t", session]).stdout:
                time.sleep(0.2)
            ns.py(SERVER_FIRST, "7304", "9").finish()
            time.sleep(3.5)
            screen = run(["tmux", "capture-pane", "-p", "-t", session]).stdout.splitlines()
        finally:
            # the hangup of kill-session ends the agent; Ctrl-C first, in case it does not
            run(["tmux", "send-keys", "-t", session, "C-c"], check_rc=False)
            run(["tmux", "kill-session", "-t", session], check_rc=False)
    headers = [i for i, l in enumerate(screen) if l.startswith("SIDE")]
    check(headers, "no timeline header on screen:\n%s", "\n".join(screen))
    table = screen[headers[-1]:]
    row = [l for l in table if l.split()[:2] == ["local", "7304"]]
    check(row, "no row for port 7304:\n%s", "\n".join(table))
    cols = row[0].split()
    check_eq(cols[3:5], ["9", "9"], "TIME_WAIT now and peak")
    check_eq(cols[8], "9", "entered in total")
    check(any(ch in row[0] for ch in "▁▂▃▄▅▆▇█"), "no sparkline in %r", row[0])
    # right-aligned numeric columns end where their header ends
    head = table[0]
    for name in ("TW", "PEAK", "ENTERED", "BINDERR"):
        end = head.index(" " + name + " ") + len(name) + 1
        check(row[0][end - 1] != " " and row[0][end] == " ",
              "column %s misaligned:\n%s\n%s", name, head, row[0])
