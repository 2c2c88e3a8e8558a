"""The control socket and smtpctl: show status, reload, log, stop, the
command table's errors, and a control process that survives whatever
an untrusted client sends it."""

import json
import os
import random
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import time

import pytest

from conftest import SMTPCTL, free_port, pid_alive, wait_for

WORKERS = ("smtp", "auth", "queue", "delivery", "mailbox", "control")

# control/control_imsg.h
CTL_VERSION = 1
IMSG_CTL_HELLO = 0x0600
IMSG_CTL_OK = 0x0601
IMSG_CTL_FAIL = 0x0602
IMSG_CTL_STATUS_REQ = 0x0603
IMSG_CTL_STATUS = 0x0604
IMSG_CTL_VERBOSE_REQ = 0x0606

# lib/ipc.h: u32 type, u16 len, u16 flags, u32 peerid, u32 pid
HDR = struct.Struct("=IHHII")
IPC_MAX_FRAME = 65535
MAX_CLIENTS = 32


def frame(type_, payload=b"", flags=0, length=None):
    n = HDR.size + len(payload) if length is None else length
    return HDR.pack(type_, n, flags, 0, os.getpid()) + payload


def u32(v):
    return struct.pack("=I", v)


def hello(version=CTL_VERSION):
    return frame(IMSG_CTL_HELLO, u32(version))


def ipc_string(payload):
    """Decode a lib/ipc string: u32 length, the bytes and a NUL."""
    (n,) = struct.unpack_from("=I", payload)
    assert payload[4 + n] == 0
    return payload[4:4 + n].decode()


class Raw:
    """A hand-driven client of the control socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # blocking: a full listen backlog makes a timed connect fail
        self.s.connect(path)
        self.s.settimeout(5)
        self.buf = b""
        self.eof = False

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def frames(self, timeout=3.0, until=None):
        """Frames received until EOF, timeout, or a frame of type until."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            while len(self.buf) >= HDR.size:
                type_, n, _flags, peerid, _pid = HDR.unpack_from(self.buf)
                if n < HDR.size or len(self.buf) < n:
                    break
                out.append((type_, self.buf[HDR.size:n]))
                self.buf = self.buf[n:]
                if until is not None and type_ in until:
                    return out
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return out
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return out
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            self.buf += data

    def closed(self, timeout=3.0):
        """True once the server has closed the connection."""
        self.frames(timeout)
        return self.eof

    def handshake(self):
        assert self.send(hello())
        got = self.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
        assert got and got[-1][0] == IMSG_CTL_OK, got
        return self

    def close(self):
        self.s.close()


def run_ctl(*args, timeout=20):
    return subprocess.run([SMTPCTL] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def count_log(d, pattern):
    return len(re.findall(pattern, d.log()))


def control_intact(d, control_pid):
    """The control process is the same one and still serves requests."""
    procs = {p["name"]: p for p in d.status()}
    assert procs["control"]["pid"] == control_pid, \
        "the control process was replaced: it died"
    assert procs["control"]["restarts"] == 0
    assert pid_alive(control_pid)


def settled(d):
    """Wait until every process has applied its configuration."""
    assert wait_for(lambda: all(p["state"] == "running"
                                for p in d.status()), 10), d.status()


# ---- show status ------------------------------------------------------

def test_show_status_lists_every_process(daemon):
    settled(daemon)
    procs = daemon.status()
    names = [p["name"] for p in procs]
    assert names[0] == "parent", names
    assert sorted(names[1:]) == sorted(WORKERS), names
    by_name = {p["name"]: p for p in procs}
    assert by_name["parent"]["pid"] == daemon.pid
    children = set(daemon.children())
    for p in procs:
        assert set(p) >= {"name", "pid", "started", "uptime", "restarts",
                          "state"}, p
        assert pid_alive(p["pid"]), p
        assert p["restarts"] == 0, p
        assert p["state"] == "running", p
        assert 0 <= p["uptime"] < 600, p
        assert abs(time.time() - p["started"] - p["uptime"]) < 5, p
        if p["name"] != "parent":
            assert p["pid"] in children, p


def test_show_status_text(daemon):
    settled(daemon)
    res = daemon.ctl("show", "status", check=True)
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["PROCESS", "PID", "UPTIME", "RESTARTS",
                                "STATE"], res.stdout
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"parent"} | set(WORKERS), res.stdout
    assert rows["parent"][1] == str(daemon.pid)
    for name, row in rows.items():
        assert len(row) == 5, row
        assert re.fullmatch(r"\d+s|\d+m\d\ds|\d+h\d\dm|\d+d\d\dh",
                            row[2]), row
        assert row[3] == "0" and row[4] == "running", row


def test_show_status_json_parses(daemon):
    res = daemon.ctl("show", "status", json_out=True, check=True)
    data = json.loads(res.stdout)
    assert isinstance(data["processes"], list)
    assert len(data["processes"]) == 1 + len(WORKERS)


# ---- reload -----------------------------------------------------------

def test_reload(daemon):
    settled(daemon)
    before = {p["name"]: p["pid"] for p in daemon.status()}
    res = daemon.ctl("reload")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "reload requested"
    after = {p["name"]: p["pid"] for p in daemon.status()}
    assert after == before, "a reload must not restart processes"
    # the request is logged with the client's credentials
    assert daemon.wait_log(r"control: client \d+: reload requested by "
                           rf"uid={os.geteuid()} pid=\d+")

    res = daemon.ctl("reload", json_out=True, check=True)
    assert json.loads(res.stdout) == {"ok": True}


def test_reload_applies_new_config(daemon):
    port2 = free_port()
    daemon.write_config(daemon.base_config() +
                        f"listen on 127.0.0.1 port {port2}\n")
    daemon.ctl("reload", check=True)

    def greets():
        try:
            with socket.create_connection(("127.0.0.1", port2), 1) as s:
                s.settimeout(2)
                return s.recv(512).startswith(b"220")
        except OSError:
            return False
    assert wait_for(greets, 10), "the reloaded listener does not answer"


def test_reload_broken_config_keeps_old(daemon):
    good = open(daemon.conf).read()
    daemon.write_config(good + "this is not a statement\n")
    res = daemon.ctl("reload")
    assert res.returncode != 0
    assert res.stderr.startswith("smtpctl: reload failed: "), res.stderr
    assert daemon.conf in res.stderr, res.stderr
    assert daemon.alive()
    # still serving with the old configuration
    assert daemon.ready(), "the old listener went away"
    settled(daemon)

    res = daemon.ctl("reload", json_out=True)
    assert res.returncode != 0
    out = json.loads(res.stdout)
    assert out["ok"] is False and daemon.conf in out["error"], out

    daemon.write_config(good)
    daemon.ctl("reload", check=True)


# ---- log verbose | brief ----------------------------------------------

def test_a_restarted_worker_keeps_the_log_level(daemon):
    """smtpctl log brief holds for a worker started after it too: in
    the foreground each worker writes (and so filters) its own lines."""
    daemon.ctl("log", "brief", check=True)
    assert daemon.wait_log(r"log level brief")
    old = daemon.worker_pid("smtp")
    os.kill(old, signal.SIGKILL)
    new = daemon.restarted("smtp", old)
    assert new
    assert wait_for(daemon.all_running, 10)
    # its first words, a debug line, were not written
    time.sleep(0.5)
    assert f"smtp: started (pid {new})" not in daemon.log(), daemon.log()
    assert f"smtp: started (pid {old})" in daemon.log()


def test_log_brief_and_verbose(daemon):
    debug_line = r"control: client \d+: status requested by"

    res = daemon.ctl("log", "brief", check=True)
    assert res.stdout.strip() == "log level set to brief"
    assert daemon.wait_log(r"log level brief")
    n = count_log(daemon, debug_line)
    daemon.status()
    time.sleep(0.5)
    assert count_log(daemon, debug_line) == n, \
        "debug messages still logged after 'log brief'"

    res = daemon.ctl("log", "verbose", check=True)
    assert res.stdout.strip() == "log level set to verbose"
    assert daemon.wait_log(r"log level verbose")
    daemon.status()
    assert wait_for(lambda: count_log(daemon, debug_line) > n, 5), \
        "no debug messages after 'log verbose'"


# ---- stop ---------------------------------------------------------------

def test_stop(daemon):
    pids = [p["pid"] for p in daemon.status()]
    daemon.expect_exit = True
    res = daemon.ctl("stop")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "stop requested"
    assert daemon.proc.wait(timeout=5) == 0
    for pid in pids:
        assert wait_for(lambda: not pid_alive(pid), 5), pid
    assert not os.path.exists(daemon.sock)


# ---- the command table and connection errors ---------------------------

def test_unknown_command(tmp_path):
    sock = str(tmp_path / "none.sock")
    res = run_ctl("-s", sock, "foo")
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == "smtpctl: unknown command: foo"
    assert "show status" in res.stderr and "reload" in res.stderr

    res = run_ctl("-s", sock, "show", "nothing")
    assert res.returncode == 1
    assert "smtpctl: unknown command: show nothing" in res.stderr

    res = run_ctl("-s", sock, "log")
    assert res.returncode == 1
    assert "smtpctl: incomplete command: log" in res.stderr
    assert "log verbose" in res.stderr

    res = run_ctl("-s", sock, "reload", "now")
    assert res.returncode == 1
    assert "too many arguments" in res.stderr

    res = run_ctl()
    assert res.returncode == 1
    assert res.stderr.startswith("usage: smtpctl")

    res = run_ctl("-x", "show", "status")
    assert res.returncode == 1
    assert "usage: smtpctl" in res.stderr


def test_missing_daemon(tmp_path):
    sock = str(tmp_path / "none.sock")
    for args in (("show", "status"), ("reload",), ("stop",)):
        res = run_ctl("-s", sock, *args)
        assert res.returncode == 1
        assert res.stdout == ""
        assert res.stderr == (f"smtpctl: cannot connect to {sock}: No such "
                              "file or directory (is smtpd running?)\n")


def test_default_socket_is_the_daemons(tmp_path):
    """Without -s, smtpctl looks where the daemon puts its socket."""
    if os.geteuid() == 0:
        want = "/var/run/portcullis/smtpd.sock"
    else:
        want = str(tmp_path / ".portcullis" / "smtpd.sock")
    if os.geteuid() == 0 and os.path.exists(want):
        pytest.skip("a system daemon is running")
    env = dict(os.environ, HOME=str(tmp_path))
    res = subprocess.run([SMTPCTL, "show", "status"], capture_output=True,
                         text=True, timeout=20, env=env)
    assert res.returncode == 1
    assert f"cannot connect to {want}:" in res.stderr, res.stderr


def test_socket_mode(daemon):
    st = os.stat(daemon.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    if os.geteuid() == 0:
        assert st.st_uid == 0
    else:
        assert st.st_uid == os.geteuid()


# ---- an untrusted client cannot hurt the control process ---------------

def test_protocol_answers(daemon):
    control_pid = daemon.worker_pid("control")

    # the handshake, then a request answered by data frames and one OK
    c = Raw(daemon.sock).handshake()
    assert c.send(frame(IMSG_CTL_STATUS_REQ))
    got = c.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
    assert [t for t, _ in got] == [IMSG_CTL_STATUS] * 7 + [IMSG_CTL_OK]
    assert ipc_string(got[0][1]) == "parent"

    # an unknown request type: FAIL, and the connection stays usable
    assert c.send(frame(0x0777))
    got = c.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
    assert got[-1][0] == IMSG_CTL_FAIL
    assert ipc_string(got[-1][1]) == "unknown request"
    # even one as large as a frame can be
    assert c.send(frame(0x0777, b"x" * (IPC_MAX_FRAME - HDR.size)))
    got = c.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
    assert got[-1][0] == IMSG_CTL_FAIL
    assert c.send(frame(IMSG_CTL_STATUS_REQ))
    got = c.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
    assert got[-1][0] == IMSG_CTL_OK
    c.close()

    # a wrong protocol version: FAIL with the reason, then closed
    c = Raw(daemon.sock)
    assert c.send(hello(CTL_VERSION + 41))
    got = c.frames()
    assert got and got[0][0] == IMSG_CTL_FAIL
    assert "version" in ipc_string(got[0][1])
    assert c.eof
    c.close()

    # a request before the hello: FAIL, then closed
    c = Raw(daemon.sock)
    assert c.send(frame(IMSG_CTL_STATUS_REQ))
    got = c.frames()
    assert got and got[0][0] == IMSG_CTL_FAIL and c.eof
    c.close()

    control_intact(daemon, control_pid)


BAD_INPUTS = {
    "short-header-len": lambda: hello() + frame(IMSG_CTL_STATUS_REQ,
                                                 length=8),
    "zero-len": lambda: frame(IMSG_CTL_HELLO, length=0),
    "unknown-flags": lambda: frame(IMSG_CTL_HELLO, u32(1), flags=0x8000),
    "fd-flag-without-fd": lambda: hello() + frame(IMSG_CTL_STATUS_REQ,
                                                   flags=1),
    "hello-without-version": lambda: frame(IMSG_CTL_HELLO),
    "hello-too-long": lambda: frame(IMSG_CTL_HELLO, u32(1) + b"junk"),
    "status-req-with-payload": lambda: hello() + frame(IMSG_CTL_STATUS_REQ,
                                                        b"\0"),
    "verbose-req-short": lambda: hello() + frame(IMSG_CTL_VERBOSE_REQ,
                                                  b"\1\0"),
    "pipelined-requests": lambda: hello() + frame(IMSG_CTL_STATUS_REQ) * 2,
    "all-ones": lambda: b"\xff" * 300000,
    "random": lambda: random.Random(7).randbytes(200000),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_frames_close_only_that_client(daemon, name):
    control_pid = daemon.worker_pid("control")
    bystander = Raw(daemon.sock).handshake()

    c = Raw(daemon.sock)
    c.send(BAD_INPUTS[name]())
    assert c.closed(5), f"{name}: the connection stayed open"
    c.close()

    # another client, connected all along, is still served
    assert bystander.send(frame(IMSG_CTL_STATUS_REQ))
    got = bystander.frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
    assert got and got[-1][0] == IMSG_CTL_OK
    bystander.close()
    control_intact(daemon, control_pid)
    assert daemon.wait_log(r"control: client \d+ \(uid=\d+ pid=\d+\) "
                           r"closed: ")


def test_passed_descriptor_closes_client(daemon):
    control_pid = daemon.worker_pid("control")
    c = Raw(daemon.sock).handshake()
    r, w = os.pipe()
    try:
        data = frame(IMSG_CTL_STATUS_REQ, flags=1)
        c.s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                              struct.pack("=i", r))])
        assert c.closed(5)
        # a descriptor with no frame claiming it
        c2 = Raw(daemon.sock).handshake()
        c2.s.sendmsg([frame(IMSG_CTL_STATUS_REQ)],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                       struct.pack("=i", w))])
        assert c2.closed(5)
        c2.close()
    finally:
        os.close(r)
        os.close(w)
        c.close()
    control_intact(daemon, control_pid)


def test_client_gone_before_answer(daemon):
    control_pid = daemon.worker_pid("control")
    for _ in range(20):
        c = Raw(daemon.sock).handshake()
        c.send(frame(IMSG_CTL_STATUS_REQ))
        c.close()
    # a client that vanishes mid-frame
    c = Raw(daemon.sock)
    c.send(hello()[:7])
    c.close()
    control_intact(daemon, control_pid)


def test_too_many_clients_refused_politely(daemon):
    control_pid = daemon.worker_pid("control")
    extra = 6
    conns = []
    try:
        for _ in range(MAX_CLIENTS + extra):
            conns.append(Raw(daemon.sock))
        refused = []
        deadline = time.monotonic() + 5
        while len(refused) < extra and time.monotonic() < deadline:
            ready, _, _ = select.select([c.s for c in conns], [], [], 0.5)
            for c in conns:
                if c.s in ready and c not in refused:
                    got = c.frames(timeout=1)
                    assert got and got[0][0] == IMSG_CTL_FAIL, got
                    assert "too many" in ipc_string(got[0][1])
                    assert c.eof
                    refused.append(c)
        assert len(refused) == extra
        # the ones that got in are served
        served = [c for c in conns if c not in refused]
        served[0].handshake()
        assert served[0].send(frame(IMSG_CTL_STATUS_REQ))
        got = served[0].frames(until=(IMSG_CTL_OK, IMSG_CTL_FAIL))
        assert got[-1][0] == IMSG_CTL_OK
        res = daemon.ctl("show", "status")
        assert res.returncode == 1 and "too many" in res.stderr, res
    finally:
        for c in conns:
            c.close()
    # the slots are free again
    assert wait_for(lambda: daemon.ctl("show", "status").returncode == 0, 5)
    control_intact(daemon, control_pid)
    assert daemon.wait_log(r"control client refused: uid=\d+ pid=\d+")
