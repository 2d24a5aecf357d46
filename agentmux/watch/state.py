"""The pure state machine: `step(state, names, observation) -> (state, events)`.

The runner's status.json is the truth about how an agent ended; tmux is only a second source
and a way to know a pane is alive. A pane with no final status whose runner is gone can never
get one: it is `lost`, which is never counted as success. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agentmux.records import EventRecord, StatusRecord
from agentmux.tmux_chain import PaneObs

TERMINAL = frozenset({"done", "failed", "killed", "lost"})
STATES = ("queued", "starting", "running", "waiting", "paused", "checking", "done", "failed",
          "killed", "lost")


def summary_line(states: Iterable[str]) -> str:
    """`2 running · 1 done`: how many panes are in each state, in the order of STATES.

    The one summary line: under the status table, and in the session's tmux status bar."""
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    return " · ".join(f"{counts[s]} {s}" for s in STATES if s in counts)


@dataclass(frozen=True)
class PaneState:
    state: str = "starting"
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class Observation:
    """What one tick saw. `panes` is None when the session (or the whole server) is gone."""

    panes: Mapping[str, PaneObs] | None
    statuses: Mapping[str, StatusRecord | None]
    runner_alive: Mapping[str, bool]
    # Screen verdicts of this tick; a pane missing here was not looked at (keep `waiting`).
    waiting: Mapping[str, bool] = field(default_factory=dict)
    timed_out: frozenset[str] = frozenset()
    # Agents whose process is stopped (SIGSTOP, Ctrl-Z in the pane): `paused`, not working.
    paused: frozenset[str] = frozenset()


def classify(
    status: StatusRecord | None,
    pane: PaneObs | None,
    session_alive: bool,
    runner_alive: bool,
) -> PaneState | None:
    """The state one pane is in, or None when it cannot be known yet (keep the last one)."""
    if status and status.ended_at:
        reason = status.reason
        if reason == "runner-error":
            return PaneState("lost", status.exit_code, status.signal, reason)
        if status.signal:
            return PaneState("killed", None, status.signal, reason)
        code = status.exit_code
        ok = code == 0 and reason != "check"  # exit 0, then a failed check: not done
        return PaneState("done" if ok else "failed", code, None, reason)
    if status and status.phase == "check" and (runner_alive or pane is not None):
        return PaneState("checking")  # the agent exited 0; its check decides done or failed
    if pane is not None and not pane.dead:
        if status and status.phase == "queued":
            return PaneState("queued")  # max_running: waiting for the watcher's go
        running = bool(status and status.phase == "agent")
        return PaneState("running" if running else "starting")
    if pane is None and session_alive and status is None:
        return PaneState("starting")  # the build has not created it yet
    if runner_alive and not (pane is not None and pane.dead):
        return None  # the runner is still writing its status (e.g. after kill-pane's SIGHUP)
    if pane is not None and pane.dead:
        why = "runner-died"
    elif session_alive:
        why = "pane-gone"
    else:
        why = "session-gone"
    return PaneState("lost", None, None, why)


def step(
    state: Mapping[str, PaneState], names: list[str], obs: Observation
) -> tuple[dict[str, PaneState], list[EventRecord]]:
    """Fold one observation into the state; emit an event for every change.

    A terminal state is final: it is recorded once and never replaced.
    """
    new = dict(state)
    events: list[EventRecord] = []
    alive = obs.panes is not None
    for name in names:
        old = new.get(name)
        if old is not None and old.terminal:
            continue
        got = classify(
            obs.statuses.get(name),
            obs.panes.get(name) if obs.panes is not None else None,
            alive,
            obs.runner_alive.get(name, False),
        )
        if got is not None and got.terminal and got.state != "lost" and name in obs.timed_out:
            # The watcher stopped it: however it ended, the attempt failed by its timeout.
            got = PaneState("failed", got.exit_code, got.signal, "timeout")
        if got is not None and got.state == "running":
            seen = obs.waiting.get(name)
            if seen or (seen is None and old is not None and old.state == "waiting"):
                got = PaneState("waiting")
        if got is not None and got.state in ("running", "waiting") and name in obs.paused:
            got = PaneState("paused")
        if got is None or got == old:
            continue
        new[name] = got
        st = obs.statuses.get(name)
        events.append(EventRecord(
            "state", name, state=got.state, exit_code=got.exit_code, signal=got.signal,
            reason=got.reason,
            check_exit_code=st.check_exit_code if got.terminal and st is not None else None))
    return new, events


def replay(events: Iterable[EventRecord]) -> dict[str, PaneState]:
    """The state the ledger already holds, so a restarted watcher repeats nothing."""
    state: dict[str, PaneState] = {}
    for ev in events:
        if ev.type == "state" and ev.pane is not None:
            state[ev.pane] = PaneState(
                ev.state if ev.state is not None else "lost", ev.exit_code, ev.signal, ev.reason
            )
        elif ev.type == "restart" and ev.pane is not None:
            state.pop(ev.pane, None)
    return state
