"""The words review and runs use for an agent's and a run's state, derived from the states
`status` gives (status.rows, which folds the ledger with one live look at tmux), so that every
view agrees with `status`: after a reboot, a lost agent is not "still running" in `review`, and
its run is not `running` in `runs`.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentmux.watch.state import TERMINAL

# States of an agent that is still at work, as `status` derives them (status.live_state); any
# other state (ended, lost, a host that cannot be reached) is not "still running".
ALIVE = frozenset({"starting", "running", "waiting", "idle", "paused"})


def source_note(state: str, source: str) -> str | None:
    """Where review read an agent's files, said so as to agree with its state in `status`."""
    if source == "live":
        if state in ALIVE:
            return "live (still running)"
        if state == "checking":
            return "live (its check is running)"
        return f"read from its worktree as it is now, not from a snapshot (the agent is {state})"
    if source == "none":
        return "no snapshot and no worktree: changes unknown"
    return None


def run_state(recorded: object, states: Iterable[str]) -> str:
    """A run's state for `runs`, from its agents' states as `status` derives them, never from
    run.json alone (after a reboot it still says "running"): `starting` or `running` while an
    agent is alive, `down` when agentmux ended it, `unknown` when an agent's host cannot be
    reached, else `ended`."""
    seen = set(states)
    if seen & (ALIVE | {"checking"}):
        return "starting" if recorded == "starting" else "running"
    if recorded == "down":
        return "down"
    return "unknown" if seen - TERMINAL else "ended"
