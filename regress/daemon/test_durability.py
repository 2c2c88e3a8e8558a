"""A message acknowledged with 250 is never lost: it survives SIGKILL
of the queue process and of the whole daemon, and is delivered once the
relay it goes to answers."""

import glob
import os
import signal
import smtplib
import socket
import subprocess
import time

from conftest import SMTPD, Daemon, free_port, pid_alive, wait_for
from sink import Sink


def relay_config(d, sink_port):
    return d.base_config() + (
        "queue retry 1s\n"
        'delivery "sink" {\n'
        "    always\n"
        f"    relay 127.0.0.1 port {sink_port}\n"
        "}\n")


def send(d, rcpts, body=b"Subject: durable\r\n\r\nkeep me\r\n"):
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.sendmail("sender@example.org", rcpts, body)


def delivered(folder):
    return sorted(glob.glob(os.path.join(folder, "msg-*.eml")))


def spool_messages(d):
    return glob.glob(os.path.join(d.spool, "queue", "*", "*", "message"))


def test_relayed_to_the_sink(make_daemon, tmp_path):
    sink = Sink(str(tmp_path / "sink"))
    port = sink.start()
    try:
        d = make_daemon(start=False)
        d.write_config(relay_config(d, port))
        d.start()
        send(d, ["a@far.example", "b@far.example"],
             b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n")
        assert wait_for(lambda: delivered(str(tmp_path / "sink")), 15)
        msg = open(delivered(str(tmp_path / "sink"))[0], "rb").read()
        assert msg.startswith(b"Received: from ")
        assert msg.endswith(b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n")
        env = open(delivered(str(tmp_path / "sink"))[0][:-4] + ".env").read()
        assert "rcpt <a@far.example>" in env
        assert "rcpt <b@far.example>" in env
        # delivered: nothing left in the spool
        assert wait_for(lambda: not spool_messages(d), 10)
        assert d.wait_log(r"queue event=delivered to=<a@far.example>")
    finally:
        sink.stop()


def test_queue_killed_after_250_still_delivers(make_daemon, tmp_path):
    port = free_port()		# nothing listens there yet
    d = make_daemon(start=False)
    d.write_config(relay_config(d, port))
    d.start()
    send(d, ["a@far.example"])
    assert len(spool_messages(d)) == 1
    queue = d.worker_pid("queue")
    os.kill(queue, signal.SIGKILL)
    assert d.wait_log(rf"queue \(pid {queue}\) was killed by signal 9")
    assert wait_for(lambda: d.all_running(), 15)
    assert d.wait_log(r"queue event=recover messages=1")
    sink = Sink(str(tmp_path / "sink"), port=port)
    sink.start()
    try:
        assert wait_for(lambda: delivered(str(tmp_path / "sink")), 20), \
            d.log()
        assert b"keep me" in open(
            delivered(str(tmp_path / "sink"))[0], "rb").read()
    finally:
        sink.stop()


def test_whole_daemon_killed_after_250_still_delivers(tmp_path):
    port = free_port()
    d = Daemon(tmp_path)
    d.write_config(relay_config(d, port))
    d.start()
    try:
        send(d, ["a@far.example", "b@far.example"])
        children = d.children()
        # no warning, no clean-up: SIGKILL the parent and every worker
        os.kill(d.pid, signal.SIGKILL)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        d.proc.wait(10)
        for pid in children:
            assert wait_for(lambda: not pid_alive(pid), 10)
        assert len(spool_messages(d)) == 1
        # a fresh daemon on the same spool, with the relay now up
        sink = Sink(str(tmp_path / "sink"), port=port)
        sink.start()
        try:
            os.unlink(d.sock) if os.path.exists(d.sock) else None
            d2 = Daemon(tmp_path, port=d.port)
            d2.write_config(relay_config(d2, port))
            d2.start()
            try:
                assert d2.wait_log(r"queue event=recover messages=1")
                assert wait_for(lambda: delivered(str(tmp_path / "sink")),
                                20), d2.log()
                env = open(delivered(str(tmp_path / "sink"))[0][:-4] +
                           ".env").read()
                assert "rcpt <a@far.example>" in env
                assert "rcpt <b@far.example>" in env
            finally:
                d2.stop()
        finally:
            sink.stop()
    finally:
        d.stop()


def test_relay_down_then_up_is_retried(make_daemon, tmp_path):
    port = free_port()
    d = make_daemon(start=False)
    d.write_config(relay_config(d, port))
    d.start()
    send(d, ["a@far.example"])
    assert d.wait_log(r"queue event=tempfail to=<a@far.example>", 15), \
        d.log()
    sink = Sink(str(tmp_path / "sink"), port=port)
    sink.start()
    try:
        assert wait_for(lambda: delivered(str(tmp_path / "sink")), 20)
    finally:
        sink.stop()
