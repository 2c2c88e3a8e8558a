"""SMTP reception, black-box: the real daemon on loopback, a raw client.

What a client sees (reply codes, enhanced codes, closes) and what lands in
the spool (SPOOL/queue/XX/MSGID/{message,envelopes}): the Received: line
first, then the data exactly, CRLF line ends, dot-stuffing undone.
DESIGN.md sections 4-5, issue 3 items 1, 2 and 6.

Outside clients: the config's relay table is 127.0.0.1/32 and the client
binds to 127.0.0.2.
"""

import json
import os
import re
import socket
import struct
import threading
import time

import pytest

from conftest import tcp_nodelay_of, wait_for
from smtpclient import (Client, Closed, queued_id, spool_envelopes,
                        spool_message, spool_messages, split_received)


@pytest.fixture
def make_daemon(make_daemon):
    """Reception tests: every message stays in the spool to be looked
    at (its relay is down and the next try is an hour away)."""
    def factory(*args, **kw):
        kw.setdefault("hold", True)
        return make_daemon(*args, **kw)
    return factory


HOST = "mx.test.example"
LOCAL = "local.test"
OUTSIDE = "127.0.0.2"
# SO_LINGER on, 0 seconds: close() sends a RST
RESET = struct.pack("ii", 1, 0)


def config(d, extra="", relay="<loopback>"):
    """hostname, spool, socket, a loopback listener, an accepted domain
    and relaying for `relay`."""
    return (
        f"hostname {HOST}\n"
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f"listen on 127.0.0.1 port {d.port}\n"
        "table loopback { 127.0.0.0/8, ::1 }\n"
        "table inside { 127.0.0.1/32 }\n"
        f"{extra}"
        f'accept for domain "{LOCAL}"\n'
        f"relay allow from {relay}\n"
    )


@pytest.fixture
def mta(make_daemon):
    """The daemon: local.test accepted, relaying for all of 127/8."""
    d = make_daemon(start=False)
    d.write_config(config(d))
    return d.start()


@pytest.fixture
def edge(make_daemon):
    """The daemon: local.test accepted, relaying only for 127.0.0.1."""
    d = make_daemon(start=False)
    d.write_config(config(d, relay="<inside>"))
    return d.start()


def start_with(make_daemon, extra="", relay="<loopback>"):
    d = make_daemon(start=False)
    d.write_config(config(d, extra=extra, relay=relay))
    return d.start()


def session(d, source=None, ehlo=True):
    c = Client(d.port, source=source)
    c.greeting()
    if ehlo:
        c.ehlo()
    return c


def open_folders(d):
    """The folders in free/ that are neither in the queue's pool nor
    trash: those of messages still being received."""
    st = json.loads(d.ctl("show", "stats", json_out=True,
                          check=True).stdout)
    return (len(os.listdir(os.path.join(d.spool, "free"))) -
            st["store.free"] - st["store.trash"])


def no_open_folders(d):
    return open_folders(d) == 0


def assert_nothing_stored(d):
    assert spool_messages(d.spool) == {}, "a refused message was stored"
    # what the queue handed out for it is given back
    assert wait_for(lambda: no_open_folders(d), 10), open_folders(d)


def body_of(d, msgid):
    head, rest = split_received(spool_message(d.spool, msgid))
    return rest


MSG = (b"From: Sender <sender@client.test>\r\n"
       b"To: Rcpt <rcpt@local.test>\r\n"
       b"Subject: test\r\n"
       b"\r\n"
       b"Hello.\r\n")


def send_message(c, rcpts=("<rcpt@local.test>",), data=MSG,
                 sender="<sender@client.test>"):
    """One DATA transaction; returns the queued id."""
    c.mail(sender, rcpts)
    return queued_id(c.data(data + b".\r\n"))


# ---- greeting and simple commands --------------------------------------

def test_replies_are_not_held_back_by_nagle(daemon):
    """The front end turns Nagle's algorithm off on every session: with
    it on, a reply written after another of the same pipelined batch
    (the 354 after MAIL's and RCPT's 250, once the RCPT was decided)
    waited for the client's delayed ACK, 40 ms a message on Linux."""
    with socket.create_connection(("127.0.0.1", daemon.port),
                                  timeout=10) as c:
        assert c.recv(512).startswith(b"220 ")
        me = c.getsockname()[1]
        assert tcp_nodelay_of(daemon.worker_pid("smtp"), me) == 1


def test_greeting_names_the_configured_host(mta):
    with Client(mta.port) as c:
        r = c.reply()
        assert r.code == 220
        assert r.lines[0].startswith(f"220 {HOST} "), r
        assert "ESMTP" in r.text


def test_ehlo_lists_the_extensions(mta):
    with session(mta, ehlo=False) as c:
        r = c.cmd("EHLO client.test")
        assert r.code == 250
        assert r.lines[0].startswith(f"250-{HOST}"), r
        keywords = {t.split()[0].upper() for t in r.texts[1:]}
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "CHUNKING", "DSN"):
            assert ext in keywords, (ext, r)
        # no TLS on this listener: STARTTLS is not offered
        assert "STARTTLS" not in keywords, r
        # AUTH is not offered without an authenticate table
        assert "AUTH" not in keywords, r
        size = [t for t in r.texts if t.upper().startswith("SIZE")][0]
        # the default limit, 35M
        assert size.split()[1:] == [str(35 * 1024 * 1024)], size


def test_ehlo_size_shows_the_configured_limit(make_daemon):
    d = start_with(make_daemon, "limit message-size 1K\n")
    with session(d, ehlo=False) as c:
        r = c.cmd("EHLO client.test")
        assert "SIZE 1024" in r.texts, r


def test_helo(mta):
    with session(mta, ehlo=False) as c:
        r = c.cmd("HELO client.test")
        assert r.code == 250 and len(r.lines) == 1, r
        assert r.lines[0].startswith(f"250 {HOST}"), r
        # a transaction works after HELO
        mid = send_message(c)
        stored = spool_message(mta.spool, mid)
        assert b" with SMTP id " in stored.split(b"\r\n\r\n")[0], stored


def test_helo_and_ehlo_need_a_name(mta):
    with session(mta, ehlo=False) as c:
        c.expect(501, "EHLO", "5.5.4")
        c.expect(501, "HELO", "5.5.4")
        c.expect(250, "EHLO client.test")


def test_noop_rset_help_vrfy_expn(mta):
    with session(mta) as c:
        c.expect(250, "NOOP", "2.0.0")
        c.expect(250, "NOOP some argument")
        c.expect(250, "RSET", "2.0.0")
        r = c.cmd("HELP")
        assert r.code == 214, r
        r = c.cmd("VRFY postmaster")
        assert r.code == 252, r
        assert r.enhanced is not None and r.enhanced.startswith("2."), r
        c.expect(502, "EXPN staff", "5.5.1")
        c.expect(250, "NOOP")


def test_commands_are_case_insensitive(mta):
    with session(mta, ehlo=False) as c:
        c.expect(250, "ehlo client.test")
        c.expect(250, "mail from:<sender@client.test>")
        c.expect(250, "rCpT To:<rcpt@local.test>")
        r = c.cmd("data")
        assert r.code == 354, r
        c.send(b"x\r\n.\r\n")
        queued_id(c.reply())


def test_esmtp_keywords_are_case_insensitive(mta):
    """RFC 5321 2.4: extension keywords and parameters are not case
    sensitive."""
    with session(mta) as c:
        c.expect(250, "MAIL FROM:<sender@client.test> size=10 "
                 "body=8bitmime ret=hdrs envid=e1")
        c.expect(250, "RCPT TO:<rcpt@local.test> notify=success "
                 "orcpt=rfc822;rcpt@local.test")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(mta.spool, mid)
        assert evps[0]["ret"] == "2" and evps[0]["envid"] == "e1", text
        assert evps[0]["notify"] == "2" and evps[0]["body"] == "1", text


def test_quit_answers_221_and_closes(mta):
    with session(mta) as c:
        c.expect(221, "QUIT", "2.0.0")
        assert c.closed(), "the connection stays open after QUIT"
    assert mta.wait_log(r'event=disconnect address=127\.0\.0\.1 '
                        r'reason="quit"')


def test_nothing_is_answered_after_quit(mta):
    with session(mta) as c:
        c.send("QUIT\r\nNOOP\r\n")
        c.expect(221)
        assert c.closed()
        assert c.buf == b"", "a command after QUIT was answered: %r" % c.buf


# ---- DATA ----------------------------------------------------------------

def test_message_is_stored_byte_for_byte(mta):
    wire = (b"From: <sender@client.test>\r\n"
            b"Subject: dots\r\n"
            b"\r\n"
            b"..x\r\n"
            b"...\r\n"
            b"..\r\n"
            b". leading dot and space\r\n"
            b"middle . dot\r\n"
            b"\r\n"
            b"8-bit: \xc3\xa9t\xc3\xa9 \xff\xfe\r\n"
            b"tab\there\r\n"
            b"trailing space \r\n")
    want = (b"From: <sender@client.test>\r\n"
            b"Subject: dots\r\n"
            b"\r\n"
            b".x\r\n"
            b"..\r\n"
            b".\r\n"
            b" leading dot and space\r\n"
            b"middle . dot\r\n"
            b"\r\n"
            b"8-bit: \xc3\xa9t\xc3\xa9 \xff\xfe\r\n"
            b"tab\there\r\n"
            b"trailing space \r\n")
    with session(mta) as c:
        c.mail("<sender@client.test>", ["<rcpt@local.test>"],
               params="BODY=8BITMIME")
        r = c.data(wire + b".\r\n")
        assert r.enhanced == "2.0.0", r
        mid = queued_id(r)
        # the folder is named by the id the client was given
        folders = spool_messages(mta.spool)
        assert list(folders) == [mid], (mid, folders)
        assert os.path.basename(os.path.dirname(folders[mid])) in \
            (mid[:2], mid[-2:]), folders[mid]
        stored = spool_message(mta.spool, mid)
        head, rest = split_received(stored)
        assert rest == want, rest
        # the Received: line: who, by whom, the id, the recipient
        assert head.startswith(b"Received: from client.test ([127.0.0.1])"), \
            head
        assert f"by {HOST}".encode() in head, head
        assert f"id {mid}".encode() in head, head
        assert b"<rcpt@local.test>" in head, head
        assert head.endswith(b"\r\n"), head
        assert b"\n" not in stored.replace(b"\r\n", b""), \
            "a line end other than CRLF in the spool"
        evps, text = spool_envelopes(mta.spool, mid)
        assert len(evps) == 1, text
        assert evps[0]["sender"] == "sender@client.test", text
        assert evps[0]["rcpt"] == "rcpt@local.test", text
        assert evps[0]["msgid"] == mid, text
        assert evps[0]["helo"] == "client.test", text
        assert evps[0]["client"] == "127.0.0.1", text
        assert evps[0]["body"] == "1", text     # BODY=8BITMIME
    assert mta.wait_log(rf"msgid={mid} from=<sender@client\.test> rcpts=1 "
                        r".*result=250")


def test_helo_name_is_sanitised_in_the_received_line(mta):
    with session(mta, ehlo=False) as c:
        c.expect(250, "EHLO caf\u00e9.client.test".encode())
        mid = send_message(c)
        head, _ = split_received(spool_message(mta.spool, mid))
        assert all(b < 0x80 for b in head), head
        assert head.startswith(b"Received: from caf"), head


def test_empty_message(mta):
    with session(mta) as c:
        c.mail()
        mid = queued_id(c.data(b".\r\n"))
        assert body_of(mta, mid) == b""


def test_null_sender_and_several_recipients(mta):
    with session(mta) as c:
        c.mail("<>", ["<a@local.test>", "<b@local.test>",
                      "<c@elsewhere.test>"])
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(mta.spool, mid)
        assert sorted(e["rcpt"] for e in evps) == \
            ["a@local.test", "b@local.test", "c@elsewhere.test"], text
        assert all(e["sender"] == "" for e in evps), text
        assert body_of(mta, mid) == MSG


def test_postmaster_is_always_accepted(edge):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(250, "RCPT TO:<postmaster>", "2.1.5")
        c.expect(250, "RCPT TO:<Postmaster>", "2.1.5")


def test_several_messages_in_one_session_with_rset(mta):
    with session(mta) as c:
        ids = []
        for i in range(3):
            data = MSG + b"message %d\r\n" % i
            ids.append(send_message(c, data=data))
            # RSET between transactions, and an abandoned one
            c.expect(250, "RSET", "2.0.0")
            c.expect(250, "MAIL FROM:<abandoned@client.test>")
            c.expect(250, "RCPT TO:<abandoned@local.test>")
            c.expect(250, "RSET", "2.0.0")
        assert len(set(ids)) == 3, ids
        assert sorted(spool_messages(mta.spool)) == sorted(ids)
        for i, mid in enumerate(ids):
            assert body_of(mta, mid) == MSG + b"message %d\r\n" % i
            evps, _ = spool_envelopes(mta.spool, mid)
            assert [e["rcpt"] for e in evps] == ["rcpt@local.test"]
        # the abandoned transactions left nothing
        c.expect(503, "DATA")
    assert wait_for(lambda: no_open_folders(mta), 10), open_folders(mta)


def test_rset_forgets_the_transaction(mta):
    with session(mta) as c:
        c.mail()
        c.expect(250, "RSET")
        c.expect(503, "RCPT TO:<rcpt@local.test>", "5.5.1")
        c.expect(503, "DATA")
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_ehlo_resets_the_transaction(mta):
    with session(mta) as c:
        c.mail()
        c.expect(250, "EHLO client.test")
        c.expect(503, "DATA")
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_concurrent_sessions_each_get_their_message_stored(mta):
    n = 16
    results = [None] * n

    def one(i):
        try:
            with session(mta) as c:
                results[i] = send_message(c, data=MSG + b"client %d\r\n" % i)
                c.quit()
        except Exception as e:          # reported below
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "sessions hung"
    assert all(isinstance(r, str) for r in results), results
    for i, mid in enumerate(results):
        assert body_of(mta, mid) == MSG + b"client %d\r\n" % i


def test_client_closing_in_data_stores_nothing(mta):
    with session(mta) as c:
        c.mail()
        c.expect(354, "DATA")
        c.send(MSG + b"and then the client goes away\r\n")
        time.sleep(0.2)
    assert mta.wait_log(r'event=disconnect address=127\.0\.0\.1 '
                        r'reason="client closed"')
    assert_nothing_stored(mta)


@pytest.mark.parametrize("script", [
    b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@local.test>\r\n",
    b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@local.test>\r\nDATA\r\n",
    b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@local.test>\r\nDATA\r\n"
    + MSG + b".\r\n",
    b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@local.test>\r\nBDAT 5\r\n",
    b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@local.test>\r\n"
    b"BDAT %d LAST\r\n" % len(MSG) + MSG,
], ids=["rcpt", "data", "commit", "bdat", "bdat-commit"])
def test_client_vanishing_while_the_server_waits(mta, script):
    """The client goes away while its session waits for auth's verdict,
    the queue's file or the queue's commit: the answer that comes later
    finds no session, and nothing is left half-done."""
    n = 10
    for _ in range(n):
        c = session(mta)
        c.send(script)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          RESET)
        c.close()
    assert wait_for(lambda: len(re.findall(r"event=disconnect",
                                           mta.log())) >= n, 10), mta.log()
    # still serving, and no transaction is left open
    with session(mta) as c:
        mid = send_message(c)
        assert body_of(mta, mid) == MSG
    assert wait_for(lambda: no_open_folders(mta), 10), open_folders(mta)
    # what was committed is whole
    for other in spool_messages(mta.spool):
        assert body_of(mta, other) == MSG


# ---- relay control ---------------------------------------------------------

def test_accepted_domain_from_outside(edge):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>", "2.1.0")
        c.expect(250, "RCPT TO:<rcpt@local.test>", "2.1.5")
        mid = queued_id(c.data(MSG + b".\r\n"))
        head, _ = split_received(spool_message(edge.spool, mid))
        assert b"[127.0.0.2]" in head, head
        evps, text = spool_envelopes(edge.spool, mid)
        assert evps[0]["client"] == OUTSIDE, text


def test_relay_denied_from_outside(edge):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        r = c.cmd("RCPT TO:<x@y.test>")
        assert r.lines == ["554 5.7.1 <x@y.test>: Relay access denied"], r
        # the transaction goes on with other recipients
        c.expect(250, "RCPT TO:<rcpt@local.test>")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(edge.spool, mid)
        assert [e["rcpt"] for e in evps] == ["rcpt@local.test"], text
    assert edge.wait_log(r"to=<x@y\.test> result=554")


def test_relay_allowed_from_inside(edge):
    with session(edge) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(250, "RCPT TO:<x@y.test>", "2.1.5")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, _ = spool_envelopes(edge.spool, mid)
        assert [e["rcpt"] for e in evps] == ["x@y.test"]


def test_data_without_a_valid_recipient(edge):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(554, "RCPT TO:<x@y.test>", "5.7.1")
        r = c.cmd("DATA")
        assert r.code in (503, 554) and r.enhanced == "5.5.1", r
        # not in DATA: the next line is a command
        c.expect(250, "NOOP")
    assert_nothing_stored(edge)


def test_recipients_table_refuses_unknown_users(make_daemon):
    d = make_daemon(start=False)
    d.write_config(
        f"hostname {HOST}\n"
        f'spool "{d.spool}"\n'
        f'control socket "{d.sock}"\n'
        f"listen on 127.0.0.1 port {d.port}\n"
        "table inside { 127.0.0.1/32 }\n"
        "table users { alice@local.test, sales*@local.test }\n"
        f'accept for domain "{LOCAL}" recipients <users>\n'
        "relay allow from <inside>\n")
    d.start()
    for source in (OUTSIDE, None):
        with session(d, source=source) as c:
            c.expect(250, "MAIL FROM:<sender@client.test>")
            r = c.cmd("RCPT TO:<bob@local.test>")
            assert r.code == 550 and r.enhanced == "5.1.1", r
            assert "<bob@local.test>" in r.text, r
            # tricks on an accepted domain are judged on the whole local
            # part, not on what follows a % or sits inside quotes
            c.expect(550, "RCPT TO:<bob%alice@local.test>", "5.1.1")
            c.expect(550, 'RCPT TO:<"alice@local.test"@local.test>', "5.1.1")
            c.expect(250, "RCPT TO:<alice@local.test>", "2.1.5")
            c.expect(250, "RCPT TO:<sales-eu@local.test>", "2.1.5")
            c.expect(250, "RCPT TO:<alice@LOCAL.TEST>", "2.1.5")
            queued_id(c.data(MSG + b".\r\n"))


# Each: (recipient, the reply from outside, the recipient stored when 250).
TRICKS = [
    ("<user%other.test@local.test>", 250, "user%other.test@local.test"),
    ('<"user@other.test"@local.test>', 250, '"user@other.test"@local.test'),
    ("<user!other.test@local.test>", 250, "user!other.test@local.test"),
    ("<other.test!user@local.test>", 250, "other.test!user@local.test"),
    # source routes are dropped (RFC 5321 4.1.1.3, C.)
    ("<@other.test:user@local.test>", 250, "user@local.test"),
    ("<@a.test,@b.test:user@local.test>", 250, "user@local.test"),
    ("<USER@LOCAL.TEST>", 250, "user@local.test"),
    ("<user@LoCaL.TeSt>", 250, "user@local.test"),
    ("<@local.test:user@other.test>", 554, None),
    ("<@local.test,@local.test:user@other.test>", 554, None),
    ("<user%local.test@other.test>", 554, None),
    ('<"user@local.test"@other.test>', 554, None),
    ("<user@other.test>", 554, None),
    ("<user@local.test.other.test>", 554, None),
    ("<user@sub.local.test>", 554, None),
    ("<user@xlocal.test>", 554, None),
    ("<user@[1.2.3.4]>", 554, None),
    ("<user@[127.0.0.1]>", 554, None),
    ("<user@[IPv6:::1]>", 554, None),
    ("<user@local.test.>", 501, None),
    ("<user@other.test@local.test>", 501, None),
    ("<user@>", 501, None),
    ("<@local.test>", 501, None),
    ("<user@local..test>", 501, None),
    ("<>", 501, None),
    ("<user@local.test", 501, None),
    ("user@local.test>", 501, None),
]


@pytest.mark.parametrize("rcpt,code,stored", TRICKS,
                         ids=[t[0] for t in TRICKS])
def test_address_tricks_are_judged_on_the_real_destination(edge, rcpt, code,
                                                           stored):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        r = c.cmd("RCPT TO:" + rcpt)
        assert r.code == code, (rcpt, r)
        if code == 554:
            assert r.enhanced == "5.7.1" and \
                r.text.endswith("Relay access denied"), r
        elif code == 501:
            assert r.enhanced is not None and r.enhanced.startswith("5."), r
        if code != 250:
            c.expect(250, "NOOP")
            return
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(edge.spool, mid)
        assert len(evps) == 1, text
        # kept for the accepted domain, the local part as it was given
        assert evps[0]["rcpt"].lower() == stored.lower(), (rcpt, text)


# ---- sequence and syntax errors ---------------------------------------------

def test_mail_before_ehlo(mta):
    with session(mta, ehlo=False) as c:
        c.expect(503, "MAIL FROM:<sender@client.test>", "5.5.1")
        c.expect(503, "RCPT TO:<rcpt@local.test>", "5.5.1")
        r = c.cmd("DATA")
        assert r.code == 503 and r.enhanced == "5.5.1", r
        c.expect(250, "EHLO client.test")
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_rcpt_before_mail(mta):
    with session(mta) as c:
        c.expect(503, "RCPT TO:<rcpt@local.test>", "5.5.1")


def test_data_before_rcpt(mta):
    with session(mta) as c:
        c.expect(503, "DATA", "5.5.1")
        c.expect(250, "MAIL FROM:<sender@client.test>")
        r = c.cmd("DATA")
        assert r.code in (503, 554) and r.enhanced == "5.5.1", r
        # not in DATA: the next line is a command
        c.expect(250, "NOOP")


def test_nested_mail(mta):
    with session(mta) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(503, "MAIL FROM:<other@client.test>", "5.5.1")
        c.expect(250, "RCPT TO:<rcpt@local.test>")
        c.expect(503, "MAIL FROM:<other@client.test>", "5.5.1")
        # the first transaction is intact
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, _ = spool_envelopes(mta.spool, mid)
        assert evps[0]["sender"] == "sender@client.test"


def test_unknown_command(mta):
    with session(mta) as c:
        c.expect(500, "FOO bar", "5.5.1")
        c.expect(500, "MAILFROM:<a@b.test>", "5.5.1")
        c.expect(250, "NOOP")


def test_empty_line_is_an_error_not_a_crash(mta):
    with session(mta) as c:
        r = c.cmd("")
        assert r.code in (500, 501) and r.enhanced.startswith("5.5."), r
        c.expect(250, "NOOP")


@pytest.mark.parametrize("line,code,enhanced", [
    ("MAIL FROM", 501, "5.5.4"),
    ("MAIL TO:<a@client.test>", 501, "5.5.4"),
    ("MAIL FROM:", 501, "5.1.7"),
    ("MAIL FROM:sender@client.test", 501, "5.1.7"),
    ("MAIL FROM:<sender@client.test", 501, "5.1.7"),
    ("MAIL FROM:<sender@client.test> SIZE=abc", 501, "5.5.4"),
    ("MAIL FROM:<sender@client.test> SIZE=", 501, "5.5.4"),
    ("MAIL FROM:<sender@client.test> RET=MAYBE", 501, "5.5.4"),
    ("MAIL FROM:<sender@client.test> BODY=BINARYMIME", 555, "5.5.4"),
    ("MAIL FROM:<sender@client.test> FOO=BAR", 555, "5.5.4"),
    ("MAIL FROM:<sender@client.test> AUTH=<>", 555, "5.5.4"),
    ("MAIL FROM:<a b@client.test>", 501, "5.1.7"),
    ("RSET now", 501, "5.5.4"),
])
def test_mail_syntax_errors(mta, line, code, enhanced):
    with session(mta) as c:
        c.expect(code, line, enhanced)
        # the session goes on, no transaction was started
        c.expect(503, "RCPT TO:<rcpt@local.test>")
        c.expect(250, "MAIL FROM:<sender@client.test>")


@pytest.mark.parametrize("line,code,enhanced", [
    ("RCPT TO", 501, "5.5.4"),
    ("RCPT FROM:<rcpt@local.test>", 501, "5.5.4"),
    ("RCPT TO:", 501, "5.1.3"),
    ("RCPT TO:<>", 501, "5.1.3"),
    ("RCPT TO:rcpt@local.test", 501, "5.1.3"),
    ("RCPT TO:<rcpt@local.test> NOTIFY=SOMETIMES", 501, "5.5.4"),
    ("RCPT TO:<rcpt@local.test> NOTIFY=NEVER,SUCCESS", 501, "5.5.4"),
    ("RCPT TO:<rcpt@local.test> ORCPT=nosemicolon", 501, "5.5.4"),
    ("RCPT TO:<rcpt@local.test> FOO=BAR", 555, "5.5.4"),
    ("DATA now", 501, "5.5.4"),
])
def test_rcpt_syntax_errors(mta, line, code, enhanced):
    with session(mta) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(code, line, enhanced)
        c.expect(250, "RCPT TO:<rcpt@local.test>")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, _ = spool_envelopes(mta.spool, mid)
        assert len(evps) == 1


def test_body_parameter_needs_a_value(mta):
    with session(mta) as c:
        r = c.cmd("MAIL FROM:<sender@client.test> BODY")
        assert r.code in (501, 555) and r.enhanced == "5.5.4", r
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_mail_parameters_need_ehlo(mta):
    with session(mta, ehlo=False) as c:
        c.expect(250, "HELO client.test")
        c.expect(555, "MAIL FROM:<sender@client.test> SIZE=100", "5.5.4")
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_too_many_errors_close_the_session(mta):
    with session(mta) as c:
        replies = []
        with pytest.raises((Closed, ConnectionResetError, BrokenPipeError)):
            for _ in range(30):
                c.send("BOGUS\r\n")
                replies.append(c.reply())
        codes = [r.code for r in replies]
        assert codes[-1] == 421, codes
        assert replies[-1].enhanced == "4.7.0", replies[-1]
        assert set(codes[:-1]) == {500}, codes
        # smtpd(8): "after ten failed commands ... closed with 421"
        assert len(codes) - 1 == 10, codes
    assert mta.wait_log(r'reason="too many errors"')


def test_too_many_errors_pipelined(mta):
    with session(mta) as c:
        c.send(b"BOGUS\r\n" * 15 + b"NOOP\r\n")
        codes = []
        while True:
            try:
                codes.append(c.reply().code)
            except (Closed, ConnectionResetError):
                break
            assert len(codes) <= 16, codes
        assert codes == [500] * 10 + [421], codes


def test_failed_commands_limit_from_the_config(make_daemon):
    d = start_with(make_daemon, "limit failed-commands 3 per-session\n")
    with session(d) as c:
        c.expect(500, "BOGUS")
        c.expect(503, "RCPT TO:<rcpt@local.test>")
        c.send("EXPN x\r\n")
        r1 = c.reply()
        r2 = c.reply()
        assert (r1.code, r2.code) == (502, 421), (r1, r2)
        assert c.closed()


def test_failed_commands_mixed_with_good_ones_still_count(make_daemon):
    d = start_with(make_daemon, "limit failed-commands 3 per-session\n")
    with session(d) as c:
        for _ in range(2):
            c.expect(500, "BOGUS")
            c.expect(250, "NOOP")
        c.send("BOGUS\r\n")
        assert c.reply().code == 500
        assert c.reply().code == 421
        assert c.closed()


def test_command_line_limit_is_512_octets(mta):
    with session(mta) as c:
        # 512 octets with the CRLF: accepted
        line = "NOOP " + "x" * (510 - 5)
        assert len(line) + 2 == 512
        c.expect(250, line)
        # 513: refused, and the session goes on
        c.expect(500, line + "x", "5.5.2")
        c.expect(250, "NOOP")
        c.expect(500, "MAIL FROM:<" + "a" * 600 + "@client.test>", "5.5.2")
        c.expect(250, "MAIL FROM:<sender@client.test>")


def test_a_huge_command_line_gets_one_reply(mta):
    with session(mta) as c:
        c.send(b"NOOP " + b"y" * 300000 + b"\r\n")
        c.expect(500, None, "5.5.2")
        c.expect(250, "NOOP", "2.0.0")
        assert c.nothing_pending(), c.buf


def test_nul_in_a_command(mta):
    with session(mta) as c:
        r = c.cmd(b"NOOP\x00")
        assert r.code == 500 and r.enhanced.startswith("5.5."), r
        r = c.cmd(b"MAIL FROM:<sender@client.test>\x00 SIZE=1")
        assert r.code == 500 and r.enhanced.startswith("5.5."), r
        # no transaction was started
        c.expect(503, "RCPT TO:<rcpt@local.test>")
        c.expect(250, "NOOP")


def test_control_characters_in_a_command(mta):
    with session(mta) as c:
        r = c.cmd(b"NO\x01OP")
        assert r.code == 500, r
        r = c.cmd(b"MAIL FROM:<sen\x7fder@client.test>")
        assert r.code in (500, 501), r
        r = c.cmd(b"EHLO client\rtest")
        assert r.code in (500, 501), r
        c.expect(250, "NOOP")


def test_recipients_limit(make_daemon):
    d = start_with(make_daemon, "limit recipients 2 per-message\n")
    with session(d) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(250, "RCPT TO:<a@local.test>")
        c.expect(250, "RCPT TO:<b@local.test>")
        c.expect(452, "RCPT TO:<c@local.test>", "4.5.3")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, _ = spool_envelopes(d.spool, mid)
        assert sorted(e["rcpt"] for e in evps) == ["a@local.test",
                                                   "b@local.test"]


# ---- PIPELINING ---------------------------------------------------------------

def test_pipelined_transaction_replies_in_order(edge):
    with session(edge, source=OUTSIDE) as c:
        c.send("MAIL FROM:<sender@client.test>\r\n"
               "RCPT TO:<a@local.test>\r\n"
               "RCPT TO:<x@y.test>\r\n"
               "RCPT TO:<b@local.test>\r\n"
               "DATA\r\n")
        assert c.reply().code == 250
        assert c.reply().code == 250
        r = c.reply()
        assert r.code == 554 and "<x@y.test>" in r.text, r
        assert c.reply().code == 250
        assert c.reply().code == 354
        c.send(MSG + b".\r\n")
        mid = queued_id(c.reply())
        evps, _ = spool_envelopes(edge.spool, mid)
        assert [e["rcpt"] for e in evps] == ["a@local.test", "b@local.test"]


def test_pipelined_session_with_several_transactions(mta):
    with Client(mta.port) as c:
        c.greeting()
        script = b"EHLO client.test\r\n"
        for i in range(3):
            script += (b"MAIL FROM:<s%d@client.test>\r\n"
                       b"RCPT TO:<r%d@local.test>\r\n"
                       b"DATA\r\n" % (i, i))
            script += MSG + b"pipelined %d\r\n.\r\n" % i
            script += b"RSET\r\nNOOP\r\n"
        script += b"QUIT\r\n"
        c.send(script)
        assert c.reply().code == 250        # EHLO
        ids = []
        for i in range(3):
            assert c.reply().lines == ["250 2.1.0 Ok"]
            assert c.reply().lines == ["250 2.1.5 Ok"]
            assert c.reply().code == 354
            ids.append(queued_id(c.reply()))
            assert c.reply().code == 250    # RSET
            assert c.reply().code == 250    # NOOP
        c.expect(221)
        assert c.closed()
        assert c.buf == b""
    for i, mid in enumerate(ids):
        assert body_of(mta, mid) == MSG + b"pipelined %d\r\n" % i
        evps, _ = spool_envelopes(mta.spool, mid)
        assert evps[0]["sender"] == "s%d@client.test" % i
        assert evps[0]["rcpt"] == "r%d@local.test" % i


def test_pipelined_errors_keep_their_place(mta):
    with Client(mta.port) as c:
        c.greeting()
        c.send("EHLO client.test\r\n"
               "RCPT TO:<early@local.test>\r\n"
               "MAIL FROM:<sender@client.test>\r\n"
               "BOGUS\r\n"
               "MAIL FROM:<again@client.test>\r\n"
               "RCPT TO:<rcpt@local.test>\r\n"
               "VRFY x\r\n"
               "NOOP\r\n")
        codes = [c.reply().code for _ in range(7)]
        assert codes == [250, 503, 250, 500, 503, 250, 252], codes
        c.expect(250, None)     # NOOP
        assert c.nothing_pending()


# ---- SIZE, parameters, SMTPUTF8, DSN ---------------------------------------------

def test_mail_size_over_the_limit(make_daemon):
    d = start_with(make_daemon, "limit message-size 1K\n")
    with session(d) as c:
        c.expect(552, "MAIL FROM:<sender@client.test> SIZE=2000", "5.3.4")
        c.expect(552, "MAIL FROM:<sender@client.test> SIZE=99999999999",
                 "5.3.4")
        c.expect(250, "MAIL FROM:<sender@client.test> SIZE=500")
        c.expect(250, "RSET")
        # at the limit is not over it
        c.expect(250, "MAIL FROM:<sender@client.test> SIZE=1024")


def test_body_over_the_limit_is_refused_at_the_end(make_daemon):
    d = start_with(make_daemon, "limit message-size 1K\n")
    with session(d) as c:
        c.mail()
        c.expect(354, "DATA")
        c.send(MSG + (b"x" * 70 + b"\r\n") * 30)
        # no reply before the end of the data
        assert c.nothing_pending(0.5), c.buf
        c.send(b".\r\n")
        c.expect(552, None, "5.3.4")
        # the session goes on
        c.expect(250, "NOOP")
        mid = send_message(c)
        assert body_of(d, mid) == MSG
    assert list(spool_messages(d.spool)) == [mid]
    assert wait_for(lambda: no_open_folders(d), 10), open_folders(d)


def test_message_of_the_advertised_size_is_accepted(make_daemon):
    """RFC 1870: SIZE 1024 is the largest message the server accepts, the
    message being the octets the client sends (CRLFs included, not the
    dot-stuffing nor the final dot): 1024 of them must be taken, with
    whatever trace header the server adds itself."""
    d = start_with(make_daemon, "limit message-size 1K\n")
    data = MSG + b"p" * (1024 - len(MSG) - 2) + b"\r\n"
    assert len(data) == 1024
    with session(d) as c:
        c.mail(params="SIZE=1024")
        r = c.data(data + b".\r\n")
        mid = queued_id(r)
        assert body_of(d, mid) == data
        c.mail(params="SIZE=1024")
        mid = queued_id(bdat(c, data, last=True))
        assert body_of(d, mid) == data


def test_body_over_the_limit_with_a_lying_size(make_daemon):
    d = start_with(make_daemon, "limit message-size 1K\n")
    with session(d) as c:
        c.mail(params="SIZE=100")
        r = c.data(MSG + b"z" * 900 + b"\r\n" + b"z" * 900 + b"\r\n.\r\n")
        assert r.code == 552 and r.enhanced == "5.3.4", r
    assert_nothing_stored(d)


def test_unknown_mail_parameter(mta):
    with session(mta) as c:
        c.expect(555, "MAIL FROM:<sender@client.test> XFOO=1", "5.5.4")
        c.expect(555, "MAIL FROM:<sender@client.test> SIZE=10 XFOO", "5.5.4")
        c.expect(250, "MAIL FROM:<sender@client.test> SIZE=10 "
                 "BODY=8BITMIME")


def test_smtputf8_address_needs_the_parameter(mta):
    with session(mta) as c:
        c.expect(553, "MAIL FROM:<jos\u00e9@client.test>".encode(), "5.6.7")
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(553, "RCPT TO:<\u00fcser@local.test>".encode(), "5.6.7")
        c.expect(250, "RSET")
        c.expect(250, "MAIL FROM:<jos\u00e9@client.test> SMTPUTF8".encode())
        c.expect(250, "RCPT TO:<\u00fcser@local.test>".encode(), "2.1.5")
        c.expect(250, "RCPT TO:<rcpt@b\u00fccher.test>".encode(), "2.1.5")
        data = "Subject: \u00e9t\u00e9\r\n\r\nbody\r\n".encode()
        mid = queued_id(c.data(data + b".\r\n"))
        assert body_of(mta, mid) == data
        evps, text = spool_envelopes(mta.spool, mid)
        assert evps[0]["sender"] == "jos\u00e9@client.test", text
        assert [e["rcpt"] for e in evps] == ["\u00fcser@local.test",
                                              "rcpt@b\u00fccher.test"], text
        assert int(evps[0]["flags"]) & 0x0001, text     # EF_SMTPUTF8
        head, _ = split_received(spool_message(mta.spool, mid))
        assert b"UTF8SMTP" in head, head


def test_dsn_parameters_are_stored_with_the_envelope(mta):
    with session(mta) as c:
        c.expect(250, "MAIL FROM:<sender@client.test> RET=HDRS "
                 "ENVID=QQ314159+2Bx")
        c.expect(250, "RCPT TO:<a@local.test> NOTIFY=SUCCESS,DELAY "
                 "ORCPT=rfc822;Alice+40Local.test")
        c.expect(250, "RCPT TO:<b@local.test> NOTIFY=NEVER")
        c.expect(250, "RCPT TO:<c@local.test> NOTIFY=FAILURE")
        c.expect(250, "RCPT TO:<d@local.test>")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(mta.spool, mid)
        by = {e["rcpt"]: e for e in evps}
        assert set(by) == {"a@local.test", "b@local.test", "c@local.test",
                           "d@local.test"}, text
        for e in evps:
            assert e["ret"] == "2", text            # HDRS
            assert e["envid"] == "QQ314159+x", text  # xtext decoded
        assert by["a@local.test"]["notify"] == str(0x02 | 0x08), text
        assert by["a@local.test"]["orcpt"] == "rfc822;Alice@Local.test", text
        assert by["b@local.test"]["notify"] == str(0x01), text
        assert by["c@local.test"]["notify"] == str(0x04), text
        assert by["d@local.test"]["notify"] == "0", text
        assert by["d@local.test"]["orcpt"] == "", text
        c.expect(250, "MAIL FROM:<sender@client.test> RET=FULL")
        c.expect(250, "RCPT TO:<a@local.test>")
        mid = queued_id(c.data(MSG + b".\r\n"))
        evps, text = spool_envelopes(mta.spool, mid)
        assert evps[0]["ret"] == "1" and evps[0]["envid"] == "", text


@pytest.mark.parametrize("mail,rcpt", [
    ("MAIL FROM:<sender@client.test> ENVID=x+0Arcpt:+20evil@y.test",
     "RCPT TO:<rcpt@local.test>"),
    ("MAIL FROM:<sender@client.test> ENVID=x+0D+0Ay",
     "RCPT TO:<rcpt@local.test>"),
    ("MAIL FROM:<sender@client.test> ENVID=x+01y",
     "RCPT TO:<rcpt@local.test>"),
    ("MAIL FROM:<sender@client.test>",
     "RCPT TO:<rcpt@local.test> ORCPT=rfc822;a+0Arcpt:+20evil@y.test"),
    ("MAIL FROM:<sender@client.test>",
     "RCPT TO:<rcpt@local.test> ORCPT=rfc822;a+7Fb@c.test"),
], ids=["envid-lf", "envid-crlf", "envid-ctl", "orcpt-lf", "orcpt-del"])
def test_dsn_parameters_with_control_characters(mta, mail, rcpt):
    """xtext can encode any octet: a control character decoded from ENVID
    or ORCPT must be refused at the command (501 5.5.4), never reach the
    envelopes file (one "key: value" a line) nor the queue."""
    queue_pid = mta.worker_pid("queue")
    with session(mta) as c:
        r1 = c.cmd(mail)
        r2 = c.cmd(rcpt) if r1.code == 250 else None
        final = None
        if r1.code == 250:
            # whatever happened, try to get a message through
            c.cmd("RCPT TO:<other@local.test>")
            c.expect(354, "DATA")
            c.send(MSG + b".\r\n")
            final = c.reply()
        c.expect(250, "NOOP")
    # a client must not be able to kill the queue process
    assert mta.worker_pid("queue") == queue_pid, \
        "the queue process died: %r" % re.findall(r".*bad envelope.*",
                                                   mta.log())
    refused = [r for r in (r1, r2) if r is not None and r.code != 250]
    assert len(refused) == 1, (r1, r2, final)
    assert refused[0].code == 501 and refused[0].enhanced == "5.5.4", \
        refused[0]
    for mid in spool_messages(mta.spool):
        evps, text = spool_envelopes(mta.spool, mid)
        assert "evil" not in text, text


# ---- BDAT ------------------------------------------------------------------------

def bdat(c, chunk, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"")
           + chunk)
    return c.reply()


def test_bdat_chunks_are_stored_exactly(mta):
    chunks = [b"From: <sender@client.test>\r\nSubject: chunks\r\n\r\n",
              b"a line split ", b"over chunks\r\n",
              b".a leading dot stays\r\n..two stay\r\n",
              b"\r\n.\r\n is data in BDAT\r\n",
              b"8-bit \x80\x81\xfe\xff and control \x01\x07\x1b\r\n"]
    with session(mta) as c:
        c.mail()
        for ch in chunks:
            r = bdat(c, ch)
            assert r.code == 250 and r.enhanced == "2.0.0", r
        r = bdat(c, b"", last=True)
        mid = queued_id(r)
        assert body_of(mta, mid) == b"".join(chunks)


def test_bdat_single_last_chunk_and_next_transaction(mta):
    with session(mta) as c:
        c.mail()
        mid = queued_id(bdat(c, MSG, last=True))
        assert body_of(mta, mid) == MSG
        # DATA and BDAT transactions can follow each other
        mid2 = send_message(c)
        assert body_of(mta, mid2) == MSG
        c.mail()
        mid3 = queued_id(bdat(c, MSG, last=True))
        assert body_of(mta, mid3) == MSG


def test_bdat_0_last_as_the_only_chunk(mta):
    """An empty message by BDAT, as DATA allows one (RFC 3030 2: a
    chunk size of 0 is valid)."""
    with session(mta) as c:
        c.mail()
        mid = queued_id(bdat(c, b"", last=True))
        assert body_of(mta, mid) == b""
        c.expect(250, "NOOP")


def test_bdat_0_as_the_first_chunk(mta):
    with session(mta) as c:
        c.mail()
        r = bdat(c, b"")
        assert r.code == 250 and r.enhanced == "2.0.0", r
        mid = queued_id(bdat(c, MSG, last=True))
        assert body_of(mta, mid) == MSG


def test_bdat_chunk_split_over_several_writes(mta):
    body = MSG + b"".join(b"line %04d of a chunk sent slowly\r\n" % i
                          for i in range(200))
    with session(mta) as c:
        c.mail()
        c.send(b"BDAT %d LAST\r\n" % len(body))
        for i in range(0, len(body), 997):
            c.send(body[i:i + 997])
            time.sleep(0.01)
        mid = queued_id(c.reply())
        assert body_of(mta, mid) == body


def test_bdat_crlf_split_between_chunks(mta):
    with session(mta) as c:
        c.mail()
        assert bdat(c, b"Subject: x\r\n\r\nabc\r").code == 250
        assert bdat(c, b"\ndef\r\n").code == 250
        mid = queued_id(bdat(c, b"", last=True))
        assert body_of(mta, mid) == b"Subject: x\r\n\r\nabc\r\ndef\r\n"


def test_bdat_message_without_a_final_crlf_gets_one(mta):
    with session(mta) as c:
        c.mail()
        mid = queued_id(bdat(c, b"Subject: x\r\n\r\nno line end", last=True))
        assert body_of(mta, mid) == b"Subject: x\r\n\r\nno line end\r\n"


def test_bdat_large_message(mta):
    body = MSG + (b"0123456789" * 99 + b"\r\n") * 300    # 300 KB
    with session(mta) as c:
        c.mail()
        assert bdat(c, body[:100000]).code == 250
        mid = queued_id(bdat(c, body[100000:], last=True))
        assert body_of(mta, mid) == body


def test_bdat_without_rcpt_consumes_the_chunk(mta):
    # the chunk looks like commands: if it were not consumed they would
    # be answered
    chunk = b"QUIT\r\n"
    with session(mta) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        r = bdat(c, chunk)
        assert r.code in (503, 554) and r.enhanced == "5.5.1", r
        c.expect(250, "NOOP")
        c.expect(250, "RSET")
        c.mail()
        mid = queued_id(bdat(c, MSG, last=True))
        assert body_of(mta, mid) == MSG
        assert list(spool_messages(mta.spool)) == [mid]


def test_bdat_without_mail_consumes_the_chunk(mta):
    with session(mta, ehlo=False) as c:
        r = bdat(c, b"QUIT\r\n", last=True)
        assert r.code == 503 and r.enhanced == "5.5.1", r
        c.expect(250, "EHLO client.test")
        r = bdat(c, b"NOOP\r\nQUIT\r\n")
        assert r.code == 503 and r.enhanced == "5.5.1", r
        c.expect(250, "NOOP")
        mid = send_message(c)
        assert body_of(mta, mid) == MSG


def test_bdat_with_only_refused_recipients(edge):
    with session(edge, source=OUTSIDE) as c:
        c.expect(250, "MAIL FROM:<sender@client.test>")
        c.expect(554, "RCPT TO:<x@y.test>")
        r = bdat(c, b"RSET\r\n", last=True)
        assert r.code in (503, 554), r
        c.expect(250, "NOOP")
    assert_nothing_stored(edge)


def test_rset_and_quit_in_a_bdat_transaction_store_nothing(mta):
    with session(mta) as c:
        c.mail()
        assert bdat(c, b"Subject: x\r\n\r\n").code == 250
        c.expect(250, "RSET")
        c.mail()
        assert bdat(c, b"Subject: y\r\n\r\n").code == 250
        c.expect(221, "QUIT")
        assert c.closed()
    assert_nothing_stored(mta)


def test_data_after_bdat(mta):
    with session(mta) as c:
        c.mail()
        assert bdat(c, b"Subject: x\r\n\r\n").code == 250
        c.expect(503, "DATA", "5.5.1")
        mid = queued_id(bdat(c, b"end\r\n", last=True))
        assert body_of(mta, mid) == b"Subject: x\r\n\r\nend\r\n"


@pytest.mark.parametrize("args", ["BDAT", "BDAT x", "BDAT -1", "BDAT 10 MORE",
                                  "BDAT 10 LAST x", "BDAT 1 0",
                                  "BDAT 99999999999999999999"])
def test_bdat_syntax_errors(mta, args):
    with session(mta) as c:
        c.mail()
        c.expect(501, args, "5.5.4")
    assert_nothing_stored(mta)


def test_bdat_over_the_size_limit(make_daemon):
    d = start_with(make_daemon, "limit message-size 1K\n")
    with session(d) as c:
        c.mail()
        r = bdat(c, b"x" * 600 + b"\r\n")
        assert r.code in (250, 552), r
        r = bdat(c, b"y" * 600 + b"\r\n", last=True)
        if r.code == 250:
            pytest.fail("a message over the limit was queued: %r" % r)
        assert r.code == 552 and r.enhanced == "5.3.4", r
        c.expect(250, "NOOP")
    assert_nothing_stored(d)


# ---- SMTP smuggling and bad data ----------------------------------------------

SMUGGLE_SEPARATORS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r",
                      b"\r.\r\n", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n"]


def smuggled(sep):
    return (MSG + b"first part" + sep +
            b"MAIL FROM:<admin@local.test>\r\n"
            b"RCPT TO:<victim@local.test>\r\n"
            b"DATA\r\n"
            b"From: <admin@local.test>\r\n"
            b"Subject: smuggled\r\n"
            b"\r\n"
            b"smuggled\r\n")


@pytest.mark.parametrize("sep", SMUGGLE_SEPARATORS,
                         ids=[repr(s) for s in SMUGGLE_SEPARATORS])
def test_smuggling_in_data_does_not_split_the_message(mta, sep):
    with session(mta) as c:
        c.mail()
        c.expect(354, "DATA")
        c.send(smuggled(sep))
        # still in DATA: nothing is answered
        assert c.nothing_pending(0.5), \
            "the server answered inside DATA: %r" % c.buf
        c.send(b".\r\n")
        r = c.reply()
        assert r.lines[0].startswith("550 5.6.2 "), r
        # the next reply answers the next command, nothing in between
        c.expect(250, "NOOP", "2.0.0")
        assert c.nothing_pending(), c.buf
    assert_nothing_stored(mta)


def test_smuggling_pipelined_with_a_real_end(mta):
    """Everything in one write, the way a next hop would relay it: the
    hidden transaction must not get a 250."""
    with session(mta) as c:
        c.mail()
        c.expect(354, "DATA")
        c.send(smuggled(b"\n.\r\n") + b".\r\nNOOP\r\n")
        replies = [c.reply()]
        while replies[-1].code != 250 or replies[-1].enhanced != "2.0.0" \
                or "queued" in replies[-1].text:
            replies.append(c.reply())
            assert len(replies) < 8, replies
        assert [r.code for r in replies] == [550, 250], replies
        assert replies[0].enhanced == "5.6.2", replies
    assert_nothing_stored(mta)


@pytest.mark.parametrize("sep", [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r"],
                         ids=repr)
def test_smuggling_in_bdat_is_refused(mta, sep):
    chunk = smuggled(sep) + b".\r\n"
    with session(mta) as c:
        c.mail()
        r = bdat(c, chunk, last=True)
        assert r.lines[0].startswith("550 5.6.2 "), r
        c.expect(250, "NOOP")
    assert_nothing_stored(mta)


def test_bare_lf_or_cr_in_an_ordinary_line_is_refused(mta):
    for data in (MSG + b"bare\nlf\r\n", MSG + b"bare\rcr\r\n",
                 MSG + b"ends in cr\r\r\n",
                 # LF line ends throughout; only a real CRLF before the
                 # dot ends the data ("\n.\r\n" does not)
                 b"Subject: x\n\nbody\n\r\n"):
        with session(mta) as c:
            c.mail()
            r = c.data(data + b".\r\n")
            assert r.lines[0].startswith("550 5.6.2 "), (data, r)
            c.expect(250, "NOOP")
    assert_nothing_stored(mta)


def test_nul_in_data_is_refused(mta):
    with session(mta) as c:
        c.mail()
        r = c.data(MSG + b"nul \x00 here\r\n.\r\n")
        assert r.code == 550 and r.enhanced == "5.6.0", r
        c.expect(250, "NOOP")
    assert_nothing_stored(mta)


def test_nul_in_bdat_is_refused(mta):
    with session(mta) as c:
        c.mail()
        r = bdat(c, MSG + b"nul \x00 here\r\n", last=True)
        assert r.code == 550 and r.enhanced == "5.6.0", r
    assert_nothing_stored(mta)


def test_data_line_limit_is_1000_octets(mta):
    with session(mta) as c:
        # 998 + CRLF: the longest line allowed
        ok = b"a" * 998 + b"\r\n"
        c.mail()
        mid = queued_id(c.data(MSG + ok + b".\r\n"))
        assert body_of(mta, mid) == MSG + ok
        c.mail()
        r = c.data(MSG + b"b" * 999 + b"\r\n.\r\n")
        assert r.code == 550 and r.enhanced == "5.6.0", r
        c.expect(250, "NOOP")
    assert list(spool_messages(mta.spool)) == [mid]


def test_stuffed_dot_does_not_count_in_the_line_limit(mta):
    """RFC 5321 4.5.3.1.6: 1000 octets with the CRLF, "not counting the
    leading dot duplicated for transparency"."""
    with session(mta) as c:
        c.mail()
        line = b"." + b"c" * 997 + b"\r\n"       # 1000 octets as text
        mid = queued_id(c.data(MSG + b"." + line + b".\r\n"))
        assert body_of(mta, mid) == MSG + line


def test_huge_data_line_is_refused(mta):
    with session(mta) as c:
        c.mail()
        c.expect(354, "DATA")
        c.send(MSG + b"h" * 300000 + b"\r\nmore\r\n")
        assert c.nothing_pending(0.5), c.buf
        c.send(b".\r\n")
        r = c.reply()
        assert r.code == 550 and r.enhanced == "5.6.0", r
        c.expect(250, "NOOP")
    assert_nothing_stored(mta)


def test_bdat_line_limit(mta):
    with session(mta) as c:
        c.mail()
        mid = queued_id(bdat(c, MSG + b"a" * 998 + b"\r\n", last=True))
        assert body_of(mta, mid) == MSG + b"a" * 998 + b"\r\n"
        c.mail()
        # a long line over two chunks
        assert bdat(c, b"b" * 600).code == 250
        r = bdat(c, b"b" * 600 + b"\r\n", last=True)
        assert r.code == 550 and r.enhanced == "5.6.0", r
    assert list(spool_messages(mta.spool)) == [mid]


# ---- connections ---------------------------------------------------------------

def test_idle_client_that_closes_is_cleaned_up(mta):
    c = Client(mta.port)
    c.greeting()
    c.close()
    assert mta.wait_log(r'event=disconnect address=127\.0\.0\.1 '
                        r'reason="client closed"')
    # and one that never reads the greeting
    s = socket.create_connection(("127.0.0.1", mta.port), 5)
    s.close()
    assert wait_for(lambda: len(re.findall(r'event=disconnect .*'
                                           r'reason="client closed"',
                                           mta.log())) >= 2, 10), mta.log()
    # a reset in the middle of a transaction
    c = session(mta)
    c.mail()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      RESET)
    c.close()
    assert wait_for(lambda: len(re.findall(r'event=disconnect',
                                           mta.log())) >= 3, 10), mta.log()
    with session(mta) as c:
        send_message(c)


def test_slow_client_one_byte_at_a_time(mta):
    script = (b"EHLO slow.client.test\r\n"
              b"MAIL FROM:<slow@client.test>\r\n"
              b"RCPT TO:<rcpt@local.test>\r\n"
              b"DATA\r\n")
    body = b"Subject: slow\r\n\r\n..dot\r\nbody\r\n.\r\n"
    with Client(mta.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.greeting()
        for b in script:
            c.send(bytes([b]))
            time.sleep(0.002)
        assert c.reply().code == 250
        assert c.reply().code == 250
        assert c.reply().code == 250
        assert c.reply().code == 354
        for b in body:
            c.send(bytes([b]))
            time.sleep(0.002)
        mid = queued_id(c.reply())
        assert body_of(mta, mid) == b"Subject: slow\r\n\r\n.dot\r\nbody\r\n"
        c.expect(250, "MAIL FROM:<slow@client.test>")
        c.expect(250, "RCPT TO:<rcpt@local.test>")
        c.send(b"BDAT 5 LAST\r\n")
        for b in b"abc\r\n":
            c.send(bytes([b]))
            time.sleep(0.01)
        mid = queued_id(c.reply())
        assert body_of(mta, mid) == b"abc\r\n"


def test_a_client_that_may_relay_is_trusted(mta):
    """The envelope says whether the client may relay (EF_TRUSTED,
    0x10): its mail skips the content checks (DESIGN.md 3)."""
    with session(mta) as c:
        c.mail(rcpts=(f"<rcpt@{LOCAL}>",))
        mid = queued_id(c.data(MSG + b".\r\n"))
    evps, text = spool_envelopes(mta.spool, mid)
    assert int(evps[0]["flags"]) & 0x10, text
    assert mta.wait_log(r"auth event=rcpt client=127\.0\.0\.1 .* trusted=1")


def test_a_client_that_may_not_relay_is_not_trusted(edge):
    with session(edge, source=OUTSIDE) as c:
        c.mail(rcpts=(f"<rcpt@{LOCAL}>",))
        mid = queued_id(c.data(MSG + b".\r\n"))
    evps, text = spool_envelopes(edge.spool, mid)
    assert not int(evps[0]["flags"]) & 0x10, text
    assert edge.wait_log(r"auth event=rcpt client=127\.0\.0\.2 .* trusted=0")
