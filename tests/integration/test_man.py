"""man/twscope.8: renders with no warning, and documents exactly the options the binary has."""
import os
import re
import subprocess

from lib import BINARY, check, check_eq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MAN = os.path.join(ROOT, "man", "twscope.8")
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT", "EXAMPLES", "OVERHEAD",
            "EXIT STATUS", "FILES"]


def test_man_page_renders_without_warnings():
    p = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True,
                       timeout=60)
    check_eq((p.returncode, p.stderr), (0, ""), "groff -man -ww -z")
    # a narrow terminal too: every long name has a place to break
    for width in ("50", "80", "120"):
        p = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, MANWIDTH=width, MANPAGER="cat",
                                                PAGER="cat", LC_ALL="C.UTF-8"))
        check_eq((p.returncode, p.stderr), (0, ""), "man --warnings at %s columns" % width)
    found = re.findall(r"^([A-Z][A-Z ]+)$", p.stdout, re.M)
    for s in SECTIONS:
        check(s in found, "section %s missing (have %s)", s, found)


def long_options(text):
    return set(re.findall(r"--([a-z][a-z0-9-]+)", text))


def test_man_page_documents_every_option():
    help_text = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    with open(MAN) as f:
        src = f.read()
    documented = long_options(src.replace("\\-", "-"))
    have = long_options(help_text)
    check(have, "no options in --help: %r", help_text[:200])
    check_eq(sorted(have - documented), [], "options of --help missing from the man page")
    # options named in .TP items (the OPTIONS section) that the binary does not have
    items = re.findall(r"^\.TP\n\.B[IR]? (\\-.*)$", src, re.M)
    named = long_options(" ".join(items).replace("\\-", "-"))
    check_eq(sorted(named - have), [], "man page options the binary lacks")
    with open(os.path.join(ROOT, "VERSION")) as f:
        version = f.read().strip()
    check('"twscope %s"' % version in src, "the man page's .TH does not say version %s", version)
