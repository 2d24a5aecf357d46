"""`wait`: block until agents reach a state, for scripts (`agentmux wait --for idle && …`).

It reads what `status` reads (the recorded events, one fresh look at tmux and the agents' own
hooks), so it works with or without the watcher; the screen-based states need the watcher.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from agentmux import ledger, status
from agentmux.errors import BadInput, WorkFailed
from agentmux.watch.state import TERMINAL, PaneState

TARGETS: dict[str, frozenset[str]] = {
    "idle": frozenset({"idle"}),
    "waiting": frozenset({"waiting"}),
    "ended": TERMINAL,
}
POLL_S = 0.5


class WaitTimedOut(WorkFailed):
    """The timeout passed first (exit 1, like any unmet wait)."""


def wait_for(run_dir: ledger.RunDir, panes: Sequence[str], target: str,
             timeout: float | None, poll: float = POLL_S) -> dict[str, PaneState]:
    """Returns once every named pane (every pane, with none named) is in `target`.

    A pane that ended before it got there never will: that is a failure at once, not a wait
    until the timeout."""
    if target not in TARGETS:
        raise BadInput(f"wait --for: expected one of {', '.join(TARGETS)}; got {target!r}")
    known = [p["name"] for p in run_dir.read_run().get("panes", [])]
    unknown = [p for p in panes if p not in known]
    if unknown:
        raise BadInput(f"wait: no pane named {', '.join(unknown)} in run {run_dir.id}; "
                       f"panes: {', '.join(known)}")
    names = list(panes) or known
    want = TARGETS[target]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = status.live_state(run_dir)
        now = {n: state.get(n) or PaneState() for n in names}
        if all(s.state in want for s in now.values()):
            return now
        ended = [f"{n} ({s.state}{', ' + s.reason if s.reason else ''})"
                 for n, s in now.items() if s.terminal and s.state not in want]
        if ended:
            raise WorkFailed(f"wait --for {target}: ended before reaching it: "
                             + ", ".join(ended))
        if deadline is not None and time.monotonic() >= deadline:
            left = ", ".join(f"{n} ({s.state})" for n, s in now.items() if s.state not in want)
            raise WaitTimedOut(f"wait --for {target}: timed out after {timeout:g}s; not there "
                               f"yet: {left}")
        time.sleep(poll)  # poll: the ledger and the hooks are files other processes write
