"""SMTP reception over TLS, black-box: STARTTLS (RFC 3207), tls-require
and implicit TLS (smtps, RFC 8314) with a certificate made at test time.
"""

import re
import socket

import pytest

from conftest import free_port, wait_for
from smtpclient import (Client, make_cert, queued_id, spool_envelopes,
                        spool_message, split_received)
from test_smtp import HOST, LOCAL, MSG, assert_nothing_stored, body_of


@pytest.fixture
def make_daemon(make_daemon):
    """Reception tests: every message stays in the spool to be looked
    at (its relay is down and the next try is an hour away)."""
    def factory(*args, **kw):
        kw.setdefault("hold", True)
        return make_daemon(*args, **kw)
    return factory


def tls_config(d, cert, key, mode="tls", extra_listen=""):
    return (
        f"hostname {HOST}\n"
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f'pki t cert "{cert}" key "{key}"\n'
        f"listen on 127.0.0.1 port {d.port} {mode} pki t\n"
        f"{extra_listen}"
        "table loopback { 127.0.0.0/8, ::1 }\n"
        f'accept for domain "{LOCAL}"\n'
        "relay allow from <loopback>\n"
    )


def start_tls_daemon(make_daemon, tmp_path, mode="tls", extra_listen=""):
    cert, key = make_cert(tmp_path)
    d = make_daemon(start=False)
    d.write_config(tls_config(d, cert, key, mode, extra_listen))
    return d.start()


@pytest.fixture
def tlsd(make_daemon, tmp_path):
    return start_tls_daemon(make_daemon, tmp_path)


def keywords(reply):
    return {t.split()[0].upper() for t in reply.texts[1:]}


def starttls(c):
    r = c.cmd("STARTTLS")
    assert r.code == 220 and r.enhanced == "2.0.0", r
    c.start_tls()
    assert c.tls in ("TLSv1.2", "TLSv1.3"), c.tls


def test_starttls_then_a_message(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        r = c.ehlo()
        assert "STARTTLS" in keywords(r), r
        starttls(c)
        r = c.ehlo()
        assert "STARTTLS" not in keywords(r), r
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "CHUNKING", "DSN"):
            assert ext in keywords(r), (ext, r)
        c.mail("<sender@client.test>", ["<rcpt@local.test>"])
        mid = queued_id(c.data(MSG + b"..over tls\r\n.\r\n"))
        stored = spool_message(tlsd.spool, mid)
        head, rest = split_received(stored)
        assert rest == MSG + b".over tls\r\n"
        assert re.search(rb"using TLSv1\.[23] with cipher \S+", head), head
        assert c.tls.encode() in head, (c.tls, head)
        assert b" with ESMTPS id " in head, head
        evps, text = spool_envelopes(tlsd.spool, mid)
        assert int(evps[0]["flags"]) & 0x0004, text     # EF_TLS
        c.expect(221, "QUIT")
        assert c.closed()
    assert tlsd.wait_log(r"event=starttls address=127\.0\.0\.1 version=TLSv1")


def test_starttls_bdat_and_pipelining(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        starttls(c)
        c.send(b"EHLO client.test\r\nMAIL FROM:<s@client.test>\r\n"
               b"RCPT TO:<r@local.test>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG)
        assert c.reply().code == 250
        assert c.reply().code == 250
        assert c.reply().code == 250
        mid = queued_id(c.reply())
        assert body_of(tlsd, mid) == MSG


def test_starttls_not_offered_on_a_plain_listener(make_daemon):
    d = make_daemon()
    with Client(d.port) as c:
        c.greeting()
        r = c.ehlo()
        assert "STARTTLS" not in keywords(r), r
        r = c.cmd("STARTTLS")
        assert r.code in (454, 502), r
        # still plain text, still working
        c.expect(250, "NOOP")


def test_starttls_twice(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        starttls(c)
        c.ehlo()
        r = c.cmd("STARTTLS")
        assert r.code in (503, 554) and r.enhanced.startswith("5."), r
        c.expect(250, "NOOP")


def test_starttls_with_an_argument(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        c.expect(501, "STARTTLS now", "5.5.4")
        c.expect(250, "NOOP")


def test_starttls_command_injection(tlsd):
    """Plain text pipelined after STARTTLS is not taken as if it came
    over TLS (CVE-2011-0411 and its many siblings)."""
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        c.send(b"STARTTLS\r\nNOOP\r\nMAIL FROM:<injected@client.test>\r\n")
        r = c.reply()
        assert r.code == 220, r
        # no plain-text answer to the NOOP
        assert c.nothing_pending(0.5), \
            "answered after STARTTLS in plain text: %r" % c.buf
        c.start_tls()
        # the first thing over TLS answers our EHLO, not the NOOP
        c.send(b"EHLO client.test\r\n")
        r = c.reply()
        assert r.code == 250 and r.lines[0].startswith(f"250-{HOST}"), r
        assert c.nothing_pending(0.5), c.buf
        # the injected MAIL was not taken either
        c.expect(250, "MAIL FROM:<sender@client.test>", "2.1.0")


def test_starttls_resets_the_session(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        c.expect(250, "MAIL FROM:<before@client.test>")
        c.expect(250, "RCPT TO:<before@local.test>")
        starttls(c)
        # what was learned before TLS is forgotten: EHLO is needed again
        r = c.cmd("MAIL FROM:<after@client.test>")
        assert r.code == 503 and r.enhanced == "5.5.1", r
        c.ehlo()
        c.expect(503, "DATA")
        c.expect(503, "RCPT TO:<rcpt@local.test>")
        c.mail("<after@client.test>", ["<after@local.test>"])
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(tlsd.spool, mid)
        assert [(e["sender"], e["rcpt"]) for e in evps] == \
            [("after@client.test", "after@local.test")], text


def test_tls_handshake_failure_leaves_the_daemon_up(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        c.expect(220, "STARTTLS")
        c.send(b"this is not a TLS client hello\r\n" * 4)
        assert c.closed(), "the server kept a broken TLS session open"
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        c.expect(220, "STARTTLS")
        # and a client that goes away in the handshake
    assert wait_for(lambda: len(re.findall(r"event=disconnect",
                                           tlsd.log())) >= 2, 10), tlsd.log()
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        starttls(c)
        c.ehlo()
        c.mail()
        queued_id(c.data(MSG + b".\r\n"))


def test_smuggling_over_tls_is_refused(tlsd):
    with Client(tlsd.port) as c:
        c.greeting()
        c.ehlo()
        starttls(c)
        c.ehlo()
        c.mail()
        c.expect(354, "DATA")
        c.send(MSG + b"x\n.\nMAIL FROM:<a@local.test>\r\n.\r\n")
        r = c.reply()
        assert r.code == 550 and r.enhanced == "5.6.2", r
        c.expect(250, "NOOP")
    assert_nothing_stored(tlsd)


def test_tls_require(make_daemon, tmp_path):
    d = start_tls_daemon(make_daemon, tmp_path, mode="tls-require")
    with Client(d.port) as c:
        c.greeting()
        r = c.ehlo()
        assert "STARTTLS" in keywords(r), r
        c.expect(530, "MAIL FROM:<sender@client.test>", "5.7.0")
        c.expect(530, "RCPT TO:<rcpt@local.test>", "5.7.0")
        # a refused BDAT's chunk is still read (RFC 3030 2): "QUIT\r\n"
        # here is data, and must not close the session with a 221
        r = c.cmd("BDAT 6 LAST\r\nQUIT")
        assert r.code in (503, 530), r
        c.expect(250, "NOOP")
        starttls(c)
        c.ehlo()
        c.mail()
        mid = queued_id(c.data(MSG + b".\r\n"))
        assert body_of(d, mid) == MSG


def test_tls_require_data_before_starttls(make_daemon, tmp_path):
    d = start_tls_daemon(make_daemon, tmp_path, mode="tls-require")
    with Client(d.port) as c:
        c.greeting()
        c.ehlo()
        r = c.cmd("DATA")
        assert r.code in (503, 530), r
        c.expect(250, "NOOP")
    assert_nothing_stored(d)


def test_smtps_implicit_tls(make_daemon, tmp_path):
    cert, key = make_cert(tmp_path)
    d = make_daemon(start=False)
    plain = free_port()
    # the fixture's readiness check speaks plain text to d.port: keep
    # d.port plain and put smtps on another port
    d.write_config(
        f"hostname {HOST}\n"
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f'pki t cert "{cert}" key "{key}"\n'
        f"listen on 127.0.0.1 port {d.port}\n"
        f"listen on 127.0.0.1 port {plain} smtps pki t\n"
        "table loopback { 127.0.0.0/8, ::1 }\n"
        f'accept for domain "{LOCAL}"\n'
        "relay allow from <loopback>\n")
    d.start()
    smtps = plain
    with Client(smtps, tls=True) as c:
        assert c.tls in ("TLSv1.2", "TLSv1.3"), c.tls
        r = c.greeting()
        assert r.lines[0].startswith(f"220 {HOST} "), r
        r = c.ehlo()
        assert "STARTTLS" not in keywords(r), r
        r = c.cmd("STARTTLS")
        assert r.code >= 500, r
        c.mail()
        mid = queued_id(c.data(MSG + b".\r\n"))
        head, rest = split_received(spool_message(d.spool, mid))
        assert rest == MSG
        assert re.search(rb"using TLSv1\.[23]", head), head
        c.expect(221, "QUIT")
    # a plain-text client on the smtps port gets no greeting in clear
    s = socket.create_connection(("127.0.0.1", smtps), 5)
    try:
        s.settimeout(1.5)
        try:
            data = s.recv(100)
        except socket.timeout:
            data = b""
        assert not data.startswith(b"220"), data
        s.sendall(b"EHLO client.test\r\n")
    finally:
        s.close()
    with Client(smtps, tls=True) as c:
        c.greeting()
        c.ehlo()
