"""Maildir delivery: `accept for domain ... deliver maildir "TEMPLATE"`.

Mail comes in over SMTP, the queue hands it to the mailbox process, and
the message lands in new/ of the recipient's Maildir (tmp/new rename
protocol): "Return-Path:" and "Delivered-To:" first, then the message
with LF line ends.  Unsafe local parts are refused for good (bounced)
and nothing is written outside the mail root; a Maildir that cannot be
made is a temporary failure, retried.  As root the files belong to the
mail user, mode 0600.
"""

import os
import re
import stat

from conftest import wait_for
from smtpclient import Client, queued_id

HOST = "mx.test"
NAME_RE = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.([^/]+),S=(\d+),W=(\d+)$")

MSG = (b"From: Sender <sender@client.test>\r\n"
       b"To: Alice <alice@example.com>\r\n"
       b"Subject: maildir\r\n"
       b"\r\n"
       b"Hello.\r\n"
       b"..leading dot\r\n"
       b"8-bit: \xc3\xa9t\xc3\xa9\r\n"
       b"last line\r\n")


def mail_daemon(make_daemon, tmp_path, extra=""):
    d = make_daemon(start=False)
    mail = tmp_path / "mail"
    d.write_config(
        f"hostname {HOST}\n" + d.base_config() +
        "queue retry 1s\n" + extra +
        f'accept for domain "example.com" deliver maildir '
        f'"{mail}/%{{domain}}/%{{user}}"\n'
        "table boxes { \"example.net\", \"Example.ORG\" }\n"
        f'accept for domain <boxes> deliver maildir '
        f'"{mail}/%{{domain}}/%{{user}}/Maildir"\n')
    if os.geteuid() == 0:
        # the mail user reaches nothing above its root but its chroot;
        # the parent needs the way down to it
        os.chmod(tmp_path, 0o755)
    d.start()
    d.mail = mail
    return d


def send(d, rcpts, data=MSG, sender="<sender@client.test>"):
    with Client(d.port) as c:
        c.greeting()
        c.ehlo()
        c.mail(sender, rcpts, params="BODY=8BITMIME")
        mid = queued_id(c.data(data + b".\r\n"))
        c.quit()
    return mid


def mail_dir(path):
    """A folder under the mail root, the mail user's as the daemon's."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("_vmail")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def new_files(maildir):
    new = os.path.join(str(maildir), "new")
    if not os.path.isdir(new):
        return []
    return sorted(os.path.join(new, n) for n in os.listdir(new))


def wait_files(maildir, n=1, timeout=15):
    assert wait_for(lambda: len(new_files(maildir)) >= n, timeout), \
        f"{maildir}: {new_files(maildir)}"
    return new_files(maildir)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def spooled(d, mid):
    """The message as the queue has it: Received: line and data, CRLF."""
    for root, _dirs, files in os.walk(os.path.join(d.spool, "queue")):
        if os.path.basename(root) == mid and "message" in files:
            with open(os.path.join(root, "message"), "rb") as f:
                return f.read()
    return None


def check_file(d, path, rcpt, sender="sender@client.test", body=MSG):
    with open(path, "rb") as f:
        got = f.read()
    head = (f"Return-Path: <{sender}>\nDelivered-To: {rcpt}\n").encode()
    assert got.startswith(head), got[:200]
    rest = got[len(head):]
    # the front end's Received: line, then the message as sent
    assert rest.startswith(b"Received: from "), rest[:200]
    assert rest.endswith(lf(body.replace(b"\r\n..", b"\r\n."))), rest
    assert b"\r\n" not in got, "CRLF in a Maildir file"
    name = os.path.basename(path)
    m = NAME_RE.match(name)
    assert m, name
    assert m.group(5) == HOST, name
    # ,S= is the file's size, ,W= its size with CRLF line ends
    assert int(m.group(6)) == len(got), (name, len(got))
    assert int(m.group(7)) == len(got) + got.count(b"\n"), name
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    if os.geteuid() == 0:
        import pwd
        assert st.st_uid == pwd.getpwnam("_vmail").pw_uid, st.st_uid
        maildir = os.path.dirname(os.path.dirname(path))
        assert os.stat(maildir).st_uid == st.st_uid
    return got


def test_delivered_to_new_byte_for_byte(make_daemon, tmp_path):
    d = mail_daemon(make_daemon, tmp_path)
    mid = send(d, ["<alice@example.com>"])
    box = d.mail / "example.com" / "alice"
    files = wait_files(box)
    assert len(files) == 1, files
    got = check_file(d, files[0], "alice@example.com")
    # exactly the spooled message, CRLF made LF, after the two lines
    head = b"Return-Path: <sender@client.test>\nDelivered-To: " \
        b"alice@example.com\n"
    assert d.wait_log(rf"{mid} mailbox event=delivery "
                      r"rcpt=<alice@example\.com> maildir=\S+/example\.com/"
                      r"alice result=ok")
    for sub in ("tmp", "new", "cur"):
        p = box / sub
        assert p.is_dir(), p
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o700
    assert os.listdir(box / "tmp") == [], "tmp/ not empty"
    assert d.wait_log(rf"{mid} queue event=delivered "
                      r"to=<alice@example\.com>")
    # the queue has forgotten it
    assert wait_for(lambda: spooled(d, mid) is None, 10)
    assert got.startswith(head)


def test_byte_for_byte_against_the_spool(make_daemon, tmp_path):
    """The file is the spooled message with LF line ends, after the two
    header lines: held in the queue first (a Maildir that cannot be made
    yet) to read the spool copy."""
    d = mail_daemon(make_daemon, tmp_path)
    mail_dir(d.mail / "example.com")
    blocker = d.mail / "example.com" / "bob"
    blocker.write_bytes(b"not a folder")
    mid = send(d, ["<bob@example.com>"])
    assert d.wait_log(rf"{mid} mailbox event=delivery rcpt=<bob@example\.com>"
                      r" maildir=\S+ result=tempfail")
    spool = spooled(d, mid)
    assert spool is not None and spool.startswith(b"Received: ")
    blocker.unlink()
    files = wait_files(d.mail / "example.com" / "bob")
    with open(files[0], "rb") as f:
        got = f.read()
    assert got == (b"Return-Path: <sender@client.test>\n"
                   b"Delivered-To: bob@example.com\n" + lf(spool)), got


def test_several_recipients_and_names(make_daemon, tmp_path):
    d = mail_daemon(make_daemon, tmp_path)
    rcpts = ["<alice@example.com>", "<Carol.Smith+tag@EXAMPLE.com>",
             "<dave@example.net>", "<erin@example.org>"]
    mid = send(d, rcpts)
    want = {
        d.mail / "example.com" / "alice": "alice@example.com",
        # %{user} is lower-cased; dots and plus are kept
        d.mail / "example.com" / "carol.smith+tag":
            "Carol.Smith+tag@example.com",
        d.mail / "example.net" / "dave" / "Maildir": "dave@example.net",
        d.mail / "example.org" / "erin" / "Maildir": "erin@example.org",
    }
    for box, rcpt in want.items():
        files = wait_files(box)
        assert len(files) == 1, (box, files)
        check_file(d, files[0], rcpt)
    names = {os.path.basename(new_files(b)[0]) for b in want}
    assert len(names) == len(want), "names are not unique"
    assert d.wait_log(rf"{mid} queue event=delivered to=<erin@example\.org>")


def test_unsafe_local_parts_are_bounced_never_written(make_daemon,
                                                      tmp_path):
    d = mail_daemon(make_daemon, tmp_path)
    # the sender is local too: its bounce lands in its own Maildir
    mid = send(d, ['<"../x"@example.com>', '<".hidden"@example.com>',
                   '<"a/b"@example.com>', "<ok@example.com>"],
               sender="<owner@example.com>")
    wait_files(d.mail / "example.com" / "ok")
    for rcpt in (r'"\.\./x"@example\.com', r'"\.hidden"@example\.com',
                 r'a/b@example\.com'):
        assert d.wait_log(rf"{mid} mailbox event=delivery rcpt=<{rcpt}> "
                          r"maildir=- result=permfail reason=\"550 5\.1\.1 ")
    bounces = wait_files(d.mail / "example.com" / "owner")
    assert len(bounces) == 1, bounces
    with open(bounces[0], "rb") as f:
        dsn = f.read()
    assert dsn.startswith(b"Return-Path: <>\nDelivered-To: "
                          b"owner@example.com\n"), dsn[:200]
    assert b"Action: failed" in dsn and b"Status: 5.1.1" in dsn, dsn
    assert dsn.count(b"Action: failed") == 3, dsn
    # nothing anywhere but the two Maildirs
    assert set(os.listdir(tmp_path)) <= {"spool", "mail", "smtpd.conf",
                                         "smtpd.sock", "smtpd.log"}, \
        os.listdir(tmp_path)
    assert os.listdir(d.mail) == ["example.com"], os.listdir(d.mail)
    names = sorted(os.listdir(d.mail / "example.com"))
    assert names == ["ok", "owner"], names


def test_maildir_that_cannot_be_made_is_retried(make_daemon, tmp_path):
    d = mail_daemon(make_daemon, tmp_path)
    mail_dir(d.mail / "example.com")
    blocker = d.mail / "example.com" / "frank"
    blocker.write_bytes(b"a file where the Maildir should be")
    mid = send(d, ["<frank@example.com>"])
    assert d.wait_log(rf"{mid} mailbox event=delivery rcpt=<frank@example\.com>"
                      r" maildir=\S+/example\.com/frank result=tempfail "
                      r"reason=\"451 4\.3\.0 ")
    assert d.wait_log(rf"{mid} queue event=tempfail to=<frank@example\.com> "
                      r"attempts=1")
    # retried, and still failing while the file is there
    assert d.wait_log(rf"{mid} queue event=tempfail to=<frank@example\.com> "
                      r"attempts=2", timeout=15)
    assert blocker.read_bytes() == b"a file where the Maildir should be"
    blocker.unlink()
    files = wait_files(blocker, timeout=20)
    check_file(d, files[0], "frank@example.com")
    assert d.wait_log(rf"{mid} queue event=delivered to=<frank@example\.com>")


def test_mailbox_death_returns_the_envelopes(make_daemon, tmp_path):
    """The mailbox process killed: the parent restarts it, the queue
    sends again what it had in flight, nothing is lost."""
    d = mail_daemon(make_daemon, tmp_path)
    pid = d.worker_pid("mailbox")
    os.kill(pid, 9)
    mid = send(d, ["<gina@example.com>"])
    files = wait_files(d.mail / "example.com" / "gina", timeout=30)
    assert len(files) == 1, files
    assert d.wait_log(rf"{mid} queue event=delivered to=<gina@example\.com>")
    assert d.worker_pid("mailbox") != pid
