"""A small SMTP client for black-box tests: raw bytes in, parsed replies out.

Unlike smtplib it sends exactly what the test gives it (bare CR, bare LF,
NUL, pipelined commands in one write, one byte at a time) and reads
replies with a deadline, so that a server that says nothing makes the test
fail instead of hanging.  Also: helpers to find what landed in the spool.
"""

import glob
import os
import re
import socket
import ssl
import subprocess
import time

TIMEOUT = 10.0


class Closed(Exception):
    """The server closed the connection before a whole reply came."""


class Reply:
    def __init__(self, lines):
        self.lines = lines              # each line without CRLF, as str
        self.code = int(lines[-1][:3])
        # the text of every line, after "250-" / "250 "
        self.texts = [l[4:] for l in lines]

    @property
    def text(self):
        return "\n".join(self.texts)

    @property
    def enhanced(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.texts[0])
        return m.group(1) if m else None

    def __repr__(self):
        return "Reply(%r)" % "\r\n".join(self.lines)


class Client:
    def __init__(self, port, host="127.0.0.1", source=None, timeout=TIMEOUT,
                 tls=False):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.tls = None
        if tls:
            self.start_tls()

    # ---- bytes -------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_some(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no reply in time")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise Closed("connection closed; have %r" % self.buf)
        self.buf += data

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            if len(self.buf) > 100000:
                raise AssertionError("reply line too long: %r" % self.buf)
            self.recv_some(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    # ---- replies -----------------------------------------------------
    def reply(self, timeout=None):
        """One whole (possibly multi-line) reply."""
        lines = []
        while True:
            l = self.line(timeout)
            assert re.match(r"^[2-5]\d\d[ -]", l) or \
                re.match(r"^[2-5]\d\d$", l), "not a reply line: %r" % l
            lines.append(l)
            if len(l) < 4 or l[3] == " ":
                break
            assert l[:3] == lines[0][:3], "code changed in reply: %r" % lines
        return Reply(lines)

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply(timeout)

    def expect(self, code, line=None, enhanced=None):
        r = self.cmd(line) if line is not None else self.reply()
        assert r.code == code, "%r: got %r, want %d" % (line, r, code)
        if enhanced is not None:
            assert r.enhanced == enhanced, \
                "%r: got %r, want %s" % (line, r, enhanced)
        return r

    def nothing_pending(self, wait=0.5):
        """True when the server sent nothing more within `wait`."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return True
        except ssl.SSLWantReadError:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += data
        return False if data else True

    def closed(self, timeout=None):
        """True when the server closes the connection within the time
        (after what is still to be read)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            except ssl.SSLError:
                return True
            if not data:
                return True
            self.buf += data

    # ---- sessions ----------------------------------------------------
    def greeting(self):
        r = self.reply()
        assert r.code == 220, r
        return r

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def start_tls(self):
        assert not self.buf, "plaintext left over before TLS: %r" % self.buf
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.tls = self.sock.version()

    def mail(self, sender="<sender@client.test>", rcpts=("<rcpt@dest.test>",),
             params=""):
        self.expect(250, "MAIL FROM:" + sender + (" " + params if params
                                                   else ""))
        for r in rcpts:
            self.expect(250, "RCPT TO:" + r)

    def data(self, payload):
        """DATA with payload already stuffed and ending in CRLF.CRLF;
        returns the final reply."""
        self.expect(354, "DATA")
        self.send(payload)
        return self.reply()

    def quit(self):
        try:
            r = self.cmd("QUIT")
        except (Closed, OSError):
            return None
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def queued_id(reply):
    """The id of a "250 2.0.0 Ok: queued as ID" reply."""
    assert reply.code == 250, reply
    m = re.fullmatch(r"2\.0\.0 Ok: queued as ([0-9a-f]{16})", reply.texts[-1])
    assert m, "not a queued reply: %r" % reply
    return m.group(1)


# ---- the spool --------------------------------------------------------

def spool_messages(spool):
    """{msgid: folder} of every committed message."""
    out = {}
    for path in glob.glob(os.path.join(spool, "queue", "*", "*", "message")):
        folder = os.path.dirname(path)
        out[os.path.basename(folder)] = folder
    return out


def spool_message(spool, msgid):
    folders = spool_messages(spool)
    assert msgid in folders, "message %s not in spool (have %s)" % (
        msgid, sorted(folders))
    with open(os.path.join(folders[msgid], "message"), "rb") as f:
        return f.read()


def split_received(stored):
    """(Received: header, rest) of a stored message."""
    assert stored.startswith(b"Received: "), stored[:200]
    # the header ends at the first line that does not start with white space
    lines = stored.split(b"\r\n")
    n = 1
    while n < len(lines) and lines[n][:1] in (b" ", b"\t"):
        n += 1
    head = b"\r\n".join(lines[:n]) + b"\r\n"
    return head, stored[len(head):]


def spool_envelopes(spool, msgid):
    """The envelopes file: a list of {key: value} dicts, one an envelope
    (rows after a "version:" line start a new one); the file header comes
    first as its own dict."""
    folders = spool_messages(spool)
    assert msgid in folders, msgid
    with open(os.path.join(folders[msgid], "envelopes"), "r",
              errors="replace") as f:
        text = f.read()
    blocks, cur = [], {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        if k == "version" and cur:
            blocks.append(cur)
            cur = {}
        cur[k] = v.strip()
    if cur:
        blocks.append(cur)
    return [b for b in blocks if "rcpt" in b], text


def make_cert(dirpath, cn="localhost"):
    """A self-signed certificate and key for the test; returns (cert, key)."""
    cert = os.path.join(str(dirpath), "cert.pem")
    key = os.path.join(str(dirpath), "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=" + cn, "-days", "1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key
