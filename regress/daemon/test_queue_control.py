"""Queue control through smtpctl, against the real daemon.

make_daemon(hold=True) keeps every message in the spool: its relay is
down, so the first attempt fails at once and the next try is an hour
away.  The tests read the queue with `show queue` and `show message`,
make attempts happen with `schedule`, empty the spool with `remove`,
and stop and start delivery and the front end with `pause`/`resume`.
"""

import json
import os
import re
import smtplib
import socket
import time

from conftest import wait_for

MSG = (b"From: Alice <alice@example.org>\r\n"
       b"To: Bob <bob@remote.test>\r\n"
       b"Subject: queue control\r\n"
       b"  folded\r\n"
       b"Message-ID: <qc@example.org>\r\n"
       b"\r\n"
       b"Hello.\r\n")


def submit(d, sender, rcpts, data=MSG):
    """One message; its queue id, from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", d.port, timeout=20) as s:
        s.ehlo("client.test")
        code, _ = s.mail(sender)
        assert code == 250
        for r in rcpts:
            code, _ = s.rcpt(r)
            assert code == 250, (r, code)
        code, reply = s.data(data)
        assert code == 250, reply
    m = re.search(rb"queued as ([0-9a-f]{16})", reply)
    assert m, reply
    return m.group(1).decode()


def queue(d):
    res = d.ctl("show", "queue", json_out=True, check=True)
    return json.loads(res.stdout)["envelopes"]


def stats(d):
    res = d.ctl("show", "stats", json_out=True, check=True)
    return json.loads(res.stdout)


def count(d, pattern):
    return len(re.findall(pattern, d.log()))


def tempfails(d, n):
    """Wait until n failed attempts are logged."""
    assert wait_for(lambda: count(d, r"queue event=tempfail") >= n, 15), \
        d.log()


def msgdirs(d):
    """The message folders of the spool: queue/<hh>/<msgid>."""
    found = []
    top = os.path.join(d.spool, "queue")
    for bucket in os.listdir(top):
        found += os.listdir(os.path.join(top, bucket))
    return sorted(found)


def test_show_queue_after_a_failed_attempt(make_daemon):
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test", "carol@remote.test"])
    b = submit(d, "", ["dave@other.test"])
    tempfails(d, 3)

    envs = queue(d)
    assert [(e["msgid"], e["recipient"]) for e in envs] == sorted([
        (a, "bob@remote.test"), (a, "carol@remote.test"),
        (b, "dave@other.test")])
    now = time.time()
    for e in envs:
        assert e["sender"] == ("alice@example.org" if e["msgid"] == a
                               else "")
        assert e["state"] == "scheduled"
        assert e["dest"] == "relay"
        assert e["attempts"] == 1
        assert e["error"] != ""
        assert e["lasttry"] > 0
        assert e["nexttry"] > now + 3000    # retry 1h
        assert 0 <= e["age"] < 60
        assert e["size"] > len(MSG)

    res = d.ctl("show", "queue", check=True)
    lines = res.stdout.splitlines()
    assert lines[0].split()[:5] == ["MSGID", "STATE", "AGE", "TRIES",
                                    "NEXT"]
    assert len(lines) == 4
    row = [ln for ln in lines if "<carol@remote.test>" in ln][0]
    assert row.startswith(a + " scheduled")
    assert "<alice@example.org> -> <carol@remote.test>" in row
    assert " in 59m" in row or " in 1h00m" in row
    assert '"' in row                       # the last error
    assert [ln for ln in lines if "<> -> <dave@other.test>" in ln]


def test_show_queue_of_an_empty_queue(daemon):
    res = daemon.ctl("show", "queue", check=True)
    assert res.stdout == ""
    assert queue(daemon) == []


def test_show_queue_streams_a_big_queue(make_daemon):
    """Many frames, more than the queue may send ahead: all arrive."""
    d = make_daemon(hold=True)
    local = "x" * 60
    rcpts = [f"{local}{i:04d}@remote.test" for i in range(800)]
    ids = [submit(d, "bulk@example.org", rcpts) for _ in range(2)]
    envs = queue(d)
    assert len(envs) == 1600
    assert sorted({e["msgid"] for e in envs}) == sorted(ids)
    assert [e["recipient"] for e in envs if e["msgid"] == ids[0]] == rcpts
    res = d.ctl("show", "queue", check=True)
    assert len(res.stdout.splitlines()) == 1601


def test_show_message(make_daemon):
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test", "carol@remote.test"])
    tempfails(d, 2)

    res = d.ctl("show", "message", a, json_out=True, check=True)
    m = json.loads(res.stdout)
    assert m["msgid"] == a
    assert m["sender"] == "alice@example.org"
    assert m["envelope_count"] == 2
    assert m["size"] > len(MSG)
    assert "Subject: queue control folded" in m["headers"]
    assert "From: Alice <alice@example.org>" in m["headers"]
    assert "Message-ID: <qc@example.org>" in m["headers"]
    assert [e["recipient"] for e in m["envelopes"]] == [
        "bob@remote.test", "carol@remote.test"]
    assert all(e["attempts"] == 1 for e in m["envelopes"])

    res = d.ctl("show", "message", a, check=True)
    assert f"message:   {a}" in res.stdout
    assert "sender:    <alice@example.org>" in res.stdout
    assert "Subject: queue control folded" in res.stdout
    assert "<alice@example.org> -> <bob@remote.test>" in res.stdout


def test_unknown_and_invalid_ids(daemon):
    for args in (("show", "message"), ("schedule",), ("remove",)):
        res = daemon.ctl(*args, "0123456789abcdef")
        assert res.returncode == 1, res
        assert "no such message" in res.stderr, res.stderr
        res = daemon.ctl(*args, "xyz")
        assert res.returncode == 1
        assert "invalid message id" in res.stderr
        res = daemon.ctl(*args)
        assert res.returncode == 1
        assert "missing argument" in res.stderr
    res = daemon.ctl("remove", "0123456789abcdef", json_out=True)
    assert res.returncode == 1
    assert json.loads(res.stdout) == {"ok": False,
                                      "error": "no such message"}


def test_schedule_makes_an_attempt_now(make_daemon):
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test"])
    b = submit(d, "alice@example.org", ["carol@remote.test"])
    tempfails(d, 2)
    assert count(d, rf"{a} queue event=dispatch") == 1

    res = d.ctl("schedule", a, check=True)
    assert res.stdout == "1 envelope of 1 message scheduled\n"
    assert wait_for(lambda: count(d, rf"{a} queue event=dispatch") == 2, 10)
    tempfails(d, 3)
    assert count(d, rf"{b} queue event=dispatch") == 1
    assert {e["msgid"]: e["attempts"] for e in queue(d)} == {a: 2, b: 1}

    res = d.ctl("schedule", "all", json_out=True, check=True)
    assert json.loads(res.stdout) == {"ok": True, "messages": 2,
                                      "envelopes": 2, "skipped": 0}
    assert wait_for(lambda: count(d, rf"{b} queue event=dispatch") == 2, 10)
    tempfails(d, 5)
    assert {e["msgid"]: e["attempts"] for e in queue(d)} == {a: 3, b: 2}


def test_remove(make_daemon):
    d = make_daemon(hold=True)
    ids = [submit(d, "alice@example.org", [f"r{i}@remote.test"])
           for i in range(3)]
    tempfails(d, 3)
    assert msgdirs(d) == sorted(ids)

    res = d.ctl("remove", ids[1], check=True)
    assert res.stdout == "1 message removed (1 envelope)\n"
    assert msgdirs(d) == sorted([ids[0], ids[2]])
    assert sorted(e["msgid"] for e in queue(d)) == sorted([ids[0], ids[2]])
    res = d.ctl("remove", ids[1])
    assert res.returncode == 1 and "no such message" in res.stderr

    res = d.ctl("remove", "all", check=True)
    assert res.stdout == "2 messages removed (2 envelopes)\n"
    assert msgdirs(d) == []
    assert queue(d) == []
    assert stats(d)["queue.messages"] == 0


def test_a_removed_message_folder_is_reused(make_daemon):
    """Removal keeps a message's folder, envelopes file and body in the
    spool's free/, emptied (each may keep its length, as zeros); the
    next message is written into them, cut to its own length, and a
    restart keeps them for reuse."""
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test"])
    tempfails(d, 1)
    folder = os.path.join(d.spool, "queue", a[-2:], a)
    ino = os.stat(folder).st_ino
    body_ino = os.stat(os.path.join(folder, "message")).st_ino
    d.ctl("remove", a, check=True)
    assert msgdirs(d) == []
    assert os.listdir(os.path.join(d.spool, "free")) == [a]
    kept = os.path.join(d.spool, "free", a)
    assert sorted(os.listdir(kept)) == ["envelopes", "message"]
    # nothing of the removed message is left to read
    for name in ("envelopes", "message"):
        with open(os.path.join(kept, name), "rb") as f:
            left = f.read()
        assert left.count(0) == len(left), name
    st = stats(d)
    assert st["store.free"] == 1 and st["store.recycled"] == 0

    other = MSG.replace(b"Subject: queue control",
                        b"Subject: the next").replace(
                            b"Bob <bob@remote.test>", b"Dave <dave@remote.test>")
    b = submit(d, "carol@example.org", ["dave@remote.test"], data=other)
    assert msgdirs(d) == [b]
    assert os.stat(os.path.join(d.spool, "queue", b[-2:], b)).st_ino == ino
    assert os.stat(os.path.join(d.spool, "queue", b[-2:], b,
                                "message")).st_ino == body_ino
    assert os.listdir(os.path.join(d.spool, "free")) == []
    st = stats(d)
    assert st["store.free"] == 0 and st["store.recycled"] == 1
    shown = d.ctl("show", "message", b, check=True).stdout
    assert "Subject: the next" in shown and "carol@example.org" in shown
    assert "queue control" not in shown and "bob@remote.test" not in shown
    # the body is b's alone: a's text and the zeros past b's end are cut
    with open(os.path.join(d.spool, "queue", b[-2:], b, "message"),
              "rb") as f:
        body = f.read()
    assert len(left) > len(body) > 0
    assert b"\0" not in body and b"queue control" not in body
    assert b"Subject: the next" in body and body.endswith(b"Hello.\r\n")
    with open(os.path.join(d.spool, "queue", b[-2:], b, "envelopes"),
              "rb") as f:
        envs = f.read()
    assert b"\0" not in envs and envs.endswith(b"\n")
    assert b"dave@remote.test" in envs and b"bob@remote.test" not in envs

    tempfails(d, 2)
    d.ctl("remove", b, check=True)
    d.stop()
    d.start()
    assert stats(d)["store.free"] == 1
    c = submit(d, "alice@example.org", ["bob@remote.test"])
    assert msgdirs(d) == [c]
    assert stats(d)["store.recycled"] == 1


def test_removed_folders_past_the_pool_are_deleted_in_the_background(
        make_daemon):
    """free/ keeps 4,096 folders for reuse; what a restart finds there
    past that (removals past the pool leave it there as trash) is
    deleted by the running queue a few milliseconds at a time, whatever
    it holds, and show stats counts it down."""
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test"])
    tempfails(d, 1)
    d.stop()
    free = os.path.join(d.spool, "free")
    # a whole message, as a removal past the pool leaves it
    whole = os.path.join(d.spool, "queue", a[-2:], a)
    st = os.stat(whole)     # the queue's own: as it would have made them
    os.rename(whole, os.path.join(free, a))
    made = 1
    for i in range(4096 + 300):
        name = os.path.join(free, "%016x" % (0x1000000000000000 + i))
        os.mkdir(name, 0o700)
        os.chown(name, st.st_uid, st.st_gid)
        for f in ("envelopes", "message"):
            with open(os.path.join(name, f), "wb") as fh:
                fh.write(b"x" * 100)
            os.chown(os.path.join(name, f), st.st_uid, st.st_gid)
        made += 1
    d.start()
    assert msgdirs(d) == []
    st = stats(d)
    assert st["queue.messages"] == 0 and st["store.free"] == 4096
    # past the pool, all of it trash (some may be deleted already)
    assert st["store.trash"] <= made - 4096
    assert wait_for(lambda: stats(d)["store.trash"] == 0, 20)
    assert wait_for(lambda: len(os.listdir(free)) == 4096, 5)
    assert stats(d)["store.free"] == 4096
    # the pool is reused as it was: a message still goes through
    b = submit(d, "carol@example.org", ["dave@remote.test"])
    assert msgdirs(d) == [b] and stats(d)["store.recycled"] == 1
    assert not os.path.exists(os.path.join(free, b))


def test_a_commit_cut_short_is_found_at_restart(make_daemon):
    """A batch of new messages is made durable by one sync, after the
    renames that commit them: a crash before it ends can leave a message
    whose blocks did not all reach the disk.  Recovery reads the bodies
    of the messages committed since the spool's durable point, moves one
    whose check fails to corrupt/ (it was never acknowledged) and keeps
    the others; older messages are not read again."""
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test"])
    b = submit(d, "carol@example.org", ["dave@remote.test"])
    tempfails(d, 2)
    d.stop()
    durable = os.path.join(d.spool, "durable")
    assert re.fullmatch(r"[0-9a-f]{8} [0-9a-f]{8}\n",
                        open(durable).read())
    # a's blocks as a power cut leaves them: never written, zeros; and
    # no durable point, so that every body is read
    body = os.path.join(d.spool, "queue", a[-2:], a, "message")
    size = os.path.getsize(body)
    with open(body, "r+b") as f:
        f.write(b"\0" * size)
    os.unlink(durable)
    d.start()
    st = stats(d)
    assert st["store.recovered"] == 1 and st["queue.messages"] == 1
    assert st["store.corrupt"] == 1 and st["store.verified"] == 2
    assert msgdirs(d) == [b]
    assert os.listdir(os.path.join(d.spool, "corrupt")) == [a]
    assert re.search(a + r" queue event=corrupt reason=\"body check "
                     r"differs: a commit cut short\"", d.log())
    assert [e["msgid"] for e in queue(d)] == [b]
    # once the clock has passed b's second, a start (after its sync)
    # writes the point past b, and the next reads no body again
    assert wait_for(lambda: int(time.time()) > int(b[:8], 16), 5)
    d.stop()
    d.start()
    assert int(open(durable).read()[:8], 16) > int(b[:8], 16)
    d.stop()
    d.start()
    st = stats(d)
    assert st["store.recovered"] == 1 and st["store.verified"] == 0
    assert st["store.corrupt"] == 0
    assert int(open(durable).read()[:8], 16) > int(b[:8], 16)


def test_remove_refuses_a_message_in_delivery(make_daemon):
    """The relay takes the connection and says nothing: the envelope
    stays in flight, and is not removed under delivery's feet."""
    d = make_daemon(hold=True)
    relay = socket.socket()
    relay.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    relay.bind(("127.0.0.1", d.hold_port))
    relay.listen(8)
    try:
        a = submit(d, "alice@example.org", ["bob@remote.test"])
        assert wait_for(lambda: [e["state"] for e in queue(d)] ==
                        ["inflight"], 10)
        res = d.ctl("remove", a)
        assert res.returncode == 1
        assert "being delivered" in res.stderr, res.stderr
        res = d.ctl("remove", "all", check=True)
        assert res.stdout == ("0 messages removed (0 envelopes); "
                              "1 being delivered, not removed\n")
        res = d.ctl("schedule", a, check=True)
        assert "1 in flight or held, not scheduled" in res.stdout
        assert msgdirs(d) == [a]
    finally:
        relay.close()
    # the relay went away: the attempt ends, and the message can go
    tempfails(d, 1)
    d.ctl("remove", a, check=True)
    assert msgdirs(d) == []


def test_pause_delivery(make_daemon):
    d = make_daemon(hold=True)
    a = submit(d, "alice@example.org", ["bob@remote.test"])
    tempfails(d, 1)

    res = d.ctl("pause", "delivery", check=True)
    assert "delivery paused" in res.stdout
    assert stats(d)["delivery.paused"] == 1
    d.ctl("schedule", "all", check=True)
    b = submit(d, "alice@example.org", ["carol@remote.test"])
    time.sleep(1.5)
    assert count(d, r"queue event=dispatch") == 1
    assert {e["msgid"]: e["attempts"] for e in queue(d)} == {a: 1, b: 0}

    res = d.ctl("resume", "delivery", check=True)
    assert "delivery resumed" in res.stdout
    assert wait_for(lambda: count(d, r"queue event=dispatch") == 3, 10), \
        d.log()
    tempfails(d, 3)
    assert stats(d)["delivery.paused"] == 0


def greeted(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(512).startswith(b"220")
    except socket.timeout:
        return False


def test_pause_smtp(make_daemon):
    d = make_daemon(hold=True)
    old = smtplib.SMTP("127.0.0.1", d.port, timeout=20)
    old.ehlo("client.test")

    res = d.ctl("pause", "smtp", check=True)
    assert "smtp paused" in res.stdout
    assert stats(d)["smtp.paused"] == 1
    new = socket.create_connection(("127.0.0.1", d.port), 5)
    try:
        assert not greeted(new, 1.5)
        # the session that was there goes on
        assert old.mail("alice@example.org")[0] == 250
        assert old.rcpt("bob@remote.test")[0] == 250
        code, reply = old.data(MSG)
        assert code == 250, reply
        old.quit()

        res = d.ctl("resume", "smtp", check=True)
        assert "smtp resumed" in res.stdout
        # the waiting connection is served, new ones too
        assert greeted(new, 5)
    finally:
        new.close()
    with socket.create_connection(("127.0.0.1", d.port), 5) as s:
        assert greeted(s, 5)
    assert stats(d)["smtp.paused"] == 0


def test_show_stats_move(make_daemon):
    d = make_daemon(hold=True)
    before = stats(d)
    for key in ("daemon.uptime", "queue.messages", "queue.envelopes",
                "queue.scheduled", "queue.inflight", "queue.held",
                "store.commits", "store.syncs", "store.recovered",
                "store.corrupt", "store.verified", "store.recycled", "store.free", "delivery.batches", "delivery.ok", "delivery.tempfail",
                "delivery.permfail", "delivery.paused", "smtp.sessions",
                "smtp.connections", "smtp.messages", "smtp.paused"):
        assert key in before, key
    submit(d, "alice@example.org", ["bob@remote.test", "carol@remote.test"])
    tempfails(d, 2)
    after = stats(d)
    assert after["queue.messages"] == before["queue.messages"] + 1
    assert after["queue.envelopes"] == before["queue.envelopes"] + 2
    assert after["queue.scheduled"] == before["queue.scheduled"] + 2
    assert after["store.commits"] > before["store.commits"]
    assert after["store.syncs"] > before["store.syncs"]
    assert after["delivery.batches"] > before["delivery.batches"]
    assert after["delivery.tempfail"] == before["delivery.tempfail"] + 2
    assert after["smtp.connections"] > before["smtp.connections"]
    assert after["smtp.messages"] == before["smtp.messages"] + 1

    res = d.ctl("show", "stats", check=True)
    lines = dict(ln.split("=", 1) for ln in res.stdout.splitlines())
    assert lines["queue.messages"] == str(after["queue.messages"])
    assert int(lines["daemon.uptime"]) >= 0
