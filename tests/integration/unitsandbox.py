"""Runs a command under the restrictions a systemd service unit describes, where systemd is not
PID 1 (containers, CI sandboxes): a private mount namespace laid out as ProtectSystem=strict,
ProtectHome, PrivateTmp, PrivateDevices, ProtectKernelTunables, ProtectProc and LogsDirectory
make it; setpriv applies CapabilityBoundingSet and NoNewPrivileges; unitseccomp (a helper built
from tests/helpers) the SystemCallFilter, RestrictAddressFamilies, RestrictNamespaces and
MemoryDenyWriteExecute. Not emulated (they need systemd's cgroup): IPAddressAllow/Deny,
DevicePolicy, RemoveIPC, KeyringMode.

As a library: settings(), exec_argv(), syscall_allowlist(), command(). Run as a script it is the
part inside the new mount namespace: `unitsandbox.py SPEC_JSON -- CMD ARGS`.
"""
import functools
import json
import os
import resource
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
UNITSECCOMP = os.environ.get("TWSCOPE_UNITSECCOMP", os.path.join(ROOT, "build", "unitseccomp"))
# what systemd adds to every SystemCallFilter allow-list: needed to exec at all
ALWAYS = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}
DEVICES = ["null", "zero", "full", "random", "urandom", "tty"]
YES = ("yes", "true", "on", "1")


def settings(path):
    """The [Service] (and [Unit]) assignments of a unit file: key -> list of values, in order."""
    out, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            if section in ("Unit", "Service"):
                out.setdefault(key.strip(), []).append(value.strip())
    return out


def last(s, key, default=""):
    return s[key][-1] if s.get(key) else default


def environment_file(path):
    """KEY=VALUE lines as systemd reads an EnvironmentFile (quotes removed, # comments)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            parts = shlex.split(value, comments=False)
            env[key.strip()] = " ".join(parts)
    return env


def exec_argv(s, env, binary=None):
    """ExecStart as argv: $VAR becomes the variable's words, ${VAR} one word, as systemd does."""
    words = shlex.split(last(s, "ExecStart").lstrip("-@:+!"))
    argv = []
    for w in words:
        if w.startswith("${") and w.endswith("}"):
            argv.append(env.get(w[2:-1], ""))
        elif w.startswith("$"):
            argv.extend(env.get(w[1:], "").split())
        else:
            argv.append(w)
    if binary:
        argv[0] = binary
    return argv


@functools.lru_cache(None)
def syscall_group(name):
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        t = line.strip()
        if t and not t.startswith("#"):
            names |= syscall_group(t) if t.startswith("@") else {t}
    return frozenset(names)


def _names(words):
    names = set()
    for w in words:
        names |= syscall_group(w) if w.startswith("@") else {w.split(":")[0]}
    return names


def syscall_allowlist(s):
    """SystemCallFilter: the first assignment an allow-list, each later ~list taken from it."""
    allowed = None
    for value in s.get("SystemCallFilter", []):
        deny = value.startswith("~")
        words = value.lstrip("~").split()
        if allowed is None:
            if deny:
                raise ValueError("a deny-list first is not emulated: %r" % value)
            allowed = set()
        allowed = allowed - _names(words) if deny else allowed | _names(words)
    return None if allowed is None else allowed | ALWAYS


def capabilities(s):
    caps = []
    for value in s.get("CapabilityBoundingSet", []):
        caps += [c.lower().replace("cap_", "") for c in value.split()]
    return caps


def command(unit, argv, logs_root, syscalls=None):
    """The command that runs argv under unit's restrictions; LogsDirectory= lives in logs_root."""
    s = settings(unit)
    allowed = syscall_allowlist(s) if syscalls is None else syscalls
    spec = {
        "protect_system": last(s, "ProtectSystem"),
        "protect_home": last(s, "ProtectHome") in YES,
        "private_tmp": last(s, "PrivateTmp") in YES,
        "private_devices": last(s, "PrivateDevices") in YES,
        "protect_tunables": last(s, "ProtectKernelTunables") in YES,
        "protect_proc": last(s, "ProtectProc"),
        "logs": [d for v in s.get("LogsDirectory", []) for d in v.split()],
        "logs_root": logs_root,
        "umask": last(s, "UMask", "0022"),
        "nofile": last(s, "LimitNOFILE"),
        "batch": last(s, "CPUSchedulingPolicy") == "batch",
        # each program is reached through the scratch tmpfs: the unit may hide where it lies
        "programs": [os.path.abspath(argv[0]), os.path.abspath(UNITSECCOMP)],
    }
    for d in spec["logs"]:
        os.makedirs(os.path.join(logs_root, d), 0o755, exist_ok=True)
    inner = ["setpriv"]
    if "CapabilityBoundingSet" in s:
        inner.append("--bounding-set=-all" + "".join(",+" + c for c in capabilities(s)))
    if last(s, "NoNewPrivileges") in YES:
        inner.append("--no-new-privs")
    inner += ["--", "@1"]
    if allowed is not None:
        inner += ["-s", " ".join(sorted(allowed)), "-e", last(s, "SystemCallErrorNumber",
                                                               "EPERM")]
    if s.get("RestrictAddressFamilies"):
        inner += ["-a", ",".join(" ".join(s["RestrictAddressFamilies"]).split())]
    if s.get("RestrictNamespaces"):
        ns = last(s, "RestrictNamespaces")
        inner += ["-n", "" if ns in YES else ns.replace(" ", ",")]
    if last(s, "MemoryDenyWriteExecute") in YES:
        inner.append("-w")
    inner += ["--", "@0"] + list(argv[1:])
    return ["unshare", "-m", "--propagation", "slave", sys.executable, os.path.abspath(__file__),
            json.dumps(spec), "--"] + inner


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


def mountpoints():
    with open("/proc/self/mountinfo") as f:
        return sorted({line.split()[4].replace("\\040", " ") for line in f})


def setup(spec):
    """Inside the new mount namespace: lays the unit's view of the file system out."""
    scratch = "/var/log"  # a tmpfs here holds LogsDirectory= and the scratch files
    if spec["protect_system"] == "strict" or spec["protect_tunables"]:
        for mp in mountpoints():
            under_api = any(mp == p or mp.startswith(p + "/") for p in ("/proc", "/dev", "/sys"))
            under_sys = mp == "/sys" or mp.startswith("/sys/")
            if (spec["protect_system"] == "strict" and not under_api) or \
                    (spec["protect_tunables"] and under_sys):
                sh("mount", "-o", "remount,bind,ro", mp)
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", scratch)
    keep = os.path.join(scratch, ".sandbox")
    os.mkdir(keep, 0o700)
    programs = []
    for i, p in enumerate(spec["programs"]):
        target = os.path.join(keep, "prog%d" % i)
        open(target, "w").close()
        sh("mount", "--bind", p, target)
        programs.append(target)
    for d in spec["logs"]:
        os.makedirs(os.path.join(scratch, d), 0o755, exist_ok=True)
        sh("mount", "--bind", os.path.join(spec["logs_root"], d), os.path.join(scratch, d))
        sh("mount", "-o", "remount,bind,rw", os.path.join(scratch, d))
    if spec["private_devices"]:
        for d in DEVICES:
            open(os.path.join(keep, d), "w").close()
            sh("mount", "--bind", "/dev/" + d, os.path.join(keep, d))
        sh("mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,noexec", "tmpfs", "/dev")
        for d in DEVICES:
            open("/dev/" + d, "w").close()
            sh("mount", "--bind", os.path.join(keep, d), "/dev/" + d)
        os.mkdir("/dev/shm", 0o1777)
        sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, "/dev/" + name)
    if spec["protect_proc"] in ("invisible", "noaccess", "ptraceable"):
        sh("mount", "-t", "proc", "-o", "nosuid,nodev,noexec,hidepid=" + spec["protect_proc"],
           "proc", "/proc")
        if spec["protect_tunables"]:
            sh("mount", "--bind", "/proc/sys", "/proc/sys")
            sh("mount", "-o", "remount,bind,ro", "/proc/sys")
    if spec["private_tmp"]:
        for d in ("/tmp", "/var/tmp"):
            sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", d)
    if spec["protect_home"]:
        for d in ("/home", "/root", "/run/user"):
            if os.path.isdir(d):
                sh("mount", "-t", "tmpfs", "-o", "mode=0755,ro,nosuid,nodev", "tmpfs", d)
    os.umask(int(spec["umask"], 8))
    if spec["nofile"]:
        n = int(spec["nofile"])
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    if spec["batch"]:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    return programs


def main():
    spec = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    try:
        programs = setup(spec)
    except subprocess.CalledProcessError as e:
        sys.stderr.write("unitsandbox: %s: %s\n" % (" ".join(e.cmd), e.stderr.strip()))
        return 125
    argv = [programs[int(a[1:])] if a in ("@0", "@1") else a for a in argv]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
