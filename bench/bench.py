#!/usr/bin/python3
"""Portcullis benchmark: `make bench` (see bench/README).

Runs a load generator against the daemon on loopback, relaying to a
sink, and the same load against Postfix and OpenSMTPD where they can be
run (installed, or extracted from Debian's packages into a cache).
Prints a table of medians (min-max) and writes every run to
obj/bench/result.json.

Everything stays on 127.0.0.1.  Every process the bench starts is
recorded and stopped by its pid, also on Ctrl-C and on errors; every
wait is bounded in time.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

from daemons import (Portcullis, PostfixDaemon, OpenSMTPD, SinkDirect,
                     Postfix)
from load import FROM, Sink, Tools
from procs import (Procs, cpu_seconds, ext4_without_journal, first_220,
                   free_port, fs_type, greeting, loadavg, log, memory_kib,
                   tree, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = "/var/tmp/portcullis-bench"
KIB = 1024


# ---- measurements ---------------------------------------------------------

SIZES = {"1k": 1 * KIB, "100k": 100 * KIB}


# the targets' cell: 1 KiB, 50 sessions, one message a connection
REF = ("1k", 50, False)

# the build compared with this one (--against)
B_NAME = "portcullis-b"


def private_copy(src, bindir, name):
    """A copy of the program src as bindir/name, which the bench runs:
    others may rebuild obj/ meanwhile.  Its path."""
    if not os.access(src, os.X_OK):
        sys.exit(f"bench: {src} missing or not executable: run make first")
    dst = os.path.join(bindir, name)
    shutil.copy2(src, dst)
    return dst


def cells(quick):
    """(size, sessions, keep, messages) for each throughput row."""
    if quick:
        return [REF + (1000,)]
    counts = {("1k", 1): 200, ("1k", 10): 600, ("1k", 50): 1000,
              ("100k", 1): 60, ("100k", 10): 200, ("100k", 50): 300}
    out = []
    for size in ("1k", "100k"):
        for keep in (False, True):
            for sessions in (1, 10, 50):
                out.append((size, sessions, keep, counts[(size, sessions)]))
    return out


def cell_key(size, sessions, keep, gen=None):
    """"1k/50/one"; with gen (another load than the table's),
    "1k/50/one/loadgen"."""
    key = f"{size}/{sessions}/{'many' if keep else 'one'}"
    return key + "/loadgen" if gen == "own" else key


def cell_label(size, sessions, keep):
    return (f"{'1 KiB' if size == '1k' else '100 KiB'}, {sessions:>2} "
            f"sess, {'many msgs' if keep else 'one msg'}/conn")


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs
        self.cap = args.cap or (3.0 if self.quick else 6.0)
        self.results = {}     # (daemon, metric) -> list of run dicts
        self.notes = []
        self.reasons = {}     # daemon -> why not run
        self.daemons = []
        self.nojournal = False
        self.last_removal = None  # monotonic time queues were last emptied

    def record(self, daemon, metric, value, **extra):
        d = {"value": value}
        d.update(extra)
        self.results.setdefault((daemon, metric), []).append(d)

    def up(self, daemons):
        """The daemons that have not failed."""
        return [d for d in daemons if d.name not in self.reasons]

    def run_order(self, daemons, i):
        """Who runs first in round i.  Comparing two builds, the order
        turns every round, so that whatever running second costs or
        saves falls on both alike."""
        up = self.up(daemons)
        if getattr(self.args, "against", None) and i % 2:
            return up[::-1]
        return up

    def guard(self, d, fn, fatal=True):
        """Run one part for one daemon; a failure is written down (and
        with fatal, the daemon is out of the rest), not a stop."""
        try:
            fn()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            log(f"bench: {d.label}: {e}")
            if fatal:
                self.reasons[d.name] = str(e)[:300]
            else:
                self.notes.append(f"{d.label}: {str(e)[:300]}")
            try:
                if not fatal and not d.alive():
                    d.start()
            except (RuntimeError, OSError) as e2:
                self.reasons[d.name] = str(e2)[:300]

    def quiet_inodes(self, since):
        """The scale rates create every message's folder anew (its spool
        has no free/ pool then).  On ext4 without a journal a new inode
        skips every one freed in the last 60 s once written out, so a
        rate measured right after the three daemons' queues were emptied
        measured that skipping: the spool with 100,000 deferred once
        accepted 29 % more than the empty one, measured first.  sync(2),
        then wait until 65 s after `since' (bench/README)."""
        if since is None or not self.nojournal:
            return
        os.sync()
        wait = since + 65.0 - time.monotonic()
        if wait > 0:
            log(f"bench: scale: {wait:.0f} s for the inodes freed before "
                "to age (ext4 without a journal)")
            time.sleep(wait)

    # -- throughput --------------------------------------------------

    def settle(self, d):
        """Empty d's queue, then write out what is dirty: the daemon
        that ran before (OpenSMTPD syncs nothing) or the clearing may
        have left megabytes of dirty pages, and a daemon that syncs
        the whole file system (syncfs) would pay for them in its run."""
        if not d.clear(60):
            raise RuntimeError(f"{d.name}: queue did not empty")
        os.sync()

    def accept_run(self, d, size, sessions, keep, n, gen=None):
        self.settle(d)
        c0 = cpu_seconds(d.pid())
        k0 = d.counters()
        g = self.tools.send(d.port(), sessions, n, SIZES[size], keep,
                            self.cap, gen)
        c1 = cpu_seconds(d.pid())
        k1 = d.counters()
        ok = g["ok"]
        rate = ok / g["elapsed"] if g["elapsed"] > 0 else 0
        extra = {"ok": ok, "sent": n, "elapsed": round(g["elapsed"], 4),
                 "capped": g["capped"], "error": g["error"],
                 "cpu_s": round(c1 - c0, 3)}
        if k0.get("store.syncs") is not None and k1.get("store.syncs"):
            extra["store_syncs"] = k1["store.syncs"] - k0["store.syncs"]
        key = cell_key(size, sessions, keep, gen)
        self.record(d.name, "accept " + key, rate if ok else None, **extra)
        if ok:
            self.record(d.name, "cpu " + key, (c1 - c0) / ok * 1000.0)
            if "store_syncs" in extra:
                self.record(d.name, "syncs " + key,
                            extra["store_syncs"] / ok)

    def relay_run(self, d, size, sessions, keep, n, gen=None):
        """End to end: from the generator's start until the sink has
        every message it accepted.  A daemon slower than the time cap is
        measured over what reached the sink by then (marked *), and the
        rest is removed."""
        self.settle(d)
        sink = d.sink
        c0 = cpu_seconds(d.pid())
        base = sink.count
        t0 = time.monotonic()
        g = self.tools.send(d.port(), sessions, n, SIZES[size], keep,
                            self.cap, gen)
        ok = g["ok"]
        sink.expect(base + ok)
        window = max(self.cap, g["elapsed"]) + 2.0
        t1 = sink.wait(max(0.5, t0 + window - time.monotonic()))
        extra = {"ok": ok, "sent": n, "capped": g["capped"],
                 "error": g["error"],
                 "accept_elapsed": round(g["elapsed"], 4)}
        key = cell_key(size, sessions, keep, gen)
        if t1 is None:
            got = sink.count - base
            t1 = time.monotonic()
            extra.update(capped=True, sink_count=got,
                         elapsed=round(t1 - t0, 4))
            self.record(d.name, "relay " + key,
                        got / (t1 - t0) if got else None, **extra)
            if not d.clear(60):
                raise RuntimeError(f"{d.name}: queue did not empty")
            return
        d.drain(30)
        c1 = cpu_seconds(d.pid())
        extra["elapsed"] = round(t1 - t0, 4)
        self.record(d.name, "relay " + key, ok / (t1 - t0) if ok else None,
                    **extra)
        if ok:
            self.record(d.name, "relaycpu " + key, (c1 - c0) / ok * 1000.0)

    def throughput(self, phase, daemons):
        for d in daemons:
            self.guard(d, lambda: (d.set_phase(phase), d.clear(60)))
        todo = [c + (None,) for c in cells(self.quick)]
        if self.tools.gen == "postfix" and not self.args.no_loadgen_row:
            # The reference cell once more, loaded by bench/loadgen: on
            # two cores smtp-source's CPU comes out of the daemon's
            # share, the more so the faster the daemon (bench/README,
            # "Reading the figures").
            todo += [c + ("own",) for c in cells(self.quick)
                     if c[:3] == REF]
        for size, sessions, keep, n, gen in todo:
            log(f"bench: {phase} {cell_label(size, sessions, keep)}"
                f"{', bench/loadgen' if gen else ''}, "
                f"{n} messages x {self.runs}")
            for i in range(self.runs):
                for d in self.run_order(daemons, i):
                    if gen and d.name == "opensmtpd":
                        continue    # its backlog caps it either way
                    if phase == "accept":
                        self.guard(d, lambda: self.accept_run(
                            d, size, sessions, keep, n, gen))
                    else:
                        self.guard(d, lambda: self.relay_run(
                            d, size, sessions, keep, n, gen))

    # -- fsync -------------------------------------------------------

    def fsyncs(self, d):
        """fsync-family calls per accepted message, counted by strace
        (counts only) over one short run of the reference load."""
        if shutil.which("strace") is None:
            self.reasons.setdefault("fsync", "strace not installed")
            return
        d.set_phase("accept")
        d.clear(60)
        pids = tree(d.pid())
        out = os.path.join(self.workdir, f"strace-{d.name}.txt")
        cmd = ["strace", "-f", "-c", "-o", out, "-e",
               "trace=fsync,fdatasync,syncfs,sync,sync_file_range,msync"]
        for p in pids:
            cmd += ["-p", str(p)]
        st = Procs.spawn(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
        attached = 0
        deadline = time.monotonic() + 10
        os.set_blocking(st.stderr.fileno(), False)
        buf = b""
        while attached < len(pids) and time.monotonic() < deadline:
            try:
                chunk = st.stderr.read()
            except OSError:
                chunk = None
            if chunk:
                buf += chunk
                attached = buf.count(b"attached")
            time.sleep(0.01)
        n = 150 if self.quick else 300
        g = self.tools.send(d.port(), 50, n, KIB, False, self.cap * 2)
        time.sleep(0.2)
        os.kill(st.pid, signal.SIGINT)
        try:
            st.wait(30)
        except subprocess.TimeoutExpired:
            pass
        Procs.stop(st)
        calls = 0
        per = {}
        try:
            with open(out) as f:
                for line in f:
                    fields = line.split()
                    if (len(fields) >= 5 and fields[-1] != "total" and
                            re.match(r"^[\d.]+$", fields[0])):
                        per[fields[-1]] = int(fields[3])
                        calls += int(fields[3])
        except OSError:
            pass
        if g["ok"]:
            self.record(d.name, "fsync", calls / g["ok"], calls=per,
                        ok=g["ok"], attached=attached, of=len(pids))
        d.clear(60)

    # -- memory and start ---------------------------------------------

    def start_and_idle(self, d, count, wait, key):
        """One fresh start: time to the first 220, then memory per idle
        session with `count' sessions open (opened within `wait'
        seconds).  Leaves d stopped.  False when not all opened."""
        t = d.start()
        self.record(d.name, "first220" if key == "idle" else "first220b",
                    t * 1000.0)
        complete = False
        ready, t0, t1 = {}, 0, 0
        try:
            time.sleep(0.5)
            base = memory_kib(d.pid())
            p, ready = self.tools.idle(d.port(), count, wait)
            try:
                n = ready.get("ready") or 0
                complete = n == count
                if not complete:
                    self.record(d.name, f"{key} rss", None,
                                ready=ready)
                    self.notes.append(
                        f"{d.label}: only {n:,} of {count:,} idle sessions "
                        f"opened within {wait} s (not tried again)")
                if n:
                    time.sleep(0.5)
                    rss, pss, priv = memory_kib(d.pid())
                    if complete:
                        self.record(d.name, f"{key} rss",
                                    (rss - base[0]) / n, total_kib=rss,
                                    base_kib=base[0],
                                    procs=len(tree(d.pid())),
                                    open_s=ready.get("elapsed"))
                        self.record(d.name, f"{key} pss",
                                    (pss - base[1]) / n, total_kib=pss,
                                    base_kib=base[1])
                        self.record(d.name, f"{key} private",
                                    (priv - base[2]) / n, total_kib=priv,
                                    base_kib=base[2])
                if count >= 10000:
                    lat = [greeting(d.port(), 5.0) for _ in range(5)]
                    ok = [x for x in lat if x is not None]
                    self.record(d.name, f"{key} probe",
                                statistics.median(ok) * 1000.0 if ok
                                else None, probes=lat, held=n)
            finally:
                t0 = time.monotonic()
                Tools.idle_close(p)
                t1 = time.monotonic()
        finally:
            d.stop()
            if t1:
                log(f"bench: {d.label}: {ready.get('ready', 0)} of {count} "
                    f"idle opened in {ready.get('elapsed', 0):.1f} s; closed "
                    f"in {t1 - t0:.1f} s, stopped in "
                    f"{time.monotonic() - t1:.1f} s")
        return complete

    def idle_runs(self, d, count, wait, key):
        for _ in range(self.runs):
            if not self.start_and_idle(d, count, wait, key):
                return

    # -- the 100,000 deferred messages ------------------------------------

    def scale(self, smtpd, smtpctl, n_deferred):
        closed = free_port()
        sink = Sink(self.tools.gen, free_port(), self.tools, self.workdir)
        extra = ("queue retry 1h\n"
                 'delivery "deferred" {\n'
                 '    match recipient "*@deferred.test"\n'
                 f"    relay 127.0.0.1 port {closed}\n"
                 "}\n")
        d = Portcullis(self.args, self.workdir, sink.port, smtpd, smtpctl,
                       extra_conf=extra, tag="-scale")
        d.sink = sink
        n = 1000
        try:
            d.start()
            self.quiet_inodes(self.last_removal)
            self.scale_rates(d, "empty", n)
            self.scale_drain(d, closed, "small", self.args.backlog)
            drained = time.monotonic()
            log(f"bench: scale: filling the spool with {n_deferred} "
                "deferred messages")
            fails0 = (d.stats() or {}).get("delivery.tempfail", 0)
            t0 = time.monotonic()
            g = self.send_own(d.port(), 50, n_deferred, KIB, True,
                              "x@deferred.test", 1800)
            fill_s = time.monotonic() - t0

            def settled():
                # every one tried once, failed, and waits for its retry
                st = d.stats() or {}
                return (st.get("queue.inflight") == 0 and
                        st.get("delivery.tempfail", 0) - fails0 >= g["ok"])

            settled_ok = wait_for(settled, 600, 0.5)
            settle_s = time.monotonic() - t0 - fill_s
            st = d.stats() or {}
            self.record("portcullis", "scale fill", g["ok"] / fill_s,
                        ok=g["ok"], seconds=round(fill_s, 1),
                        settled=bool(settled_ok),
                        settle_seconds=round(settle_s, 1), stats=st)
            if not settled_ok:
                self.notes.append("Portcullis scale: the deferred messages "
                                  "had not all been tried after 600 s")
            held = st.get("queue.messages", 0)
            self.quiet_inodes(drained)
            self.scale_rates(d, "full", n)
            for _ in range(self.runs):
                d.stop()
                t0 = time.monotonic()
                d.proc = d.spawn()
                t220 = first_220(d.relay_port, t0, 120)

                def loaded():
                    s = d.stats() or {}
                    return s.get("queue.messages", -1) >= held

                ok = wait_for(loaded, 600, 0.05)
                t_loaded = time.monotonic() - t0
                self.record("portcullis", "scale restart 220",
                            t220 * 1000.0 if t220 else None)
                self.record("portcullis", "scale restart loaded",
                            t_loaded if ok else None, messages=held)
                wait_for(d.ready, 60)
            m = re.findall(r"queue event=recover .*", open(
                d.logpath, errors="replace").read())
            if m:
                self.notes.append("Portcullis scale: last " + m[-1][:150])
            self.scale_drain(d, closed, "full", 0)
        finally:
            d.stop()
            sink.stop()
            shutil.rmtree(d.spool, ignore_errors=True)

    def scale_drain(self, d, closed, which, n):
        """A backlog to one domain, all due at once: the deferred
        messages (first n more of them, when n) go when a sink opens
        their closed port and `smtpctl schedule all' runs.  Rate: the
        backlog over the time until the sink has it all."""
        if n:
            fails0 = (d.stats() or {}).get("delivery.tempfail", 0)
            g = self.send_own(d.port(), 50, n, KIB, True,
                              "x@deferred.test", 600)

            def settled():
                st = d.stats() or {}
                return (st.get("queue.inflight") == 0 and
                        st.get("delivery.tempfail", 0) - fails0 >= g["ok"])

            if not g["ok"] or not wait_for(settled, 300, 0.2):
                self.notes.append(f"Portcullis scale: the {which} backlog "
                                  "was not deferred")
                return
        backlog = (d.stats() or {}).get("queue.messages", 0)
        log(f"bench: scale: draining a backlog of {backlog:,} due at once")
        sink = Sink(self.tools.gen, closed, self.tools, self.workdir)
        try:
            sink.expect(backlog)
            t0 = time.monotonic()
            res = d.ctl("schedule", "all", timeout=120)
            t1 = sink.wait(1200) if res and res.returncode == 0 else None
            self.record("portcullis", f"scale drain {which}",
                        backlog / (t1 - t0) if t1 and backlog else None,
                        messages=backlog)
            wait_for(lambda: d.queue_size() == 0, 60)
        finally:
            sink.stop()

    def send_own(self, port, sessions, n, length, keep, to, timeout):
        cmd = [self.tools.loadgen, "-s", str(sessions), "-m", str(n), "-l",
               str(length), "-f", FROM, "-t", to, "-T", str(int(timeout))]
        if keep:
            cmd.append("-d")
        cmd.append(f"127.0.0.1:{port}")
        p = Procs.spawn(cmd, stdout=subprocess.PIPE)
        out, _ = p.communicate(timeout=timeout + 30)
        Procs.started.remove(p)
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"ok": 0}

    def scale_rates(self, d, which, n):
        """Accept (delivery paused) and relay rates, 1 KiB, 50 sessions,
        one message per connection, with the spool as it is."""
        d.set_phase("accept")
        for _ in range(self.runs):
            g = self.tools.send(d.port(), 50, n, KIB, False, self.cap)
            self.record("portcullis", f"scale accept {which}",
                        g["ok"] / g["elapsed"] if g["ok"] else None,
                        ok=g["ok"])
        before = d.queue_size() or 0
        d.set_phase("relay")
        wait_for(lambda: (d.queue_size() or 0) <= before - self.runs * n,
                 120, 0.1)
        for _ in range(self.runs):
            base = d.sink.count
            t0 = time.monotonic()
            g = self.tools.send(d.port(), 50, n, KIB, False, self.cap)
            d.sink.expect(base + g["ok"])
            t1 = d.sink.wait(120)
            self.record("portcullis", f"scale relay {which}",
                        g["ok"] / (t1 - t0) if t1 and g["ok"] else None,
                        ok=g["ok"])

    # -- the whole ---------------------------------------------------------

    def main(self):
        args = self.args
        t_start = time.monotonic()
        self.load_start = loadavg()
        self.workdir = os.path.join(args.cache, "run")
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        os.chmod(self.workdir, 0o755)
        self.tools = Tools(args)
        self.nojournal = ext4_without_journal(self.workdir)
        log(f"bench: load: {self.tools.gen_note}")

        # a private copy of the daemon: others may rebuild obj/ meanwhile
        bindir = os.path.join(args.obj, "bench", "bin")
        os.makedirs(bindir, exist_ok=True)
        smtpd = private_copy(args.smtpd, bindir, "smtpd")
        smtpctl = private_copy(args.smtpctl, bindir, "smtpctl")

        sinks = []

        def new_sink():
            s = Sink(self.tools.gen, free_port(), self.tools, self.workdir)
            sinks.append(s)
            return s

        want = args.mtas.split(",")
        daemons = []
        s = new_sink()
        pc = Portcullis(args, self.workdir, s.port, smtpd, smtpctl)
        pc.sink = s
        if pc.reason:
            sys.exit(f"bench: Portcullis: {pc.reason}")
        daemons.append(pc)
        if args.against:
            daemons.append(self.portcullis_b(bindir, smtpctl, new_sink()))
        if "postfix" in want:
            pf = self.tools.postfix or Postfix(args.cache,
                                               not args.no_download)
            if pf.reason is None:
                s = new_sink()
                d = PostfixDaemon(pf, self.workdir, s.port)
                d.sink = s
                if d.reason:
                    self.reasons["postfix"] = d.reason
                else:
                    daemons.append(d)
            else:
                self.reasons["postfix"] = pf.reason
        if "opensmtpd" in want:
            s = new_sink()
            d = OpenSMTPD(args, self.workdir, s.port)
            d.sink = s
            if d.reason:
                self.reasons["opensmtpd"] = d.reason
            else:
                daemons.append(d)
        self.daemons = daemons
        for name, why in self.reasons.items():
            log(f"bench: {name} not run: {why}")

        phases = set(args.phases.split(","))
        if "all" in phases:
            phases = {"start", "idle10k", "accept", "fsync", "relay",
                      "scale"}

        # start, memory with idle sessions: a fresh daemon each time
        if "start" in phases:
            for d in daemons:
                n = args.idle
                if d.name == "postfix" and self.quick:
                    # one process per session, ~45 ms each to start
                    n = args.idle_postfix_quick
                    self.notes.append(f"{d.label}: {n} idle sessions in "
                                      "QUICK (it starts a process for each)")
                log(f"bench: {d.label}: start to first 220, {n} "
                    f"idle sessions x {self.runs}")
                self.guard(d, lambda: self.idle_runs(d, n, 120, "idle"))
        if "idle10k" in phases and not self.quick and not args.no_10k:
            for d in self.up(daemons):
                if d.name == "postfix":
                    self.reasons.setdefault(
                        "postfix idle10k",
                        "one smtpd process (some MiB) per session: "
                        "10,000 would not fit")
                    continue
                log(f"bench: {d.label}: 10,000 idle sessions x {self.runs}")
                self.guard(d, lambda: self.idle_runs(d, 10000, 45,
                                                     "idle10k"),
                           fatal=False)

        # throughput: all daemons up at once, their runs interleaved
        if phases & {"accept", "fsync", "relay"}:
            for d in self.up(daemons):
                self.guard(d, d.start)
            ceiling = SinkDirect(new_sink())
            if "accept" in phases:
                self.throughput("accept", self.up(daemons) + [ceiling])
            if "fsync" in phases:
                for d in self.up(daemons):
                    log(f"bench: {d.label}: fsync calls (strace, counts "
                        "only)")
                    self.guard(d, lambda: self.fsyncs(d), fatal=False)
            if "relay" in phases:
                self.throughput("relay", self.up(daemons))
            for d in daemons:
                d.stop()
            self.last_removal = time.monotonic()
        if "scale" in phases and not self.quick and not args.no_scale:
            log(f"bench: Portcullis with {args.deferred:,} deferred")
            self.scale(smtpd, smtpctl, args.deferred)
        for s in sinks:
            s.stop()

        self.elapsed = time.monotonic() - t_start
        self.report(daemons)
        # Deleting thousands of spool files makes ext4 without a journal
        # skip those inodes for 30 s to 5 min on every allocation: do it
        # now, after the table, so that the next bench does not start by
        # slowing down its own first runs (bench/README).
        for d in daemons:
            for path in d.spools():
                shutil.rmtree(path, ignore_errors=True)

    def portcullis_b(self, bindir, smtpctl, sink):
        """The build to compare with (--against): a copy of it, with the
        smtpctl beside it when there is one (its control protocol), in
        its own folder and spool, relaying to its own sink."""
        src = os.path.abspath(self.args.against)
        ctl = os.path.join(os.path.dirname(src), "smtpctl")
        smtpd_b = private_copy(src, bindir, "smtpd-b")
        if os.access(ctl, os.X_OK):
            smtpctl = private_copy(ctl, bindir, "smtpctl-b")
        b = Portcullis(self.args, self.workdir, sink.port, smtpd_b,
                       smtpctl, tag="-b")
        if b.reason:
            sys.exit(f"bench: Portcullis-B: {b.reason}")
        b.name, b.label, b.version = B_NAME, "Portcullis-B", src
        b.sink = sink
        return b

    # -- the table -------------------------------------------------------------

    def figure(self, daemon, metric):
        rows = self.results.get((daemon, metric))
        if not rows:
            return None
        vals = [r["value"] for r in rows if r["value"] is not None]
        if not vals:
            return {"median": None, "n": len(rows), "failed": len(rows)}
        return {"median": statistics.median(vals), "min": min(vals),
                "max": max(vals), "n": len(vals),
                "failed": len(rows) - len(vals),
                "capped": any(r.get("capped") for r in rows),
                "errors": sorted({r["error"] for r in rows
                                  if r.get("error")})}

    def report(self, daemons):
        cols = list(daemons)
        ref = "portcullis"

        def fmt_num(v, digits):
            if v is None:
                return "-"
            if digits == 0:
                return f"{v:,.0f}"
            return f"{v:,.{digits}f}"

        def cell(daemon, metric, digits):
            f = self.figure(daemon, metric)
            if f is None:
                return ""
            if f["median"] is None:
                return "failed"
            s = fmt_num(f["median"], digits)
            if f["n"] > 1:
                s += (f" ({fmt_num(f['min'], digits)}-"
                      f"{fmt_num(f['max'], digits)})")
            if f.get("capped"):
                s += "*"
            if f.get("errors") or f.get("failed"):
                s += "!"
            return s

        spec = []
        spec.append(("Accepted msg/s, delivery paused (higher is better)",))
        for size, sessions, keep, _ in cells(self.quick):
            k = cell_key(size, sessions, keep)
            spec.append((cell_label(size, sessions, keep), "accept " + k,
                         0, "high"))
        own = cell_key(*REF, "own")
        own_label = cell_label(*REF) + ", bench/loadgen"
        if self.figure("portcullis", "accept " + own):
            spec.append((own_label, "accept " + own, 0, "high"))
        spec.append(("Relayed end to end msg/s, until the sink has all",))
        for size, sessions, keep, _ in cells(self.quick):
            k = cell_key(size, sessions, keep)
            spec.append((cell_label(size, sessions, keep), "relay " + k,
                         0, "high"))
        if self.figure("portcullis", "relay " + own):
            spec.append((own_label, "relay " + own, 0, "high"))
        refcell = cell_key(*REF)
        spec.append(("Cost (lower is better)",))
        spec.append(("CPU ms per accepted msg (1 KiB, 50 sess, one/conn)",
                     "cpu " + refcell, 2, "low"))
        spec.append(("CPU ms per relayed msg (same load, end to end)",
                     "relaycpu " + refcell, 2, "low"))
        spec.append(("fsync calls per accepted msg (strace, 50 sess)",
                     "fsync", 2, "low"))
        spec.append((f"RSS KiB per idle session ({self.args.idle:,} open)",
                     "idle rss", 1, "low"))
        spec.append((f"PSS KiB per idle session ({self.args.idle:,} open)",
                     "idle pss", 1, "low"))
        spec.append(("Start (exec) to first 220, ms", "first220", 1, "low"))
        if not self.quick and not self.args.no_10k:
            spec.append(("PSS KiB per idle session (10,000 open)",
                         "idle10k pss", 1, "low"))
            spec.append(("New client's 220 with 10,000 idle, ms",
                         "idle10k probe", 1, "low"))

        names = [(d.name, d.label) for d in cols]
        others = [n for n, _ in names if n != ref]
        header = ["", ] + [lbl for _, lbl in names]
        for n in others:
            header.append("P/" + dict(names)[n].split()[0])
        header.append("gen->sink")
        lines = []
        table = []
        for s in spec:
            if len(s) == 1:
                table.append([s[0]])
                continue
            label, metric, digits, _ = s
            row = ["  " + label]
            for n, _ in names:
                row.append(cell(n, metric, digits))
            fr = self.figure(ref, metric)
            for n in others:
                fo = self.figure(n, metric)
                if (fr and fo and fr["median"] is not None and
                        fo["median"] not in (None, 0)):
                    row.append(f"{fr['median'] / fo['median']:.3g}x")
                else:
                    row.append("")
            row.append(cell("ceiling", metric, 0)
                       if metric.startswith("accept") else "")
            table.append(row)
        widths = [max(len(r[i]) for r in table + [header] if len(r) > 1)
                  for i in range(len(header))]

        def fmt_row(r):
            if len(r) == 1:
                return r[0]
            return "  ".join(c.ljust(widths[i]) if i == 0 else
                             c.rjust(widths[i]) for i, c in enumerate(r))

        when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines.append(f"Portcullis bench ({'QUICK' if self.quick else 'full'}"
                     f", {when}; {os.cpu_count()} cores, "
                     f"{platform.release()}): median (min-max) of "
                     f"{self.runs} runs")
        lines.append(f"load: {self.tools.gen_note}; idle sessions and the "
                     "probes: bench/loadgen")
        lines.append(f"spools on {fs_type(self.workdir)}"
                     f"{' without a journal' if self.nojournal else ''}"
                     "; load average "
                     f"{self.load_start} at the start, {loadavg()} at the "
                     "end (others' work shares these cores)")
        lines.append("")
        lines.append(fmt_row(header))
        for r in table:
            lines.append(fmt_row(r))
        lines.append("")
        lines += self.paired_lines()
        if ("portcullis", "scale fill") in self.results:
            lines += self.scale_lines()
        lines += self.target_lines()
        lines.append("P/X: the Portcullis figure divided by X's.  "
                     "* a run hit the time cap of "
                     f"{self.cap:.0f} s (rate over what was done);  "
                     "! a run had failures (see result.json)")
        for n, why in sorted(self.reasons.items()):
            lines.append(f"not run: {n}: {why}")
        for note in self.notes + self.error_notes(cols):
            lines.append("note: " + note)
        lines.append(f"bench took {self.elapsed:.0f} s; every run in "
                     f"{self.args.json}")
        text = "\n".join(lines)
        print(text)
        os.makedirs(os.path.dirname(self.args.json), exist_ok=True)
        with open(self.args.json, "w") as f:
            json.dump({
                "quick": self.quick, "runs": self.runs, "when": when,
                "load": self.tools.gen_note, "seconds": round(self.elapsed),
                "daemons": {d.name: {"label": d.label,
                                     "version": getattr(d, "version", "")}
                            for d in cols},
                "not_run": self.reasons, "notes": self.notes,
                "figures": {f"{k[0]} {k[1]}": self.figure(*k)
                            for k in self.results},
                "runs_raw": {f"{k[0]} {k[1]}": v
                             for k, v in self.results.items()},
                "table": text,
            }, f, indent=1, default=str)
        with open(os.path.join(os.path.dirname(self.args.json),
                               "result.txt"), "w") as f:
            f.write(text + "\n")

    def error_notes(self, daemons):
        """The distinct failures of each daemon's runs, once each."""
        out = []
        labels = {d.name: d.label for d in daemons}
        seen = {}
        for (name, metric), rows in self.results.items():
            for r in rows:
                err = r.get("error")
                if not err:
                    continue
                err = re.sub(r"^\S*smtp-source: (fatal: )?", "", err)
                key = (name, err)
                seen.setdefault(key, []).append(metric.split()[-1])
        for (name, err), where in seen.items():
            cells_ = sorted(set(where))
            out.append(f"{labels.get(name, name)}: {err} "
                       f"(runs of {', '.join(cells_)})")
        return out

    def paired_lines(self):
        """With --against: for each figure both builds have, B's value
        over this build's run by run (run k of one with run k of the
        other, which ran beside it): the median and min-max of those
        ratios.  On a noisy machine that is steadier than the ratio of
        two medians."""
        out = []
        for (name, metric), rows_b in self.results.items():
            if name != B_NAME:
                continue
            rows_a = self.results.get(("portcullis", metric), [])
            ratios = [b["value"] / a["value"]
                      for a, b in zip(rows_a, rows_b)
                      if a["value"] and b["value"] is not None]
            if not ratios:
                continue
            if not out:
                out.append(f"Portcullis-B ({self.args.against}) over "
                           "this build, run by run (higher: B does more "
                           "msg/s, or costs more CPU):")
            out.append(f"  {metric:34} {statistics.median(ratios):.3f}x "
                       f"({min(ratios):.3f}-{max(ratios):.3f}) over "
                       f"{len(ratios)} pairs")
        return out + [""] if out else out

    def scale_lines(self):
        out = ["Scale (Portcullis, 1 KiB, 50 sess, one msg/conn):"]

        def fig(metric, digits=0):
            f = self.figure("portcullis", metric)
            if not f or f["median"] is None:
                return "-", None
            return (f"{f['median']:,.{digits}f} ({f['min']:,.{digits}f}-"
                    f"{f['max']:,.{digits}f})", f["median"])

        fill = self.figure("portcullis", "scale fill")
        rows = self.results.get(("portcullis", "scale fill"), [{}])
        out.append(f"  spool filled with {rows[0].get('ok', 0):,} deferred "
                   f"messages at {fill['median'] if fill else 0:,.0f} msg/s")
        for what in ("accept", "relay"):
            e, ev = fig(f"scale {what} empty")
            f, fv = fig(f"scale {what} full")
            drop = (f"change {(fv / ev - 1) * 100:+.0f} %"
                    if ev and fv else "")
            out.append(f"  {what:6} msg/s: empty spool {e}; with the "
                       f"deferred {f}  {drop}")
        e, ev = fig("scale drain small")
        f, fv = fig("scale drain full")
        drop = f"change {(fv / ev - 1) * 100:+.0f} %" if ev and fv else ""
        es = self.results.get(("portcullis", "scale drain small"), [{}])
        fs = self.results.get(("portcullis", "scale drain full"), [{}])
        out.append(f"  drain msg/s, a backlog to one domain due at once: "
                   f"{es[0].get('messages', 0):,} {e}; "
                   f"{fs[0].get('messages', 0):,} {f}  {drop}")
        r220, _ = fig("scale restart 220", 1)
        rl, _ = fig("scale restart loaded", 2)
        out.append(f"  restart: exec to first 220 {r220} ms; until the "
                   f"queue is loaded (show stats) {rl} s")
        out.append("")
        return out

    def target_lines(self):
        out = ["Targets of issue 5 (noisy machine: indicative):"]
        ref = cell_key(*REF)
        own = cell_key(*REF, "own")

        def med(d, m):
            f = self.figure(d, m)
            return f["median"] if f and f["median"] is not None else None

        def ratio(m):
            a, b = med("portcullis", m), med("postfix", m)
            return a / b if a and b else None

        def line(text, value, ok):
            verdict = "-" if ok is None else ("met" if ok else "NOT met")
            out.append(f"  {text:52} {value:>16}  {verdict}")

        def ceiling_note(m):
            """Say so when 5x Postfix is beyond what the load itself
            reaches straight into the sink, with no daemon between."""
            p, c = med("postfix", m), med("ceiling", "accept " + ref)
            if p and c and 5 * p > c:
                out.append(f"    (5x Postfix is {5 * p:,.0f} msg/s; the "
                           f"generator straight into the sink reached "
                           f"{c:,.0f}: not reachable with this load here)")

        def five_times(phase, text):
            """A 5x target on the table's load; under it the ratio under
            bench/loadgen, which is not the target's load: shown beside
            it, never with a verdict."""
            r = ratio(f"{phase} {ref}")
            line(text, f"{r:.2f}x" if r else "-",
                 None if r is None else r >= 5)
            ceiling_note(f"{phase} {ref}")
            r = ratio(f"{phase} {own}")
            if r:
                line("  same, loaded by bench/loadgen (not the target's)",
                     f"{r:.2f}x", None)

        five_times("accept", "accept 1 KiB x 50 sessions >= 5x Postfix")
        five_times("relay", "relay end to end x 50 sessions >= 5x Postfix")
        r = ratio("cpu " + ref)
        line("CPU per accepted msg <= 1/4 Postfix's",
             f"{r:.2f}x" if r else "-", None if r is None else r <= 0.25)
        v = med("portcullis", "idle pss")
        line("<= 32 KiB per idle session (PSS)",
             f"{v:.1f} KiB" if v is not None else "-",
             None if v is None else v <= 32)
        v = med("portcullis", "idle10k probe")
        line("10,000 idle held, new client 220 < 1 s",
             f"{v:.1f} ms" if v is not None else "-",
             None if v is None else v < 1000)
        v = med("portcullis", "first220")
        line("start to first 220 < 100 ms",
             f"{v:.1f} ms" if v is not None else "-",
             None if v is None else v < 100)
        e = med("portcullis", "scale accept empty")
        f = med("portcullis", "scale accept full")
        n = f"{self.args.deferred:,}"
        if e and f:
            line(f"accept with {n} deferred: drop < 20 %",
                 f"{(f / e - 1) * 100:+.0f} %", (1 - f / e) < 0.20)
        e = med("portcullis", "scale relay empty")
        f = med("portcullis", "scale relay full")
        if e and f:
            line(f"relay (scheduling) with {n} deferred: drop < 20 %",
                 f"{(f / e - 1) * 100:+.0f} %", (1 - f / e) < 0.20)
        v = med("portcullis", "scale restart loaded")
        if v is not None:
            line(f"restart recovers {n} in seconds", f"{v:.2f} s", v < 10)
        out.append("")
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--obj", default=os.path.join(ROOT, "obj"))
    ap.add_argument("--smtpd", help="the daemon (default: OBJ/smtpd)")
    ap.add_argument("--smtpctl", help="its control tool (OBJ/smtpctl)")
    ap.add_argument("--quick", action="store_true",
                    help="a reduced set, under two minutes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gen", choices=("auto", "own", "postfix"),
                    default="auto", help="load generator and sink")
    ap.add_argument("--mtas", default="portcullis,postfix,opensmtpd")
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--cap", type=float, default=0,
                    help="time cap of one load run, seconds")
    ap.add_argument("--idle", type=int, default=1000,
                    help="idle sessions for the memory rows (1000)")
    ap.add_argument("--idle-postfix-quick", type=int, default=100,
                    help="Postfix's idle sessions in QUICK (100)")
    ap.add_argument("--no-10k", action="store_true")
    ap.add_argument("--no-loadgen-row", action="store_true",
                    help="no second run of the reference cell with "
                    "bench/loadgen when smtp-source is the load")
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--deferred", type=int, default=100000)
    ap.add_argument("--backlog", type=int, default=5000,
                    help="the small backlog the scale drain compares with")
    ap.add_argument("--against", metavar="SMTPD",
                    help="another build of smtpd, run beside this one "
                    "as Portcullis-B: runs paired, in alternating order "
                    "(bench/README, \"Comparing two builds\")")
    ap.add_argument("--json", default=None)
    ap.add_argument("--phases", default="all",
                    help="start,idle10k,accept,fsync,relay,scale (all)")
    args = ap.parse_args()
    args.obj = os.path.abspath(args.obj)
    args.smtpd = os.path.abspath(args.smtpd or
                                 os.path.join(args.obj, "smtpd"))
    args.smtpctl = os.path.abspath(args.smtpctl or
                                   os.path.join(args.obj, "smtpctl"))
    if args.json is None:
        args.json = os.path.join(args.obj, "bench", "result.json")
    if args.runs < 3:
        log("bench: fewer than 3 runs: medians of few")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 11000:
        args.no_10k = True
        log(f"bench: RLIMIT_NOFILE {hard}: no 10,000-session row")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # also when started in the background, where SIGINT comes ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    b = Bench(args)
    try:
        b.main()
    except KeyboardInterrupt:
        log("bench: interrupted; stopping what it started")
        return 130
    finally:
        for d in b.daemons:
            try:
                d.stop()
            except Exception:
                pass
        Procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
