"""Waiting against a monotonic deadline: the one loop every waiter in agentmux uses."""

from __future__ import annotations

import errno
import fcntl
import time
from collections.abc import Callable


def until(cond: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll cond until it is truthy (True) or the deadline passes (False)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # poll
    return True


def flock(fd: int, timeout: float) -> bool:
    """An exclusive flock on fd within timeout; False when another holder keeps it."""
    def take() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    return until(take, timeout)
