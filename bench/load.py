"""Portcullis bench: the load (smtp-source or bench/loadgen) and the
sinks (smtp-sink or bench/sink)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from daemons import Postfix
from procs import IS_ROOT, Procs, greeting, wait_for

FROM = "bench@portcullis.test"
TO = "sink@sink.test"
HELO = "loadgen.portcullis.test"

# ---- load: generators and sinks -------------------------------------------

class Sink:
    """A sink on a port, its message count read from its output."""

    def __init__(self, kind, port, tools, workdir):
        self.kind = kind
        self.port = port
        self.count = 0
        self.reached_at = None
        self.target = None
        self.lock = threading.Lock()
        self.errpath = os.path.join(workdir, f"sink-{port}.err")
        err = open(self.errpath, "wb")
        if kind == "postfix":
            pf = tools.postfix
            cmd = [pf.path("usr/sbin/smtp-sink"), "-c"]
            if IS_ROOT:
                cmd += ["-u", "nobody"]
            cmd += [f"127.0.0.1:{port}", "1024"]
            self.proc = Procs.spawn(cmd, stdout=subprocess.PIPE, stderr=err,
                                    env=pf.env())
            self.rx = re.compile(rb"mesg=(\d+)")
        else:
            cmd = [tools.sink, f"127.0.0.1:{port}"]
            self.proc = Procs.spawn(cmd, stdout=subprocess.PIPE, stderr=err)
            self.rx = re.compile(rb"^(\d+)$")
        err.close()
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        if not wait_for(lambda: greeting(port, 1.0) is not None, 10):
            raise RuntimeError(f"sink on port {port} did not start")

    def _reader(self):
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for part in reversed(parts):
                m = self.rx.search(part)
                if m:
                    n = int(m.group(1))
                    with self.lock:
                        if n > self.count:
                            self.count = n
                        if (self.target is not None and
                                self.reached_at is None and
                                self.count >= self.target):
                            self.reached_at = now
                    break

    def expect(self, target):
        with self.lock:
            self.target = target
            self.reached_at = (time.monotonic() if self.count >= target
                               else None)

    def wait(self, timeout):
        """Time the count reached the target, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.reached_at is not None:
                    return self.reached_at
            if self.proc.poll() is not None:
                return None
            time.sleep(0.002)
        return None

    def stop(self):
        Procs.stop(self.proc)


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

    def send(self, port, sessions, messages, length, keep, timeout):
        """One load run; {"ok", "elapsed", "capped", "error"}."""
        if self.gen == "postfix":
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
        t0 = time.monotonic()
        p = Procs.spawn(cmd, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=env)
        capped = False
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            capped = True
            os.kill(p.pid, signal.SIGTERM)
            try:
                out, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                out, err = p.communicate(timeout=10)
        elapsed = time.monotonic() - t0
        Procs.started.remove(p)
        error = None
        if self.gen == "postfix":
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
