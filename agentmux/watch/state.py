"""The pure state machine: `step(state, names, observation) -> (state, events)`.

The runner's status.json is the truth about how an agent ended; tmux is only a second source
and a way to know a pane is alive. A pane with no final status whose runner is gone can never
get one: it is `lost`, which is never counted as success. Nothing here does I/O.

While an agent lives, what it is doing comes from the best evidence there is: the agent's own
hooks, then its screen, then the bare fact that its process runs. Every state carries that
`source` (hook | screen | process), so a person can tell how much to trust it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agentmux.records import EventRecord, StatusRecord
from agentmux.tmux_chain import PaneObs


@dataclass(frozen=True)
class Kind:
    """One state, as data: a new state is one more row in KINDS."""

    name: str
    colour: str              # SGR code for the status table
    terminal: bool = False   # final: recorded once, never replaced
    live: bool = False       # the agent's process runs, and its evidence decides the state
    notify: bool = False     # a change to it tells the person (message, bell, on_event)


KINDS: tuple[Kind, ...] = (
    Kind("queued", "2"),      # max_running: waiting for a free slot (the watcher's go)
    Kind("starting", "2"),
    Kind("working", "32", live=True),
    Kind("waiting", "1;33", live=True, notify=True),   # blocked on a person
    Kind("idle", "1;36", live=True, notify=True),      # its turn ended; awaits an instruction
    Kind("paused", "34"),     # its process is stopped (SIGSTOP, Ctrl-Z in the pane)
    Kind("checking", "36"),
    Kind("done", "1;32", terminal=True, notify=True),
    Kind("failed", "1;31", terminal=True, notify=True),
    Kind("stopped", "33", terminal=True, notify=True),  # agentmux stopped it (down, restart)
    Kind("killed", "35", terminal=True, notify=True),
    Kind("lost", "1;31", terminal=True, notify=True),
)
BY_NAME = {k.name: k for k in KINDS}
STATES = tuple(k.name for k in KINDS)
TERMINAL = frozenset(k.name for k in KINDS if k.terminal)
LIVE = frozenset(k.name for k in KINDS if k.live)
NOTIFY = frozenset(k.name for k in KINDS if k.notify)
SOURCES = ("hook", "screen", "process")


def summary_line(states: Iterable[str]) -> str:
    """`2 working · 1 done`: how many panes are in each state, in the order of STATES.

    The one summary line: under the status table, and in the session's tmux status bar."""
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    return " · ".join(f"{counts[s]} {s}" for s in (*STATES, *sorted(set(counts) - set(STATES)))
                      if s in counts)


@dataclass(frozen=True)
class PaneState:
    state: str = "starting"
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    source: str | None = None   # hook | screen | process; None in records older than sources

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class Verdict:
    """What a live agent is doing, by one source of evidence."""

    state: str               # one of LIVE
    reason: str | None
    source: str              # hook | screen | process


@dataclass(frozen=True)
class Observation:
    """What one tick saw. `panes` is None when the session (or the whole server) is gone."""

    panes: Mapping[str, PaneObs] | None
    statuses: Mapping[str, StatusRecord | None]
    runner_alive: Mapping[str, bool]
    # What each live agent is doing (hooks merged with its screen); a pane missing here was
    # not looked at this tick, and keeps its last live state.
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    timed_out: frozenset[str] = frozenset()
    # Panes agentmux set out to stop: name -> (reason, ISO time of the intent).
    stops: Mapping[str, tuple[str, str]] = field(default_factory=dict)
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
            return PaneState("lost", status.exit_code, status.signal, reason, "process")
        if status.signal:
            return PaneState("killed", None, status.signal, reason, "process")
        code = status.exit_code
        ok = code == 0 and reason != "check"  # exit 0, then a failed check: not done
        return PaneState("done" if ok else "failed", code, None, reason, "process")
    if status and status.phase == "check" and (runner_alive or pane is not None):
        # The agent exited 0; its check decides done or failed.
        return PaneState("checking", source="process")
    if pane is not None and not pane.dead:
        if status and status.phase == "queued":
            # max_running: waiting for the watcher's go.
            return PaneState("queued", source="process")
        running = bool(status and status.phase == "agent")
        return PaneState("working" if running else "starting", source="process")
    if pane is None and session_alive and status is None:
        return PaneState("starting", source="process")  # the build has not created it yet
    if runner_alive and not (pane is not None and pane.dead):
        return None  # the runner is still writing its status (e.g. after kill-pane's SIGHUP)
    if pane is not None and pane.dead:
        why = "runner-died"
    elif session_alive:
        why = "pane-gone"
    else:
        why = "session-gone"
    return PaneState("lost", None, None, why, "process")


def _stopped_by_us(got: PaneState, status: StatusRecord | None,
                   stop: tuple[str, str] | None) -> bool:
    """Did this end follow agentmux's own intent to stop the agent?

    An end recorded before the intent was the agent's own (it finished as `down` came); a
    runner that failed itself is `lost` whatever anyone intended."""
    if stop is None or got.reason == "runner-error":
        return False
    ended = status.ended_at if status is not None else None
    return not ended or ended >= stop[1]


def _live(name: str, got: PaneState, old: PaneState | None, obs: Observation) -> PaneState:
    seen = obs.verdicts.get(name)
    if seen is not None:
        # A working agent's reason changes with every retry line: not worth an event.
        return PaneState(seen.state, reason=seen.reason if seen.state != "working" else None,
                         source=seen.source)
    if old is not None and old.state in LIVE:
        return old  # not looked at this tick (`status`, `down`): the last verdict holds
    return got


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
        status = obs.statuses.get(name)
        got = classify(
            status,
            obs.panes.get(name) if obs.panes is not None else None,
            alive,
            obs.runner_alive.get(name, False),
        )
        if got is not None and got.terminal and got.state != "lost" and name in obs.timed_out:
            # The watcher stopped it: however it ended, the attempt failed by its timeout.
            got = PaneState("failed", got.exit_code, got.signal, "timeout", "process")
        elif got is not None and got.terminal and _stopped_by_us(got, status,
                                                                  obs.stops.get(name)):
            got = PaneState("stopped", got.exit_code, got.signal, obs.stops[name][0], "process")
        if got is not None and got.state == "working":
            got = _live(name, got, old, obs)
        if got is not None and got.state in LIVE and name in obs.paused:
            got = PaneState("paused", source="process")
        if got is None or got == old:
            continue
        new[name] = got
        events.append(EventRecord(
            "state", name, state=got.state, exit_code=got.exit_code, signal=got.signal,
            reason=got.reason,
            check_exit_code=status.check_exit_code if got.terminal and status is not None
            else None,
            detail={"source": got.source} if got.source else {}))
    return new, events


def stops(events: Iterable[EventRecord]) -> dict[str, tuple[str, str]]:
    """Panes whose current attempt agentmux set out to stop: name -> (reason, time)."""
    out: dict[str, tuple[str, str]] = {}
    for ev in events:
        if ev.type == "stop" and ev.pane is not None:
            out.setdefault(ev.pane, (ev.reason or "stopped", ev.ts))
        elif ev.type == "restart" and ev.pane is not None:
            out.pop(ev.pane, None)
    return out


def replay(events: Iterable[EventRecord]) -> dict[str, PaneState]:
    """The state the ledger already holds, so a restarted watcher repeats nothing."""
    state: dict[str, PaneState] = {}
    for ev in events:
        if ev.type == "state" and ev.pane is not None:
            source = ev.detail.get("source")
            state[ev.pane] = PaneState(
                _renamed(ev.state if ev.state is not None else "lost"), ev.exit_code,
                ev.signal, ev.reason, source if isinstance(source, str) else None)
        elif ev.type == "restart" and ev.pane is not None:
            state.pop(ev.pane, None)
    return state


def _renamed(state: object) -> str:
    # Ledgers written before `working` had a `running` state that meant the same.
    return "working" if state == "running" else str(state)
