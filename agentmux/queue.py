"""The queue (`max_running = N`): which gated panes may start now.

Every pane of a run with a queue is created at `up` like any other, but its runner waits for a
gate file (`panes/NAME/go`) before it starts the agent; until then the pane is `queued`. The
gates are released here, in layout order, by `up` (the first N) and by the watcher on every
tick (one per pane that ended). A gate is a file: durable, so a watcher that dies and comes
back, or a `down` racing a release, loses nothing, and the watcher stays one tmux query plus
file reads per tick.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentmux import ledger
from agentmux.watch.state import PaneState

GATE = "go"
CLOSED = "queue.closed"   # `down` closes the queue first: no gate opens while it stops panes


def close(run_dir: ledger.RunDir) -> None:
    (run_dir.path / CLOSED).touch()


def gate_path(run_dir: ledger.RunDir, name: str) -> Path:
    return run_dir.pane_dir(name) / GATE


def _open_gate(path: Path) -> bool:
    """Create the gate; False when it was there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.write(fd, (ledger.now_iso() + "\n").encode())
    os.close(fd)
    return True


def release(run_dir: ledger.RunDir, names: Sequence[str], limit: int | None,
            state: Mapping[str, PaneState]) -> list[str]:
    """Open the gates of the next queued panes while fewer than `limit` run; returns them.

    A pane counts as running from its gate's opening until its state is terminal: whatever
    the runner has written so far, the slot is taken.
    """
    if limit is None or (run_dir.path / CLOSED).exists():
        return []
    active = 0
    waiting: list[str] = []
    for name in names:
        st = state.get(name)
        if st is not None and st.terminal:
            continue
        if gate_path(run_dir, name).exists():
            active += 1
        else:
            waiting.append(name)
    opened = []
    for name in waiting[:max(0, limit - active)]:
        if _open_gate(gate_path(run_dir, name)):
            opened.append(name)
    return opened


def queued_seconds(status: Mapping[str, object]) -> float | None:
    """How long a pane waited in the queue: from queued_at to its agent's start (or now)."""
    queued, started = status.get("queued_at"), status.get("started_at")
    if not isinstance(queued, str):
        return None
    if status.get("phase") == "queued" or not isinstance(started, str):
        end = None
    else:
        end = ledger.parse_iso(started)
    if status.get("phase") == "ended" and status.get("reason") == "queued":
        end = ledger.parse_iso(str(status.get("ended_at")))
    import time

    return round(max(0.0, (time.time() if end is None else end) - ledger.parse_iso(queued)), 3)
