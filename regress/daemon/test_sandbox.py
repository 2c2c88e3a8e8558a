"""The sandboxes, proven on the running daemon.

Test builds (make REGRESS=1, which "make test" uses) compile a hook into
every worker: SIGUSR2 makes it open /etc/passwd.  Processes that have no
business opening files must die of it, and the parent must say so.
"""

import os
import re
import signal

import pytest

from conftest import pid_alive, wait_for

NO_FILES = ["smtp", "auth", "delivery", "control"]


@pytest.mark.parametrize("worker", NO_FILES)
def test_worker_opening_a_file_is_killed_and_reported(daemon, worker):
    pid = daemon.worker_pid(worker)
    os.kill(pid, signal.SIGUSR2)
    assert daemon.wait_log(
        rf"{worker} \(pid {pid}\) was killed by SIGSYS: sandbox violation"), \
        daemon.log()
    log = daemon.log()
    assert "test hook: opening /etc/passwd" in log
    assert "test hook: open returned" not in log
    # the worker's own last words name the system call; written to its
    # stderr, not logged, they come through the parent, which names it
    assert re.search(rf"^{worker}\[{pid}\]: smtpd: {worker}: sandbox "
                     r"violation: system call \d+", log, re.M), log
    assert wait_for(lambda: not pid_alive(pid), 5)
    # and it is back
    assert daemon.restarted(worker, pid)
