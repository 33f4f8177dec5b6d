"""The kernels and hosts people have: container mode, --check, --version, why a load failed, and
both ways of reading a TIME_WAIT (direct loads, 6.2+, and BPF_CORE_READ) on this kernel."""
import os
import re
import subprocess
import time

from lib import BINARY, Agent, Netns, check, check_eq, events
from test_timewait import SERVER_FIRST

# What a BPF agent needs in a container; no CAP_SYSLOG, so /proc/kallsyms shows zero addresses.
CONTAINER_CAPS = ["bpf", "perfmon", "sys_admin", "sys_ptrace", "sys_resource",
                  "dac_read_search", "net_admin"]
CAP_BITS = {"net_admin": 12, "sys_ptrace": 19, "sys_admin": 21, "sys_resource": 24,
            "dac_read_search": 2, "perfmon": 38, "bpf": 39}
# A private mount namespace with no kernel config file and a read-only root, then the agent
# with only CONTAINER_CAPS in its bounding set (root's capabilities on exec).
CONTAINER = """
set -e
mount --make-rprivate /
mount -t tmpfs none /boot
if [ -e /proc/config.gz ]; then mount --bind /dev/null /proc/config.gz; fi
mount -o remount,bind,ro /
exec setpriv --bounding-set=-all,%s "$@"
""" % ",".join("+" + c for c in CONTAINER_CAPS)


def cap_bounding(pid):
    with open("/proc/%s/status" % pid) as f:
        return int(re.search(r"^CapBnd:\s+([0-9a-f]+)", f.read(), re.M).group(1), 16)


def run_bin(*args, **kw):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=60, **kw)


def in_container(*args):
    return ["unshare", "-m", "sh", "-c", CONTAINER, "container", BINARY] + [str(a) for a in args]


def kernel_has_rdonly_cast():
    out = run_bin("--check").stdout
    return re.search(r"bpf_rdonly_cast \(6\.2\+\)\s+yes", out) is not None


def config_hz():
    """CONFIG_HZ from the kernel's config file, when the host has one (None in the VM)."""
    try:
        out = subprocess.run(["zcat", "/proc/config.gz"], capture_output=True, text=True).stdout
    except OSError:
        return None
    m = re.search(r"^CONFIG_HZ=(\d+)$", out, re.M)
    return int(m.group(1)) if m else None


def test_container_mode_without_kallsyms_config_or_writable_root():
    with Netns() as ns:
        agent = Agent()
        agent.args = in_container("--json", "-e", "tw", "--netns", ns.inum, "-i", "1")
        with agent:
            # what this machine's own bounding set allows of CONTAINER_CAPS, and nothing more
            want = sum(1 << CAP_BITS[c] for c in CONTAINER_CAPS) & cap_bounding("self")
            check_eq(cap_bounding(agent.p.pid), want, "agent's bounding set")
            out = ns.py(SERVER_FIRST, "7601", "3").finish()[0]
            enters = agent.wait_count(lambda r: r.get("type") == "tw_enter", 3, 15)
            check_eq(sorted(r["dport"] for r in enters), sorted(out["ports"]), "tw_enter ports")
            for r in enters:
                # 60 s asked, rounded up to its timer wheel bucket (at most 1/8 later): a wrong
                # HZ would be off by a factor of 2.5 or more
                check(59900 <= r["expires_in_ms"] <= 60000 * 9 // 8, "expires_in_ms %r",
                      r["expires_in_ms"])
                # an orphan FIN_WAIT2 waits tcp_fin_timeout (60 s too) before TIME_WAIT
                check(r["substate"] in ("TIME_WAIT", "FIN_WAIT2"), "substate %r", r["substate"])
        p = subprocess.run(in_container("--check"), capture_output=True, text=True, timeout=60)
        check_eq(p.returncode, 0, "--check exit code in the container (%s)" % p.stdout[-300:])
        for want in (r"kernel config file\s+none", r"/proc/kallsyms addresses\s+hidden",
                     r"tw_timer_handler\s+learned from a TIME_WAIT made at start"):
            check(re.search(want, p.stdout), "--check in the container lacks %r: %s", want,
                  p.stdout)


test_container_mode_without_kallsyms_config_or_writable_root.timeout = 120


def test_check_reports_features_and_paths():
    p = run_bin("--check")
    check_eq(p.returncode, 0, "exit code (%s)" % p.stdout[-300:])
    check("verdict: twscope runs on this kernel" in p.stdout, "verdict: %r", p.stdout)
    direct = kernel_has_rdonly_cast()
    want = "direct loads" if direct else "BPF_CORE_READ"
    check(re.search(r"TIME_WAIT reads\s+" + re.escape(want), p.stdout), "read path %r: %s",
          want, p.stdout)
    hz = int(re.search(r"^\s+HZ\s+(\d+)", p.stdout, re.M).group(1))
    check(hz in (100, 250, 300, 1000), "HZ %d", hz)
    conf = config_hz()
    if conf is not None:
        check_eq(hz, conf, "HZ learned vs CONFIG_HZ")
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    want = "timer, bucket_expiry" if (major, minor) >= (6, 9) else "timer, expires, flags"
    check(re.search(r"timer_start arguments\s+" + want, p.stdout), "timer_start layout: %s",
          p.stdout)


def test_version_names_libbpf_and_kernel():
    p = run_bin("--version")
    check_eq(p.returncode, 0, "exit code")
    check(p.stdout.startswith("twscope ") and "libbpf v" in p.stdout
          and os.uname().release in p.stdout, "version line: %r", p.stdout)
    check_eq(p.stdout.count("\n"), 1, "one line")


def test_bad_input_to_new_options():
    for args in (["--check", "extra"], ["--tw-reads", "bogus"], ["--tw-reads"]):
        p = run_bin(*args)
        check_eq(p.returncode, 2, "exit code of %r" % args)
        check(p.stderr.startswith("twscope: ") and p.stderr.count("\n") == 1,
              "one-line error for %r: %r", args, p.stderr)


def test_verbose_shows_libbpf_log():
    p = run_bin("-v", "--check")
    check_eq(p.returncode, 0, "exit code")
    check("libbpf: " in p.stderr, "libbpf's log on stderr with -v: %r", p.stderr[:300])
    q = run_bin("--check")
    check("libbpf: " not in q.stderr, "quiet without -v: %r", q.stderr[:300])


def test_load_failure_says_why_in_one_line():
    if kernel_has_rdonly_cast():
        print("SKIP: this kernel has bpf_rdonly_cast; make vmtest KERNEL=6.1 runs this")
        return
    p = run_bin("--tw-reads", "direct", "-e", "none", "-d", "1")
    check_eq(p.returncode, 1, "exit code")
    check_eq(p.stderr.count("\n"), 1, "one line: %r" % p.stderr)
    check("loading the BPF programs failed" in p.stderr and "bpf_rdonly_cast" in p.stderr,
          "names the kfunc: %r", p.stderr)
    check("failed to load BPF skeleton" not in p.stderr, "not libbpf's generic line: %r",
          p.stderr)
    check("missing: the kfunc bpf_rdonly_cast" in p.stderr, "names the feature: %r", p.stderr)
    q = run_bin("--check", "--tw-reads", "direct")
    check_eq(q.returncode, 1, "--check exit code with a path this kernel lacks")
    check(re.search(r"^verdict: cannot run: loading the BPF programs failed.*bpf_rdonly_cast",
                    q.stdout, re.M), "--check verdict: %r", q.stdout[-400:])


def test_check_says_why_it_cannot_run():
    p = run_bin("--check", preexec_fn=lambda: (os.setgroups([]), os.setgid(65534),
                                                os.setuid(65534)))
    check_eq(p.returncode, 1, "--check exit code as nobody")
    check(re.search(r"^verdict: cannot run: needs root", p.stdout, re.M), "verdict: %r",
          p.stdout[-300:])


def test_both_read_paths_agree():
    # the BPF_CORE_READ program (the one 6.1 loads) runs on every kernel: same records here
    got = {}
    for reads in ("direct", "core"):
        if reads == "direct" and not kernel_has_rdonly_cast():
            continue
        with Netns() as ns, Agent("-e", "all", "--netns", ns.inum, "--tw-reads", reads) as a:
            out = ns.py(SERVER_FIRST, "7602", "2").finish()[0]
            enters = a.wait_count(lambda r: r.get("type") == "tw_enter", 2, 10)
            check_eq(len(enters), 2, "tw_enter records with --tw-reads %s" % reads)
            for r in enters:
                check_eq((r["saddr"], r["sport"], r["daddr"], r["side"], r["pid"]),
                         ("127.0.0.1", 7602, "127.0.0.1", "local", out["pid"]),
                         "tw_enter with --tw-reads %s" % reads)
                check(60000 <= r["expires_in_ms"] <= 60000 * 9 // 8, "expires_in_ms %r",
                      r["expires_in_ms"])
                check(r["reuseaddr"] is True, "reuseaddr with --tw-reads %s" % reads)
            got[reads] = sorted(r["dport"] for r in enters)
            check_eq(got[reads], sorted(out["ports"]), "ports with --tw-reads %s" % reads)
