"""One lock per repository around every change agentmux makes to git's state.

git's own locks make a concurrent second agentmux fail halfway instead of waiting, so every
change happens under `RepoLock`. It is `poll.Lock` (the one flock helper) with two things added
here: re-entry within one thread, and the holder's pid written into the file for messages and
`agentmux doctor`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from agentmux import git, poll
from agentmux.errors import EnvironmentProblem, WorkFailed

LOCK_NAME = "agentmux.lock"


class RepoLock:
    """poll.Lock on <git-common-dir>/agentmux.lock; re-entrant within one thread.

    poll.Lock's fd is not inheritable, so no child (tmux server, agent) keeps it alive after us.
    """

    _held: ClassVar[dict[tuple[str, int], tuple[poll.Lock, list[int]]]] = {}  # -> (lock, [depth])
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, repo: Path, timeout: float = 60.0) -> None:
        self.path = git.common_dir(repo) / LOCK_NAME
        self.timeout = timeout
        self._key = (str(self.path), threading.get_ident())

    def __enter__(self) -> RepoLock:
        with self._guard:
            held = self._held.get(self._key)
            if held is not None:
                held[1][0] += 1
                return self
        lock = poll.Lock(self.path)
        try:
            got = lock.acquire(self.timeout)
        except OSError as e:
            lock.release()
            raise EnvironmentProblem(f"cannot lock {self.path}: {e}") from e
        if not got:
            holder = ""
            with contextlib.suppress(OSError):
                holder = self.path.read_bytes()[:64].decode(errors="replace").strip()
            who = f" (held by pid {holder})" if holder else ""
            raise WorkFailed(f"another agentmux is changing this repository: {self.path} "
                             f"is locked{who}; gave up after {self.timeout:g}s")
        # Only a diagnostic for the message above; the lock itself is the flock.
        os.ftruncate(lock.fd, 0)
        os.pwrite(lock.fd, f"{os.getpid()}\n".encode(), 0)
        with self._guard:
            self._held[self._key] = (lock, [1])
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._guard:
            lock, depth = self._held[self._key]
            depth[0] -= 1
            if depth[0]:
                return
            del self._held[self._key]
        # An empty file means "released cleanly"; a pid left behind means its holder died
        # holding it, which `agentmux doctor` reports.
        with contextlib.suppress(OSError):
            os.ftruncate(lock.fd, 0)
        lock.release()   # closing the only fd on this open file releases the flock
