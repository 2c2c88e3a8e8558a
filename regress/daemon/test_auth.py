"""SMTP AUTH (RFC 4954, PLAIN and LOGIN) against the real daemon: the
password check happens in auth, AUTH is offered only over TLS unless the
listener says auth-insecure, and relay rules see the result."""

import base64
import os
import select
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import free_port

PASSWORD = "correct horse"


def b64(s):
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def creds(tmp_path):
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD],
                       capture_output=True, text=True, check=True,
                       timeout=30).stdout.strip()
    path = tmp_path / "users"
    path.write_text(f"alice@example.com:{h}\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def cert(tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", str(key), "-out", str(crt)],
                   capture_output=True, check=True, timeout=60)
    os.chmod(key, 0o600)
    return crt, key


def start(make_daemon, creds, extra="", listen_opts="auth-insecure",
          rules="relay allow authenticated\n"):
    d = make_daemon(start=False, hold=True)
    d.write_config(
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f"{extra}"
        f"listen on 127.0.0.1 port {d.port} {listen_opts}\n"
        f'table users file "{creds}"\n'
        "table lan { 127.0.0.1/32 }\n"
        "authenticate <users>\n"
        'accept for domain "example.com"\n'
        f"{rules}")
    return d.start()


class Raw:
    """A line-at-a-time SMTP client that shows every reply."""

    def __init__(self, port, source=None):
        self.s = socket.create_connection(
            ("127.0.0.1", port), 10,
            source_address=(source, 0) if source else None)
        self.f = self.s.makefile("rb")
        self.read()

    def read(self):
        lines = []
        while True:
            line = self.f.readline().decode()
            assert line, "connection closed"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.read()

    def code(self, text):
        return int(self.cmd(text)[-1][:3])

    def close(self):
        self.s.close()


def test_plain_success_allows_relay(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    assert "250-AUTH PLAIN LOGIN" in c.cmd("EHLO client.test")
    r = c.cmd("AUTH PLAIN " + b64(f"\0alice@example.com\0{PASSWORD}"))
    assert r == ["235 2.7.0 Authentication successful"]
    assert c.code("MAIL FROM:<alice@example.com>") == 250
    assert c.cmd("RCPT TO:<bob@far.example>")[0].startswith("250 2.1.5")
    c.close()
    assert d.wait_log(r'auth event=login service=smtp client=127.0.0.1 '
                      r'user="alice@example.com" result=ok')
    assert PASSWORD not in d.log()


def test_wrong_password_is_535_and_no_relay(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    r = c.cmd("AUTH PLAIN " + b64("\0alice@example.com\0Wr0ng-pa55-q7"))
    assert r == ["535 5.7.8 Authentication credentials invalid"]
    assert c.code("MAIL FROM:<alice@example.com>") == 250
    assert c.cmd("RCPT TO:<bob@far.example>")[0].startswith(
        "554 5.7.1 <bob@far.example>: Relay access denied")
    # mail for the accepted domain is still taken
    assert c.code("RCPT TO:<carol@example.com>") == 250
    c.close()
    assert "Wr0ng-pa55-q7" not in d.log()


def test_unknown_user_is_535(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    assert c.cmd("AUTH PLAIN " + b64(f"\0mallory@example.com\0{PASSWORD}")) \
        == ["535 5.7.8 Authentication credentials invalid"]
    c.close()


def test_login_mechanism(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    assert c.cmd("AUTH LOGIN") == ["334 VXNlcm5hbWU6"]
    assert c.cmd(b64("alice@example.com")) == ["334 UGFzc3dvcmQ6"]
    assert c.cmd(b64(PASSWORD)) == ["235 2.7.0 Authentication successful"]
    assert c.cmd("AUTH PLAIN")[0].startswith("503 5.5.1")
    c.close()


def test_plain_without_initial_response_and_smtplib(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    assert c.cmd("AUTH PLAIN") == ["334 "]
    assert c.cmd(b64(f"\0alice@example.com\0{PASSWORD}"))[0].startswith("235")
    c.close()
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.login("alice@example.com", PASSWORD)
        s.sendmail("alice@example.com", ["bob@far.example"],
                   b"Subject: x\r\n\r\ny\r\n")


def test_exchange_errors(make_daemon, creds):
    d = start(make_daemon, creds)
    c = Raw(d.port)
    assert c.cmd("AUTH PLAIN")[0].startswith("503 5.5.1")   # before EHLO
    c.cmd("EHLO client.test")
    assert c.cmd("AUTH CRAM-MD5")[0].startswith("504 5.5.4")
    assert c.cmd("AUTH LOGIN") == ["334 VXNlcm5hbWU6"]
    assert c.cmd("*")[0].startswith("501 5.7.0")
    assert c.cmd("AUTH PLAIN not*base64")[0].startswith("501 5.5.2")
    assert c.cmd("AUTH PLAIN " + b64("no nul here"))[0].startswith("501")
    # an authorization identity other than the login is refused
    assert c.cmd("AUTH PLAIN " + b64(f"bob\0alice@example.com\0{PASSWORD}")
                 )[0].startswith("535")
    c.cmd("MAIL FROM:<a@example.com>")
    assert c.cmd("AUTH PLAIN")[0].startswith("503 5.5.1")   # in a transaction
    c.close()


def test_no_auth_in_clear_without_auth_insecure(make_daemon, creds, cert):
    crt, key = cert
    d = start(make_daemon, creds,
              extra=f'pki t cert "{crt}" key "{key}"\n',
              listen_opts="tls pki t")
    c = Raw(d.port)
    ehlo = c.cmd("EHLO client.test")
    assert not any("AUTH" in line for line in ehlo)
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice@example.com\0{PASSWORD}")) \
        == ["538 5.7.11 Encryption required for requested authentication "
            "mechanism"]
    c.close()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.starttls(context=ctx)
        s.ehlo()
        assert "PLAIN" in s.esmtp_features.get("auth", "")
        s.login("alice@example.com", PASSWORD)
        s.sendmail("alice@example.com", ["bob@far.example"],
                   b"Subject: x\r\n\r\ny\r\n")


def test_auth_require_refuses_mail_before_auth(make_daemon, creds):
    d = start(make_daemon, creds, listen_opts="auth-insecure auth-require")
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    assert c.cmd("MAIL FROM:<a@example.com>") == \
        ["530 5.7.0 Authentication required"]
    c.cmd("AUTH PLAIN " + b64(f"\0alice@example.com\0{PASSWORD}"))
    assert c.code("MAIL FROM:<a@example.com>") == 250
    c.close()


@pytest.mark.parametrize("source,auth,want", [
    ("127.0.0.1", True, 250),      # inside and authenticated
    ("127.0.0.1", False, 554),     # inside, no AUTH: not enough
    ("127.0.0.2", True, 554),      # authenticated, outside
])
def test_ip_group_and_authentication(make_daemon, creds, source, auth, want):
    d = start(make_daemon, creds,
              rules="relay allow from <lan> authenticated\n")
    c = Raw(d.port, source=source)
    c.cmd("EHLO client.test")
    if auth:
        assert c.cmd("AUTH PLAIN " +
                     b64(f"\0alice@example.com\0{PASSWORD}"))[0][:3] == "235"
    c.cmd("MAIL FROM:<a@example.com>")
    assert c.code("RCPT TO:<bob@far.example>") == want
    c.close()


def test_failed_auth_is_not_rescued_by_the_ip_group(make_daemon, creds):
    d = start(make_daemon, creds,
              rules="relay allow from <lan> authenticated\n")
    c = Raw(d.port)
    c.cmd("EHLO client.test")
    assert c.cmd("AUTH PLAIN " + b64("\0alice@example.com\0nope"))[0][:3] \
        == "535"
    c.cmd("MAIL FROM:<a@example.com>")
    assert c.code("RCPT TO:<bob@far.example>") == 554
    c.close()


def test_a_slow_hash_does_not_hold_other_sessions(make_daemon, tmp_path):
    """The password hash runs on auth's hashing thread: while a slow
    bcrypt check (cost 14, about a second here) is under way, another
    session's relay verdict is answered first."""
    slow = subprocess.run(
        ["/usr/bin/python3", "-W", "ignore", "-c",
         "import crypt, sys\n"
         "salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** 14)\n"
         "print(crypt.crypt(sys.argv[1], salt))", PASSWORD],
        capture_output=True, text=True, timeout=60).stdout.strip()
    assert slow.startswith("$2b$14$"), slow
    users = tmp_path / "slow-users"
    users.write_text(f"alice@example.com:{slow}\n")
    os.chmod(users, 0o600)
    d = start(make_daemon, users, rules="relay allow from <lan>\n")
    a = Raw(d.port)
    a.cmd("EHLO a.test")
    b = Raw(d.port)
    b.cmd("EHLO b.test")
    assert b.code("MAIL FROM:<b@example.com>") == 250
    # A's check goes to the hashing thread; B's verdict must not wait
    a.s.sendall(("AUTH PLAIN " + b64(f"\0alice@example.com\0{PASSWORD}")
                 + "\r\n").encode())
    assert b.cmd("RCPT TO:<bob@far.example>")[0].startswith("250 2.1.5")
    ready, _, _ = select.select([a.s], [], [], 0)
    assert not ready, "the AUTH answer came before the other verdict"
    assert a.read() == ["235 2.7.0 Authentication successful"]
    a.close()
    b.close()

