"""Black-box tests: the real daemon on loopback.

The `daemon` fixture writes a temporary config (a loopback listener on a
free port, the spool and the control socket in a temporary folder),
checks it with `smtpd -n`, starts `smtpd -d -v -f CONF` and waits until
the control socket answers.  After the test it checks the daemon is
still alive (unless the test stopped it on purpose), stops it by its pid
and prints its log when the test failed.

Binaries come from the environment: SMTPD and SMTPCTL (the GNUmakefile
sets them).  Run as root, the daemon drops to its users and chroots; the
users must exist (make install-users).
"""

import errno
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

SMTPD = os.environ.get("SMTPD", os.path.abspath("obj-test/smtpd"))
SMTPCTL = os.environ.get("SMTPCTL", os.path.abspath("obj-test/smtpctl"))
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, interval=0.05):
    """Poll pred() until it returns something true; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


SYS_PIDFD_GETFD = 438     # the same number on x86-64 and arm64


def tcp_nodelay_of(pid, peer_port):
    """TCP_NODELAY of process pid's TCP socket whose peer is port
    peer_port, read through a copy of the descriptor (pidfd_getfd(2),
    Linux 5.6, which needs the right to ptrace pid: root); None when
    pid has no such socket.  What the daemon set on its own sockets,
    asked without timing anything."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith(
                        "socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                if err == errno.EPERM:
                    pytest.skip("pidfd_getfd: not allowed (root needed)")
                continue
            with socket.socket(fileno=fd) as s:
                if s.family not in (socket.AF_INET, socket.AF_INET6) or \
                        s.type != socket.SOCK_STREAM:
                    continue
                try:
                    peer = s.getpeername()
                except OSError:
                    continue
                if peer[1] == peer_port:
                    return s.getsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY)
    finally:
        os.close(pidfd)
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Daemon:
    def __init__(self, tmp_path, body=None, port=None, extra_args=(),
                 hold=False, verbose=True):
        self.dir = tmp_path
        self.verbose = verbose
        # hold: every message stays in the queue (its relay is down and
        # the next try is an hour away), for tests of what is received
        self.hold = hold
        self.hold_port = free_port() if hold else None
        self.port = port or free_port()
        self.spool = str(tmp_path / "spool")
        self.sock = str(tmp_path / "smtpd.sock")
        self.conf = str(tmp_path / "smtpd.conf")
        self.logpath = str(tmp_path / "smtpd.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.logfile = None
        self.expect_exit = False
        self.write_config(body)

    def base_config(self):
        return (
            f'spool "{self.spool}"\n'
            f'control socket "{self.sock}"\n'
            f"listen on 127.0.0.1 port {self.port}\n"
            "table loopback { 127.0.0.0/8, ::1 }\n"
            "relay allow from <loopback>\n"
        )

    def hold_config(self):
        return ("queue retry 1h\n"
                'delivery "hold" {\n'
                "    always\n"
                f"    relay 127.0.0.1 port {self.hold_port}\n"
                "}\n")

    def write_config(self, body=None):
        text = body if body is not None else self.base_config()
        if self.hold and 'delivery "hold"' not in text:
            text += self.hold_config()
        with open(self.conf, "w") as f:
            f.write(text)

    def check_config(self):
        return subprocess.run([SMTPD, "-n", "-f", self.conf],
                              capture_output=True, text=True, timeout=30)

    def start(self):
        res = self.check_config()
        assert res.returncode == 0, f"smtpd -n failed: {res.stderr}"
        self.logfile = open(self.logpath, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        self.proc = subprocess.Popen(
            [SMTPD, "-d"] + (["-v"] if self.verbose else []) +
            ["-f", self.conf] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=self.logfile,
            stderr=subprocess.STDOUT, env=env)
        ok = wait_for(lambda: self.ready() or self.proc.poll() is not None,
                      START_TIMEOUT)
        assert ok and self.proc.poll() is None, \
            f"smtpd did not start:\n{self.log()}"
        # every worker has taken its configuration (so it has dropped
        # its privileges and entered its sandbox)
        assert wait_for(self.all_running, START_TIMEOUT), \
            f"workers did not all start:\n{self.log()}"
        return self

    def all_running(self):
        res = self.ctl("show", "status", json_out=True)
        if res.returncode != 0:
            return False
        try:
            procs = json.loads(res.stdout)["processes"]
        except (ValueError, KeyError):
            return False
        return len(procs) == 7 and all(p["state"] == "running"
                                       for p in procs)

    def ready(self):
        if not os.path.exists(self.sock):
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.settimeout(2)
                return s.recv(512).startswith(b"220")
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def restarted(self, name, old, timeout=10.0):
        """After worker `name' (pid `old') died: wait for the parent to
        say it restarts it, then for a live process of that name with a
        new pid.  That pid, or None."""
        if not self.wait_log(rf"restarting {name} in 0 seconds", timeout):
            return None

        def new_pid():
            try:
                pid = self.worker_pid(name)
            except (KeyError, OSError, ValueError):
                return None
            return pid if pid != old and pid_alive(pid) else None

        return wait_for(new_pid, timeout)

    def wait_log(self, pattern, timeout=10.0):
        """Wait until a log line matches the regular expression."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout)

    def ctl(self, *args, json_out=False, check=False, timeout=20):
        cmd = [SMTPCTL, "-s", self.sock]
        if json_out:
            cmd.append("-j")
        res = subprocess.run(cmd + list(args), capture_output=True,
                             text=True, timeout=timeout)
        if check:
            assert res.returncode == 0, \
                f"smtpctl {' '.join(args)}: {res.stdout}{res.stderr}"
        return res

    def status(self):
        """smtpctl -j show status, as a list of dicts."""
        res = self.ctl("show", "status", json_out=True, check=True)
        data = json.loads(res.stdout)
        if isinstance(data, dict):
            for key in ("processes", "status"):
                if key in data:
                    return data[key]
        return data

    def worker_pid(self, name):
        for p in self.status():
            if p.get("name") == name:
                return int(p["pid"])
        raise KeyError(name)

    def children(self):
        """Pids of the daemon's direct children, from /proc."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                pids.append(int(entry))
        return pids

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self.logfile:
            self.logfile.close()
            self.logfile = None
        return self.proc.returncode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def make_daemon(tmp_path, request):
    """Factory: make_daemon(body=None, start=True) -> Daemon."""
    made = []

    def factory(body=None, start=True, **kw):
        d = Daemon(tmp_path, body=body, **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    crashed = []
    for d in made:
        if d.proc is not None and not d.expect_exit and not d.alive():
            crashed.append(d)
        children = d.children() if d.alive() else []
        d.stop()
        # every process the test started is gone, by its pid
        for pid in children:
            wait_for(lambda: not pid_alive(pid), STOP_TIMEOUT)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if failed or d in crashed:
            print(f"---- smtpd log ({d.logpath}) ----\n{d.log()}")
    assert not crashed, "smtpd died during the test (crashed?)"


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()
