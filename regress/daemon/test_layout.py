"""The tree keeps its promises: Makefile.bsd names every source file of
the GNU build, the man pages are valid mdoc, the example config passes."""

import glob
import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def bsd_sources():
    with open(os.path.join(TOP, "Makefile.bsd")) as f:
        text = f.read().replace("\\\n", " ")
    names = set()
    for m in re.finditer(r"^(?:LIB_SRCS|SRCS)=\s*(.*)$", text, re.M):
        names.update(w for w in m.group(1).split() if not w.startswith("$"))
    return names


def test_makefile_bsd_names_every_source_file():
    want = set()
    for folder in ("smtpd", "relayd-auth", "queue", "control", "lib"):
        for path in glob.glob(os.path.join(TOP, folder, "*.[cy]")):
            want.add(os.path.basename(path))
    missing = sorted(want - bsd_sources())
    extra = sorted(bsd_sources() - want)
    assert not missing, f"not in Makefile.bsd: {missing}"
    assert not extra, f"in Makefile.bsd but gone: {extra}"


@pytest.mark.parametrize("page", ["smtpd/smtpd.8", "smtpd/smtpd.conf.5",
                                  "control/smtpctl.8"])
def test_man_page_is_clean_mdoc(page):
    mandoc = shutil.which("mandoc")
    assert mandoc, "mandoc is needed (make deps installs it)"
    res = subprocess.run([mandoc, "-Tlint", "-Wwarning",
                          os.path.join(TOP, page)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
