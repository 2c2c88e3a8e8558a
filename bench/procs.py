"""Portcullis bench: processes, /proc, ports and waits.

Every process the bench starts goes through Procs, to be stopped by its
pid; every wait is bounded in time.
"""

import os
import signal
import socket
import subprocess
import sys
import time

IS_ROOT = os.geteuid() == 0
CLK_TCK = os.sysconf("SC_CLK_TCK")

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr,
          flush=True)


# ---- processes ------------------------------------------------------------

class Procs:
    """Every process the bench starts, to stop by its pid."""

    started = []

    @classmethod
    def spawn(cls, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        # own session: a Ctrl-C reaches the bench only, which then
        # stops everything in order
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        cls.started.append(p)
        return p

    @classmethod
    def stop(cls, p, timeout=15.0, sig=signal.SIGTERM):
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout)
        if p in cls.started:
            cls.started.remove(p)
        return p.returncode

    @classmethod
    def stop_all(cls):
        for p in reversed(list(cls.started)):
            cls.stop(p, timeout=10.0)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_seconds(pid, fields):
    """CPU seconds of a live process, all its threads (auth's hasher):
    schedstat's nanoseconds on a CPU when the kernel keeps them (utime
    and stime count whole ticks, 10 ms: too coarse for a run of a few
    hundred messages), else the ticks."""
    try:
        ns, seen = 0, 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    ns += int(f.read().split()[0])
                seen += 1
            except FileNotFoundError:
                continue        # a thread that just ended
        if seen:
            return ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_stats():
    """{pid: (ppid, CPU seconds of itself and of its reaped children)}"""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(12) stime cutime cstime;
        # reaped children are known in ticks only
        secs = run_seconds(entry, fields) + \
            (int(fields[13]) + int(fields[14])) / CLK_TCK
        out[int(entry)] = (int(fields[1]), secs)
    return out


def tree(root, stats=None):
    """The root pid and all its descendants."""
    stats = stats if stats is not None else proc_stats()
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def cpu_seconds(root):
    """CPU time (user + system) of a process tree, reaped children in."""
    stats = proc_stats()
    return sum(stats[p][1] for p in tree(root, stats))


def memory_kib(root):
    """(RSS, PSS, private) in KiB summed over a process tree."""
    rss = pss = private = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Private_"):
                        private += int(line.split()[1])
        except OSError:
            continue
    return rss, pss, private


def mount_of(path):
    """(device, type) of the mount that holds path, from /proc/mounts;
    (None, None) when unknown."""
    best, found = "", (None, None)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mnt = fields[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) \
                        and len(mnt) >= len(best):
                    best, found = mnt, (fields[0], fields[2])
    except OSError:
        pass
    return found


def fs_type(path):
    """The file system type of path and its device, for the table."""
    dev, kind = mount_of(path)
    return f"{kind} on {dev}" if kind else "?"


def ext4_without_journal(path):
    """True when path is on ext4 mounted without a journal (its
    /sys/fs/ext4/DEV/journal_task says "<none>"): there a new inode
    skips every one freed in the last 60 s, 6 min while its inode
    table block is dirty (recently_deleted() in fs/ext4/ialloc.c)."""
    dev, kind = mount_of(path)
    if kind != "ext4":
        return False
    name = os.path.basename(os.path.realpath(dev))
    try:
        with open(f"/sys/fs/ext4/{name}/journal_task") as f:
            return f.read().strip() == "<none>"
    except OSError:
        return False


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def greeting(port, timeout=2.0):
    """Connect and read the 220; its latency in seconds, or None."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    return None
                data += chunk
            if data.startswith(b"220"):
                return time.monotonic() - t0
    except OSError:
        return None
    return None


def first_220(port, t0, timeout=30.0):
    """Poll connect from t0 until a 220 arrives: seconds, or None."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), 1.0)
        except OSError:
            time.sleep(0.001)
            continue
        with s:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            data = b""
            try:
                while b"\n" not in data:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            if data.startswith(b"220"):
                return time.monotonic() - t0
        time.sleep(0.001)
    return None


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def dirsize_files(path):
    n = 0
    for _, _, files in os.walk(path):
        n += len(files)
    return n
