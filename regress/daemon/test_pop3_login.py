"""POP3 before SMTP against the real daemon: `smtpctl pop3-login` records
a login in auth's tracker, `relay allow pop3-login within T` lets that
address (and no other) relay for T, the table is listed and flushed with
smtpctl and survives a restart of the daemon.

Clients bind to 127.0.0.2 and 127.0.0.3 to be two different addresses;
no rule lets loopback relay by its address.  Windows are short (2s)
rather than the clock faked."""

import json
import os
import pwd
import socket
import stat
import time

import pytest

A = "127.0.0.2"
B = "127.0.0.3"


def config(d, rules="relay allow pop3-login within 2s\n", extra=""):
    return (f'spool "{d.spool}"\n'
            f'control socket "{d.sock}"\n'
            f"listen on 127.0.0.1 port {d.port}\n"
            f"{extra}"
            'accept for domain "example.com"\n'
            f"{rules}")


def start(make_daemon, **kw):
    d = make_daemon(start=False, hold=True)
    d.write_config(config(d, **kw))
    return d.start()


def rcpt(port, source, to="bob@far.example"):
    """The reply to RCPT TO:<to> in a fresh session from source."""
    with socket.create_connection(("127.0.0.1", port), 10,
                                  source_address=(source, 0)) as s:
        f = s.makefile("rb")

        def read():
            while True:
                line = f.readline().decode()
                assert line, "connection closed"
                if line[3:4] != "-":
                    return line.rstrip("\r\n")

        def cmd(text):
            s.sendall(text.encode() + b"\r\n")
            return read()

        assert read().startswith("220")
        assert cmd("EHLO client.test").startswith("250")
        assert cmd("MAIL FROM:<alice@example.com>").startswith("250")
        reply = cmd(f"RCPT TO:<{to}>")
        cmd("QUIT")
        return reply


def denied(reply):
    return reply.startswith("554 5.7.1") and "Relay access denied" in reply


def logins(d):
    res = d.ctl("show", "pop3-logins", json_out=True, check=True)
    return json.loads(res.stdout)["pop3_logins"]


def test_login_lets_its_address_relay_within_the_window(make_daemon):
    d = start(make_daemon)
    assert denied(rcpt(d.port, A))
    # mail for the accepted domain is taken from anyone
    assert rcpt(d.port, A, "carol@example.com").startswith("250")

    res = d.ctl("pop3-login", "alice", A)
    assert res.returncode == 0, res.stderr
    assert rcpt(d.port, A).startswith("250 2.1.5")
    assert denied(rcpt(d.port, B)), "another address relayed"
    assert d.wait_log(r'auth event=pop3-login client=127\.0\.0\.2 '
                      r'user="alice" source=smtpctl')
    assert d.wait_log(r"auth event=rcpt client=127\.0\.0\.2 "
                      r"to=<bob@far\.example> result=relay rule=line 5")

    # past the window (2s: an age of 3s is over it)
    time.sleep(3.2)
    assert denied(rcpt(d.port, A))
    assert logins(d) == []


def test_show_and_flush(make_daemon):
    d = start(make_daemon, rules="relay allow pop3-login within 30m\n")
    assert d.ctl("show", "pop3-logins", check=True).stdout.strip() \
        == "no POP3 logins"
    d.ctl("pop3-login", "alice@example.com", A, check=True)
    d.ctl("pop3-login", "bob", B, check=True)
    d.ctl("pop3-login", "carol", "::ffff:127.0.0.2", check=True)

    text = d.ctl("show", "pop3-logins", check=True).stdout
    lines = text.splitlines()
    assert lines[0].split() == ["ADDRESS", "USER", "AGE"]
    assert any(line.split()[:2] == [A, "alice@example.com"]
               for line in lines[1:])
    assert any(line.split()[:2] == [B, "bob"] for line in lines[1:])
    # IPv4-mapped is the same address
    assert any(line.split()[:2] == [A, "carol"] for line in lines[1:])

    got = logins(d)
    assert {(e["address"], e["user"]) for e in got} == {
        (A, "alice@example.com"), (B, "bob"), (A, "carol")}
    for e in got:
        assert 0 <= e["age"] < 60 and e["time"] > 1600000000
    # newest first
    assert got[0]["user"] == "carol"

    res = d.ctl("pop3-logins", "flush", A, check=True)
    assert "2 logins" in res.stdout
    assert [(e["address"], e["user"]) for e in logins(d)] == [(B, "bob")]
    assert denied(rcpt(d.port, A))
    assert rcpt(d.port, B).startswith("250")

    res = d.ctl("pop3-logins", "flush", json_out=True, check=True)
    assert json.loads(res.stdout) == {"ok": True, "removed": 1}
    assert logins(d) == []
    assert denied(rcpt(d.port, B))
    assert d.wait_log(r"auth event=pop3-flush client=127\.0\.0\.2 "
                      r"removed=2")


def test_login_survives_a_restart(make_daemon, tmp_path):
    d = start(make_daemon, rules="relay allow pop3-login within 30m\n")
    d.ctl("pop3-login", "alice", A, check=True)
    assert rcpt(d.port, A).startswith("250")
    d.expect_exit = True
    d.stop()

    path = os.path.join(d.spool, "pop3-logins")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert st.st_uid == pwd.getpwnam("_smtpauth").pw_uid
    with open(path) as f:
        text = f.read()
    assert text.startswith("portcullis pop3-logins 1\n")
    assert f" {A} alice\n" in text and text.endswith("end 1\n")

    d2 = make_daemon(start=False, hold=True)
    assert d2.spool == d.spool
    d2.write_config(config(d2, rules="relay allow pop3-login within 30m\n"))
    d2.start()
    assert d2.wait_log(r"pop3 login tracker: loaded 1 login from "
                       r"pop3-logins")
    assert rcpt(d2.port, A).startswith("250")
    assert denied(rcpt(d2.port, B))
    assert [(e["address"], e["user"]) for e in logins(d2)] == [(A, "alice")]


def test_written_within_a_second(make_daemon):
    d = start(make_daemon, rules="relay allow pop3-login within 30m\n")
    d.ctl("pop3-login", "alice", A, check=True)
    path = os.path.join(d.spool, "pop3-logins")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(path) as f:
            if f" {A} alice\n" in f.read():
                break
        time.sleep(0.1)
    else:
        pytest.fail("the state file was not written")
    d.ctl("pop3-logins", "flush", check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(path) as f:
            if f.read() == "portcullis pop3-logins 1\nend 0\n":
                break
        time.sleep(0.1)
    else:
        pytest.fail("the flush was not written")


def test_corrupt_state_file_starts_empty(make_daemon):
    d = make_daemon(start=False, hold=True)
    d.write_config(config(d, rules="relay allow pop3-login within 30m\n"))
    os.makedirs(d.spool, exist_ok=True)
    with open(os.path.join(d.spool, "pop3-logins"), "w") as f:
        f.write("portcullis pop3-logins 1\n1700000000 127.0.0.2 alice\n")
    d.start()
    assert d.wait_log(r"pop3 login tracker: state file pop3-logins "
                      r"unusable \(line 3: no end line")
    assert logins(d) == []
    assert denied(rcpt(d.port, A))
    d.ctl("pop3-login", "alice", A, check=True)
    assert rcpt(d.port, A).startswith("250")


@pytest.mark.parametrize("args,message", [
    (["pop3-login", "alice", "999.0.0.1"],
     'invalid address "999.0.0.1": not an IPv4 or IPv6 address'),
    (["pop3-login", "alice", "mail.example.com"],
     'invalid address "mail.example.com": not an IPv4 or IPv6 address'),
    (["pop3-login", "alice", "10.0.0.0/8"], "invalid address"),
    (["pop3-login", "al ice", A],
     "invalid user: 1 to 255 characters without spaces or control "
     "characters"),
    (["pop3-login", "", A], "invalid user"),
    (["pop3-login", "a\tb", A], "invalid user"),
    (["pop3-login", "u" * 256, A], "invalid user"),
    (["pop3-login", "alice"], 'missing argument for "pop3-login"'),
    (["pop3-login", "alice", A, "extra"],
     'too many arguments for "pop3-login"'),
    (["pop3-logins", "flush", "nowhere"], 'invalid address "nowhere"'),
    (["pop3-logins", "flush", A, B], "too many arguments"),
])
def test_bad_arguments(make_daemon, args, message):
    d = start(make_daemon)
    res = d.ctl(*args)
    assert res.returncode == 1
    assert message in res.stderr, res.stderr
    assert logins(d) == []


def test_longest_user_is_taken(make_daemon):
    d = start(make_daemon)
    d.ctl("pop3-login", "u" * 255, "::1", check=True)
    assert [(e["address"], e["user"]) for e in logins(d)] == [
        ("::1", "u" * 255)]


def test_group_and_pop3_login_need_both(make_daemon):
    d = start(make_daemon,
              extra=f"table lan {{ {A}/32 }}\n",
              rules="relay allow from <lan> pop3-login within 30m\n")
    assert denied(rcpt(d.port, A)), "the group alone relayed"
    d.ctl("pop3-login", "bob", B, check=True)
    assert denied(rcpt(d.port, B)), "the login alone relayed"
    d.ctl("pop3-login", "alice", A, check=True)
    assert rcpt(d.port, A).startswith("250")
