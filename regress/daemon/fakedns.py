#!/usr/bin/python3
"""A small fake DNS server for Portcullis's tests: UDP and TCP on loopback.

It answers as a recursive resolver would, from a zone the test gives:
CNAMEs are followed within the zone and their targets' records added
to the answer.

Zone file, one record a line, '#' comments:

    example.test        MX      10 mx1.example.test
    example.test        MX      20 mx2.example.test
    mx1.example.test    A       192.0.2.1
    mx1.example.test    AAAA    2001:db8::1
    alias.example.test  CNAME   example.test
    nullmx.test         MX      0 .
    txt.test            TXT     some text
    gone.test           NXDOMAIN            # rcode NXDOMAIN
    broken.test         SERVFAIL            # rcode SERVFAIL
    closed.test         REFUSED             # rcode REFUSED
    dead.test           DROP                # never answers: a timeout
    slow.test           DELAY   2.5         # answers after 2.5 s
    slow.test           A       192.0.2.9
    big.test            TC                  # UDP answers truncated, TCP full
    big.test            A       192.0.2.10

A name that is not in the zone is NXDOMAIN (NOERROR without data when a
name below it is in the zone); a name in the zone without records of the
asked type is NOERROR without data.  Names are case-insensitive, the
final dot optional.

As a script, it serves until killed and prints "PORT n" first:

    /usr/bin/python3 regress/daemon/fakedns.py --zone FILE [--port 0]
        [--address 127.0.0.1] [--no-tcp] [-v]

Imported, the zone is a dict of name -> records, each record a
(type, value) tuple or a "TYPE value" string, or a single string:

    dns = FakeDNS({"example.test": [("MX", "10 mx.example.test")],
                   "mx.example.test": ["A 192.0.2.1"],
                   "gone.test": "NXDOMAIN"}).start()
    dns.port; dns.queries    # [(name, type, "udp"|"tcp"), ...]
    dns.set_zone({...})       # replace the zone while running
    dns.stop()

FakeDNS(text=...) or parse_zone(text) take the zone file format.
"""

import argparse
import select
import signal
import socket
import struct
import sys
import threading

from dnslib import (AAAA, A, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT,
                    DNSRecord)

CONTROLS = ("NXDOMAIN", "SERVFAIL", "REFUSED", "DROP", "DELAY", "TC")
RECORDS = ("A", "AAAA", "MX", "CNAME", "TXT", "PTR")
MAX_CNAMES = 8
TTL = 60


def _norm(name):
    return str(name).rstrip(".").lower()


def _record(rtype, value, where):
    rtype = rtype.upper()
    value = value.strip()
    if rtype not in CONTROLS + RECORDS:
        raise ValueError("%s: unknown type %r" % (where, rtype))
    if rtype == "DELAY":
        return (rtype, float(value))
    if rtype in CONTROLS:
        if value:
            raise ValueError("%s: %s takes no value" % (where, rtype))
        return (rtype, None)
    if not value:
        raise ValueError("%s: %s needs a value" % (where, rtype))
    if rtype == "MX":
        pref, host = value.split(None, 1)
        return (rtype, (int(pref), host.strip()))
    if rtype == "A":
        socket.inet_pton(socket.AF_INET, value)
    elif rtype == "AAAA":
        socket.inet_pton(socket.AF_INET6, value)
    return (rtype, value)


def parse_zone(text):
    """The zone file format into a normalised dict: name -> [(type, v)]."""
    zone = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise ValueError("line %d: name and type wanted" % n)
        value = parts[2] if len(parts) == 3 else ""
        zone.setdefault(_norm(parts[0]), []).append(
            _record(parts[1], value, "line %d" % n))
    return zone


def normalise(zone):
    """A test's dict (see the module's doc) into name -> [(type, v)]."""
    out = {}
    for name, recs in zone.items():
        if isinstance(recs, (str, tuple)):
            recs = [recs]
        for r in recs:
            if isinstance(r, str):
                parts = r.split(None, 1)
                r = (parts[0], parts[1] if len(parts) > 1 else "")
            rtype, value = r
            if isinstance(value, (int, float)) and rtype.upper() == "DELAY":
                value = str(value)
            if isinstance(value, tuple):        # ("MX", (10, "host"))
                value = "%d %s" % value
            out.setdefault(_norm(name), []).append(
                _record(rtype, value or "", name))
    return out


class FakeDNS:
    def __init__(self, zone=None, text=None, address="127.0.0.1", port=0,
                 tcp=True, verbose=False):
        self.zone = {}
        if zone is not None:
            self.zone.update(normalise(zone))
        if text is not None:
            self.zone.update(parse_zone(text))
        self.address = address
        self.port = port
        self.tcp = tcp
        self.verbose = verbose
        self.queries = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._udp = None
        self._tcp = None

    # ---- the zone ----------------------------------------------------

    def set_zone(self, zone=None, text=None):
        new = {}
        if zone is not None:
            new.update(normalise(zone))
        if text is not None:
            new.update(parse_zone(text))
        with self._lock:
            self.zone = new

    def _controls(self, name):
        recs = self.zone.get(name, [])
        return {t: v for t, v in recs if t in CONTROLS}

    def _exists(self, name):
        if name in self.zone:
            return True
        suffix = "." + name
        return any(n.endswith(suffix) for n in self.zone)

    def answer(self, data, proto):
        """The reply to one query (bytes), or None to stay silent."""
        try:
            req = DNSRecord.parse(data)
        except Exception:                       # not DNS: ignore it
            return None, 0
        if req.header.qr or not req.questions:
            return None, 0
        q = req.questions[0]
        qname = _norm(q.qname)
        qtype = QTYPE.get(q.qtype)
        with self._lock:
            self.queries.append((qname, qtype, proto))
            zone = self.zone
        if self.verbose:
            print("fakedns: %s %s %s" % (proto, qname, qtype),
                  file=sys.stderr, flush=True)
        first = {t: v for t, v in zone.get(qname, []) if t in CONTROLS}
        delay = first.get("DELAY", 0) or 0
        if "DROP" in first:
            return None, 0
        reply = req.reply()
        reply.header.aa = 0
        reply.header.ra = 1
        if "TC" in first and proto == "udp":
            reply.header.tc = 1
            return reply.pack(), delay
        name = qname
        for _ in range(MAX_CNAMES + 1):
            ctl = {t: v for t, v in zone.get(name, []) if t in CONTROLS}
            if "DROP" in ctl:
                return None, 0
            for rc in ("SERVFAIL", "REFUSED", "NXDOMAIN"):
                if rc in ctl:
                    reply.header.rcode = getattr(RCODE, rc)
                    return reply.pack(), delay
            if not self._exists(name):
                reply.header.rcode = RCODE.NXDOMAIN
                return reply.pack(), delay
            recs = [(t, v) for t, v in zone.get(name, [])
                    if t not in CONTROLS]
            cname = [v for t, v in recs if t == "CNAME"]
            if cname and qtype != "CNAME":
                reply.add_answer(RR(name + ".", QTYPE.CNAME, ttl=TTL,
                                    rdata=CNAME(cname[0])))
                name = _norm(cname[0])
                continue
            for t, v in recs:
                if t == qtype or qtype == "ANY":
                    reply.add_answer(self._rr(name, t, v))
            return reply.pack(), delay
        reply.header.rcode = RCODE.SERVFAIL     # a CNAME loop
        return reply.pack(), delay

    @staticmethod
    def _rr(name, t, v):
        if t == "A":
            rdata = A(v)
        elif t == "AAAA":
            rdata = AAAA(v)
        elif t == "MX":
            rdata = MX(v[1], v[0])
        elif t == "CNAME":
            rdata = CNAME(v)
        elif t == "PTR":
            rdata = PTR(v)
        else:
            rdata = TXT(v)
        return RR(name + ".", getattr(QTYPE, t), ttl=TTL, rdata=rdata)

    # ---- serving -----------------------------------------------------

    def start(self):
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        for _ in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.address, self.port))
            port = udp.getsockname()[1]
            if not self.tcp:
                break
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.address, port))
            except OSError:
                udp.close()
                tcp.close()
                if self.port != 0:
                    raise
                continue
            tcp.listen(16)
            self._tcp = tcp
            break
        else:
            raise OSError("fakedns: no port for both UDP and TCP")
        self._udp = udp
        self.port = port
        self._spawn(self._serve_udp)
        if self._tcp is not None:
            self._spawn(self._serve_tcp)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for s in (self._udp, self._tcp):
            if s is not None:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve_udp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._udp], [], [], 0.2)
            if not r:
                continue
            try:
                data, peer = self._udp.recvfrom(65535)
            except OSError:
                continue
            out, delay = self.answer(data, "udp")
            if out is None:
                continue
            if delay:
                threading.Thread(target=self._send_later, daemon=True,
                                 args=(out, peer, delay)).start()
            else:
                self._udp.sendto(out, peer)

    def _send_later(self, out, peer, delay):
        if not self._stop.wait(delay):
            try:
                self._udp.sendto(out, peer)
            except OSError:
                pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._tcp], [], [], 0.2)
            if not r:
                continue
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve_conn, args=(conn,),
                             daemon=True).start()

    def _serve_conn(self, conn):
        conn.settimeout(10)
        try:
            while not self._stop.is_set():
                head = self._recv(conn, 2)
                if head is None:
                    return
                data = self._recv(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                out, delay = self.answer(data, "tcp")
                if out is None:
                    continue
                if delay and self._stop.wait(delay):
                    return
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _recv(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


def main():
    ap = argparse.ArgumentParser(description="fake DNS server for tests")
    ap.add_argument("--zone", required=True, help="zone file, - for stdin")
    ap.add_argument("--port", type=int, default=0, help="0: choose one")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--no-tcp", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log every query to stderr")
    args = ap.parse_args()
    if args.zone == "-":
        text = sys.stdin.read()
    else:
        with open(args.zone) as f:
            text = f.read()
    try:
        zone = parse_zone(text)
    except ValueError as e:
        print("fakedns: %s: %s" % (args.zone, e), file=sys.stderr)
        return 1
    dns = FakeDNS(address=args.address, port=args.port,
                  tcp=not args.no_tcp, verbose=args.verbose)
    dns.zone = zone
    dns.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    print("PORT %d" % dns.port, flush=True)
    while not done.wait(1):
        pass
    dns.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
