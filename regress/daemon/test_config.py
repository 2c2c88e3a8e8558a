"""Config checking with the real binary: smtpd -n and smtpd -nv.

Golden files live in regress/config: NN.conf is checked against NN.ok,
the exact stdout of `smtpd -nv -f NN.conf`; err-NN.conf against
err-NN.err, the exact stderr of `smtpd -n -f err-NN.conf` (exit 1).  The
files run from a copy of that folder (their relative paths point into
it) with the secrets and key files made mode 0600, as git keeps no
modes.  The binary comes from the environment (SMTPD).
"""

import glob
import os
import shutil
import subprocess

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(TOP, "regress", "config")
SMTPD = os.environ.get("SMTPD", os.path.join(TOP, "obj-test", "smtpd"))


def names(pattern):
    return sorted(os.path.basename(p)
                  for p in glob.glob(os.path.join(CONFIG, pattern)))


@pytest.fixture
def folder(tmp_path):
    """A private copy of regress/config, with safe modes."""
    for path in glob.glob(os.path.join(CONFIG, "*")):
        shutil.copy(path, tmp_path)
    os.chmod(tmp_path / "secrets", 0o600)
    os.chmod(tmp_path / "mx.key", 0o600)
    os.chmod(tmp_path / "users", 0o640)
    return tmp_path


def smtpd(args, cwd, env=None):
    return subprocess.run([SMTPD] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=30, env=env)


def read(path):
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("name", names("[0-9]*.conf"))
def test_golden(folder, name):
    res = smtpd(["-nv", "-f", name], folder)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout == read(os.path.join(CONFIG, name[:-5] + ".ok"))


@pytest.mark.parametrize("name", names("[0-9]*.conf"))
def test_printed_config_parses_to_itself(folder, name):
    first = smtpd(["-nv", "-f", name], folder)
    assert first.returncode == 0, first.stderr
    body = first.stdout
    assert body.endswith("configuration OK\n")
    (folder / "printed.conf").write_text(
        body[:-len("configuration OK\n")])
    again = smtpd(["-nv", "-f", "printed.conf"], folder)
    assert again.returncode == 0, again.stderr
    assert again.stdout == body


@pytest.mark.parametrize("name", names("err-*.conf"))
def test_error_file(folder, name):
    res = smtpd(["-n", "-f", name], folder)
    assert res.returncode == 1
    assert res.stderr == read(os.path.join(CONFIG, name[:-5] + ".err"))
    assert "configuration OK" not in res.stdout


def test_error_lines_name_file_and_line(folder):
    (folder / "bad.conf").write_text(
        'hostname "mx.example.com"\n'
        "\n"
        "listen on 127.0.0.1 port 2525\n"
        "listen on 127.0.0.1 port 2525\n"
        'delivery "a" {\n'
        '\tmatch sender "user@*.com"\n'
        "\trelay x.example\n"
        "}\n")
    res = smtpd(["-n", "-f", "bad.conf"], folder)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "bad.conf:4: listen on 127.0.0.1 port 2525: already in use by "
        "the listener at bad.conf:3",
        'bad.conf:6: invalid address pattern "user@*.com": a wildcard '
        "is allowed only in the local part",
    ]


def test_open_relay_is_a_warning(folder):
    (folder / "open.conf").write_text("relay allow any\n")
    res = smtpd(["-n", "-f", "open.conf"], folder)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ("open.conf:1: warning: relay allow any makes "
                          "this an open relay: anyone may send mail "
                          "anywhere through it\n")
    assert res.stdout == "configuration OK\n"


def test_missing_file(folder):
    res = smtpd(["-n", "-f", "nonexistent.conf"], folder)
    assert res.returncode == 1
    assert "nonexistent.conf" in res.stderr


def test_macros_from_the_command_line(folder):
    (folder / "m.conf").write_text(
        'name = "file.example"\n'
        "hostname $name\n"
        'spool "/tmp/x/spool"\n'
        'control socket "/tmp/x/s.sock"\n'
        "listen on 127.0.0.1 port $port\n")
    res = smtpd(["-nv", "-D", "name=cmd.example", "-D", "port=2600",
                 "-f", "m.conf"], folder)
    assert res.returncode == 0, res.stderr
    assert 'hostname "cmd.example"\n' in res.stdout
    assert "listen on 127.0.0.1 port 2600\n" in res.stdout


def test_example_config_passes(folder):
    res = smtpd(["-n", "-f", os.path.join(TOP, "etc", "smtpd.conf")],
                folder)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "configuration OK\n"


def test_example_config_prints_and_parses_again(folder):
    first = smtpd(["-nv", "-f", os.path.join(TOP, "etc", "smtpd.conf")],
                  folder)
    assert first.returncode == 0, first.stderr
    (folder / "printed.conf").write_text(
        first.stdout[:-len("configuration OK\n")])
    again = smtpd(["-nv", "-f", "printed.conf"], folder)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_builtin_default(folder, tmp_path):
    """Without -f and with no installed file: the built-in default."""
    if os.path.exists("/etc/portcullis/smtpd.conf"):
        pytest.skip("an installed config hides the built-in default")
    env = dict(os.environ, HOME=str(tmp_path))
    res = smtpd(["-nv"], folder, env=env)
    assert res.returncode == 0, res.stderr
    port = 25 if os.geteuid() == 0 else 2525
    out = res.stdout
    assert f"listen on 127.0.0.1 port {port}\n" in out
    assert f"listen on ::1 port {port}\n" in out
    assert "table loopback { 127.0.0.0/8, ::1 }\n" in out
    assert "relay allow from <loopback>\n" in out
    assert "accept for domain" not in out and "delivery " not in out
    if os.geteuid() == 0:
        assert 'spool "/var/spool/portcullis"\n' in out
        assert 'control socket "/var/run/portcullis/smtpd.sock"\n' in out
    else:
        assert f'spool "{tmp_path}/.portcullis/spool"\n' in out
        assert (f'control socket "{tmp_path}/.portcullis/smtpd.sock"\n'
                in out)
    # The printed default is itself a valid config.
    (folder / "default.conf").write_text(
        out[:-len("configuration OK\n")])
    again = smtpd(["-nv", "-f", "default.conf"], folder, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out
