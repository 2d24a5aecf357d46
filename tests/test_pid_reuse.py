"""A pid recorded before a reboot may belong to another process now: it is not the agent."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from agentmux.atomic import now_iso
from agentmux.watch.alive import pid_alive


def test_a_pid_that_began_after_the_record_is_another_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        assert pid_alive(proc.pid)
        assert pid_alive(proc.pid, now_iso())              # recorded as it started
        assert not pid_alive(proc.pid, now_iso(time.time() - 3600))  # recorded an hour ago
        assert pid_alive(os.getpid(), now_iso(time.time() + 60))     # began before the record
    finally:
        proc.communicate(b"")
    assert not pid_alive(proc.pid, now_iso())
