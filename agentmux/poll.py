"""Waiting against a monotonic deadline, and file locks that wait that way."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path


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


class Lock:
    """An flock on a file, e.g. a run's watcher.lock (one watcher per run) or add.lock.

    Released when its holder dies; the fd is not inheritable, so no child keeps it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def acquire(self, wait: float = 0.0) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inheritable
        if flock(self.fd, wait):
            return True
        os.close(self.fd)
        self.fd = -1
        return False

    def close(self) -> None:  # contextlib.closing
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
