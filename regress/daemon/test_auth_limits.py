"""limit auth-failures against the real daemon: N failed logins from an
address within T block it for B (454 4.7.0 even with the right
password, and no hash is run), other addresses and `limit exempt` ones
are not affected, a success does not reset the count, POP3 and SMTP
failures count together, the block ends after B, a blocked client is not
rescued by its IP group, and `smtpctl show limits` / `limits reset`.

Clients bind to 127.0.0.2 ... 127.0.0.6 to be different addresses.
Windows are short (seconds) rather than the clock faked."""

import base64
import ctypes
import ctypes.util
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import free_port

PASSWORD = "correct horse"
USER = "alice@example.com"
A, B, C, EXEMPT = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
BLOCKED = ("454 4.7.0 Too many authentication failures from your "
           "address; try again later")
INVALID = "535 5.7.8 Authentication credentials invalid"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def sha512_crypt(password, rounds):
    """crypt(3) from libcrypt itself (Python's crypt module is going)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = f"$6$rounds={rounds}$q8Lx2aVnT0bPz7Rk$".encode()
    return lib.crypt(password.encode(), salt).decode()


@pytest.fixture
def creds(tmp_path):
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD],
                       capture_output=True, text=True, check=True,
                       timeout=30).stdout.strip()
    path = tmp_path / "users"
    path.write_text(f"{USER}:{h}\n")
    os.chmod(path, 0o600)
    return path


def start(make_daemon, creds, limit="limit auth-failures 3 per-ip "
          "within 10s block 30s\n", extra="",
          rules="relay allow authenticated\n"):
    d = make_daemon(start=False, hold=True)
    d.write_config(
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f"listen on 127.0.0.1 port {d.port} auth-insecure\n"
        f'table users file "{creds}"\n'
        f"table lan {{ {A}/32 }}\n"
        f"table trusted {{ {EXEMPT}/32 }}\n"
        "authenticate <users>\n"
        'accept for domain "example.com"\n'
        f"{limit}"
        f"{extra}"
        f"{rules}")
    return d.start()


class Client:
    """One SMTP session from a source address; every reply read with a
    deadline."""

    def __init__(self, port, source):
        self.s = socket.create_connection(("127.0.0.1", port), 10,
                                          source_address=(source, 0))
        self.f = self.s.makefile("rb")
        assert self.read()[0].startswith("220")
        assert self.cmd("EHLO client.test")[-1].startswith("250")

    def read(self):
        lines = []
        while True:
            line = self.f.readline().decode()
            assert line, f"connection closed after {lines}"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.read()

    def auth(self, password, user=USER):
        return self.cmd("AUTH PLAIN " + b64(f"\0{user}\0{password}"))[-1]

    def close(self):
        self.s.close()


def login(port, source, password, user=USER):
    """The reply to AUTH PLAIN in a fresh session from source."""
    c = Client(port, source)
    try:
        return c.auth(password, user)
    finally:
        c.close()


def limits(d, *args):
    res = d.ctl("show", "limits", *args, json_out=True, check=True)
    return json.loads(res.stdout)


def block(d, source, n=3):
    for i in range(n):
        assert login(d.port, source, f"wrong-{i}") == INVALID


def test_nth_failure_blocks_even_the_right_password(make_daemon, creds):
    d = start(make_daemon, creds)
    # N - 1 failures: the right password still works
    assert login(d.port, A, "wrong-1") == INVALID
    assert login(d.port, A, "wrong-2") == INVALID
    # a third, in another session, with another user name: blocked
    assert login(d.port, A, "wrong-3", user="bob@example.com") == INVALID
    assert login(d.port, A, PASSWORD) == BLOCKED
    assert login(d.port, A, "wrong-4") == BLOCKED
    # another address is not affected
    assert login(d.port, B, PASSWORD) == "235 2.7.0 Authentication successful"
    assert d.wait_log(r"auth event=block client=127\.0\.0\.2 failures=3 "
                      r"within=10s block=30s")
    assert d.wait_log(r'smtp event=auth address=127\.0\.0\.2 '
                      r'user="alice@example\.com" result=blocked')
    assert PASSWORD not in d.log()


def test_blocked_session_stays_unauthenticated(make_daemon, creds):
    d = start(make_daemon, creds)
    block(d, A)
    c = Client(d.port, A)
    assert c.auth(PASSWORD) == BLOCKED
    # not authenticated: AUTH may be tried again, and no relay
    assert c.auth(PASSWORD) == BLOCKED
    assert c.cmd("MAIL FROM:<alice@example.com>")[-1].startswith("250")
    assert c.cmd("RCPT TO:<bob@far.example>")[-1].startswith(
        "554 5.7.1 <bob@far.example>: Relay access denied")
    # mail for the accepted domain is still taken
    assert c.cmd("RCPT TO:<carol@example.com>")[-1].startswith("250")
    c.close()


def test_blocked_is_a_failed_command(make_daemon, creds):
    d = start(make_daemon, creds,
              extra="limit failed-commands 3 per-session\n")
    block(d, A)
    c = Client(d.port, A)
    assert c.auth(PASSWORD) == BLOCKED
    assert c.auth(PASSWORD) == BLOCKED
    # the third failed command closes the session
    c.s.sendall(b"AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}").encode() +
                b"\r\n")
    assert c.read() == [BLOCKED]
    assert c.read()[0].startswith("421 4.7.0")
    c.close()


def test_blocked_client_is_not_rescued_by_its_ip_group(make_daemon, creds):
    d = start(make_daemon, creds,
              rules="relay allow from <lan> authenticated\n")
    # before: A (in <lan>) with the right password relays
    c = Client(d.port, A)
    assert c.auth(PASSWORD).startswith("235")
    c.cmd("MAIL FROM:<alice@example.com>")
    assert c.cmd("RCPT TO:<bob@far.example>")[-1].startswith("250")
    c.close()
    block(d, A)
    c = Client(d.port, A)
    assert c.auth(PASSWORD) == BLOCKED
    c.cmd("MAIL FROM:<alice@example.com>")
    assert c.cmd("RCPT TO:<bob@far.example>")[-1].startswith("554 5.7.1")
    c.close()


def test_exempt_address_is_never_blocked(make_daemon, creds):
    d = start(make_daemon, creds, extra="limit exempt <trusted>\n")
    for i in range(6):
        assert login(d.port, EXEMPT, f"wrong-{i}") == INVALID
    assert login(d.port, EXEMPT, PASSWORD).startswith("235")
    got = limits(d, EXEMPT)
    assert got["exempt"] is True and got["addresses"] == []
    text = d.ctl("show", "limits", EXEMPT, check=True).stdout
    assert f"{EXEMPT} is exempt" in text
    # the others are still counted
    block(d, A)
    assert login(d.port, A, PASSWORD) == BLOCKED
    assert limits(d, A)["exempt"] is False


def test_success_does_not_reset_the_count(make_daemon, creds):
    d = start(make_daemon, creds)
    assert login(d.port, A, "wrong-1") == INVALID
    assert login(d.port, A, "wrong-2") == INVALID
    assert login(d.port, A, PASSWORD).startswith("235")
    assert limits(d, A)["addresses"][0]["failures"] == 2
    assert login(d.port, A, "wrong-3") == INVALID
    assert login(d.port, A, PASSWORD) == BLOCKED


def test_block_ends_after_b(make_daemon, creds):
    d = start(make_daemon, creds,
              limit="limit auth-failures 2 per-ip within 30s block 2s\n")
    block(d, A, n=2)
    t0 = time.monotonic()
    assert login(d.port, A, PASSWORD) == BLOCKED
    entry = limits(d, A)["addresses"][0]
    assert entry["blocked"] is True and 1 <= entry["blocked_for"] <= 2
    # still blocked within B ...
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    assert login(d.port, A, PASSWORD) == BLOCKED
    # ... and not after it
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t0)))
    assert login(d.port, A, PASSWORD).startswith("235")
    entry = limits(d, A)["addresses"][0]
    assert entry["blocked"] is False and entry["refused"] == 2
    # on probation: the two failures still count (T is 30s), so one
    # more blocks again at once
    assert login(d.port, A, "wrong-3") == INVALID
    assert login(d.port, A, PASSWORD) == BLOCKED


def test_failures_age_out_after_t(make_daemon, creds):
    d = start(make_daemon, creds,
              limit="limit auth-failures 2 per-ip within 2s block 30s\n")
    assert login(d.port, A, "wrong-1") == INVALID
    time.sleep(2.2)
    assert limits(d)["addresses"] == [], "a failure outlived T"
    assert login(d.port, A, "wrong-2") == INVALID
    assert login(d.port, A, PASSWORD).startswith("235")


def test_show_limits_and_reset(make_daemon, creds):
    d = start(make_daemon, creds)
    assert d.ctl("show", "limits", check=True).stdout.splitlines() == [
        "limit auth-failures 3 per-ip within 10s block 30s",
        "no auth failures recorded"]
    block(d, A)
    assert login(d.port, A, PASSWORD) == BLOCKED
    assert login(d.port, B, "wrong") == INVALID

    text = d.ctl("show", "limits", check=True).stdout.splitlines()
    assert text[0] == "limit auth-failures 3 per-ip within 10s block 30s"
    assert text[1].split() == ["ADDRESS", "FAILURES", "LAST", "BLOCKED",
                               "REFUSED"]
    rows = {line.split()[0]: line.split() for line in text[2:]}
    assert rows[A][1] == "3" and rows[A][3] != "-" and rows[A][4] == "1"
    assert rows[B][1] == "1" and rows[B][3] == "-"
    # the latest failure first
    assert text[2].split()[0] == B

    got = limits(d)
    assert got["auth_failures"] == {"limit": 3, "within": 10, "block": 30}
    assert got["total"] == 2
    a = next(e for e in got["addresses"] if e["address"] == A)
    assert a["failures"] == 3 and a["blocked"] is True
    assert 25 <= a["blocked_for"] <= 30 and a["refused"] == 1
    assert abs(a["blocked_until"] - (time.time() + a["blocked_for"])) < 3
    assert 0 <= a["last_failure_age"] < 10
    only = limits(d, A)
    assert [e["address"] for e in only["addresses"]] == [A]
    assert only["total"] == 1 and only["exempt"] is False
    # an IPv4-mapped spelling is the same address
    assert [e["address"] for e in limits(d, "::ffff:" + A)["addresses"]] \
        == [A]

    res = d.ctl("limits", "reset", A, check=True)
    assert res.stdout.strip() == \
        f"auth failures of {A} forgotten: it may log in again"
    assert login(d.port, A, PASSWORD).startswith("235")
    assert [e["address"] for e in limits(d)["addresses"]] == [B]
    assert d.wait_log(r"auth event=limits-reset client=127\.0\.0\.2 "
                      r"removed=1")
    res = d.ctl("limits", "reset", C, json_out=True, check=True)
    assert json.loads(res.stdout) == {"ok": True, "removed": 0}
    assert "nothing to reset" in d.ctl("limits", "reset", C).stdout


def test_show_limits_without_the_limit(make_daemon, creds):
    d = start(make_daemon, creds, limit="")
    for i in range(5):
        assert login(d.port, A, f"wrong-{i}") == INVALID
    assert login(d.port, A, PASSWORD).startswith("235")
    got = limits(d)
    assert got == {"auth_failures": None, "addresses": [], "total": 0}
    assert d.ctl("show", "limits", check=True).stdout.startswith(
        "no limit auth-failures")


@pytest.mark.parametrize("args,message", [
    (["show", "limits", "999.1.1.1"], 'invalid address "999.1.1.1"'),
    (["show", "limits", A, B], "too many arguments"),
    (["limits", "reset"], 'missing argument for "limits reset"'),
    (["limits", "reset", "mail.example.com"],
     'invalid address "mail.example.com"'),
    (["limits", "reset", "10.0.0.0/8"], "invalid address"),
])
def test_bad_arguments(make_daemon, creds, args, message):
    d = start(make_daemon, creds)
    res = d.ctl(*args)
    assert res.returncode == 1
    assert message in res.stderr, res.stderr


def test_no_hash_is_run_for_a_blocked_address(make_daemon, tmp_path):
    # a slow hash (about a second), so that its absence shows
    path = tmp_path / "slow-users"
    path.write_text(f"{USER}:{sha512_crypt(PASSWORD, 1000000)}\n")
    os.chmod(path, 0o600)
    d = start(make_daemon, path,
              limit="limit auth-failures 1 per-ip within 1m block 1m\n")
    t = time.monotonic()
    assert login(d.port, A, "wrong") == INVALID
    hashed = time.monotonic() - t
    assert hashed > 0.1, f"the hash took only {hashed:.3f}s"
    t = time.monotonic()
    assert login(d.port, A, PASSWORD) == BLOCKED
    refused = time.monotonic() - t
    assert refused < hashed / 3, \
        f"blocked answer took {refused:.3f}s, a hash {hashed:.3f}s"
    assert d.wait_log(r'auth event=login service=smtp client=127\.0\.0\.2 '
                      r'user="alice@example\.com" result=blocked '
                      r'blocked-for=\d+s')


def test_pop3_and_smtp_failures_count_together(make_daemon, creds):
    pop3_port = free_port()
    d = start(make_daemon, creds,
              extra=f"listen on 127.0.0.1 port {pop3_port} pop3 "
                    "auth-insecure\n")

    def pop3_login(password):
        with socket.create_connection(("127.0.0.1", pop3_port), 10,
                                      source_address=(A, 0)) as s:
            f = s.makefile("rb")
            assert f.readline().startswith(b"+OK")
            s.sendall(f"USER {USER}\r\n".encode())
            assert f.readline().startswith(b"+OK")
            s.sendall(f"PASS {password}\r\n".encode())
            return f.readline().decode().rstrip("\r\n")

    assert pop3_login("wrong-1").startswith("-ERR")
    assert pop3_login("wrong-2").startswith("-ERR")
    assert login(d.port, A, "wrong-3") == INVALID
    assert login(d.port, A, PASSWORD) == BLOCKED
    reply = pop3_login(PASSWORD)
    assert reply.startswith("-ERR") and "Too many" in reply, reply
    assert d.wait_log(r"auth event=login service=pop3 client=127\.0\.0\.2 "
                      r'user="alice@example\.com" result=blocked')
    assert login(d.port, B, PASSWORD).startswith("235")


def test_parallel_guesses_meet_the_limit(make_daemon, creds):
    """Eight sessions from one address send a wrong password at once:
    the checks of one address run one after the other, so exactly N of
    them are checked (535) and the rest are refused (454), as if they
    had come one by one."""
    d = start(make_daemon, creds)
    clients = [Client(d.port, A) for _ in range(8)]
    for i, c in enumerate(clients):
        c.s.sendall(("AUTH PLAIN " + b64(f"\0{USER}\0wrong-{i}")
                     + "\r\n").encode())
    replies = [c.read()[-1] for c in clients]
    for c in clients:
        c.close()
    assert sorted(replies).count(INVALID) == 3, replies
    assert sorted(replies).count(BLOCKED) == 5, replies
    # another address still logs in meanwhile
    assert login(d.port, B, PASSWORD) == "235 2.7.0 Authentication successful"
