"""Namespace lifecycle: rows keyed by the namespace's cookie (the kernel hands a dead namespace's
inode to the next one at once), a dead namespace's rows leaving the outputs after their last
interval with its counter slots and listener entries taken back, and idle ports reclaimed while
the counts of "other" and the totals never go down."""
import re
import time
import urllib.request

from lib import Agent, Netns, check, check_eq, free_port
from test_timewait import SERVER_FIRST

# Listeners on the ports given; each stdin line "PORT N" makes N binds there fail.
BIND_FAILS = """
import sys
from sockutil import listener, say, try_bind
held = [listener(int(p)) for p in sys.argv[1:]]
say(ok=1)
for line in sys.stdin:
    port, n = map(int, line.split())
    for _ in range(n):
        s, err = try_bind(port)
        assert err == "EADDRINUSE", err
    say(done=n)
"""


def counts(agent):
    return agent.select(lambda r: r.get("type") == "counts")


def scrape(port):
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()


def test_reused_inode_gets_rows_of_its_own():
    """A namespace deleted with TIME_WAITs on a port, and a new one to which the kernel gives the
    same inode: the new one's row has its own counts, never the dead one's added in."""
    with Agent("-e", "none", "-i", "1", "-p", "7411", "--top", "50") as agent:
        # the inode number is free again once the kernel has cleaned the namespace up; another
        # namespace made on this host meanwhile may take it first: then the test starts over
        new = None
        for _ in range(3):
            with Netns() as old:
                inum = old.inum
                old.py(SERVER_FIRST, "7411", "5").finish()
                check(agent.wait_for(lambda r: r.get("type") == "counts" and any(
                    p["netns"] == inum and p["port"] == 7411 and p["tw_entered"] == 5
                    for p in r["ports"]), 10), "the old namespace's row: %r", counts(agent)[-1:])
            deadline = time.time() + 15
            while new is None and time.time() < deadline:
                ns = Netns().__enter__()
                if ns.inum == inum:
                    new = ns
                else:
                    ns.__exit__(None, None, None)
                    time.sleep(0.2)
            if new:
                break
        check(new is not None, "the kernel did not reuse an inode in 3 tries of 15 s")
        try:
            start = len(counts(agent))
            new.py(SERVER_FIRST, "7411", "2").finish()
            time.sleep(2.5)
            for r in counts(agent)[start:]:
                for p in r["ports"]:
                    if p["netns"] == inum and p["tw_entered"] not in (0, 5):
                        check_eq((p["tw_entered"], p["tw"]), (2, 2),
                                 "the new namespace's row (entered, gauge)")
            check(any(p["netns"] == inum and p["tw_entered"] == 2
                      for p in counts(agent)[-1]["ports"]),
                  "no row of the new namespace: %r", counts(agent)[-1]["ports"])
        finally:
            new.__exit__(None, None, None)


test_reused_inode_gets_rows_of_its_own.timeout = 150


def test_dead_namespace_leaves_outputs_and_frees_slots():
    """A deleted namespace: its rows stay in the counts until their last interval (which has the
    TIME_WAITs its teardown killed), then leave counts and metrics, and its counter slots and
    listener entries are taken back (netns_exit says how many)."""
    mport, ports = free_port(), (7412, 7413)
    with Agent("-e", "tw", "-i", "1", "-p", "7412,7413,7414", "--metrics-addr",
               "127.0.0.1:%d" % mport) as agent:

        def mine(rec):
            return [p for p in rec["ports"] if p["netns"] == inum and p["port"] in ports]

        with Netns() as ns:
            inum = ns.inum
            ns.py(SERVER_FIRST, "7412", "4").finish()
            ns.py(SERVER_FIRST, "7413", "3").finish()
            held = ns.py(BIND_FAILS, "7414")  # a listener still open when the namespace goes
            held.line()
            check(agent.wait_for(lambda r: r.get("type") == "counts" and len(mine(r)) == 2, 10),
                  "both rows before the delete: %r", counts(agent)[-1:])
            check(('netns="%d"' % inum) in scrape(mport), "metrics lack the namespace")
            deleted = len(counts(agent))
        deadline = time.time() + 20
        while time.time() < deadline and all(mine(r) for r in counts(agent)[deleted:]):
            time.sleep(0.2)
        check(not all(mine(r) for r in counts(agent)[deleted:]), "the dead namespace's rows are still in the counts 20 s after: %r",
              mine(counts(agent)[-1]))
        recs = counts(agent)
        last = [r for r in recs if mine(r)][-1]
        final = sorted((p["port"], p["tw_entered"], p["tw_killed"], p["tw"]) for p in mine(last))
        check_eq(final, [(7412, 4, 4, 0), (7413, 3, 3, 0)],
                 "the last interval's rows (port, entered, killed by the teardown, gauge)")
        check(('netns="%d"' % inum) not in scrape(mport),
              "the metrics still name the dead namespace")
        ex = agent.wait_for(lambda r: r.get("type") == "netns_exit" and r["netns"] == inum, 5)
        check(ex, "no netns_exit for the deleted namespace")
        check_eq((ex["ports"], ex["port_slots"]), (2, 2), "netns_exit (rows, slots freed)")
        check(ex["listen_ports"] >= 3, "listener entries taken back (3 ports): %r", ex)
        check(recs[-1]["totals"]["port_slots_freed"] >= 2, "slots freed: %r", recs[-1]["totals"])


test_dead_namespace_leaves_outputs_and_frees_slots.timeout = 90


def prom_values(text, inum):
    """Every port counter of this namespace and of "other", by name and labels."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'(twscope_(?:time_wait|port_bind)\w*_total)\{(.*)\} (\d+)$', line)
        if m and ('netns="%d"' % inum in m.group(2) or 'port="other"' in m.group(2)):
            out[m.group(1) + "{" + m.group(2) + "}"] = int(m.group(3))
    return out


def churn_and_check(idle):
    """Failed binds on three ports, --top 1: the listed row changes each interval. With idle, the
    rows are then reclaimed and two come back. Checks that the counters of "other", the totals
    and the port metrics never go down and that each failure is counted once, in a listed row or
    in "other", in the interval it happened."""
    ports = (7421, 7422, 7423)
    mport = free_port()
    extra = ("--idle", "2") if idle else ()
    with Netns() as ns:
        with Agent("-e", "none", "-i", "1", "--top", "1", "--netns", ns.inum, "--metrics-addr",
                   "127.0.0.1:%d" % mport, *extra) as agent:
            p = ns.py(BIND_FAILS, *map(str, ports))
            p.line()
            scrapes, made = [], 0

            def fail(port, n):
                nonlocal made
                p.send("%d %d" % (port, n))
                p.line()
                made += n
                time.sleep(1.3)  # one interval each
                scrapes.append(prom_values(scrape(mport), ns.inum))

            for port, n in ((7421, 3), (7422, 5), (7423, 7), (7421, 1), (7423, 1), (7422, 1)):
                fail(port, n)
            if idle:
                freed = agent.wait_for(lambda r: r.get("type") == "counts" and
                                       r["totals"].get("port_slots_freed", 0) >= 3 and
                                       not r["ports"], 15)
                check(freed, "idle rows not reclaimed: %r", counts(agent)[-1:])
                scrapes.append(prom_values(scrape(mport), ns.inum))
                fail(7422, 2)  # reclaimed ports come back
                fail(7421, 4)
            time.sleep(1.2)
        recs = counts(agent)
    for key in ("tw_entered", "tw_expired", "tw_killed", "bind_errors"):
        seq = [r.get("other", {}).get(key, 0) for r in recs]
        check(all(a <= b for a, b in zip(seq, seq[1:])), "other.%s went down: %r", key, seq)
        tot = [r["totals"][key] for r in recs]
        check(all(a <= b for a, b in zip(tot, tot[1:])), "totals.%s went down: %r", key, tot)
    for a, b in zip(scrapes, scrapes[1:]):
        for name, v in a.items():
            check(b.get(name, v) >= v, "%s went down: %d -> %r", name, v, b.get(name))
    seen = sum(sum(x["interval"]["bind_errors"] for x in r["ports"]) +
               r.get("other", {}).get("interval", {}).get("bind_errors", 0) for r in recs)
    check_eq(seen, made, "failures counted over the intervals, in rows or in other")


def test_other_never_goes_down_as_rows_move():
    churn_and_check(idle=False)


test_other_never_goes_down_as_rows_move.timeout = 60


def test_other_and_totals_never_go_down_across_reclaim():
    churn_and_check(idle=True)


test_other_and_totals_never_go_down_across_reclaim.timeout = 90
