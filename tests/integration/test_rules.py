"""deploy/prometheus: the rules load (promtool check rules) and pass their unit tests
(promtool test rules twscope.rules.test.yml): each alert fires where it must and only there."""
import os
import subprocess

from lib import check

HERE = os.path.dirname(os.path.abspath(__file__))
PROM_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "deploy", "prometheus"))


def promtool(*args):
    return subprocess.run(["promtool"] + list(args), capture_output=True, text=True, timeout=60,
                          cwd=PROM_DIR)


def test_rules_load():
    p = promtool("check", "rules", "twscope.rules.yml")
    check(p.returncode == 0 and "SUCCESS" in p.stdout, "promtool check rules: %s",
          (p.stdout + p.stderr).strip())


def test_rules_unit_tests():
    p = promtool("test", "rules", "twscope.rules.test.yml")
    check(p.returncode == 0 and "SUCCESS" in p.stdout, "promtool test rules:\n%s",
          (p.stdout + p.stderr).strip())
