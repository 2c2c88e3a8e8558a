"""Black-box tests of delivery: the real daemon on loopback sends mail out
by MX (through a fake DNS server the test runs), by delivery rules to
relay hosts, and by LMTP, to scriptable sinks; retries, bounces (RFC
3464 DSNs that arrive at the sender's own MX), delay notices, TLS,
PIPELINING, connection reuse and loop detection.

The lab: every direct (MX) delivery goes to one port (`mx port`), so the
sinks that stand for different MX hosts listen on the same port at
different loopback addresses (127.0.0.1, 127.0.0.2, ...); 127.0.0.3 is
kept free, so a host there refuses connections.  The sender's domain
home.example has its own MX (127.0.0.2): bounces go there.
"""

import base64
import email
import email.policy
import glob
import json
import os
import re
import smtplib
import socket
import time

import pytest

from conftest import free_port, tcp_nodelay_of, wait_for
from fakedns import FakeDNS
from sink import Sink
from smtpclient import make_cert

HOSTNAME = "mx.portcullis.test"
SENDER = "alice@home.example"
HOME_IP = "127.0.0.2"          # the sender's MX: bounces land here
DEAD_IP = "127.0.0.3"          # nothing listens here: connection refused
ZONE_HOME = ("home.example MX 10 mx.home.example\n"
             f"mx.home.example A {HOME_IP}\n")


# ---- the lab --------------------------------------------------------

def common_port(ips):
    """A port that is free on every address of ips."""
    for _ in range(50):
        port = free_port(ips[0])
        ok = True
        for ip in ips[1:]:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            with socket.socket(fam) as s:
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port")


class Lab:
    def __init__(self, tmp_path, make_daemon):
        self.tmp = tmp_path
        self.make_daemon = make_daemon
        self.mx_port = common_port(["127.0.0.1", "127.0.0.2", "127.0.0.3",
                                    "127.0.0.4", "127.0.0.5", "::1"])
        self.sinks = []
        self.dns = None
        self.d = None

    def sink(self, name, ip="127.0.0.1", port=None, **kw):
        """A sink named name on ip:port (default: the MX port)."""
        folder = str(self.tmp / name)
        s = Sink(folder, host=ip, port=self.mx_port if port is None
                 else port, **kw)
        s.start()
        s.name = name
        self.sinks.append(s)
        return s

    def home(self):
        """The sender's MX, where bounces arrive."""
        return self.sink("home", ip=HOME_IP, hostname="mx.home.example")

    def zone(self, text):
        self.dns = FakeDNS(text=ZONE_HOME + text).start()
        return self.dns

    def config(self, extra="", direct=True, retry="1s"):
        d = self.d
        text = d.base_config() + f'hostname "{HOSTNAME}"\n'
        if direct:
            text += (f"resolver 127.0.0.1 port {self.dns.port}\n"
                     f"mx port {self.mx_port}\n")
        if retry:
            text += f"queue retry {retry}\n"
        return text + extra

    def daemon(self, extra="", **kw):
        self.d = self.make_daemon(start=False)
        self.d.write_config(self.config(extra, **kw))
        self.d.start()
        return self.d

    def close(self):
        for s in self.sinks:
            s.stop()
        if self.dns is not None:
            self.dns.stop()


@pytest.fixture
def lab(tmp_path, make_daemon):
    lab = Lab(tmp_path, make_daemon)
    yield lab
    lab.close()


def send(d, rcpts, body=None, sender=SENDER, mail_options=()):
    if body is None:
        body = b"Subject: test\r\n\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        refused = s.sendmail(sender, rcpts, body,
                             mail_options=list(mail_options))
        assert not refused, refused


def messages(sink):
    """[(eml bytes, env text)] in the order the sink got them."""
    files = glob.glob(os.path.join(sink.folder, "msg-*.eml"))
    files.sort(key=lambda p: int(re.search(r"msg-(\d+)\.eml", p).group(1)))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            eml = fh.read()
        with open(f[:-4] + ".env") as fh:
            env = fh.read()
        out.append((eml, env))
    return out


def wait_messages(sink, n=1, timeout=15.0):
    got = wait_for(lambda: len(messages(sink)) >= n and messages(sink),
                   timeout)
    assert got and len(got) >= n, \
        f"sink {sink.name}: {len(got or [])} messages, want {n}; " \
        f"sink log:\n{sink_log(sink)}"
    return got


def sink_log(sink):
    try:
        with open(os.path.join(sink.folder, "log")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def env_rcpts(env):
    return [l.split(" ", 1)[1].split(" ")[0] for l in env.splitlines()
            if l.startswith("rcpt ")]


def env_field(env, key):
    for l in env.splitlines():
        if l.startswith(key + " "):
            return l[len(key) + 1:]
    return None


def spool_messages(d):
    return glob.glob(os.path.join(d.spool, "queue", "*", "*", "message"))


class DSN:
    """A delivery status notification, parsed (RFC 3464, and the RFC
    6533 types): the per-message block and the per-recipient blocks."""

    def __init__(self, eml, env):
        self.raw = eml
        self.env = env
        self.msg = email.message_from_bytes(eml, policy=email.policy.compat32)
        self.per_message = None
        self.rcpts = []
        boundary = self.msg.get_boundary()
        if boundary is None:
            return
        for part in eml.split(b"--" + boundary.encode()):
            head, _, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if not re.search(rb"(?im)^content-type:\s*message/"
                             rb"(global-)?delivery-status", head):
                continue
            if re.search(rb"(?im)^content-transfer-encoding:\s*base64",
                         head):
                body = base64.b64decode(b"".join(body.split()))
            text = body.decode("utf-8", "replace").strip()
            blocks = [email.message_from_string(b) for b in
                      re.split(r"\r?\n\r?\n", text) if b.strip()]
            self.per_message = blocks[0]
            self.rcpts = blocks[1:]

    def recipient(self, addr):
        for r in self.rcpts:
            fr = r.get("Final-Recipient", "")
            if fr.split(";", 1)[-1].strip().lower() == addr.lower():
                return r
        return None

    def final_recipients(self):
        return sorted(r.get("Final-Recipient", "").split(";", 1)[-1]
                      .strip().lower() for r in self.rcpts)


def check_dsn(eml, env, to=SENDER):
    """Checks every DSN must pass; returns the parsed DSN."""
    dsn = DSN(eml, env)
    # the null reverse path: a DSN never causes another
    assert env_field(env, "mail").split(" ")[0] == "<>", env
    assert env_rcpts(env) == [f"<{to}>"], env
    m = dsn.msg
    assert m.get_content_type() == "multipart/report", m["Content-Type"]
    assert m.get_param("report-type") == "delivery-status"
    assert "MAILER-DAEMON" in m["From"], m["From"]
    assert to in m["To"], m["To"]
    assert dsn.per_message is not None, eml
    assert HOSTNAME in dsn.per_message.get("Reporting-MTA", ""), \
        dsn.per_message.items()
    assert dsn.rcpts, eml
    return dsn


def zone_far(ip="127.0.0.1"):
    return ("far.example MX 10 mx1.far.example\n"
            f"mx1.far.example A {ip}\n")


# ---- direct delivery by MX -------------------------------------------

def test_mx_delivery_bytes_and_dot_stuffing(lab):
    """A message to a far domain goes to its MX through the fake DNS and
    arrives byte for byte, with our Received: line on top; lines that
    start with "." (a lone dot among them) survive the dot-stuffing of
    both hops."""
    lab.zone(zone_far())
    far = lab.sink("far")
    d = lab.daemon()
    body = (b"From: alice@home.example\r\nTo: bob@far.example\r\n"
            b"Subject: dots\r\n\r\n"
            b".leading dot\r\n..two dots\r\n.\r\n. space\r\n"
            b"middle . dot\r\n...\r\nlast line\r\n")
    send(d, ["bob@far.example"], body)
    eml, env = wait_messages(far)[0]
    assert eml.startswith(b"Received: from "), eml[:200]
    # the Received: line may fold; the rest of the message is untouched
    assert eml.endswith(body), eml
    head = eml[:len(eml) - len(body)]
    assert f"by {HOSTNAME}".encode() in head, head
    assert env_field(env, "mail").startswith(f"<{SENDER}>"), env
    assert env_rcpts(env) == ["<bob@far.example>"], env
    assert env_field(env, "helo") == HOSTNAME, env
    assert any(q[0] == "far.example" and q[1] == "MX"
               for q in lab.dns.queries), lab.dns.queries
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example>")
    assert wait_for(lambda: not spool_messages(d), 10), \
        "delivered, yet still in the spool"


def test_mx_preference_lowest_first(lab):
    """The MX with the lowest preference value gets the message, however
    the DNS orders the answer."""
    lab.zone("far.example MX 20 mx2.far.example\n"
             "far.example MX 10 mx1.far.example\n"
             "far.example MX 30 mx3.far.example\n"
             "mx1.far.example A 127.0.0.4\n"
             "mx2.far.example A 127.0.0.1\n"
             "mx3.far.example A 127.0.0.1\n")
    best = lab.sink("best", ip="127.0.0.4")
    other = lab.sink("other", ip="127.0.0.1")
    d = lab.daemon()
    send(d, ["bob@far.example"])
    wait_messages(best)
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example>")
    assert messages(other) == []
    assert sink_log(other) == "", "the less preferred MX was contacted"


def test_mx_next_preference_when_first_refuses(lab):
    """The preferred MX refuses connections: the next one gets it, and the
    log says the first address failed over."""
    lab.zone("far.example MX 10 mx1.far.example\n"
             "far.example MX 20 mx2.far.example\n"
             f"mx1.far.example A {DEAD_IP}\n"
             "mx2.far.example A 127.0.0.1\n")
    second = lab.sink("second", ip="127.0.0.1")
    d = lab.daemon()
    send(d, ["bob@far.example"])
    eml, env = wait_messages(second)[0]
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert d.wait_log(r"mta event=failover relay=\S*mx1\.far\.example"
                      r"\S* tls=none result=4\d\d")
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example> "
                      r"host=\S*mx2\.far\.example")


def test_implicit_mx(lab):
    """A domain with an A record and no MX is its own mail host
    (RFC 5321 section 5.1)."""
    lab.zone("plain.example A 127.0.0.1\n")
    sink = lab.sink("plain")
    d = lab.daemon()
    send(d, ["bob@plain.example"])
    eml, env = wait_messages(sink)[0]
    assert env_rcpts(env) == ["<bob@plain.example>"]
    assert any(q[0] == "plain.example" and q[1] == "MX"
               for q in lab.dns.queries), lab.dns.queries
    assert d.wait_log(r"queue event=delivered to=<bob@plain\.example>")


def test_null_mx_bounces_5_1_10(lab):
    """A null MX (RFC 7505): no attempt, a bounce with 556 5.1.10 to the
    sender, through the sender's own MX, from MAILER-DAEMON with the null
    reverse path."""
    lab.zone("null.example MX 0 .\n"
             "null.example A 127.0.0.1\n")
    far = lab.sink("far")           # the A record must not be used
    home = lab.home()
    d = lab.daemon()
    body = b"Subject: to nowhere\r\nMessage-ID: <n1@home.example>\r\n\r\nx\r\n"
    send(d, ["bob@null.example"], body)
    eml, env = wait_messages(home)[0]
    dsn = check_dsn(eml, env)
    assert dsn.final_recipients() == ["bob@null.example"]
    r = dsn.recipient("bob@null.example")
    assert r["Action"].strip().lower() == "failed", r.items()
    assert r["Status"].strip() == "5.1.10", r.items()
    diag = r.get("Diagnostic-Code", "")
    assert "556" in diag and "5.1.10" in diag, r.items()
    # the original headers come back
    assert b"Subject: to nowhere" in eml
    assert messages(far) == [] and sink_log(far) == ""
    assert d.wait_log(r"queue event=permfail to=<bob@null\.example>")
    assert d.wait_log(r"queue event=dsn action=failed "
                      rf"to=<{re.escape(SENDER)}>")


def test_nxdomain_bounces_5_1_2(lab):
    lab.zone("gone.example NXDOMAIN\n")
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@gone.example"])
    eml, env = wait_messages(home)[0]
    dsn = check_dsn(eml, env)
    assert dsn.final_recipients() == ["bob@gone.example"]
    r = dsn.recipient("bob@gone.example")
    assert r["Action"].strip().lower() == "failed"
    assert r["Status"].strip() == "5.1.2", r.items()


# ---- replies: retry, per-recipient results, no bounce of a bounce ------

def test_451_then_250_is_retried(lab):
    lab.zone(zone_far())
    far = lab.sink("far", replies={"MAIL": ["451 4.3.0 try later",
                                            "250 2.1.0 Ok"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"])
    eml, env = wait_messages(far, timeout=20)[0]
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert d.wait_log(r"queue event=tempfail to=<bob@far\.example> "
                      r"attempts=1 .*451 4\.3\.0 try later")
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example> "
                      r"\S+ attempts=2")
    # two sessions, the first ended at MAIL
    assert len(re.findall(r"^\d+ connect$", sink_log(far), re.M)) == 2
    assert len(messages(far)) == 1
    assert messages(home) == [], "a temporary failure bounced"


def test_one_recipient_refused_one_accepted(lab):
    """550 for one recipient, 250 for the other: the message goes to the
    accepted one, a bounce about the refused one only goes to the
    sender."""
    lab.zone(zone_far())
    far = lab.sink("far", rcpt_replies={
        "bad@far.example": ["550 5.1.1 <bad@far.example> no such user"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["good@far.example", "bad@far.example"])
    eml, env = wait_messages(far)[0]
    assert env_rcpts(env) == ["<good@far.example>"], env
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.final_recipients() == ["bad@far.example"], beml
    r = dsn.recipient("bad@far.example")
    assert r["Action"].strip().lower() == "failed"
    assert r["Status"].strip() == "5.1.1", r.items()
    assert "no such user" in r.get("Diagnostic-Code", ""), r.items()
    assert "mx1.far.example" in r.get("Remote-MTA", ""), r.items()
    assert d.wait_log(r"queue event=delivered to=<good@far\.example>")
    assert d.wait_log(r"queue event=permfail to=<bad@far\.example>")
    time.sleep(0.5)
    assert len(messages(far)) == 1 and len(messages(home)) == 1


def test_never_bounce_a_null_sender(lab):
    """A message from <> that fails permanently is dropped: nothing goes
    anywhere, and the log says why."""
    lab.zone(zone_far() + "null.example MX 0 .\n")
    far = lab.sink("far", rcpt_replies={
        "bad@far.example": ["550 5.1.1 no such user"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["bad@far.example", "bob@null.example"], sender="")
    assert d.wait_log(r"queue event=drop to=<bad@far\.example> "
                      r"reason=\"null sender: no bounce\"")
    assert d.wait_log(r"queue event=drop to=<bob@null\.example> "
                      r"reason=\"null sender: no bounce\"")
    assert wait_for(lambda: not spool_messages(d), 10), \
        "a dropped message left in the spool"
    time.sleep(0.5)
    assert messages(far) == [] and messages(home) == []
    assert "event=dsn" not in d.log()
    # the far sink saw MAIL FROM:<> and a refused RCPT, nothing more
    assert re.search(r"^\d+ cmd MAIL FROM:<>", sink_log(far), re.M), \
        sink_log(far)
    assert sink_log(home) == ""


def test_bounce_after_expiry(lab):
    """The MX is down: retried until bounce-after, then a failed DSN
    with 4.4.7 or the last error (connection refused, 4.4.1).  The
    delay notice of warn-after (which must be shorter) came first."""
    lab.zone(zone_far(DEAD_IP))
    home = lab.home()
    d = lab.daemon("queue warn-after 2s\nqueue bounce-after 5s\n")
    t0 = time.monotonic()
    send(d, ["bob@far.example"])
    msgs = wait_messages(home, 2, timeout=20)
    elapsed = time.monotonic() - t0
    # the queue counts whole seconds: up to one early
    assert elapsed >= 3.9, f"bounced after {elapsed:.1f}s, before expiry"
    delayed, failed = [check_dsn(e, v) for e, v in msgs[:2]]
    assert delayed.recipient("bob@far.example")["Action"].strip().lower() \
        == "delayed", delayed.raw
    r = failed.recipient("bob@far.example")
    assert r is not None, failed.raw
    assert r["Action"].strip().lower() == "failed", r.items()
    assert r["Status"].strip() in ("4.4.7", "4.4.1"), r.items()
    assert d.wait_log(r"queue event=expired to=<bob@far\.example> "
                      r"attempts=[2-9]")
    assert wait_for(lambda: not spool_messages(d), 10)
    time.sleep(0.3)
    assert len(messages(home)) == 2


def test_delay_warning(lab):
    """After warn-after a delay DSN (Action: delayed) goes to the sender,
    once; the message stays queued."""
    lab.zone(zone_far(DEAD_IP))
    home = lab.home()
    d = lab.daemon("queue warn-after 2s\nqueue bounce-after 1h\n")
    send(d, ["bob@far.example"])
    eml, env = wait_messages(home, timeout=15)[0]
    dsn = check_dsn(eml, env)
    r = dsn.recipient("bob@far.example")
    assert r is not None, eml
    assert r["Action"].strip().lower() == "delayed", r.items()
    assert r["Status"].strip().startswith("4."), r.items()
    # more retries after the warning, and no second warning
    n = len(re.findall(r"event=tempfail to=<bob@far\.example>", d.log()))
    assert wait_for(lambda: len(re.findall(
        r"event=tempfail to=<bob@far\.example>", d.log())) >= n + 2, 10)
    assert len(messages(home)) == 1
    assert spool_messages(d), "the delayed message left the queue"
    assert "event=dsn action=failed" not in d.log()


# ---- delivery rules ------------------------------------------------

def rule(name, lines, hosts, port, extra="", disabled=False):
    return (f'delivery "{name}"{" disabled" if disabled else ""} {{\n' +
            "".join(f"    {l}\n" for l in lines) +
            f"    relay {hosts} port {port}{extra}\n}}\n")


def test_rules_first_match_wins_disabled_skipped(lab):
    lab.zone("other.example MX 10 mx.other.example\n"
             "mx.other.example A 127.0.0.1\n")
    a = lab.sink("a", port=free_port())
    b = lab.sink("b", port=free_port())
    off = lab.sink("off", port=free_port())
    mx = lab.sink("mx")
    d = lab.daemon(
        rule("off", ['match recipient "*@ruled.example"'], "127.0.0.1",
             off.port, disabled=True) +
        rule("first", ['match recipient "a@ruled.example"',
                       'match sender "boss@home.example"'], "127.0.0.1",
             a.port) +
        rule("second", ['match recipient "*@ruled.example"'], "127.0.0.1",
             b.port))
    # one message, three routes: recipients routed differently are
    # delivered separately
    send(d, ["a@ruled.example", "b@ruled.example", "c@other.example"])
    (_, ea), = wait_messages(a)
    (_, eb), = wait_messages(b)
    (_, em), = wait_messages(mx)
    assert env_rcpts(ea) == ["<a@ruled.example>"]
    assert env_rcpts(eb) == ["<b@ruled.example>"]
    assert env_rcpts(em) == ["<c@other.example>"]
    # a sender match: every recipient of boss's message takes "first"
    send(d, ["x@ruled.example", "y@other.example"],
         sender="boss@home.example")
    msgs = wait_messages(a, 2)
    assert sorted(env_rcpts(msgs[1][1])) == ["<x@ruled.example>",
                                             "<y@other.example>"]
    assert d.wait_log(r'delivery event=route rule "first"')
    assert d.wait_log(r'delivery event=route rule "second"')
    assert d.wait_log(r"delivery event=route mx other\.example")
    time.sleep(0.3)
    assert sink_log(off) == "", "a disabled rule was used"
    assert len(messages(b)) == 1 and len(messages(mx)) == 1
    assert 'rule "off"' not in d.log()


def test_rule_always_takes_everything(lab):
    lab.zone(zone_far())
    relay = lab.sink("relay", port=free_port())
    mx = lab.sink("mx")
    d = lab.daemon(rule("all", ["always"], "127.0.0.1", relay.port))
    send(d, ["bob@far.example", "carol@elsewhere.example"])
    (_, env), = wait_messages(relay)
    assert sorted(env_rcpts(env)) == ["<bob@far.example>",
                                      "<carol@elsewhere.example>"]
    time.sleep(0.3)
    assert sink_log(mx) == ""
    assert not any(q[1] == "MX" for q in lab.dns.queries), \
        f"MX looked up despite the always rule: {lab.dns.queries}"


def test_rule_failover_connection_refused(lab):
    """A relay host list: the first refuses connections, the second
    takes the message."""
    lab.zone("")
    port = lab.mx_port
    second = lab.sink("second", ip="127.0.0.4", port=port)
    d = lab.daemon(rule("pair", ["always"], f"{DEAD_IP}, 127.0.0.4", port),
                   direct=True)
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(second)
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert d.wait_log(rf"mta event=failover relay=\S*{re.escape(DEAD_IP)}"
                      r"\S* tls=none result=421")
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example> "
                      r"host=\S*127\.0\.0\.4")


def test_rule_failover_on_4xx(lab):
    """A 4xx greeting at the first relay host: the second takes it."""
    lab.zone("")
    port = lab.mx_port
    first = lab.sink("first", ip="127.0.0.1", port=port,
                     replies={"GREETING": ["421 4.3.2 busy\nDROP"]})
    second = lab.sink("second", ip="127.0.0.4", port=port)
    d = lab.daemon(rule("pair", ["always"], "127.0.0.1, 127.0.0.4", port))
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(second)
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert messages(first) == []
    assert re.search(r"^1 connect$", sink_log(first), re.M)


# ---- the SMTP client: transactions, reuse, PIPELINING, TLS -------------

def test_recipients_in_one_transaction(lab):
    lab.zone(zone_far())
    far = lab.sink("far")
    d = lab.daemon()
    rcpts = ["r1@far.example", "r2@far.example", "r3@far.example"]
    send(d, rcpts)
    (_, env), = wait_messages(far)
    assert sorted(env_rcpts(env)) == [f"<{r}>" for r in rcpts], env
    time.sleep(0.3)
    assert len(messages(far)) == 1
    assert len(re.findall(r"cmd MAIL FROM", sink_log(far))) == 1


def test_connection_reused_for_the_next_message(lab):
    lab.zone(zone_far())
    far = lab.sink("far")
    d = lab.daemon()
    send(d, ["bob@far.example"], b"Subject: one\r\n\r\n.1\r\n")
    wait_messages(far, 1)
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example>")
    send(d, ["carol@far.example"], b"Subject: two\r\n\r\n.2\r\n")
    msgs = wait_messages(far, 2)
    assert msgs[0][0].endswith(b"Subject: one\r\n\r\n.1\r\n")
    assert msgs[1][0].endswith(b"Subject: two\r\n\r\n.2\r\n")
    assert env_rcpts(msgs[1][1]) == ["<carol@far.example>"]
    log = sink_log(far)
    assert len(re.findall(r"^\d+ connect$", log, re.M)) == 1, log
    assert env_field(msgs[0][1], "conn") == env_field(msgs[1][1], "conn")
    # RSET between the two transactions
    lines = [l.split(" ", 1)[1] for l in log.splitlines()]
    first_msg = lines.index("message 1")
    second_mail = [i for i, l in enumerate(lines)
                   if l.startswith("cmd MAIL FROM")][1]
    assert "cmd RSET" in lines[first_msg:second_mail], log


def test_delivery_is_not_held_back_by_nagle(lab):
    """Outbound sessions turn Nagle's algorithm off: with it on, the
    last piece of a message larger than one write waited for the
    server's delayed ACK (40 ms a message on Linux), and relaying
    100 KiB messages went a third slower (bench/README)."""
    lab.zone(zone_far())
    far = lab.sink("far", replies={"GREETING": ["HANG"]})
    d = lab.daemon()
    send(d, ["someone@far.example"])
    assert wait_for(lambda: "connect" in sink_log(far), 10), sink_log(far)
    assert tcp_nodelay_of(d.worker_pid("delivery"), lab.mx_port) == 1


def test_a_busy_domain_keeps_its_backlog_waiting(lab):
    """With the domain's delivery slots all taken, its other due mail
    waits for a slot (show stats: queue.waiting) and is still scheduled
    to the operator; mail to another domain goes meanwhile."""
    lab.zone(zone_far() + "near.example MX 10 mx1.far.example\n")
    far = lab.sink("far", replies={"DOT": ["HANG", "250 2.0.0 ok"]})
    d = lab.daemon("queue deliveries 10 per-domain 1\n")
    send(d, ["first@far.example"])
    assert wait_for(lambda: "message 1" in sink_log(far), 10), sink_log(far)
    for i in range(3):
        send(d, [f"r{i}@far.example"])
    send(d, ["other@near.example"])

    # near.example is another domain: its slot is free
    msgs = wait_messages(far, 2)
    assert env_rcpts(msgs[1][1]) == ["<other@near.example>"]

    def shown():
        st = json.loads(d.ctl("show", "stats", json_out=True,
                              check=True).stdout)
        return st if st["queue.messages"] == 4 else None

    st = wait_for(shown, 10)
    assert st, d.ctl("show", "stats").stdout
    assert st["queue.inflight"] == 1, st
    assert st["queue.scheduled"] == 3 and st["queue.waiting"] == 3, st
    time.sleep(0.3)
    assert len(messages(far)) == 2


def test_pipelining_when_offered(lab):
    lab.zone(zone_far() +
             "slow.example MX 10 mx.slow.example\n"
             "mx.slow.example A 127.0.0.4\n")
    fast = lab.sink("fast")
    slow = lab.sink("slow", ip="127.0.0.4", pipelining=False)
    d = lab.daemon()
    send(d, ["a@far.example", "b@far.example", "a@slow.example",
             "b@slow.example"])
    (_, env), = wait_messages(fast)
    assert int(env_field(env, "pipelined")) >= 2, env
    (_, env), = wait_messages(slow)
    assert int(env_field(env, "pipelined")) == 0, env
    assert sorted(env_rcpts(env)) == ["<a@slow.example>",
                                      "<b@slow.example>"]


def test_opportunistic_starttls(lab):
    """Direct delivery uses STARTTLS when offered, self-signed or not."""
    cert, key = make_cert(lab.tmp)
    lab.zone(zone_far())
    far = lab.sink("far", starttls=(cert, key))
    d = lab.daemon()
    send(d, ["bob@far.example"])
    eml, env = wait_messages(far)[0]
    assert env_field(env, "tls").startswith("TLS"), env
    assert d.wait_log(r"mta event=delivery \S+ tls=TLSv1\.[23] "
                      r"rcpt=<bob@far\.example> result=250")


def test_rule_tls_verify_fails_noverify_works(lab):
    """A rule with `tls` verifies the relay's certificate: against a
    self-signed one it fails, temporarily, and nothing is sent in clear;
    `tls noverify` delivers over TLS."""
    cert, key = make_cert(lab.tmp)
    lab.zone("")
    strict = lab.sink("strict", port=free_port(), starttls=(cert, key))
    lax = lab.sink("lax", port=free_port(), starttls=(cert, key))
    home = lab.home()
    d = lab.daemon(
        rule("verify", ['match recipient "v@tls.example"'], "127.0.0.1",
             strict.port, " tls") +
        rule("noverify", ['match recipient "n@tls.example"'], "127.0.0.1",
             lax.port, " tls noverify"))
    send(d, ["v@tls.example", "n@tls.example"])
    (_, env), = wait_messages(lax)
    assert env_rcpts(env) == ["<n@tls.example>"]
    assert env_field(env, "tls").startswith("TLS"), env
    assert d.wait_log(r"queue event=tempfail to=<v@tls\.example> "
                      r"attempts=1 ")
    assert d.wait_log(r"queue event=tempfail to=<v@tls\.example> "
                      r"attempts=2 ")
    assert messages(strict) == []
    assert "cmd MAIL" not in sink_log(strict), sink_log(strict)
    assert "cmd STARTTLS" in sink_log(strict)
    assert messages(home) == [], "a TLS failure bounced at once"
    assert "event=permfail" not in d.log()


def test_lmtp_per_recipient_replies(lab):
    """`deliver lmtp`: LHLO, one reply per recipient after the data; a
    5xx bounces that recipient alone, a 4xx retries it alone."""
    lab.zone("")
    lmtp = lab.sink("lmtp", port=free_port(), lmtp=True, dot_replies={
        "b@local.example": ["550 5.1.1 <b@local.example> no mailbox"],
        "c@local.example": ["452 4.2.2 <c@local.example> over quota",
                            "250 2.0.0 <c@local.example> Ok"]})
    home = lab.home()
    d = lab.daemon('accept for domain "local.example" deliver lmtp '
                   f'"127.0.0.1:{lmtp.port}"\n')
    send(d, ["a@local.example", "b@local.example", "c@local.example"])
    msgs = wait_messages(lmtp, 2, timeout=20)
    assert "cmd LHLO " in sink_log(lmtp)
    assert env_rcpts(msgs[0][1]) == ["<a@local.example>",
                                     "<b@local.example>",
                                     "<c@local.example>"]
    assert env_rcpts(msgs[1][1]) == ["<c@local.example>"]
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.final_recipients() == ["b@local.example"], beml
    assert dsn.recipient("b@local.example")["Status"].strip() == "5.1.1"
    assert d.wait_log(r"queue event=delivered to=<a@local\.example> "
                      r"\S+ attempts=1")
    assert d.wait_log(r"queue event=delivered to=<c@local\.example> "
                      r"\S+ attempts=2")
    time.sleep(0.3)
    assert len(messages(lmtp)) == 2 and len(messages(home)) == 1


def test_mail_loop_detected(lab):
    """An MX that is the daemon itself (same hostname in the greeting):
    not delivered there, no loop; the sender gets a bounce."""
    lab.zone("loop.example MX 10 mx.loop.example\n"
             "mx.loop.example A 127.0.0.4\n")
    home = lab.home()
    lab.d = lab.make_daemon(start=False)
    d = lab.d
    d.write_config(lab.config(f"listen on 127.0.0.4 port {lab.mx_port}\n"))
    d.start()
    send(d, ["bob@loop.example"])
    eml, env = wait_messages(home, timeout=15)[0]
    dsn = check_dsn(eml, env)
    r = dsn.recipient("bob@loop.example")
    assert r is not None, eml
    assert r["Action"].strip().lower() == "failed"
    assert r["Status"].strip() == "5.4.6", r.items()
    assert d.wait_log(r"loops back to myself")
    time.sleep(0.5)
    # the message was never taken in again: one RCPT, one commit (the
    # DSN is made inside the queue)
    log = d.log()
    commits = re.findall(r"queue event=commit from=<([^>]*)>", log)
    assert commits == [SENDER], commits
    assert len(re.findall(r"smtp event=rcpt .*to=<bob@loop\.example>",
                          log)) == 1, log
    assert len(messages(home)) == 1


def test_8bitmime_to_a_server_without_8bitmime(lab):
    """An 8BITMIME message: BODY=8BITMIME where offered; to a server
    without 8BITMIME it goes as it is, without BODY= (mta.h), its bytes
    intact."""
    lab.zone(zone_far() +
             "old.example MX 10 mx.old.example\n"
             "mx.old.example A 127.0.0.4\n")
    new = lab.sink("new")
    old = lab.sink("old", ip="127.0.0.4", eightbit=False)
    d = lab.daemon()
    body = ("Subject: caf\u00e9\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "cr\u00e8me br\u00fbl\u00e9e \u2014 na\u00efve\r\n").encode()
    send(d, ["bob@far.example", "bob@old.example"], body,
         mail_options=["BODY=8BITMIME"])
    (neml, nenv), = wait_messages(new)
    (oeml, oenv), = wait_messages(old)
    assert "BODY=8BITMIME" in env_field(nenv, "mail").upper(), nenv
    assert "BODY=" not in env_field(oenv, "mail").upper(), oenv
    assert neml.endswith(body) and oeml.endswith(body)
    assert d.wait_log(r"queue event=delivered to=<bob@old\.example>")


# ---- more edges ------------------------------------------------------

def test_large_message_dot_stuffing_across_chunks(lab):
    """A message of several read chunks whose lines all start with a dot,
    of every length, so that line starts fall at every offset (chunk
    boundaries among them): it arrives byte for byte."""
    lab.zone(zone_far())
    far = lab.sink("far")
    d = lab.daemon()
    lines = []
    n = 0
    while sum(len(l) for l in lines) < 150000:
        lines.append(b"." + b"x" * (n % 97) + b"\r\n")
        n += 1
    body = b"Subject: big\r\n\r\n" + b"".join(lines) + b".\r\n..\r\n"
    send(d, ["bob@far.example"], body)
    eml, env = wait_messages(far, timeout=20)[0]
    assert eml.endswith(body), "the body changed on the way"
    assert len(eml) - len(body) < 1000


def test_mx_every_address_tried(lab):
    """An MX host with two addresses: the first refuses, the second
    takes it."""
    lab.zone("far.example MX 10 mx1.far.example\n"
             f"mx1.far.example A {DEAD_IP}\n"
             "mx1.far.example A 127.0.0.4\n")
    sink = lab.sink("far", ip="127.0.0.4")
    d = lab.daemon()
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(sink)
    assert env_rcpts(env) == ["<bob@far.example>"]


def test_dns_servfail_is_temporary(lab):
    """SERVFAIL: a temporary failure (retried, no bounce); once the DNS
    answers, the message goes."""
    dns = lab.zone("far.example SERVFAIL\n")
    far = lab.sink("far")
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"])
    assert d.wait_log(r"queue event=tempfail to=<bob@far\.example> "
                      r"attempts=1 .*4\.4\.3")
    assert messages(home) == []
    dns.set_zone(text=ZONE_HOME + zone_far())
    (_, env), = wait_messages(far, timeout=15)
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example>")
    assert messages(home) == []
    assert "event=permfail" not in d.log()


def test_pooled_session_closed_by_the_server(lab):
    """The server closes the connection after the first message: the
    next message to that host is delivered on a new connection, with no
    failure recorded."""
    lab.zone(zone_far())
    far = lab.sink("far", replies={"DOT": ["250 2.0.0 Ok\nDROP"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"], b"Subject: one\r\n\r\n1\r\n")
    wait_messages(far, 1)
    time.sleep(0.2)
    send(d, ["carol@far.example"], b"Subject: two\r\n\r\n2\r\n")
    msgs = wait_messages(far, 2)
    assert msgs[1][0].endswith(b"Subject: two\r\n\r\n2\r\n")
    assert d.wait_log(r"queue event=delivered to=<carol@far\.example> "
                      r"\S+ attempts=1")
    assert "event=tempfail" not in d.log()
    assert messages(home) == []


def test_pooled_session_refusing_rset(lab):
    """A pooled session whose RSET gets a 421 costs the job nothing: a
    new connection carries the message at once."""
    lab.zone(zone_far())
    far = lab.sink("far", replies={"RSET": ["421 4.3.2 closing\nDROP"]})
    d = lab.daemon()
    send(d, ["bob@far.example"], b"Subject: one\r\n\r\n1\r\n")
    wait_messages(far, 1)
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example>")
    send(d, ["carol@far.example"], b"Subject: two\r\n\r\n2\r\n")
    msgs = wait_messages(far, 2)
    assert env_rcpts(msgs[1][1]) == ["<carol@far.example>"]
    assert d.wait_log(r"queue event=delivered to=<carol@far\.example> "
                      r"\S+ attempts=1")
    assert "event=tempfail" not in d.log()
    # the pooled session was tried (RSET), then a new one carried it
    log = sink_log(far)
    assert re.search(r"^1 cmd RSET$", log, re.M), log
    assert env_field(msgs[1][1], "conn") == "2", msgs[1][1]


def test_message_over_the_servers_size_limit(lab):
    """SIZE offered and the message is bigger: a bounce with 5.3.4, and
    the message is not sent there."""
    lab.zone(zone_far())
    far = lab.sink("far", size=300)
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"],
         b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 30)
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.recipient("bob@far.example")["Status"].strip() == "5.3.4"
    assert messages(far) == []
    assert "cmd MAIL" not in sink_log(far)


def test_smtputf8_to_a_server_without_smtputf8(lab):
    """An SMTPUTF8 message: SMTPUTF8 where offered; a server without it
    is not sent the message (553 5.6.7, a bounce)."""
    lab.zone(zone_far() +
             "old.example MX 10 mx.old.example\n"
             "mx.old.example A 127.0.0.4\n")
    new = lab.sink("new", smtputf8=True)
    old = lab.sink("old", ip="127.0.0.4")
    home = lab.sink("home", ip=HOME_IP, smtputf8=True)
    d = lab.daemon()
    body = "Subject: h\u00e9\r\n\r\nx\r\n".encode()
    send(d, ["j\u00f6rg@far.example", "j\u00f6rg@old.example"], body,
         mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (_, nenv), = wait_messages(new)
    assert "SMTPUTF8" in env_field(nenv, "mail").upper(), nenv
    assert env_rcpts(nenv) == ["<j\u00f6rg@far.example>"]
    beml, benv = wait_messages(home)[0]
    dsn = DSN(beml, benv)
    assert env_field(benv, "mail").split(" ")[0] == "<>"
    assert len(dsn.rcpts) == 1, beml
    r = dsn.rcpts[0]
    assert "old.example" in r.get("Final-Recipient", ""), r.items()
    assert r["Status"].strip() == "5.6.7", r.items()
    assert messages(old) == []
    assert "cmd MAIL" not in sink_log(old)


def test_bounce_of_an_smtputf8_message_to_an_ascii_sender(lab):
    """The bounce of an SMTPUTF8 message goes to an ASCII sender whose MX
    does not offer SMTPUTF8: it must still arrive there (RFC 6533: the
    report can be made 7-bit, the utf-8-addr-xtext form exists for
    that; RFC 6532: message/global may be base64-encoded).  A bounce
    the sender never gets is a lost failure."""
    lab.zone("null.example MX 0 .\n")
    home = lab.home()           # no SMTPUTF8
    d = lab.daemon()
    body = "Subject: h\u00e9\r\n\r\nx\r\n".encode()
    send(d, ["j\u00f6rg@null.example"], body,
         mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert d.wait_log(r"queue event=dsn action=failed")
    beml, benv = wait_messages(home)[0]
    dsn = DSN(beml, benv)
    assert env_field(benv, "mail").split(" ")[0] == "<>"
    assert len(dsn.rcpts) == 1, beml
    assert dsn.rcpts[0]["Status"].strip() == "5.1.10"
    assert "event=drop" not in d.log()


def test_loop_detected_in_the_ehlo_reply(lab):
    """The greeting names another host but the EHLO reply names us (in
    another case): still a loop, 5.4.6, nothing sent."""
    lab.zone(zone_far())
    far = lab.sink("far", hostname=HOSTNAME.upper(),
                   replies={"GREETING": ["220 front.far.example ESMTP"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"])
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.recipient("bob@far.example")["Status"].strip() == "5.4.6"
    assert messages(far) == []
    assert "cmd MAIL" not in sink_log(far)


def test_5xx_greeting_tries_the_next_mx(lab):
    """A 554 banner refuses this client at this host, not the message:
    the next MX takes it."""
    lab.zone("far.example MX 10 mx1.far.example\n"
             "far.example MX 20 mx2.far.example\n"
             "mx1.far.example A 127.0.0.1\n"
             "mx2.far.example A 127.0.0.4\n")
    first = lab.sink("first", replies={"GREETING": ["554 5.7.1 go away"]})
    second = lab.sink("second", ip="127.0.0.4")
    d = lab.daemon()
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(second)
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert messages(first) == []


def test_mail_from_refused_fails_every_recipient(lab):
    """A 5xx to MAIL FROM: every recipient of the transaction fails, in
    one DSN."""
    lab.zone(zone_far())
    far = lab.sink("far", replies={"MAIL": ["550 5.7.1 sender refused"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["a@far.example", "b@far.example"])
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.final_recipients() == ["a@far.example", "b@far.example"]
    for r in dsn.rcpts:
        assert r["Status"].strip() == "5.7.1", r.items()
        assert r["Action"].strip().lower() == "failed"
    time.sleep(0.3)
    assert len(messages(home)) == 1
    # (pipelined: the RCPTs and DATA went along, refused by the sink)
    assert messages(far) == []


def test_rejected_after_data_bounces_every_recipient(lab):
    lab.zone(zone_far())
    far = lab.sink("far", replies={"DOT": ["554 5.6.0 content refused"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["a@far.example", "b@far.example"])
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.final_recipients() == ["a@far.example", "b@far.example"]
    for r in dsn.rcpts:
        assert r["Status"].strip() == "5.6.0", r.items()
    # the sink had the data (and refused it after the dot)
    assert len(messages(far)) == 1
    assert d.wait_log(r"queue event=permfail to=<a@far\.example>")


def test_dsn_ret_full_and_hdrs(lab):
    """RET=FULL returns the whole message, RET=HDRS (and the default)
    only its headers (RFC 3461/3464)."""
    lab.zone("null.example MX 0 .\n")
    home = lab.home()
    d = lab.daemon()
    full = b"Subject: full one\r\n\r\nthe secret body FULL\r\n"
    hdrs = b"Subject: hdrs one\r\n\r\nthe secret body HDRS\r\n"
    send(d, ["a@null.example"], full, mail_options=["RET=FULL"])
    wait_messages(home, 1)
    send(d, ["b@null.example"], hdrs, mail_options=["RET=HDRS"])
    msgs = wait_messages(home, 2)
    by = {DSN(e, v).final_recipients()[0]: (e, v) for e, v in msgs}
    efull = by["a@null.example"][0]
    ehdrs = by["b@null.example"][0]
    mfull = email.message_from_bytes(efull)
    mhdrs = email.message_from_bytes(ehdrs)
    types_full = [p.get_content_type() for p in mfull.walk()]
    types_hdrs = [p.get_content_type() for p in mhdrs.walk()]
    assert "message/rfc822" in types_full, types_full
    assert b"the secret body FULL" in efull
    assert "text/rfc822-headers" in types_hdrs, types_hdrs
    assert b"Subject: hdrs one" in ehdrs
    assert b"the secret body HDRS" not in ehdrs


def test_notify_never_means_no_bounce(lab):
    lab.zone("null.example MX 0 .\n")
    home = lab.home()
    d = lab.daemon()
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.sendmail(SENDER, ["bob@null.example"], b"Subject: x\r\n\r\nx\r\n",
                   rcpt_options=["NOTIFY=NEVER"])
    assert d.wait_log(r"queue event=drop to=<bob@null\.example> "
                      r"reason=\"NOTIFY excludes FAILURE\"")
    time.sleep(0.3)
    assert messages(home) == []


def test_mixed_case_domain_one_transaction(lab):
    """Domains compare without case: Bob@FAR.example and
    carol@far.EXAMPLE share one transaction."""
    lab.zone(zone_far())
    far = lab.sink("far")
    d = lab.daemon()
    send(d, ["Bob@FAR.example", "carol@far.EXAMPLE"])
    (_, env), = wait_messages(far)
    assert sorted(r.lower() for r in env_rcpts(env)) == \
        ["<bob@far.example>", "<carol@far.example>"]
    time.sleep(0.3)
    assert len(messages(far)) == 1


def test_one_recipient_451_retried_alone(lab):
    """A 451 for one recipient, 250 for the other: the other is
    delivered at once, the first later, alone."""
    lab.zone(zone_far())
    far = lab.sink("far", rcpt_replies={
        "later@far.example": ["451 4.2.0 try again later",
                              "250 2.1.5 Ok"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["now@far.example", "later@far.example"])
    msgs = wait_messages(far, 2, timeout=20)
    assert env_rcpts(msgs[0][1]) == ["<now@far.example>"]
    assert env_rcpts(msgs[1][1]) == ["<later@far.example>"]
    assert d.wait_log(r"queue event=delivered to=<later@far\.example> "
                      r"\S+ attempts=2")
    assert messages(home) == []


def test_every_recipient_refused_with_pipelining(lab):
    """PIPELINING and every RCPT refused: DATA gets its 554 and the
    client sends no message; both recipients bounce, and the host is
    still good for the next message."""
    lab.zone(zone_far())
    far = lab.sink("far", rcpt_replies={
        "a@far.example": ["550 5.1.1 no a"],
        "b@far.example": ["550 5.1.1 no b"]})
    home = lab.home()
    d = lab.daemon()
    send(d, ["a@far.example", "b@far.example"])
    beml, benv = wait_messages(home)[0]
    dsn = check_dsn(beml, benv)
    assert dsn.final_recipients() == ["a@far.example", "b@far.example"]
    assert messages(far) == []
    send(d, ["c@far.example"], b"Subject: next\r\n\r\nnext\r\n")
    (eml, env), = wait_messages(far)
    assert env_rcpts(env) == ["<c@far.example>"]
    assert eml.endswith(b"Subject: next\r\n\r\nnext\r\n")


def test_implicit_mx_ipv6(lab):
    """A domain with only an AAAA record: delivered over IPv6."""
    lab.zone("six.example AAAA ::1\n")
    sink = lab.sink("six", ip="::1")
    d = lab.daemon()
    send(d, ["bob@six.example"])
    (_, env), = wait_messages(sink)
    assert env_rcpts(env) == ["<bob@six.example>"]
    assert d.wait_log(r"queue event=delivered to=<bob@six\.example> "
                      r"host=\S*::1")


def test_mx_through_a_cname(lab):
    lab.zone(zone_far() + "alias.example CNAME far.example\n")
    sink = lab.sink("far")
    d = lab.daemon()
    send(d, ["bob@alias.example"])
    (_, env), = wait_messages(sink)
    assert env_rcpts(env) == ["<bob@alias.example>"]


def test_mx_host_without_address_next_mx(lab):
    """The preferred MX host name does not resolve: the next MX."""
    lab.zone("far.example MX 10 ghost.far.example\n"
             "far.example MX 20 mx2.far.example\n"
             "mx2.far.example A 127.0.0.4\n")
    sink = lab.sink("far", ip="127.0.0.4")
    d = lab.daemon()
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(sink)
    assert env_rcpts(env) == ["<bob@far.example>"]


def test_all_mx_hosts_down_is_temporary(lab):
    lab.zone("far.example MX 10 mx1.far.example\n"
             "far.example MX 10 mx2.far.example\n"
             f"mx1.far.example A {DEAD_IP}\n"
             "mx2.far.example A 127.0.0.5\n")
    home = lab.home()
    d = lab.daemon()
    send(d, ["bob@far.example"])
    assert d.wait_log(r"queue event=tempfail to=<bob@far\.example> "
                      r"attempts=2 .*4\.4\.1")
    assert messages(home) == []
    assert "event=permfail" not in d.log()


def test_rule_relay_host_by_name(lab):
    """A relay host given by name is resolved (through the resolver of
    the config)."""
    lab.zone("smarthost.example A 127.0.0.4\n")
    sink = lab.sink("smart", ip="127.0.0.4")
    d = lab.daemon(rule("smart", ["always"], "smarthost.example",
                        lab.mx_port))
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(sink)
    assert env_rcpts(env) == ["<bob@far.example>"]
    assert any(q[0] == "smarthost.example" for q in lab.dns.queries)


def test_rule_smtps_noverify(lab):
    """Implicit TLS to the relay (smtps noverify)."""
    cert, key = make_cert(lab.tmp)
    lab.zone("")
    sink = lab.sink("smtps", port=free_port(), smtps=(cert, key))
    d = lab.daemon(rule("tls", ["always"], "127.0.0.1", sink.port,
                        " smtps noverify"))
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(sink)
    assert env_field(env, "tls").startswith("TLS"), env
    assert env_rcpts(env) == ["<bob@far.example>"]


def test_lmtp_and_mx_in_one_message(lab):
    """One message for a local LMTP domain and a far domain: each goes
    its own way."""
    lab.zone(zone_far())
    lmtp = lab.sink("lmtp", port=free_port(), lmtp=True)
    far = lab.sink("far")
    d = lab.daemon('accept for domain "local.example" deliver lmtp '
                   f'"127.0.0.1:{lmtp.port}"\n')
    send(d, ["a@local.example", "b@far.example"])
    (_, lenv), = wait_messages(lmtp)
    (_, fenv), = wait_messages(far)
    assert env_rcpts(lenv) == ["<a@local.example>"]
    assert env_rcpts(fenv) == ["<b@far.example>"]


def test_opportunistic_starttls_failure_falls_back_to_clear(lab):
    """STARTTLS offered but the handshake never comes: opportunistic TLS
    tries the same address again in clear, at once (mta.h)."""
    cert, key = make_cert(lab.tmp)
    lab.zone(zone_far())
    far = lab.sink("far", starttls=(cert, key),
                   replies={"STARTTLS": ["220 2.0.0 go ahead\nDROP"]})
    d = lab.daemon()
    send(d, ["bob@far.example"])
    (_, env), = wait_messages(far)
    assert env_field(env, "tls") == "none", env
    assert env_field(env, "conn") == "2", env
    assert d.wait_log(r"queue event=delivered to=<bob@far\.example> "
                      r"\S+ attempts=1")
