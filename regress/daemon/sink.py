#!/usr/bin/python3
"""A small scriptable SMTP/LMTP sink for tests (loopback only).

Run as a script it listens, prints its port on the first line of stdout
and serves until it is killed (SIGTERM/SIGKILL):

    sink.py --dir DIR [--port 0] [--host 127.0.0.1] [--lmtp]
            [--hostname NAME] [--no-pipelining] [--no-8bitmime]
            [--smtputf8] [--dsn] [--size N] [--no-ehlo-ext NAME]...
            [--starttls CERT KEY | --smtps CERT KEY]
            [--reply CMD=REPLY]... [--rcpt-reply ADDR=REPLY]...
            [--dot-reply ADDR=REPLY]...

Imported, the same options are keyword arguments of Sink:

    s = Sink("/tmp/d", lmtp=True, replies={"MAIL": ["451 4.3.0 later",
             "250 2.1.0 Ok"]}, rcpt_replies={"bad@x": ["550 5.1.1 no"]})
    port = s.start(); ...; s.stop()

Replies.  CMD is one of GREETING EHLO HELO LHLO STARTTLS MAIL RCPT DATA
(the reply to the DATA command) DOT (the reply after the final dot) RSET
NOOP QUIT.  A command given several times gets its replies in turn over
the sink's life, the last one repeating ("451 then 250": --reply
MAIL=451... --reply MAIL=250...).  REPLY is "CODE text"; "\\n" (a
backslash and n, or a real newline) separates the lines of a multiline
reply, each written as given ("250-a\\n250 b").  Two replies are
actions: DROP closes the connection instead of replying, HANG never
replies (the client must time out); a reply whose last line is DROP is
sent without that line, then the connection is closed ("421 4.3.2
bye\\nDROP", or "220 go ahead\\nDROP" for a STARTTLS whose handshake
never comes).  --rcpt-reply gives the RCPT reply
for one address; --dot-reply the final reply for one recipient (LMTP:
one reply per accepted recipient; SMTP: the reply for the message when
its first recipient has one).  ADDR is compared case-insensitively.

What arrives is recorded in DIR, each file complete before the reply
that follows it is sent (so a client that got its reply can look):

    DIR/log          one line per event: "CONN connect", "CONN cmd LINE",
                     "CONN tls VERSION", "CONN close" (CONN counts from 1)
    DIR/msg-N.eml    message N (from 1), the bytes after dot-stuffing is
                     undone, CRLF kept, the final ".CRLF" removed
    DIR/msg-N.env    its envelope: "conn CONN", "helo NAME", "tls VERSION"
                     or "tls none", "mail LINE-AFTER-FROM:", one
                     "rcpt LINE-AFTER-TO:" per accepted recipient, and
                     "pipelined K": how many MAIL/RCPT commands of
                     the session were sent before the reply to the one
                     before them (0 without pipelining)

Only the standard library is used.
"""

import argparse
import os
import select
import socket
import socketserver
import ssl
import sys
import threading

LINE_MAX = 4096
CMDS = ("GREETING", "EHLO", "HELO", "LHLO", "STARTTLS", "MAIL", "RCPT",
        "DATA", "DOT", "RSET", "NOOP", "QUIT")


class Drop(Exception):
    pass


def _norm_reply(r):
    return r.replace("\\n", "\n")


class _Seq:
    """Replies for one key, in turn, the last one repeating."""

    def __init__(self, replies):
        self.replies = [_norm_reply(r) for r in replies]
        self.i = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            r = self.replies[min(self.i, len(self.replies) - 1)]
            self.i += 1
            return r


class Sink:
    def __init__(self, folder, host="127.0.0.1", port=0, lmtp=False,
                 hostname="sink.test", pipelining=True, eightbit=True,
                 smtputf8=False, dsn=False, size=0, no_ext=(),
                 starttls=None, smtps=None, replies=None,
                 rcpt_replies=None, dot_replies=None):
        self.folder = folder
        self.host = host
        self.port = port
        self.lmtp = lmtp
        self.hostname = hostname
        self.pipelining = pipelining
        self.eightbit = eightbit
        self.smtputf8 = smtputf8
        self.dsn = dsn
        self.size = size
        self.no_ext = set(x.upper() for x in no_ext)
        self.replies = {k.upper(): _Seq(v)
                        for k, v in (replies or {}).items()}
        self.rcpt_replies = {k.lower(): _Seq(v)
                             for k, v in (rcpt_replies or {}).items()}
        self.dot_replies = {k.lower(): _Seq(v)
                            for k, v in (dot_replies or {}).items()}
        self.ctx = None
        self.smtps = smtps is not None
        pair = smtps or starttls
        if pair:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(pair[0], pair[1])
        self.lock = threading.Lock()
        self.nconn = 0
        self.nmsg = 0
        self.server = None
        self.thread = None
        os.makedirs(folder, exist_ok=True)

    # -- recording ---------------------------------------------------

    def log(self, conn, what):
        with self.lock:
            with open(os.path.join(self.folder, "log"), "a") as f:
                f.write("%d %s\n" % (conn, what))

    def new_conn(self):
        with self.lock:
            self.nconn += 1
            return self.nconn

    def save(self, env, body):
        with self.lock:
            self.nmsg += 1
            n = self.nmsg
        base = os.path.join(self.folder, "msg-%d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(body)
        with open(base + ".env.tmp", "w") as f:
            f.write("".join(line + "\n" for line in env))
        # the envelope first: whoever sees msg-N.eml finds msg-N.env
        os.rename(base + ".env.tmp", base + ".env")
        os.rename(base + ".eml.tmp", base + ".eml")
        return n

    def reply_for(self, cmd, default):
        seq = self.replies.get(cmd)
        return seq.next() if seq else default

    def ehlo_lines(self, tls):
        ext = []
        if self.pipelining:
            ext.append("PIPELINING")
        if self.eightbit:
            ext.append("8BITMIME")
        if self.size:
            ext.append("SIZE %d" % self.size)
        if self.smtputf8:
            ext.append("SMTPUTF8")
        if self.dsn:
            ext.append("DSN")
        ext.append("ENHANCEDSTATUSCODES")
        if self.ctx is not None and not self.smtps and not tls:
            ext.append("STARTTLS")
        ext = [e for e in ext if e.split()[0] not in self.no_ext]
        return [self.hostname + " hello"] + ext

    # -- running -----------------------------------------------------

    def start(self):
        sink = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                _Session(sink, self.request).run()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = (socket.AF_INET6 if ":" in self.host
                              else socket.AF_INET)

        self.server = Server((self.host, self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self.port

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Session:
    def __init__(self, sink, sock):
        self.sink = sink
        self.sock = sock
        self.buf = b""
        self.conn = sink.new_conn()
        self.tls = None
        self.helo = ""
        self.pipelined = 0
        self.reset()

    def reset(self):
        self.mail = None
        self.rcpts = []

    # -- I/O ---------------------------------------------------------

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Drop()
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX:
                raise Drop()
            self.fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def early(self):
        """Was more input sent before our reply?  Waits 50 ms."""
        if self.buf:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        r, _, _ = select.select([self.sock], [], [], 0.05)
        return bool(r)

    def send(self, reply):
        if reply == "DROP":
            raise Drop()
        if reply == "HANG":
            while True:
                self.fill()
        lines = reply.split("\n")
        if len(lines) > 1 and lines[-1] == "DROP":
            self.sock.sendall("".join(l + "\r\n"
                                      for l in lines[:-1]).encode())
            raise Drop()
        self.sock.sendall("".join(l + "\r\n" for l in lines).encode())
        code = lines[-1][:3]
        return int(code) if code.isdigit() else 0

    def reply(self, cmd, default):
        return self.send(self.sink.reply_for(cmd, default))

    # -- the protocol ------------------------------------------------

    def run(self):
        self.sink.log(self.conn, "connect")
        try:
            if self.sink.smtps:
                self.starttls()
            self.reply("GREETING", "220 %s ESMTP sink" % self.sink.hostname)
            while self.command():
                pass
        except (Drop, OSError, ssl.SSLError):
            pass
        self.sink.log(self.conn, "close")
        try:
            self.sock.close()
        except OSError:
            pass

    def starttls(self):
        self.sock = self.sink.ctx.wrap_socket(self.sock, server_side=True)
        self.buf = b""
        self.tls = self.sock.version()
        self.sink.log(self.conn, "tls %s" % self.tls)

    def command(self):
        raw = self.readline()
        line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        self.sink.log(self.conn, "cmd " + line)
        verb = line.split(" ", 1)[0].upper()
        arg = line[len(verb):].strip()
        if verb in ("EHLO", "LHLO"):
            if (verb == "LHLO") != self.sink.lmtp:
                self.send("500 5.5.1 wrong greeting for this protocol")
                return True
            self.helo = arg
            self.reset()
            lines = self.sink.ehlo_lines(self.tls)
            default = "\n".join("250-" + l for l in lines[:-1])
            default += ("\n" if len(lines) > 1 else "") + "250 " + lines[-1]
            self.reply(verb, default)
        elif verb == "HELO":
            self.helo = arg
            self.reset()
            self.reply("HELO", "250 " + self.sink.hostname)
        elif verb == "STARTTLS":
            if self.sink.ctx is None or self.tls:
                self.send("502 5.5.1 no")
                return True
            if self.reply("STARTTLS", "220 2.0.0 go ahead") == 220:
                if self.buf:
                    raise Drop()    # plaintext injection
                self.starttls()
                self.helo = ""
                self.reset()
        elif verb == "MAIL":
            if self.mail is not None:
                self.send("503 5.5.1 nested MAIL")
                return True
            if self.early():
                self.pipelined += 1
            if self.reply("MAIL", "250 2.1.0 Ok") // 100 == 2:
                self.mail = line[10:] if line[:10].upper() == \
                    "MAIL FROM:" else arg
        elif verb == "RCPT":
            if self.early():
                self.pipelined += 1
            if self.mail is None:
                self.send("503 5.5.1 need MAIL")
                return True
            rest = line[8:] if line[:8].upper() == "RCPT TO:" else arg
            addr = rest.split(" ", 1)[0].strip("<>").lower()
            seq = self.sink.rcpt_replies.get(addr)
            r = seq.next() if seq else self.sink.reply_for("RCPT",
                                                           "250 2.1.5 Ok")
            if self.send(r) // 100 == 2:
                self.rcpts.append(rest)
        elif verb == "DATA":
            if self.mail is None or not self.rcpts:
                self.send("554 5.5.1 no valid recipients")
                return True
            if self.reply("DATA", "354 go ahead") != 354:
                return True
            self.data()
        elif verb == "RSET":
            self.reset()
            self.reply("RSET", "250 2.0.0 Ok")
        elif verb == "NOOP":
            self.reply("NOOP", "250 2.0.0 Ok")
        elif verb == "QUIT":
            self.reply("QUIT", "221 2.0.0 bye")
            return False
        else:
            self.send("500 5.5.2 unknown command")
        return True

    def data(self):
        body = []
        while True:
            line = self.readline()
            if line == b".\r\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            body.append(line)
        env = ["conn %d" % self.conn, "helo " + self.helo,
               "tls " + (self.tls or "none"), "mail " + self.mail]
        env += ["rcpt " + r for r in self.rcpts]
        env.append("pipelined %d" % self.pipelined)
        n = self.sink.save(env, b"".join(body))
        self.sink.log(self.conn, "message %d" % n)
        rcpts = self.rcpts
        self.reset()
        if self.sink.lmtp:
            for r in rcpts:
                self.send(self.dot_reply(r, "250 2.0.0 <%s> Ok" %
                                         r.split(" ")[0].strip("<>")))
        else:
            self.send(self.dot_reply(rcpts[0], "250 2.0.0 Ok: queued"))

    def dot_reply(self, rcpt, default):
        addr = rcpt.split(" ", 1)[0].strip("<>").lower()
        seq = self.sink.dot_replies.get(addr)
        return seq.next() if seq else self.sink.reply_for("DOT", default)


def _pairs(items):
    out = {}
    for it in items or ():
        k, sep, v = it.partition("=")
        if not sep:
            sys.exit("sink: expected KEY=REPLY, got %r" % it)
        out.setdefault(k, []).append(v)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="scriptable SMTP/LMTP sink")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lmtp", action="store_true")
    ap.add_argument("--hostname", default="sink.test")
    ap.add_argument("--no-pipelining", action="store_true")
    ap.add_argument("--no-8bitmime", action="store_true")
    ap.add_argument("--smtputf8", action="store_true")
    ap.add_argument("--dsn", action="store_true")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--no-ehlo-ext", action="append", default=[])
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--reply", action="append")
    ap.add_argument("--rcpt-reply", action="append")
    ap.add_argument("--dot-reply", action="append")
    a = ap.parse_args(argv)
    replies = _pairs(a.reply)
    for k in replies:
        if k.upper() not in CMDS:
            sys.exit("sink: unknown command %r" % k)
    s = Sink(a.dir, host=a.host, port=a.port, lmtp=a.lmtp,
             hostname=a.hostname, pipelining=not a.no_pipelining,
             eightbit=not a.no_8bitmime, smtputf8=a.smtputf8, dsn=a.dsn,
             size=a.size, no_ext=a.no_ehlo_ext, starttls=a.starttls,
             smtps=a.smtps, replies=replies,
             rcpt_replies=_pairs(a.rcpt_reply),
             dot_replies=_pairs(a.dot_reply))
    port = s.start()
    print(port, flush=True)
    try:
        s.thread.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
