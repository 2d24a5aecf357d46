"""Ctrl-C, SIGTERM and SIGHUP during a command that creates things: all or nothing.

Python raises KeyboardInterrupt wherever the main thread happens to be, and SIGTERM and SIGHUP
end the process with no cleanup at all. An `up` interrupted that way left branches with no
run, worktrees that nobody listed, and agents whose run folder was gone: the signal landed
between a `git worktree add` and the registration of its undo, or in the middle of an undo.

A `Guard` makes the three signals arrive only where it is safe. Outside a critical section
the first one raises `Interrupted` at once (nothing is being created there). Inside one it
is only recorded: the code raises it at its own checkpoints (`check()`), between steps,
when every step so far has its undo registered; an undo running because of it is never
interrupted again, since only the first signal ever raises. When a critical section ends
with a signal recorded and not raised, it raises then: the work it protected is complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from agentmux.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Guard:
    def __init__(self) -> None:
        self.got: int | None = None   # the first signal received
        self.raised = False
        self.depth = 0                # nesting of critical sections

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.got is None:
            self.got = signum
        if self.depth == 0 and not self.raised:
            self.raised = True
            raise Interrupted(signum)

    def check(self) -> None:
        """A safe point: raise the recorded signal, if any, here."""
        if self.got is not None and not self.raised:
            self.raised = True
            raise Interrupted(self.got)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Signals are only recorded in here; an exception that a recorded signal caused
        (a git child killed by the same Ctrl-C) leaves as `Interrupted`."""
        self.depth += 1
        try:
            yield
        except Interrupted:
            raise
        except Exception as e:
            if self.got is not None and not self.raised:
                self.raised = True
                raise Interrupted(self.got) from e
            raise
        finally:
            self.depth -= 1
        if self.depth == 0:
            self.check()


@contextlib.contextmanager
def guarded() -> Iterator[Guard]:
    """A Guard whose handlers are installed for the block (main thread only: elsewhere the
    signals stay as they are, and the Guard only ever sees none)."""
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    old = {s: signal.signal(s, guard.handle) for s in SIGNALS}
    try:
        yield guard
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
