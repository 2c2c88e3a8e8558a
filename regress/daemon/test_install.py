"""make install puts the programs, the example configuration and the
man pages where PREFIX and DESTDIR say, and the installed daemon runs."""

import os
import stat
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_make_install_into_destdir(tmp_path):
    dest = tmp_path / "root"
    res = subprocess.run(["make", "-s", "-C", TOP, "install",
                          f"DESTDIR={dest}", "PREFIX=/opt/pc"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    for prog in ("smtpd", "smtpctl"):
        path = dest / "opt/pc/sbin" / prog
        assert path.exists(), prog
        assert os.stat(path).st_mode & stat.S_IXUSR
    conf = dest / "etc/portcullis/smtpd.conf"
    assert conf.read_text() == open(os.path.join(TOP, "etc/smtpd.conf")).read()
    for page in ("man8/smtpd.8", "man5/smtpd.conf.5", "man8/smtpctl.8"):
        assert (dest / "opt/pc/share/man" / page).exists(), page
    # the installed example passes the installed daemon's check
    res = subprocess.run([str(dest / "opt/pc/sbin/smtpd"), "-n", "-f",
                          str(conf)], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    assert "configuration OK" in res.stdout
    # an existing configuration is never overwritten
    conf.write_text("# mine\n")
    res = subprocess.run(["make", "-s", "-C", TOP, "install",
                          f"DESTDIR={dest}", "PREFIX=/opt/pc"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0
    assert conf.read_text() == "# mine\n"
