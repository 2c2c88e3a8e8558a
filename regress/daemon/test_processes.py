"""The process model: workers, titles, supervision, signals, reload."""

import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import SMTPD, free_port, pid_alive, wait_for

WORKERS = ["smtp", "auth", "queue", "delivery", "mailbox", "control"]
TITLES = {
    "smtp": "smtpd: smtp front end",
    "auth": "smtpd: auth and pop3 login tracker",
    "queue": "smtpd: queue",
    "delivery": "smtpd: delivery",
    "mailbox": "smtpd: mailbox",
    "control": "smtpd: control",
}


def greeting(port, host="127.0.0.1"):
    with socket.create_connection((host, port), 5) as s:
        s.settimeout(5)
        return s.recv(512)


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode().strip()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def pids_by_name(d):
    return {p["name"]: int(p["pid"]) for p in d.status()}


def test_every_worker_runs_with_its_title(daemon):
    pids = pids_by_name(daemon)
    assert pids["parent"] == daemon.pid
    children = sorted(daemon.children())
    assert sorted(pids[w] for w in WORKERS) == children
    for w in WORKERS:
        assert cmdline(pids[w]).startswith(TITLES[w]), cmdline(pids[w])


def disconnect_logged_with_parent_stopped(d, wait):
    """With the parent stopped, a client connects and leaves: whether
    the front end's disconnect line reached the log within `wait`
    seconds.  The parent is continued in any case."""
    os.kill(d.pid, signal.SIGSTOP)
    try:
        before = d.log().count("smtp event=disconnect")
        assert greeting(d.port).startswith(b"220 ")
        return wait_for(lambda: d.log().count("smtp event=disconnect") >
                        before, wait)
    finally:
        os.kill(d.pid, signal.SIGCONT)


def test_worker_lines_do_not_wait_for_the_parent(daemon):
    """In the foreground each worker writes its own lines to the
    daemon's stderr: a parent that is busy (here stopped) holds none
    of them back."""
    assert disconnect_logged_with_parent_stopped(daemon, 10), daemon.log()
    lines = [ln for ln in daemon.log().splitlines()
             if "smtp event=" in ln]
    assert lines and all(ln.startswith("smtp: ") for ln in lines), lines


def test_lines_relayed_through_the_parent(make_daemon, monkeypatch):
    """Without -d every worker's lines go through the parent, which
    hands them to syslog.  Test builds can route them so in the
    foreground too: they arrive as the worker wrote them, under its
    name, without the priority that travels with them, and only once
    the parent has read them."""
    monkeypatch.setenv("PORTCULLIS_TEST_LOG_RELAY", "1")
    d = make_daemon()
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as c:
        c.sendmail("a@example.org", ["b@example.org"],
                   b"Subject: t\r\n\r\nbody\r\n")
    assert d.wait_log(r"queue: \w+ queue event=commit"), d.log()
    assert d.wait_log(r"smtp: \w+ smtp event=disconnect"), d.log()
    lines = d.log().splitlines()
    assert not [ln for ln in lines if re.match(r"<\d+>", ln)], lines
    # through the parent indeed: stopped, it holds them back
    before = d.log().count("smtp event=disconnect")
    assert not disconnect_logged_with_parent_stopped(d, 1), d.log()
    assert wait_for(lambda: d.log().count("smtp event=disconnect") >
                    before, 10), d.log()


def test_started_with_stderr_closed_no_file_takes_its_place(make_daemon):
    """smtpd -d 2>&-: the first file the daemon opened used to get
    descriptor 2, and log lines went into it (the POP3 login tracker's
    state file, unreadable at the next start)."""
    d = make_daemon(start=False)
    p = subprocess.Popen([SMTPD, "-d", "-f", d.conf],
                         stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         preexec_fn=lambda: os.close(2))
    d.proc = p
    try:
        assert wait_for(lambda: d.ready() or p.poll() is not None, 20)
        assert p.poll() is None and wait_for(d.all_running, 20)
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as c:
            c.sendmail("a@example.org", ["b@example.org"],
                       b"Subject: t\r\n\r\nbody\r\n")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    d.proc = None
    for top, _dirs, files in os.walk(d.spool):
        for name in files:
            with open(os.path.join(top, name), "rb") as f:
                data = f.read()
            assert b"parent: " not in data and b"smtp: " not in data, \
                (os.path.join(top, name), data[:200])
    d.start()
    assert d.wait_log(r"pop3 login tracker: loaded 0 logins"), d.log()
    assert "unusable" not in d.log()


def test_greeting_names_the_host(make_daemon):
    d = make_daemon(start=False)
    d.write_config(d.base_config() + 'hostname "mx.test.example"\n')
    d.start()
    assert greeting(d.port).startswith(b"220 mx.test.example ESMTP")


def test_every_worker_is_sandboxed(daemon):
    pids = pids_by_name(daemon)
    for w in WORKERS:
        st = proc_status(pids[w])
        assert st["NoNewPrivs"] == "1", w
        assert st["Seccomp"] == "2", f"{w} has no seccomp filter"


def test_killed_worker_is_logged_and_restarted(daemon):
    before = pids_by_name(daemon)
    os.kill(before["smtp"], signal.SIGKILL)
    assert daemon.wait_log(
        rf"smtp \(pid {before['smtp']}\) was killed by signal 9")
    assert daemon.restarted("smtp", before["smtp"]), "smtp was not restarted"
    after = pids_by_name(daemon)
    # the others kept running, untouched
    for w in WORKERS:
        if w != "smtp":
            assert after[w] == before[w], w
    st = {p["name"]: p for p in daemon.status()}
    assert int(st["smtp"]["restarts"]) == 1
    # the new front end serves the same listener
    assert wait_for(lambda: daemon.ready(), 10)
    assert greeting(daemon.port).startswith(b"220 ")


@pytest.mark.parametrize("bdat", [False, True], ids=["data", "bdat"])
def test_queue_restart_during_data_fails_that_message_only(daemon, bdat):
    """A client in the middle of its data when the queue dies: the
    message dies with that queue, so the client gets a temporary failure
    for it (never a 250) and its next message is taken.  The front end
    forgets the dead queue's id: the new queue never hears of it."""
    from smtpclient import Client, queued_id
    before = pids_by_name(daemon)
    with Client(daemon.port) as c:
        c.greeting()
        c.ehlo()
        c.mail()
        if bdat:
            chunk = b"Subject: cut\r\n\r\nfirst half\r\n"
            c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
            c.expect(250)
        else:
            c.expect(354, "DATA")
            c.send(b"Subject: cut\r\n\r\nfirst half\r\n")
        os.kill(before["queue"], signal.SIGKILL)
        assert daemon.restarted("queue", before["queue"])
        assert wait_for(daemon.all_running, 10)
        if bdat:
            chunk = b"second half\r\n"
            c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        else:
            c.send(b"second half\r\n.\r\n")
        r = c.reply()
        assert r.code == 451, r
        # the session goes on, and the next message is taken
        c.mail()
        mid = queued_id(c.data(b"Subject: next\r\n\r\nbody\r\n.\r\n"))
        assert mid
    st = {p["name"]: p for p in daemon.status()}
    assert int(st["queue"]["restarts"]) == 1, st["queue"]
    log = daemon.log()
    assert ('result=451 reason="the queue restarted during the data"'
            in log)
    assert "unknown message" not in log


def test_restarted_worker_gets_fresh_channels(daemon):
    """After a restart the peers talk to the new process: the control
    process is restarted and smtpctl (control <-> parent) still works,
    as do channels between workers (the smtp peer of control)."""
    before = pids_by_name(daemon)
    os.kill(before["control"], signal.SIGKILL)
    assert daemon.wait_log(r"restarting control")
    ok = wait_for(lambda: daemon.ctl("show", "status").returncode == 0, 10)
    assert ok
    assert daemon.worker_pid("control") != before["control"]
    assert daemon.wait_log(r"channel to control up")


def test_worker_dying_repeatedly_stops_the_daemon(daemon):
    daemon.expect_exit = True
    deadline = time.monotonic() + 40
    kills = 0
    while daemon.alive() and kills < 8 and time.monotonic() < deadline:
        pid = wait_for(lambda: (lambda p: p if p and pid_alive(p) else None)(
            _try_pid(daemon, "auth")), 20)
        if not pid or not daemon.alive():
            break
        os.kill(pid, signal.SIGKILL)
        kills += 1
        wait_for(lambda: not pid_alive(pid) or not daemon.alive(), 5)
        time.sleep(0.1)
    daemon.proc.wait(20)
    assert daemon.proc.returncode == 1
    assert "auth died 5 times within 60 seconds: shutting down" in daemon.log()
    # a restart back-off was applied between deaths
    assert "restarting auth in 1 second" in daemon.log()
    assert "restarting auth in 2 seconds" in daemon.log()


def _try_pid(d, name):
    """The worker's pid from /proc (the control process may be
    restarting), or None."""
    for pid in d.children():
        try:
            if cmdline(pid).startswith(TITLES[name]):
                return pid
        except OSError:
            pass
    return None


def test_sigterm_stops_everything_cleanly(daemon):
    children = daemon.children()
    assert len(children) == len(WORKERS)
    daemon.expect_exit = True
    os.kill(daemon.pid, signal.SIGTERM)
    assert daemon.proc.wait(15) == 0
    for pid in children:
        assert wait_for(lambda: not pid_alive(pid), 5), pid
    assert not os.path.exists(daemon.sock), "control socket left behind"
    assert "exiting" in daemon.log()


def test_sighup_reload_adds_a_listener(daemon):
    port2 = free_port()
    with open(daemon.conf, "a") as f:
        f.write(f"listen on 127.0.0.1 port {port2}\n")
        f.write('hostname "reloaded.example"\n')
    smtp_before = daemon.worker_pid("smtp")
    os.kill(daemon.pid, signal.SIGHUP)
    assert daemon.wait_log(r"configuration reloaded")
    assert wait_for(lambda: _greets(port2), 10)
    assert greeting(port2).startswith(b"220 reloaded.example")
    assert greeting(daemon.port).startswith(b"220 reloaded.example")
    # a reload restarts nothing
    assert daemon.worker_pid("smtp") == smtp_before


def _greets(port):
    try:
        return greeting(port).startswith(b"220")
    except OSError:
        return False


def test_reload_with_errors_keeps_the_old_config(daemon):
    with open(daemon.conf, "a") as f:
        f.write("this is not a statement\n")
    os.kill(daemon.pid, signal.SIGHUP)
    assert daemon.wait_log(r"reload failed, configuration unchanged")
    assert daemon.wait_log(r"smtpd.conf:6: ")
    assert daemon.alive()
    assert greeting(daemon.port).startswith(b"220 ")


def test_reload_to_a_busy_address_keeps_the_old_config(daemon):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with open(daemon.conf, "a") as f:
            f.write(f"listen on 127.0.0.1 port {busy.getsockname()[1]}\n")
        res = daemon.ctl("reload")
        assert res.returncode != 0
        assert daemon.wait_log(r"smtpd.conf:6: cannot listen on 127.0.0.1 "
                               r"port \d+: Address already in use")
        assert greeting(daemon.port).startswith(b"220 ")
    finally:
        busy.close()


def test_listen_address_in_use_is_a_config_error(make_daemon):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        d = make_daemon(start=False, port=busy.getsockname()[1])
        res = subprocess.run([SMTPD, "-d", "-f", d.conf],
                             capture_output=True, text=True, timeout=20)
        assert res.returncode == 1
        assert f"smtpd.conf:3: cannot listen on 127.0.0.1 port " \
               f"{d.port}: Address already in use" in res.stderr
    finally:
        busy.close()


def test_second_daemon_on_the_same_socket_is_refused(daemon):
    other = free_port()
    body = daemon.base_config().replace(f"port {daemon.port}",
                                        f"port {other}")
    conf2 = str(daemon.dir / "second.conf")
    with open(conf2, "w") as f:
        f.write(body)
    res = subprocess.run([SMTPD, "-d", "-f", conf2], capture_output=True,
                         text=True, timeout=20)
    assert res.returncode == 1
    assert "another smtpd is running on" in res.stderr
    assert daemon.ctl("show", "status").returncode == 0


def test_worker_cannot_be_started_by_hand(tmp_path):
    res = subprocess.run([SMTPD, "-P", "smtp"], capture_output=True,
                         text=True, timeout=20,
                         stdin=subprocess.DEVNULL, pass_fds=())
    assert res.returncode == 1
    assert "smtpd -P is for the parent's use" in res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop is root's")
def test_root_workers_drop_to_their_users_and_chroots(daemon):
    import pwd
    users = {"smtp": "_smtpd", "auth": "_smtpauth", "queue": "_smtpq",
             "delivery": "_smtpd", "mailbox": "_vmail", "control": "_smtpd"}
    roots = {"smtp": "/var/empty", "auth": "/var/empty",
             "queue": os.path.realpath(daemon.spool),
             "delivery": "/var/empty", "mailbox": "/var/empty",
             "control": "/var/empty"}
    pids = pids_by_name(daemon)
    for w in WORKERS:
        pw = pwd.getpwnam(users[w])
        st = proc_status(pids[w])
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        assert uids == [str(pw.pw_uid)] * 4, (w, uids)
        assert gids == [str(pw.pw_gid)] * 4, (w, gids)
        assert st["Groups"].split() == [str(pw.pw_gid)], (w, st["Groups"])
        assert os.readlink(f"/proc/{pids[w]}/root") == roots[w], w
        assert st["CapEff"] == "0000000000000000", w
    # the parent stays root, in /
    assert proc_status(daemon.pid)["Uid"].split()[0] == "0"
    spool = os.stat(daemon.spool)
    assert spool.st_uid == pwd.getpwnam("_smtpq").pw_uid
    assert spool.st_mode & 0o777 == 0o700


def test_builtin_default_as_a_user(tmp_path):
    """Without -f and without an installed file, the built-in default
    serves: loopback only, port 2525, the spool under $HOME."""
    if os.path.exists("/etc/portcullis/smtpd.conf"):
        pytest.skip("an installed /etc/portcullis/smtpd.conf takes over")
    home = tmp_path / "home"
    home.mkdir()
    cmd = [SMTPD, "-nv"]
    env = dict(os.environ, HOME=str(home))
    if os.geteuid() == 0:
        os.chown(home, 65534, 65534)
        os.chmod(tmp_path, 0o755)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534",
               "--clear-groups"] + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=20)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "listen on 127.0.0.1 port 2525" in out
    assert "listen on ::1 port 2525" in out
    assert f'spool "{home}/.portcullis/spool"' in out
    assert f'"{home}/.portcullis/smtpd.sock"' in out
    assert "relay allow from <loopback>" in out
    assert out.rstrip().endswith("configuration OK")


def test_ctrl_c_to_the_process_group_stops_without_restarts(tmp_path):
    """A terminal's SIGINT reaches the whole foreground process group:
    only the parent may act on it, or it would restart the workers that
    the signal stopped."""
    from conftest import Daemon
    d = Daemon(tmp_path)
    res = d.check_config()
    assert res.returncode == 0
    log = open(d.logpath, "wb")
    proc = subprocess.Popen([SMTPD, "-d", "-v", "-f", d.conf],
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        d.proc = proc
        assert wait_for(d.ready, 15)
        assert wait_for(d.all_running, 15)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    text = d.log()
    assert "restarting" not in text
    assert "received SIGINT" in text


def test_mailbox_lives_in_the_mail_root(make_daemon, tmp_path):
    """The mailbox process is chrooted (as root) or at home (otherwise)
    in the deepest folder holding every Maildir; the parent creates it."""
    d = make_daemon(start=False)
    mail = tmp_path / "mail"
    d.write_config(d.base_config() +
                   f'accept for domain "example.com" deliver maildir '
                   f'"{mail}/%{{domain}}/%{{user}}"\n'
                   f'accept for domain "example.org" deliver maildir '
                   f'"{mail}/org/%{{user}}"\n')
    if os.geteuid() == 0:
        os.chmod(tmp_path, 0o755)
    d.start()
    assert mail.is_dir()
    pid = d.worker_pid("mailbox")
    if os.geteuid() == 0:
        assert os.readlink(f"/proc/{pid}/root") == str(mail)
    else:
        assert os.readlink(f"/proc/{pid}/cwd") == str(mail)


def test_descriptor_limit_is_raised_for_every_worker(make_daemon):
    """Each session costs the front end a descriptor: started with a
    soft limit of 1024 under a higher hard one, every worker runs with
    the hard limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 1024:
        pytest.fail(f"the hard descriptor limit here is {hard}: the test "
                    "needs more than 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        d = make_daemon()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for name in ("smtp", "auth", "queue", "delivery", "mailbox", "control"):
        pid = d.worker_pid(name)
        with open(f"/proc/{pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max open files"))
        assert line.split()[3] == str(hard), (name, line)


def test_log_lines_held_without_verbose_arrive_whole_and_in_order(
        make_daemon):
    # Without -v a worker writes the lines of one pass of its loop
    # together; none may be lost, cut or reordered, even at a stop.
    d = make_daemon(verbose=False, hold=True)
    sent = []
    errors = []

    def one(i):
        try:
            with smtplib.SMTP("127.0.0.1", d.port, timeout=20) as s:
                s.sendmail("a@example.org", [f"r{i}@example.net"],
                           f"Subject: {i}\r\n\r\nbody {i}\r\n")
            sent.append(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(sent) == 20, errors
    d.expect_exit = True
    os.kill(d.pid, signal.SIGTERM)
    assert d.proc.wait(15) == 0
    lines = d.log().splitlines()
    # no debug lines without -v
    assert not any("channel to" in ln for ln in lines)
    sessions = {}
    for ln in lines:
        parts = ln.split()
        if len(parts) > 3 and parts[0] == "smtp:" and parts[2] == "smtp":
            sessions.setdefault(parts[1], []).append(parts[3])
    # the start-up probe connected and left without a word
    probes = [sid for sid, ev in sessions.items()
              if ev == ["event=connect", "event=disconnect"]]
    assert len(probes) >= 1
    for sid in probes:
        del sessions[sid]
    assert len(sessions) == 20, sessions
    for sid, events in sessions.items():
        assert events == ["event=connect", "event=rcpt", "event=message",
                          "event=disconnect"], (sid, events)
    rcpts = [ln for ln in lines if "smtp event=rcpt" in ln]
    assert sorted(int(ln.split("to=<r")[1].split("@")[0])
                  for ln in rcpts) == list(range(20))
    # the queue's commits, held the same way, are all there too
    assert sum("queue event=commit" in ln for ln in lines) == 20
