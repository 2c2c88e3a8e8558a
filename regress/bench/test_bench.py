"""The benchmark's own machinery: `make bench' is issue 5's measure, so
its reading of the sinks, its verdicts, its waits and a short run of it
are tested here (no measured figure is judged: only that every message
is counted and the table made).  Binaries from the environment, as for regress/daemon: SMTPD,
SMTPCTL, and BENCH_OBJ (where bench/loadgen and bench/sink are)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from load import OWN_SINK_COUNT, SMTP_SINK_COUNT, last_count  # noqa: E402

OBJ = os.environ.get("BENCH_OBJ", os.path.join(ROOT, "obj-test"))
SMTPD = os.environ.get("SMTPD", os.path.join(OBJ, "smtpd"))
SMTPCTL = os.environ.get("SMTPCTL", os.path.join(OBJ, "smtpctl"))


def test_smtp_sink_count_is_the_last_whole_line():
    tail = (b"sess=1 quit=0 mesg=11\rsess=0 quit=1 mesg=12\r"
            b"sess=0 quit=1 mes")
    assert last_count(tail, SMTP_SINK_COUNT, False) == 12


def test_smtp_sink_count_not_yet_ended_is_not_read():
    assert last_count(b"sess=0 quit=0 mesg=1", SMTP_SINK_COUNT,
                      False) is None
    assert last_count(b"", SMTP_SINK_COUNT, False) is None


def test_own_sink_count_skips_a_line_cut_at_its_start():
    # read from the middle of the output: "23" may be the end of "123"
    assert last_count(b"23\n124\n12", OWN_SINK_COUNT, True) == 124
    assert last_count(b"5\n", OWN_SINK_COUNT, True) is None
    assert last_count(b"5\n", OWN_SINK_COUNT, False) == 5


def test_own_sink_count_ignores_other_lines():
    assert last_count(b"7\n8\nsink: listening\n", OWN_SINK_COUNT,
                      False) == 8


def test_quick_bench_counts_every_message(tmp_path):
    """make bench QUICK=1 with the bench's own load, Portcullis alone:
    every message of every run accepted and relayed, and the table
    written."""
    for p in (SMTPD, SMTPCTL, os.path.join(OBJ, "bench", "loadgen"),
              os.path.join(OBJ, "bench", "sink")):
        assert os.access(p, os.X_OK), f"{p} missing: make bench-tools"
    out = tmp_path / "result.json"
    res = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "bench", "bench.py"),
         "--obj", OBJ, "--smtpd", SMTPD, "--smtpctl", SMTPCTL, "--quick",
         "--gen", "own", "--mtas", "portcullis", "--phases",
         "accept,relay", "--runs", "2", "--no-download",
         "--cache", str(tmp_path / "cache"), "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    r = json.loads(out.read_text())
    runs = r["runs_raw"]
    for metric in ("accept 1k/50/one", "relay 1k/50/one"):
        rows = runs["portcullis " + metric]
        assert len(rows) == 2, metric
        for row in rows:
            assert row["ok"] == row["sent"] == 1000, (metric, row)
            assert not row["capped"] and row["error"] is None, (metric,
                                                                 row)
            assert row["value"] > 0, (metric, row)
    # smtp-source is not the load: no second run with bench/loadgen
    assert "portcullis accept 1k/50/one/loadgen" not in runs
    assert "Accepted msg/s" in r["table"]
    assert "Relayed end to end msg/s" in r["table"]
    assert (tmp_path / "result.txt").read_text() == r["table"] + "\n"


def test_against_runs_the_other_build_beside_this_one(tmp_path):
    """--against: a second build runs the same cells as Portcullis-B,
    every message counted, and the table gives B over A run by run."""
    out = tmp_path / "result.json"
    res = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "bench", "bench.py"),
         "--obj", OBJ, "--smtpd", SMTPD, "--smtpctl", SMTPCTL, "--quick",
         "--gen", "own", "--mtas", "portcullis", "--phases", "accept",
         "--runs", "2", "--no-download", "--against", SMTPD,
         "--cache", str(tmp_path / "cache"), "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["daemons"]["portcullis-b"]["version"] == SMTPD
    for name in ("portcullis", "portcullis-b"):
        rows = r["runs_raw"][name + " accept 1k/50/one"]
        assert [row["ok"] for row in rows] == [1000, 1000], (name, rows)
    line = next(ln for ln in r["table"].splitlines()
                if ln.strip().startswith("accept 1k/50/one "))
    assert line.endswith("over 2 pairs"), line
    assert "Portcullis-B" in r["table"]


def bench_with(against=None, **results):
    """A Bench holding the given figures ("daemon metric": value)."""
    import argparse
    from bench import Bench
    b = Bench(argparse.Namespace(quick=True, runs=3, cap=0,
                                 deferred=100000, against=against))
    for key, value in results.items():
        daemon, metric = key.split(" ", 1)
        for v in value if isinstance(value, list) else [value]:
            b.record(daemon, metric, v)
    return b


def test_paired_ratios_are_run_by_run():
    # B over A: 1.5 and 0.5 (the ratio of the medians would be 0.83)
    b = bench_with(against="/x/smtpd",
                   **{"portcullis accept 1k/50/one": [1000, 2000],
                      "portcullis-b accept 1k/50/one": [1500, 1000],
                      "portcullis-b cpu 1k/50/one": [None, None],
                      "postfix accept 1k/50/one": [500, 500]})
    lines = b.paired_lines()
    assert lines[0].startswith("Portcullis-B (/x/smtpd) over this build")
    assert lines[1].split() == ["accept", "1k/50/one", "1.000x",
                                "(0.500-1.500)", "over", "2", "pairs"]
    # no line for a figure with no value, none for the other daemons
    assert len(lines) == 3 and lines[2] == ""
    assert bench_with(**{"portcullis accept 1k/50/one": 1}
                      ).paired_lines() == []


def test_the_order_turns_only_between_two_builds():
    from types import SimpleNamespace as D
    ds = [D(name="portcullis"), D(name="portcullis-b"), D(name="postfix")]
    b = bench_with(against="/x/smtpd")
    assert [d.name for d in b.run_order(ds, 0)] == [
        "portcullis", "portcullis-b", "postfix"]
    assert [d.name for d in b.run_order(ds, 1)] == [
        "postfix", "portcullis-b", "portcullis"]
    assert b.run_order(ds, 1) == b.run_order(ds, 3)
    assert bench_with().run_order(ds, 1) == ds


def test_targets_judge_only_the_tables_load():
    b = bench_with(**{"portcullis accept 1k/50/one": 4000,
                      "postfix accept 1k/50/one": 1000,
                      "portcullis accept 1k/50/one/loadgen": 6000,
                      "postfix accept 1k/50/one/loadgen": 1000})
    lines = b.target_lines()
    i = next(i for i, ln in enumerate(lines)
             if ln.strip().startswith("accept 1 KiB x 50 sessions"))
    assert "4.00x" in lines[i] and lines[i].endswith("NOT met")
    # the next line: bench/loadgen's ratio, 6x, and no verdict
    assert "bench/loadgen" in lines[i + 1] and "6.00x" in lines[i + 1]
    assert lines[i + 1].endswith("-") and "met" not in lines[i + 1]


def test_no_loadgen_line_without_its_runs():
    b = bench_with(**{"portcullis relay 1k/50/one": 3000,
                      "postfix relay 1k/50/one": 500})
    lines = b.target_lines()
    assert any(ln.strip().startswith("relay end to end") and
               ln.endswith(" met") for ln in lines)
    assert not any("bench/loadgen" in ln for ln in lines)


def test_scale_waits_out_only_recently_freed_inodes(monkeypatch):
    import bench
    import time
    slept = []
    monkeypatch.setattr(bench.time, "sleep", slept.append)
    monkeypatch.setattr(bench.os, "sync", lambda: None)
    b = bench_with()
    b.nojournal = True
    b.quiet_inodes(time.monotonic())
    assert len(slept) == 1 and 60 < slept[0] <= 65
    slept.clear()
    b.quiet_inodes(time.monotonic() - 70)      # a minute old already
    b.quiet_inodes(None)                        # nothing removed before
    b.nojournal = False
    b.quiet_inodes(time.monotonic())           # a journal: no skipping
    assert slept == []


def test_proc_is_not_ext4():
    from procs import ext4_without_journal, fs_type, mount_of
    assert mount_of("/proc/self") == ("proc", "proc")
    assert fs_type("/proc/self") == "proc on proc"
    assert ext4_without_journal("/proc/self") is False
