"""deploy/grafana/twscope.json against a real Prometheus scraping a live agent (with the rules
of deploy/prometheus loaded): every panel query, with $instance, $netns and Grafana's interval
variables substituted, returns data; so do the variables' own queries and every recording rule."""
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from lib import Agent, Netns, check
from test_bind import attempt, make_time_waits
from test_outputs import free_port
from test_timewait import CLIENT_FIRST

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "twscope.json")
RULES = os.path.join(ROOT, "deploy", "prometheus", "twscope.rules.yml")
# what Grafana puts for its interval variables at a 1 s scrape interval, with room to spare
INTERVALS = {"$__rate_interval": "10s", "$__interval": "1s", "$__range": "1m"}


def panel_queries(dash):
    out = []
    for p in dash["panels"]:
        for q in [p] + p.get("panels", []):
            for t in q.get("targets", []):
                out.append(("%s/%s" % (q["title"], t["refId"]), t["expr"]))
    return out


def substitute(expr, instance, netns):
    for k, v in INTERVALS.items():
        expr = expr.replace(k, v)
    expr = expr.replace("${instance}", "$instance").replace("${netns}", "$netns")
    # as Grafana escapes a value for a regex matcher: regex escapes, then PromQL string escapes
    expr = expr.replace("$instance", re.escape(instance).replace("\\", "\\\\"))
    expr = expr.replace("$netns", str(netns))
    check("$" not in expr, "a variable left in %r", expr)
    return expr


def api(pport, path, **params):
    url = "http://127.0.0.1:%d/api/v1/%s?%s" % (pport, path, urllib.parse.urlencode(params))
    try:
        r = json.load(urllib.request.urlopen(url, timeout=5))
    except OSError:
        return None
    return r.get("data") if r.get("status") == "success" else None


def label_values(query):
    """label_values(METRIC{...}, LABEL) as Grafana asks it of Prometheus."""
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    check(m, "not a label_values() query: %r", query)
    return m.group(1), m.group(2)


def test_dashboard_queries_return_data():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    queries = panel_queries(dash)
    check(len(queries) >= 10, "only %d queries in the dashboard", len(queries))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    check({"instance", "netns"} <= set(variables), "variables: %s", sorted(variables))
    with open(RULES) as f:
        records = re.findall(r"^\s*- record: (\S+)$", f.read(), re.M)
    port, pport = free_port(), free_port()
    instance = "127.0.0.1:%d" % port
    with tempfile.TemporaryDirectory() as d, Netns() as ns:
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files: ['%s']\nscrape_configs:\n  - job_name: twscope\n"
                    "    static_configs:\n      - targets: ['%s']\n" % (RULES, instance))
        prom = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(d, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % pport],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Agent("-e", "bind", "-i", "1", "--netns", ns.inum, "--metrics-addr",
                       instance) as agent:
                # TIME_WAITs on a served port, a restart that fails on them (explained), and
                # TIME_WAITs toward a destination the clients closed first
                make_time_waits(ns, 7801, reuseaddr=False, n=5)
                attempt(ns, agent, port=7801, addr="127.0.0.1", listen=True)
                ns.py(CLIENT_FIRST, "7802", "5").finish()
                missing, deadline = ["not asked yet"], time.time() + 60
                while missing and time.time() < deadline:
                    time.sleep(1)
                    missing = []
                    for name, expr in queries:
                        r = api(pport, "query", query=substitute(expr, instance, ns.inum))
                        if not r or not r["result"]:
                            missing.append(name)
                    for rec in records:
                        r = api(pport, "query", query='%s{instance="%s"}' % (rec, instance))
                        if not r or not r["result"]:
                            missing.append("record " + rec)
                    for name, want in (("instance", instance), ("netns", str(ns.inum))):
                        match, label = label_values(variables[name]["query"]["query"])
                        vals = api(pport, "label/%s/values" % label,
                                   **{"match[]": substitute(match, instance, ns.inum)})
                        if not vals or want not in vals:
                            missing.append("variable %s (%s)" % (name, want))
                check(not missing, "no data for: %s", ", ".join(missing))
        finally:
            prom.terminate()
            prom.wait(20)


test_dashboard_queries_return_data.timeout = 120
