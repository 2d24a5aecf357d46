"""Recording a program's raw output through a real tmux pane, with capture.py as the
pipe-pane program armed in the same chain that creates the pane (docs/tmux.md: one chain
per build loses nothing). Used by the tests and to make tests/golden/fake-tui.raw:

    .venv/bin/python -m tests.recording OUT.raw -- scripts/fake-tui
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from agentmux import capture

from .conftest import wait_until


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args], check=True,
                          capture_output=True, text=True).stdout


def record(argv: Sequence[str], out: Path, socket: str, width: int = 100, height: int = 30,
           max_bytes: int = capture.DEFAULT_MAX_OUTPUT,
           done: Callable[[bytes], bool] | None = None, timeout: float = 30) -> bytes:
    """Run argv in a fresh pane of width x height; return its raw output once it has ended
    and `done(raw)` holds (the capture may still be writing the last bytes when tmux
    reports the pane dead)."""
    pipe = shlex.join(capture.argv(str(out), max_bytes)).replace("#", "##")
    tmux(socket, "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "rec",
         shlex.join(argv), ";", "set", "-p", "remain-on-exit", "on", ";",
         "pipe-pane", "-o", pipe)

    def ended() -> bool:
        dead = tmux(socket, "list-panes", "-t", "=rec", "-F", "#{pane_dead}").strip() == "1"
        if not dead:
            return False
        data = b"".join(capture.read_raw(str(out)))
        return done(data) if done else True

    wait_until(ended, timeout, f"{argv[0]} to end and its output to be captured")
    return b"".join(capture.read_raw(str(out)))


def kill(socket: str) -> None:
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    target, _, *cmd = sys.argv[1:]
    sock = "record-" + Path(tempfile.mkdtemp()).name
    try:
        raw = record(cmd, Path(target).with_suffix(".capture"), sock,
                     done=lambda d: d.rstrip().endswith(b"bye"))
        Path(target).write_bytes(raw)
    finally:
        kill(sock)
