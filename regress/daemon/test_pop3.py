"""The built-in POP3 service (RFC 1939, CAPA/PIPELINING/RESP-CODES RFC
2449, STLS RFC 2595) against the real daemon, as a user sees it.

Mail goes in over SMTP to `accept for domain "example.com" deliver
maildir`, and comes out over POP3 with Python's poplib, a raw socket or
fetchmail.  What a client reads is the Maildir file with CRLF line ends
(Return-Path:, Delivered-To:, the Received: line, then the message as
sent), and LIST/STAT/RETR count exactly those octets.  DELE removes at
QUIT only; a maildrop is locked while a session has it; logins come
from `authenticate <users>` and are refused in clear text unless the
listener says auth-insecure; a login lets its address relay with
`relay allow pop3-login within T`.
"""

import json
import os
import poplib
import shutil
import socket
import ssl
import subprocess

import pytest

from conftest import free_port, wait_for
from smtpclient import Client, make_cert, queued_id

HOST = "mx.test"
PASSWORD = "pop s3cret"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@relay.example"        # a login, but no Maildir domain
TIMEOUT = 10

# ---- messages -------------------------------------------------------------

MSG_8BIT = (b"From: Sender <sender@client.test>\r\n"
            b"To: Alice <alice@example.com>\r\n"
            b"Subject: 8-bit and dots\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b"caf\xc3\xa9, na\xc3\xafve, \xe2\x82\xac 5\r\n"
            b".a line that starts with a dot\r\n"
            b".\r\n"
            b"..two dots\r\n"
            b"...\r\n"
            b"latin-1 octets: \xe9\xe8\xff\r\n"
            b"last line\r\n")

MSG_EMPTY = (b"From: sender@client.test\r\n"
             b"To: alice@example.com\r\n"
             b"Subject: nothing in here\r\n"
             b"\r\n")


def msg_big(kib=300):
    """A multi-hundred-KiB message: numbered 76-octet lines, every
    tenth starting with a dot."""
    head = (b"From: sender@client.test\r\nTo: alice@example.com\r\n"
            b"Subject: big\r\n\r\n")
    lines, size, n = [], 0, 0
    while size < kib * 1024:
        line = b"%s%06d %s" % (b"." if n % 10 == 0 else b"L", n,
                               b"x" * 68)
        lines.append(line)
        size += len(line) + 2
        n += 1
    return head + b"\r\n".join(lines) + b"\r\n"


def small(n):
    return (b"From: sender@client.test\r\nTo: alice@example.com\r\n"
            b"Subject: message %d\r\n\r\nbody of message %d\r\n"
            b"second line\r\nthird line\r\n" % (n, n))


def stuff(msg):
    """SMTP DATA: a dot doubled at the start of a line, then CRLF.CRLF."""
    out = [b"." + l if l.startswith(b".") else l
           for l in msg.split(b"\r\n")]
    return b"\r\n".join(out) + b".\r\n"


def crlf(data):
    return data.replace(b"\n", b"\r\n")


# ---- the daemon -----------------------------------------------------------

def hash_password(password=PASSWORD):
    return subprocess.run(["openssl", "passwd", "-6", password],
                          capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def start(make_daemon, tmp_path, pop="auth-insecure", extra="",
          rules="relay allow pop3-login within 1m\n", pki=False):
    """The daemon with an SMTP listener (d.port), a POP3 listener
    (d.pop, with the options in `pop`), the users ALICE, BOB and CAROL
    (all with PASSWORD) and Maildirs under d.mail.  `extra` may use
    {pop3s} for a second free port (d.pop3s) and {pki} for a pki named
    t (made when pki=True)."""
    d = make_daemon(start=False)
    d.pop = free_port()
    d.pop3s = free_port()
    d.mail = tmp_path / "mail"
    h = hash_password()
    users = tmp_path / "users"
    users.write_text("".join(f"{u}:{h}\n" for u in (ALICE, BOB, CAROL)))
    os.chmod(users, 0o600)
    pkis = ""
    if pki:
        cert, key = make_cert(tmp_path)
        pkis = f'pki t cert "{cert}" key "{key}"\n'
    d.write_config(
        f"hostname {HOST}\n"
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f"{pkis}"
        f"listen on 127.0.0.1 port {d.port}\n"
        f"listen on 127.0.0.1 port {d.pop} pop3 {pop}\n"
        f"{extra.format(pop3s=d.pop3s)}"
        f'table users file "{users}"\n'
        "authenticate <users>\n"
        f'accept for domain "example.com" deliver maildir '
        f'"{d.mail}/%{{domain}}/%{{user}}"\n'
        'accept for domain "relay.example"\n'
        "queue retry 1s\n"
        f"{rules}")
    if os.geteuid() == 0:
        # the mail user reaches nothing above its root but its chroot;
        # the parent needs the way down to it
        os.chmod(tmp_path, 0o755)
    return d.start()


def maildir(d, user="alice"):
    return d.mail / "example.com" / user


def files(box):
    """Every message file of a Maildir (new/ and cur/), sorted."""
    out = []
    for sub in ("new", "cur"):
        p = os.path.join(str(box), sub)
        if os.path.isdir(p):
            out += [os.path.join(p, n) for n in os.listdir(p)]
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def as_mail_user(path):
    """Run as root, what the test makes in a Maildir belongs to the mail
    user (the mailbox process runs as it)."""
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("_vmail")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def put_file(box, sub, name, data):
    """A message file written by another program (no ",W=" needed)."""
    parts = []
    for p in (box.parent.parent, box.parent, box, box / sub):
        if not p.exists():
            p.mkdir(mode=0o700)
            parts.append(p)
    for p in parts:
        as_mail_user(p)
    path = box / sub / name
    path.write_bytes(data)
    os.chmod(path, 0o600)
    as_mail_user(path)
    return str(path)


def deliver(d, msgs, rcpt=ALICE):
    """Send each message over SMTP and wait until it is in the Maildir
    (one at a time: the maildrop lists them in this order).  Returns
    the new files, in order."""
    box = maildir(d, rcpt.split("@")[0])
    got = []
    for msg in msgs:
        before = set(files(box))
        with Client(d.port) as c:
            c.greeting()
            c.ehlo()
            c.mail("<sender@client.test>", [f"<{rcpt}>"],
                   params="BODY=8BITMIME")
            queued_id(c.data(stuff(msg)))
            c.quit()
        assert wait_for(lambda: set(files(box)) - before, 15), \
            f"not delivered to {box}"
        new = set(files(box)) - before
        assert len(new) == 1, new
        got.append(new.pop())
    return got


def login(d, user=ALICE, password=PASSWORD):
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    p.user(user)
    p.pass_(password)
    return p


def err_of(call, *args):
    """The -ERR line that poplib raised for call(*args), as str."""
    with pytest.raises(poplib.error_proto) as e:
        call(*args)
    text = e.value.args[0]
    return text.decode() if isinstance(text, bytes) else text


def unverified():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """POP3 over a raw socket: exact bytes out, lines back with a
    deadline (smtpclient.Client's reader)."""

    def __init__(self, port, source=None):
        self.c = Client(port, source=source)
        self.greeting = self.line()
        assert self.greeting.startswith("+OK "), self.greeting

    def line(self):
        return self.c.line()

    def send(self, data):
        self.c.send(data)

    def cmd(self, text):
        self.c.send(text + b"\r\n" if isinstance(text, bytes)
                    else text + "\r\n")
        return self.line()

    def multi(self):
        """The lines of a multi-line answer up to the ".", unstuffed."""
        lines = []
        while True:
            line = self.line()
            if line == ".":
                return lines
            lines.append(line[1:] if line.startswith(".") else line)

    def login(self, user=ALICE, password=PASSWORD):
        assert self.cmd("USER " + user).startswith("+OK")
        r = self.cmd("PASS " + password)
        assert r.startswith("+OK "), r
        return r

    def closed(self):
        return self.c.closed()

    def close(self):
        self.c.close()


def rcpt(d, source, to="bob@far.example"):
    """The reply to RCPT TO:<to> in a fresh SMTP session from source."""
    with Client(d.port, source=source) as c:
        c.greeting()
        c.ehlo()
        c.expect(250, "MAIL FROM:<alice@example.com>")
        r = c.cmd(f"RCPT TO:<{to}>")
        c.quit()
        return r


def fetchmail(d, tmp_path, options, server=""):
    """Run fetchmail once against d.pop (a fresh fetchmailrc: `server`
    options on the poll line, user `options` after the user); each
    message goes to its own file out/msg.PID.  Returns (process,
    [message bytes, all fetched so far])."""
    exe = shutil.which("fetchmail")
    assert exe, "fetchmail is needed (make deps installs it)"
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        "set no bouncemail\n"
        # no Received: line of its own: the MDA gets what the server had
        "set invisible\n"
        f"poll 127.0.0.1 protocol pop3 port {d.pop} timeout 20 "
        f"{server}\n"
        f'  user "{ALICE}" there with password "{PASSWORD}"\n'
        f"  {options}\n"
        f"  mda \"/bin/sh -c 'cat > {out}/msg.$$'\"\n")
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    res = subprocess.run(
        [exe, "-f", str(rc), "--nodetach", "-d0", "-v",
         "--pidfile", str(tmp_path / "fetchmail.pid")],
        capture_output=True, text=True, env=env, timeout=60)
    msgs = [read(out / n) for n in sorted(os.listdir(out))]
    return res, msgs


def fetched_as_sent(msgs, want):
    """Every Maildir file arrived once, as it is (LF line ends: what an
    MDA gets)."""
    assert len(msgs) == len(want), msgs
    assert sorted(msgs) == sorted(want), (msgs, want)


# ---- reading mail back ----------------------------------------------------

def test_retr_is_the_maildir_file_with_crlf(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    sent = [MSG_8BIT, msg_big(), MSG_EMPTY, small(4)]
    paths = deliver(d, sent)
    want = [crlf(read(p)) for p in paths]
    assert len(want[1]) > 300 * 1024

    p = login(d)
    count, total = p.stat()
    assert (count, total) == (4, sum(len(w) for w in want))
    resp, listing, _ = p.list()
    assert resp.startswith(b"+OK 4 messages")
    assert listing == [b"%d %d" % (i + 1, len(w)) for i, w in
                       enumerate(want)]
    for i, (w, msg) in enumerate(zip(want, sent), 1):
        assert p.list(i) == b"+OK %d %d" % (i, len(w))
        resp, lines, octets = p.retr(i)
        assert resp == b"+OK %d octets" % len(w), (i, resp)
        got = b"\r\n".join(lines) + b"\r\n"
        assert got == w, (i, got[:300], w[:300])
        assert octets == len(w)
        # the two delivery lines, the front end's Received:, the message
        assert got.startswith(b"Return-Path: <sender@client.test>\r\n"
                              b"Delivered-To: alice@example.com\r\n"
                              b"Received: from "), got[:300]
        assert got.endswith(msg), (i, got[-300:])
    p.quit()
    # reading marks nothing: all still there
    assert files(maildir(d)) == sorted(paths)
    assert d.wait_log(r"pop3 event=retr address=127\.0\.0\.1 "
                      r'user="alice@example\.com" msg=2 ')


def test_uidl_unique_and_stable(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    deliver(d, [small(1), small(2), small(3)])
    p = login(d)
    resp, first, _ = p.uidl()
    assert resp.startswith(b"+OK")
    assert len(first) == 3
    ids = [l.split(b" ", 1) for l in first]
    assert [n for n, _ in ids] == [b"1", b"2", b"3"]
    uids = [u for _, u in ids]
    assert len(set(uids)) == 3, uids
    for u in uids:
        # RFC 1939 7: 1 to 70 characters 0x21-0x7e
        assert 1 <= len(u) <= 70 and all(0x21 <= c <= 0x7e for c in u), u
    assert p.uidl(2) == b"+OK 2 " + uids[1]
    p.quit()

    # another session, and one more message: the old ids are kept
    deliver(d, [small(4)])
    p = login(d)
    _, again, _ = p.uidl()
    assert again[:3] == first
    assert len(again) == 4 and again[3].split(b" ")[1] not in uids
    p.quit()


def test_top(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [MSG_8BIT, MSG_EMPTY])
    whole = crlf(read(paths[0]))
    head, body = whole.split(b"\r\n\r\n", 1)
    head_lines = head.split(b"\r\n")
    body_lines = body.split(b"\r\n")[:-1]
    assert len(body_lines) == 7
    p = login(d)
    for n in (0, 1, 3, 7, 100):
        resp, lines, _ = p.top(1, n)
        assert resp.startswith(b"+OK"), resp
        assert lines == head_lines + [b""] + body_lines[:n], (n, lines)
    # a message without a body: the header and the blank line
    empty = crlf(read(paths[1]))
    _, lines, _ = p.top(2, 0)
    assert b"\r\n".join(lines) + b"\r\n" == empty
    _, lines, _ = p.top(2, 5)
    assert b"\r\n".join(lines) + b"\r\n" == empty
    # TOP does not change what RETR gives
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == whole
    p.quit()


def test_empty_maildrop(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    assert p.getwelcome().startswith(b"+OK ")
    p.user(BOB)
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 0 messages")
    assert p.stat() == (0, 0)
    assert p.list()[1] == []
    assert p.uidl()[1] == []
    assert err_of(p.retr, 1).startswith("-ERR")
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    # looking made nothing
    assert not os.path.exists(maildir(d, "bob"))


# ---- DELE, RSET and the UPDATE state --------------------------------------

def test_dele_then_quit_removes(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2), small(3)])
    texts = [crlf(read(x)) for x in paths]
    p = login(d)
    _, uids, _ = p.uidl()
    assert p.dele(2).startswith(b"+OK")
    # the deleted message is gone for this session...
    for call in (p.retr, p.list, p.uidl, p.dele):
        assert err_of(call, 2).startswith("-ERR"), call
    assert err_of(p.top, 2, 0).startswith("-ERR")
    assert p.stat() == (2, len(texts[0]) + len(texts[2]))
    assert p.list()[1] == [b"1 %d" % len(texts[0]),
                           b"3 %d" % len(texts[2])]
    assert p.uidl()[1] == [uids[0], uids[2]]
    # ...and the others keep their numbers
    assert p.list(3) == b"+OK 3 %d" % len(texts[2])
    assert b"\r\n".join(p.retr(3)[1]) + b"\r\n" == texts[2]
    assert p.uidl(3) == b"+OK " + uids[2]
    # still on disk until QUIT
    assert files(maildir(d)) == sorted(paths)
    assert p.quit().startswith(b"+OK")
    assert files(maildir(d)) == sorted([paths[0], paths[2]])
    assert d.wait_log(r"pop3 event=update address=127\.0\.0\.1 "
                      r'user="alice@example\.com" removed=1 failed=0')

    p = login(d)
    assert p.stat() == (2, len(texts[0]) + len(texts[2]))
    assert p.uidl()[1] == [b"1 " + uids[0].split(b" ")[1],
                           b"2 " + uids[2].split(b" ")[1]]
    p.dele(1)
    p.dele(2)
    p.quit()
    assert files(maildir(d)) == []


def test_rset_undoes_dele(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2)])
    p = login(d)
    p.dele(1)
    p.dele(2)
    assert p.stat()[0] == 0
    assert p.rset().startswith(b"+OK Maildrop has 2 messages")
    assert p.stat()[0] == 2
    assert p.retr(1)[0].startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    assert files(maildir(d)) == sorted(paths)


def test_dele_without_quit_removes_nothing(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2)])
    p = login(d)
    p.dele(1)
    p.dele(2)
    p.close()                        # the connection drops: no QUIT
    assert d.wait_log(r"pop3 event=disconnect address=127\.0\.0\.1 "
                      r'user="alice@example\.com" reason="client closed"')
    assert files(maildir(d)) == sorted(paths)
    # and the maildrop is free again, whole
    p = login(d)
    assert p.stat()[0] == 2
    p.quit()
    assert files(maildir(d)) == sorted(paths)


# ---- the lock --------------------------------------------------------------

def test_second_session_is_in_use(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    deliver(d, [small(1)])
    first = login(d)
    second = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    second.user(ALICE)
    assert err_of(second.pass_, PASSWORD).startswith("-ERR [IN-USE]")
    # another maildrop is not locked
    other = login(d, BOB)
    assert other.stat() == (0, 0)
    other.quit()
    # the first session is undisturbed
    assert first.stat()[0] == 1
    assert first.quit().startswith(b"+OK")
    # the refused session may try again, now that the lock is free
    second.user(ALICE)
    assert second.pass_(PASSWORD).startswith(b"+OK Maildrop has 1 ")
    assert second.stat()[0] == 1
    second.quit()
    assert d.wait_log(r'pop3 event=maildrop address=127\.0\.0\.1 '
                      r'user="alice@example\.com" result=in-use')


# ---- logins ----------------------------------------------------------------

def test_login_failures(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    deliver(d, [small(1)])
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    # PASS without USER
    assert err_of(p.pass_, PASSWORD).startswith("-ERR")
    p.user(ALICE)
    wrong = err_of(p.pass_, "not the password")
    assert wrong.startswith("-ERR [AUTH] "), wrong
    # an unknown user is told the same thing
    p.user("mallory@example.com")
    assert err_of(p.pass_, PASSWORD) == wrong
    # PASS right after USER only
    p.user(ALICE)
    p.capa()
    assert err_of(p.pass_, PASSWORD).startswith("-ERR")
    # still in AUTHORIZATION
    assert err_of(p.stat).startswith("-ERR")
    # and a good login works in the same session
    p.user(ALICE)
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 1 ")
    p.quit()
    assert "not the password" not in d.log()
    assert d.wait_log(r'pop3 event=auth address=127\.0\.0\.1 '
                      r'user="alice@example\.com" result=failed')


def test_login_without_a_maildir_domain(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    p.user(CAROL)
    assert err_of(p.pass_, PASSWORD).startswith("-ERR [SYS/PERM]")
    # still in AUTHORIZATION
    assert err_of(p.stat).startswith("-ERR")
    p.quit()
    assert not os.path.exists(d.mail / "relay.example")


@pytest.mark.parametrize("pop", ["tls pki t", "tls-require pki t",
                                 "tls-require pki t auth-insecure"])
def test_stls_before_login(make_daemon, tmp_path, pop):
    d = start(make_daemon, tmp_path, pop=pop, pki=True)
    deliver(d, [MSG_8BIT])
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps, caps
    assert err_of(p.user, ALICE).startswith("-ERR [AUTH]")
    assert err_of(p.pass_, PASSWORD).startswith("-ERR")
    assert p.stls(unverified()).startswith(b"+OK")
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps, caps
    for cap in ("TOP", "UIDL", "PIPELINING", "RESP-CODES"):
        assert cap in caps, cap
    p.user(ALICE)
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 1 ")
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == \
        crlf(read(files(maildir(d))[0]))
    p.quit()
    assert d.wait_log(r"pop3 event=starttls address=127\.0\.0\.1 "
                      r"version=TLSv1\.[23]")
    assert PASSWORD not in d.log()


def test_stls_offered_with_auth_insecure(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path, pop="tls pki t auth-insecure",
              pki=True)
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    caps = p.capa()
    assert "STLS" in caps and "USER" in caps, caps
    p.user(ALICE)
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 0 ")
    p.quit()


def test_pop3s(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path, pki=True,
              extra="listen on 127.0.0.1 port {pop3s} pop3s pki t\n")
    deliver(d, [MSG_8BIT])
    p = poplib.POP3_SSL("127.0.0.1", d.pop3s, timeout=TIMEOUT,
                        context=unverified())
    assert p.getwelcome().startswith(b"+OK ")
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps, caps
    p.user(ALICE)
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 1 ")
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == \
        crlf(read(files(maildir(d))[0]))
    p.quit()


def test_stls_discards_what_came_before_the_handshake(make_daemon,
                                                      tmp_path):
    """A command sent in clear text behind STLS is not taken as one that
    came over TLS (RFC 2595 4; the STARTTLS injection of CVE-2011-0411)."""
    d = start(make_daemon, tmp_path, pop="tls pki t", pki=True)
    c = Raw(d.pop)
    c.send(f"STLS\r\nUSER {ALICE}\r\n".encode())
    assert c.line().startswith("+OK")
    c.c.start_tls()
    # the USER before the handshake counts for nothing
    assert c.cmd("PASS " + PASSWORD).startswith("-ERR")
    assert c.cmd("CAPA").startswith("+OK")
    assert "USER" in c.multi()
    c.login()
    assert c.cmd("STAT") == "+OK 0 0"
    assert c.cmd("QUIT").startswith("+OK")
    assert c.closed()


def test_maildir_of_another_program(make_daemon, tmp_path):
    """Files a mail reader or another MDA left: in cur/ with flags,
    without ",W=", with a name too long for a UIDL; and a message moved
    from new/ to cur/ keeps its unique id."""
    d = start(make_daemon, tmp_path)
    box = maildir(d)
    ours = deliver(d, [small(1)])[0]
    foreign = [
        put_file(box, "cur", "1700000000.M1P1.other:2,S",
                 b"Subject: seen\n\nread\n.\nbefore\n"),
        put_file(box, "cur", "1700000001.M2P2." + "h" * 80 + ":2,",
                 b"Subject: long name\n\n" + (b"x" * 1000 + b"\n") * 5),
    ]
    # older than our delivery: listed first
    os.utime(foreign[0], (1700000000, 1700000000))
    os.utime(foreign[1], (1700000001, 1700000001))
    order = foreign + [ours]
    want = [crlf(read(x)) for x in order]
    p = login(d)
    assert p.stat() == (3, sum(len(w) for w in want))
    for i, w in enumerate(want, 1):
        assert p.list(i) == b"+OK %d %d" % (i, len(w))
        assert b"\r\n".join(p.retr(i)[1]) + b"\r\n" == w
    _, uids, _ = p.uidl()
    uids = [u.split(b" ")[1] for u in uids]
    assert uids[0] == b"1700000000.M1P1.other"
    assert len(set(uids)) == 3 and all(1 <= len(u) <= 70 for u in uids)
    p.quit()
    # a mail reader moves our message to cur/ and marks it seen
    moved = os.path.join(str(box), "cur",
                         os.path.basename(ours) + ":2,S")
    os.rename(ours, moved)
    p = login(d)
    _, again, _ = p.uidl()
    assert [u.split(b" ")[1] for u in again] == uids
    assert p.list(3) == b"+OK 3 %d" % len(want[2])
    p.dele(1)
    p.dele(3)
    p.quit()
    assert files(box) == [foreign[1]]


def test_update_that_cannot_remove_says_so(make_daemon, tmp_path):
    """RFC 1939 6: QUIT answers -ERR when UPDATE could not remove the
    marked messages; what could not be removed is still there."""
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2)])
    new = maildir(d) / "new"
    p = login(d)
    p.dele(1)
    os.chmod(new, 0o500)
    try:
        assert err_of(p.quit).startswith("-ERR [SYS/TEMP]")
    finally:
        os.chmod(new, 0o700)
    assert files(maildir(d)) == sorted(paths)
    p = login(d)
    assert p.stat()[0] == 2
    p.quit()


def test_connection_dropped_during_retr(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    put_file(maildir(d), "new", "1700000000.M1P1.big",
             b"Subject: big\n\n" + (b"y" * 99 + b"\n") * 100000)
    c = Raw(d.pop)
    c.login()
    c.send("RETR 1\r\n")
    assert c.line().startswith("+OK ")
    c.close()
    assert d.wait_log(r"pop3 event=disconnect address=127\.0\.0\.1 "
                      r'user="alice@example\.com" reason=')
    p = login(d)
    assert p.stat()[0] == 1
    p.quit()


def test_mailbox_restart_during_retr(make_daemon, tmp_path):
    """The mailbox process dies while a message is on its way: the
    message still ends, then the session ends (its lock is gone) and
    nothing is removed; the restarted mailbox process is not crashed
    by what that session sends later."""
    d = start(make_daemon, tmp_path)
    big = b"Subject: big\n\n" + (b"z" * 99 + b"\n") * 60000
    put_file(maildir(d), "new", "1700000000.M1P1.big", big)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small window: the server cannot have sent it all yet
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", d.pop))
    f = sock.makefile("rb")
    assert f.readline().startswith(b"+OK")
    sock.sendall(f"USER {ALICE}\r\nPASS {PASSWORD}\r\nRETR 1\r\n".encode())
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK Maildrop has 1 ")
    assert f.readline() == b"+OK %d octets\r\n" % len(crlf(big))
    pid = d.worker_pid("mailbox")
    os.kill(pid, 9)
    assert wait_for(lambda: d.worker_pid("mailbox") != pid and
                    d.all_running(), 15)
    restarted = d.worker_pid("mailbox")
    got = b""
    while True:
        line = f.readline()
        assert line, "closed in the middle of the message"
        if line == b".\r\n":
            break
        got += line
    assert got == crlf(big)
    # what comes now may not reach the new mailbox process: the session
    # is told to log in again and closed
    try:
        sock.sendall(b"DELE 1\r\nQUIT\r\n")
    except OSError:
        pass
    rest = f.read()
    assert rest.startswith(b"-ERR [SYS/TEMP] ") and rest.count(b"\r\n") == 1, \
        rest
    sock.close()
    assert files(maildir(d)) != []
    p = login(d)
    assert p.stat()[0] == 1
    p.quit()
    assert d.worker_pid("mailbox") == restarted
    assert "fatal" not in d.log().split("parent: mailbox (pid %d)" % pid)[-1]


# ---- protocol errors --------------------------------------------------------

def test_errors_before_login(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    c = Raw(d.pop)
    assert c.cmd("XYZZY").startswith("-ERR")
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET"):
        assert c.cmd(cmd).startswith("-ERR"), cmd
    # still served
    assert c.cmd("CAPA").startswith("+OK")
    assert "USER" in c.multi()
    assert c.cmd("QUIT").startswith("+OK")
    assert c.closed()


@pytest.mark.parametrize("cmd", [
    "RETR 0", "RETR 3", "RETR 4294967296", "RETR abc", "RETR -1",
    "RETR", "RETR 1 2", "LIST 0", "LIST 99", "LIST x", "UIDL -1",
    "DELE 0", "DELE 3", "DELE one", "TOP 1", "TOP 1 -1", "TOP 0 1",
    "TOP 9 1", "TOP x 1", "STAT 1", "NOOP x",
])
def test_bad_arguments(make_daemon, tmp_path, cmd):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2)])
    c = Raw(d.pop)
    c.login()
    r = c.cmd(cmd)
    assert r.startswith("-ERR "), (cmd, r)
    # nothing changed, the session goes on
    assert c.cmd("STAT").startswith("+OK 2 ")
    assert c.cmd("QUIT").startswith("+OK")
    assert files(maildir(d)) == sorted(paths)


def test_long_line_and_nul(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    deliver(d, [small(1)])
    c = Raw(d.pop)
    c.login()
    # RFC 2449 4: at most 255 octets with CRLF
    assert c.cmd("NOOP" + " " * 251).startswith("-ERR")
    assert c.cmd("LIST " + "1" * 300).startswith("-ERR")
    assert c.cmd(b"NO\0OP").startswith("-ERR")
    assert c.cmd(b"STAT\0").startswith("-ERR")
    assert c.cmd("NOOP").startswith("+OK")
    assert c.cmd("STAT").startswith("+OK 1 ")
    c.close()
    # 255 octets with CRLF are a line, 256 are not
    c = Raw(d.pop)
    assert c.cmd("USER " + "u" * 248).startswith("+OK")
    assert c.cmd("USER " + "u" * 249).startswith("-ERR")
    assert c.cmd("CAPA").startswith("+OK")
    c.multi()
    c.close()
    # a line that never ends closes the session
    c = Raw(d.pop)
    c.send(b"X" * 64 * 1024)
    assert c.line().startswith("-ERR")
    assert c.closed()


def test_ten_errors_close_the_session(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    c = Raw(d.pop)
    for i in range(9):
        assert c.cmd(f"BOGUS{i}").startswith("-ERR")
    assert c.cmd("CAPA").startswith("+OK")
    c.multi()
    assert c.cmd("BOGUS9").startswith("-ERR")
    assert c.line().startswith("-ERR")
    assert c.closed()
    assert d.wait_log(r'pop3 event=close address=127\.0\.0\.1 '
                      r'reason="too many errors"')
    # the same after a login, and the maildrop is released
    deliver(d, [small(1)])
    c = Raw(d.pop)
    c.login()
    assert c.cmd("DELE 1").startswith("+OK")
    for i in range(9):
        assert c.cmd("RETR 99").startswith("-ERR")
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("RETR 99").startswith("-ERR")
    assert c.line().startswith("-ERR")
    assert c.closed()
    assert len(files(maildir(d))) == 1
    p = login(d)
    assert p.stat()[0] == 1
    p.quit()


def test_pipelined_commands(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [small(1), small(2)])
    texts = [crlf(read(x)) for x in paths]
    c = Raw(d.pop)
    c.send(f"CAPA\r\nUSER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\n"
           "LIST\r\nRETR 2\r\nBOGUS\r\nTOP 1 0\r\nDELE 1\r\nLIST 1\r\n"
           "UIDL 2\r\nNOOP\r\nQUIT\r\n".encode())
    assert c.line().startswith("+OK")
    assert "PIPELINING" in c.multi()
    assert c.line().startswith("+OK")
    assert c.line().startswith("+OK Maildrop has 2 messages")
    assert c.line() == "+OK 2 %d" % (len(texts[0]) + len(texts[1]))
    assert c.line().startswith("+OK")
    assert c.multi() == ["1 %d" % len(texts[0]), "2 %d" % len(texts[1])]
    assert c.line() == "+OK %d octets" % len(texts[1])
    got = "\r\n".join(c.multi()) + "\r\n"
    assert got.encode() == texts[1]
    assert c.line().startswith("-ERR")
    assert c.line().startswith("+OK")
    assert "\r\n".join(c.multi()).encode() == \
        texts[0].split(b"\r\n\r\n")[0] + b"\r\n"
    assert c.line().startswith("+OK")
    assert c.line().startswith("-ERR")
    assert c.line().startswith("+OK 2 ")
    assert c.line() == "+OK"
    assert c.line().startswith("+OK")
    assert c.closed()
    assert files(maildir(d)) == [paths[1]]


# ---- relay after a POP3 login -----------------------------------------------

def test_pop3_login_lets_the_address_relay(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    r = rcpt(d, "127.0.0.1")
    assert r.code == 554 and r.enhanced == "5.7.1", r
    # a failed login is not a login
    p = poplib.POP3("127.0.0.1", d.pop, timeout=TIMEOUT)
    p.user(ALICE)
    err_of(p.pass_, "wrong")
    p.quit()
    assert rcpt(d, "127.0.0.1").code == 554
    assert json.loads(d.ctl("show", "pop3-logins", json_out=True,
                            check=True).stdout)["pop3_logins"] == []

    p = login(d)
    p.quit()
    r = rcpt(d, "127.0.0.1")
    assert r.code == 250, r
    r = rcpt(d, "127.0.0.2")
    assert r.code == 554 and r.enhanced == "5.7.1", r
    assert "Relay access denied" in r.text
    assert d.wait_log(r'auth event=pop3-login client=127\.0\.0\.1 '
                      r'user="alice@example\.com" source=pop3')
    got = json.loads(d.ctl("show", "pop3-logins", json_out=True,
                           check=True).stdout)["pop3_logins"]
    assert [(e["address"], e["user"]) for e in got] == \
        [("127.0.0.1", ALICE)]
    text = d.ctl("show", "pop3-logins", check=True).stdout
    assert any(line.split()[:2] == ["127.0.0.1", ALICE]
               for line in text.splitlines()[1:]), text


# ---- a real client: fetchmail ---------------------------------------------



def test_fetchmail_fetches_and_deletes(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    paths = deliver(d, [MSG_8BIT, small(2), MSG_EMPTY, msg_big(200)])
    want = [read(p) for p in paths]
    # auth-insecure and no TLS: fetchmail must not try STLS
    opts = "no rewrite sslproto ''"
    res, msgs = fetchmail(d, tmp_path, opts)
    assert res.returncode == 0, res.stdout + res.stderr
    fetched_as_sent(msgs, want)
    assert files(maildir(d)) == []
    # nothing left: fetchmail says so (exit 1)
    res, msgs = fetchmail(d, tmp_path, opts)
    assert res.returncode == 1, res.stdout + res.stderr
    assert len(msgs) == 4


def test_fetchmail_stls_keep(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path, pop="tls pki t", pki=True)
    paths = deliver(d, [MSG_8BIT, small(2)])
    want = [read(p) for p in paths]
    opts = "no rewrite keep sslproto tls1.2+ no sslcertck"
    res, msgs = fetchmail(d, tmp_path, opts, server="uidl")
    assert res.returncode == 0, res.stdout + res.stderr
    fetched_as_sent(msgs, want)
    assert files(maildir(d)) == sorted(paths)
    assert d.wait_log(r"pop3 event=starttls")
    # kept, and known by UIDL: a second run fetches nothing
    res, msgs2 = fetchmail(d, tmp_path, opts, server="uidl")
    assert res.returncode == 1, res.stdout + res.stderr
    assert len(msgs2) == 2
    assert files(maildir(d)) == sorted(paths)
