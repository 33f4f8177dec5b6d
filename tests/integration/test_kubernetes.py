"""deploy/kubernetes: the manifests hold what the agent needs and no more, and the DaemonSet's own
container (its args, capabilities, read-only root, no /boot, no kernel config file) runs the
agent here the way a container runtime would, answering the liveness probe and counting a
TIME_WAIT. No cluster is reached: kubectl --dry-run needs an API server."""
import os
import re
import subprocess
import time
import urllib.request

import yamlsubset
from lib import BINARY, Agent, Netns, check, check_eq
from test_bind import make_time_waits
from test_outputs import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
# what the agent needs at start (README, Kernels and containers); it drops them all itself
CAPS = ["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_RESOURCE",
        "NET_ADMIN"]


def manifests(name):
    with open(os.path.join(K8S, name)) as f:
        return yamlsubset.load_all(f.read())


def daemonset():
    docs = manifests("daemonset.yaml")
    kinds = {d["kind"]: d for d in docs}
    check_eq(sorted(kinds), ["DaemonSet", "Namespace", "ServiceAccount"], "kinds")
    return kinds


def container(ds):
    cs = ds["spec"]["template"]["spec"]["containers"]
    check_eq(len(cs), 1, "containers")
    return cs[0]


def metrics_port(c):
    args = c["args"]
    addr = args[args.index("--metrics-addr") + 1]
    return int(addr.rsplit(":", 1)[1])


def test_manifests_hold_what_the_agent_needs():
    k = daemonset()
    ns, sa, ds = k["Namespace"], k["ServiceAccount"], k["DaemonSet"]
    name = ns["metadata"]["name"]
    check_eq((sa["metadata"]["namespace"], ds["metadata"]["namespace"]), (name, name),
             "namespaces")
    check_eq(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged",
             "pod security level (hostNetwork, hostPID, hostPath, capabilities)")
    pod = ds["spec"]["template"]["spec"]
    check_eq(pod["serviceAccountName"], sa["metadata"]["name"], "service account")
    check_eq((pod["hostNetwork"], pod["hostPID"]), (True, True), "hostNetwork, hostPID")
    check_eq(ds["spec"]["selector"]["matchLabels"].items() <=
             ds["spec"]["template"]["metadata"]["labels"].items(), True, "selector")
    c = container(ds)
    sc = c["securityContext"]
    check_eq((sc["privileged"], sc["allowPrivilegeEscalation"], sc["readOnlyRootFilesystem"]),
             (False, False, True), "privileged, allowPrivilegeEscalation, readOnlyRootFilesystem")
    check_eq((sc["capabilities"]["drop"], sorted(sc["capabilities"]["add"])),
             (["ALL"], sorted(CAPS)), "capabilities")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    check_eq(sorted(paths.values()), ["/run/netns", "/sys/kernel/btf", "/sys/kernel/tracing"],
             "host paths (no /boot, no /lib/modules, no /sys/fs/bpf)")
    for n, m in mounts.items():
        check_eq((m["mountPath"], m["readOnly"]), (paths[n], True), "mount %s" % n)
    port = metrics_port(c)
    for probe in ("livenessProbe", "startupProbe"):
        check_eq((c[probe]["httpGet"]["path"], c[probe]["httpGet"]["port"]), ("/metrics", port),
                 probe)
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    check_eq((ann["prometheus.io/scrape"], ann["prometheus.io/port"], ann["prometheus.io/path"]),
             ("true", str(port), "/metrics"), "scrape annotations")
    check_eq(c["ports"][0]["containerPort"], port, "container port")
    for kind in ("requests", "limits"):
        check({"cpu", "memory"} <= set(c["resources"][kind]), "resources.%s" % kind)
    with open(os.path.join(ROOT, "VERSION")) as f:
        check_eq(c["image"].rsplit(":", 1)[1], f.read().strip(), "image tag")
    pm = manifests("podmonitor.yaml")[0]
    check_eq((pm["kind"], pm["metadata"]["namespace"], pm["spec"]["selector"]["matchLabels"]),
             ("PodMonitor", name, ds["spec"]["selector"]["matchLabels"]), "PodMonitor")
    check_eq(pm["spec"]["podMetricsEndpoints"][0]["port"], c["ports"][0]["name"],
             "PodMonitor port")


# A container as the runtime makes it from the DaemonSet: a private mount namespace with a
# read-only root, no /boot and no kernel config file, the host paths it mounts read-only, and
# only the capabilities it adds (and no_new_privs: allowPrivilegeEscalation false).
CONTAINER = """
set -e
mount --make-rslave /
mount -t tmpfs none /boot
if [ -e /proc/config.gz ]; then mount --bind /dev/null /proc/config.gz; fi
for p in $RO_PATHS; do mount --bind "$p" "$p"; mount -o remount,bind,ro "$p"; done
mount -o remount,bind,ro /
exec setpriv --bounding-set=-all,$CAPS --no-new-privs "$@"
"""


def test_daemonset_container_runs_the_agent():
    k = daemonset()
    c = container(k["DaemonSet"])
    pod = k["DaemonSet"]["spec"]["template"]["spec"]
    caps = ",".join("+" + x.lower() for x in c["securityContext"]["capabilities"]["add"])
    ro = " ".join(v["hostPath"]["path"] for v in pod["volumes"]
                  if os.path.isdir(v["hostPath"]["path"]))
    port = free_port()
    # the kubelet's $(VAR) expansion, with this host's loopback for the node's address
    args = [re.sub(r"\$\(HOST_IP\)", "127.0.0.1", a) for a in c["args"]]
    args[args.index("--metrics-addr") + 1] = "127.0.0.1:%d" % port
    with Netns() as ns:
        agent = Agent()
        agent.args = ["unshare", "-m", "env", "RO_PATHS=" + ro, "CAPS=" + caps, "sh", "-c",
                      CONTAINER, "container", BINARY] + args + ["--json", "-i", "1", "--netns",
                                                                str(ns.inum)]
        with agent:
            make_time_waits(ns, 7901, reuseaddr=True, n=4)
            want = 'twscope_time_wait_sockets{side="local",port="7901",addr="",family="",' \
                   'netns="%d"} 4' % ns.inum
            body, deadline = "", time.time() + 15
            while want not in body and time.time() < deadline:
                time.sleep(0.5)
                # what the liveness probe asks
                r = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                           timeout=c["livenessProbe"]["timeoutSeconds"])
                check_eq(r.status, 200, "liveness probe status")
                body = r.read().decode()
            check(want in body, "the TIME_WAIT gauge of port 7901 never reached 4")
            with open("/proc/%d/status" % agent.p.pid) as f:
                st = f.read()
            check(re.search(r"^CapEff:\s+0+$", st, re.M), "capabilities kept after start")


test_daemonset_container_runs_the_agent.timeout = 60
