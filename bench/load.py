"""Portcullis bench: the load (smtp-source or bench/loadgen) and the
sinks (smtp-sink or bench/sink)."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from daemons import Postfix
from procs import IS_ROOT, Procs, greeting, wait_for

FROM = "bench@portcullis.test"
TO = "sink@sink.test"
HELO = "loadgen.portcullis.test"

# a sink's count lines: smtp-sink -c, bench/sink
SMTP_SINK_COUNT = re.compile(rb"mesg=(\d+)$")
OWN_SINK_COUNT = re.compile(rb"^(\d+)$")

# ---- load: generators and sinks -------------------------------------------

def last_count(tail, rx, cut):
    """The count on the last whole line of `tail' (bytes from the end of
    a sink's output; lines end in CR or LF) that rx matches, or None.
    A line not yet ended is not whole; with cut, neither is the first
    (tail starts somewhere in the middle of the output)."""
    parts = re.split(rb"[\r\n]", tail)
    parts.pop()             # not ended yet, or empty
    if cut and parts:
        parts.pop(0)
    for part in reversed(parts):
        m = rx.search(part)
        if m:
            return int(m.group(1))
    return None


class Sink:
    """A sink on a port.  It writes its message count after every
    message (smtp-sink -c, bench/sink); that goes to a file, read only
    when the bench asks (count, wait).  Through a pipe it woke a reader
    thread of the bench for every message, on the two cores the daemons
    are measured on: 10-15 % of the generator's rate straight into
    smtp-sink."""

    POLL = 0.002        # seconds between looks while waiting

    def __init__(self, kind, port, tools, workdir):
        self.kind = kind
        self.port = port
        self.target = None
        self.last = 0
        self.errpath = os.path.join(workdir, f"sink-{port}.err")
        self.outpath = os.path.join(workdir, f"sink-{port}.out")
        err = open(self.errpath, "wb")
        out = open(self.outpath, "wb")
        if kind == "postfix":
            pf = tools.postfix
            cmd = [pf.path("usr/sbin/smtp-sink"), "-c"]
            if IS_ROOT:
                cmd += ["-u", "nobody"]
            cmd += [f"127.0.0.1:{port}", "1024"]
            self.proc = Procs.spawn(cmd, stdout=out, stderr=err,
                                    env=pf.env())
            self.rx = SMTP_SINK_COUNT
        else:
            cmd = [tools.sink, f"127.0.0.1:{port}"]
            self.proc = Procs.spawn(cmd, stdout=out, stderr=err)
            self.rx = OWN_SINK_COUNT
        err.close()
        out.close()
        self.fd = os.open(self.outpath, os.O_RDONLY | os.O_CLOEXEC)
        if not wait_for(lambda: greeting(port, 1.0) is not None, 10):
            raise RuntimeError(f"sink on port {port} did not start")

    @property
    def count(self):
        """Messages the sink has taken: the last whole count line at the
        end of its output."""
        try:
            size = os.fstat(self.fd).st_size
            off = max(0, size - 256)
            tail = os.pread(self.fd, 256, off)
        except OSError:
            return self.last
        n = last_count(tail, self.rx, off > 0)
        if n is not None and n > self.last:
            self.last = n
        return self.last

    def expect(self, target):
        self.target = target

    def wait(self, timeout):
        """Time the count was seen to reach the target, or None."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.count >= self.target:
                return now
            if now >= deadline or self.proc.poll() is not None:
                return None
            time.sleep(self.POLL)

    def stop(self):
        Procs.stop(self.proc)
        try:
            os.close(self.fd)
        except OSError:
            pass


class Tools:
    def __init__(self, args):
        self.loadgen = os.path.join(args.obj, "bench", "loadgen")
        self.sink = os.path.join(args.obj, "bench", "sink")
        for p in (self.loadgen, self.sink):
            if not os.access(p, os.X_OK):
                sys.exit(f"bench: {p} missing: run `make bench`")
        self.postfix = None
        self.gen = "own"
        self.gen_note = "bench/loadgen and bench/sink (own)"
        if args.gen in ("auto", "postfix"):
            pf = Postfix(args.cache, allow_download=not args.no_download)
            self.postfix = pf
            why = pf.reason
            if why is None:
                why = (pf.works("usr/sbin/smtp-source") or
                       pf.works("usr/sbin/smtp-sink"))
            if why is None:
                self.gen = "postfix"
                self.gen_note = (f"smtp-source and smtp-sink of Postfix "
                                 f"{pf.version} ({pf.how})")
            elif args.gen == "postfix":
                sys.exit(f"bench: smtp-source unusable: {why}")
            else:
                self.gen_note += f"; smtp-source unusable: {why}"

    def send(self, port, sessions, messages, length, keep, timeout,
             gen=None):
        """One load run, by smtp-source or bench/loadgen (gen "postfix"
        or "own"; by default the table's); {"ok", "elapsed", "capped",
        "error"}."""
        gen = gen or self.gen
        if gen == "postfix":
            pf = self.postfix
            cmd = [pf.path("usr/sbin/smtp-source"), "-c", "-s",
                   str(sessions), "-m", str(messages), "-l", str(length),
                   "-f", FROM, "-t", TO, "-M", HELO]
            if keep:
                cmd.append("-d")
            cmd.append(f"127.0.0.1:{port}")
            env = pf.env()
        else:
            cmd = [self.loadgen, "-s", str(sessions), "-m", str(messages),
                   "-l", str(length), "-f", FROM, "-t", TO, "-M", HELO,
                   "-T", str(int(timeout) + 5)]
            if keep:
                cmd.append("-d")
            cmd.append(f"127.0.0.1:{port}")
            env = None
        # smtp-source -c writes its count after every message: into a
        # file, not a pipe that would wake the bench each time (Sink)
        with tempfile.TemporaryFile() as outf:
            t0 = time.monotonic()
            p = Procs.spawn(cmd, stdout=outf, stderr=subprocess.PIPE,
                            env=env)
            capped = False
            try:
                _, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                capped = True
                os.kill(p.pid, signal.SIGTERM)
                try:
                    _, err = p.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    _, err = p.communicate(timeout=10)
            elapsed = time.monotonic() - t0
            Procs.started.remove(p)
            outf.seek(0)
            out = outf.read()
        error = None
        if gen == "postfix":
            counts = re.findall(rb"(\d+)", out)
            ok = int(counts[-1]) if counts else 0
            if p.returncode not in (0, None) and not capped:
                error = err.decode(errors="replace").strip()[-200:]
                # a failed session aborts smtp-source: what it had done
        else:
            ok = 0
            for line in out.decode(errors="replace").splitlines():
                try:
                    res = json.loads(line)
                except ValueError:
                    continue
                ok = res.get("ok", 0)
                if res.get("fail") or res.get("conn_errors"):
                    error = (f"{res.get('fail')} failed, "
                             f"{res.get('conn_errors')} connect errors")
                capped = capped or res.get("timeout", False)
        return {"ok": ok, "elapsed": elapsed, "capped": capped,
                "error": error}

    def idle(self, port, count, timeout):
        """Open `count' idle sessions, waiting at most `timeout' seconds
        for them all; returns (proc, ready-dict)."""
        # at most 4 connecting at once: OpenSMTPD's stock listen
        # backlog of 5 drops the SYNs of more (retried after 1, 3, 7 s...)
        p = Procs.spawn([self.loadgen, "-I", str(count), "-C", "4",
                         "-W", str(int(timeout)), "-M", HELO,
                         "-T", str(int(timeout) + 300),
                         f"127.0.0.1:{port}"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
        result = {}

        def reader():
            line = p.stdout.readline()
            try:
                result.update(json.loads(line))
            except ValueError:
                result["error"] = line.decode(errors="replace")

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout + 10)
        return p, result

    @staticmethod
    def idle_close(p):
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            pass
        Procs.stop(p)
