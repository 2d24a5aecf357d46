"""The watcher's loop around the pure `watch.state.step`: observe, step, record.

The runner's status.json is the truth about how an agent ended; tmux is only a second source
and a way to know a pane is alive. A pane with no final status whose runner is gone can never
get one: it is `lost`, which is never counted as success.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from agentmux import (
    headless_result,
    ledger,
    queue,
    remote,
    remote_follow,
    snapshot,
    transcript,
)
from agentmux.errors import AgentmuxError, Refused
from agentmux.poll import Lock
from agentmux.records import EventRecord, PaneRecord, RunRecord, StatusRecord, WatcherRecord
from agentmux.tmux import PaneObs, Tmux, Waker
from agentmux.watch import hooks, supervise
from agentmux.watch.alive import paused, pid_alive, read_cached, read_status
from agentmux.watch.state import (
    TERMINAL,
    Observation,
    PaneState,
    Verdict,
    replay,
    step,
    stops,
)
from agentmux.wiring import read_wiring

# pid_alive and read_status moved to watch.alive; importers of this module still find them.
__all__ = ["Render", "Waker", "final_tick", "nudge", "observe", "pane_entries", "pane_names",
           "pid_alive", "read_status", "record", "tick", "watch"]

log = logging.getLogger(__name__)

REDRAW_S = 5.0
# Draws the live table: (run, state, last output line per pane) -> text. The `watch` command
# passes status's renderer, so the loop never imports the layer that reads it.
Render = Callable[[ledger.RunDir, Mapping[str, PaneState], Mapping[str, str]], str]


def observe(
    tmux: Tmux, session: str, run_dir: ledger.RunDir, names: list[str],
    state: Mapping[str, PaneState], sup: supervise.Supervisor | None = None,
) -> Observation:
    """One tmux query for all panes, then the status files of panes not yet ended.

    With a supervisor (the watcher's loop), the same one query carries its fields, and it
    adds screen verdicts and timeouts; without one (`status`, `down`), the ledger's record of
    timeouts is used and screens are not looked at.
    """
    listed = sup.query() if sup is not None else tmux.panes(session)
    panes = None if listed is None else {p.name: p for p in listed if p.name}
    statuses: dict[str, StatusRecord | None] = {}
    alive: dict[str, bool] = {}
    stopped: set[str] = set()
    for name in names:
        if name in state and state[name].terminal:
            continue
        st = read_status(run_dir.status(name))
        statuses[name] = st
        # classify() asks whether the runner lives only for a pane that is gone or dead; a
        # live pane needs no /proc read each tick.
        pane = panes.get(name) if panes is not None else None
        alive[name] = (st is not None and (pane is None or pane.dead)
                       and pid_alive(st.pid, st.started_at))
        # A live agent costs one /proc read for its process state: stopped is `paused`.
        if (pane is not None and not pane.dead and st is not None
                and st.phase == "agent" and paused(st.agent_pid)):
            stopped.add(name)
    if sup is None:
        evs = run_dir.events_of()
        return Observation(panes, statuses, alive, hook_verdicts(run_dir, statuses, panes),
                           timed_out=frozenset(supervise.timed_out(evs)), stops=stops(evs),
                           paused=frozenset(stopped))
    sup.catch_up()
    entries = pane_entries(run_dir)
    sup.timeouts(statuses, entries, time.monotonic())
    verdicts = sup.verdicts(panes or {}, statuses, entries)
    return Observation(panes, statuses, alive, verdicts, frozenset(sup.timed_out),
                       dict(sup.stops), frozenset(stopped))


def hook_verdicts(run_dir: ledger.RunDir, statuses: Mapping[str, StatusRecord | None],
                  panes: Mapping[str, PaneObs] | None) -> dict[str, Verdict]:
    """Without the watcher's screens (`status`, `down`), what the agents' own hooks say now,
    where the watcher would believe them too (hooks.merge)."""
    out: dict[str, Verdict] = {}
    for name, st in statuses.items():
        pane = (panes or {}).get(name)
        if not st or st.phase != "agent" or pane is None or pane.dead:
            continue
        pane_dir = run_dir.pane_dir(name)
        found = hooks.HookReader(pane_dir / hooks.FILE_NAME).poll()
        if found is None:
            continue
        try:
            ost = run_dir.output(name).stat()
            mtime: float | None = ost.st_mtime
            grown = ost.st_size - (ost.st_size if found.output_size is None
                                   else found.output_size)
        except OSError:
            mtime, grown = None, 0
        v = hooks.merge(found, read_wiring(pane_dir).authoritative, None, mtime, grown)
        if v is not None:
            out[name] = v
    return out


def nudge(obs: Observation) -> bool:
    """Debian's tmux 3.3a can leave a dead pane unreaped with no status: SIGCHLD reaps it."""
    if obs.panes is None:
        return False
    for p in obs.panes.values():
        if p.dead and p.dead_status is None and p.dead_signal is None and p.server_pid:
            try:
                os.kill(p.server_pid, signal.SIGCHLD)
            except OSError:
                return False
            return True
    return False


def record(
    tmux: Tmux, run_dir: ledger.RunDir, obs: Observation, events: list[EventRecord]
) -> None:
    """Render the transcript of each pane that ended, then append its event."""
    trees: dict[str, str] = {}
    base = ""
    if any(ev.state in TERMINAL for ev in events):
        run = run_dir.run()
        base = run.base
        trees = {p.name: p.worktree for p in run.panes if p.worktree}
    for ev in events:
        name = str(ev.pane)
        if ev.state in TERMINAL:
            # Rendered from the raw log, no tmux call; kept only if richer than what is kept.
            pane = obs.panes.get(name) if obs.panes is not None else None
            size = (pane.width or 0, pane.height or 0) if pane is not None else None
            try:
                transcript.record(run_dir, name, size)
            except (OSError, AgentmuxError) as e:  # the event matters more than the text
                log.warning("transcript of %s failed: %s", name, e)
        if ev.state in TERMINAL and name in trees and Path(trees[name]).is_dir():
            try:
                snapshot.record(run_dir, name, Path(trees[name]), base)
            except AgentmuxError as e:  # the event matters more than the snapshot
                log.warning("snapshot of %s failed: %s", name, e)
                ev = replace(ev, detail={**ev.detail, "snapshot_error": str(e)})
        if ev.state in TERMINAL:
            try:  # a headless run: its usage, and its events into the transcript
                headless_result.finish(run_dir, name)
            except (AgentmuxError, OSError) as e:
                log.warning("reading the headless output of %s failed: %s", name, e)
        run_dir.append(replace(ev, ts=ledger.now_iso()))


def tick(
    tmux: Tmux, run_dir: ledger.RunDir, session: str, names: list[str],
    state: Mapping[str, PaneState], sup: supervise.Supervisor | None = None,
) -> tuple[dict[str, PaneState], Observation]:
    if sup is not None:
        restarted = sup.restarted()
        state = {k: v for k, v in state.items() if k not in restarted}
    obs = observe(tmux, session, run_dir, names, state, sup)
    new, events = step(state, names, obs)
    record(tmux, run_dir, obs, events)
    if sup is not None:
        on_event = run_dir.run().on_event if events else None
        sup.notify(supervise.news(state, events), [s.state for s in new.values()], obs.panes or {},
                   pane_entries(run_dir) if events else {}, on_event)
        sup.reap()
        cached = read_cached(RunRecord, run_dir.run_json)
        limit = cached.max_running if cached is not None else None
        if isinstance(limit, int) and obs.panes is not None:
            queue.release(run_dir, names, limit, new)   # the next queued panes start
    nudge(obs)
    return new, obs


def _panes_of(run_dir: ledger.RunDir) -> tuple[PaneRecord, ...]:
    # run.json changes only when `add` or `restart` touch it; read_cached's cache (same
    # file signature rule) saves re-parsing it twice a tick.
    data = read_cached(RunRecord, run_dir.run_json)
    if data is None:
        data = run_dir.run()  # missing or damaged: let run() say so
    return data.panes


def pane_names(run_dir: ledger.RunDir) -> list[str]:
    return [p.name for p in _panes_of(run_dir)]


def pane_entries(run_dir: ledger.RunDir) -> dict[str, PaneRecord]:
    return {p.name: p for p in _panes_of(run_dir)}


def watch(run_dir: ledger.RunDir, render: Render | None = None, out: TextIO | None = None
          ) -> int:
    """The loop: runs until the session is gone, or SIGTERM (then one last tick).

    With `render`, a terminal on `out` shows what it draws, redrawn on every change."""
    run = run_dir.run()
    lock = Lock(run_dir.watcher_lock)
    if not lock.acquire():
        raise Refused(f"another watcher is already watching run {run_dir.id}")
    run_dir.write_watcher(WatcherRecord(os.getpid()))
    tmux = Tmux(run.socket)
    session = run.session
    interval = float(run.poll_interval)
    waker = Waker(tmux, run.wake)
    sup = supervise.Supervisor(tmux, run_dir, session)
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        waker.close()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    out = out or sys.stdout
    state = replay(run_dir.events_of())
    drawn: tuple[dict[str, PaneState], float] | None = None
    # Panes on other hosts: one ssh call per host per tick (agentmux.remote_follow).
    hosts: remote_follow.Follower | None = None
    try:
        while True:
            # remote.json may come later: `add --host` to a run with no remote panes yet.
            if hosts is None and (run_dir.path / remote.FILE).exists():
                hosts = remote_follow.Follower(run_dir, sup)
            listed = pane_names(run_dir)
            names = remote.local_names(run_dir, listed)
            state, obs = tick(tmux, run_dir, session, names, state, sup)
            if hosts is not None and not stopping:
                try:
                    state = hosts.tick(state, set(listed))
                except Exception as e:  # a host's trouble must not end the local watcher
                    log.warning("following the hosts failed: %s", e)
            # The table costs about a third of an idle tick: draw it on a change, and
            # otherwise only every REDRAW_S seconds to move the durations on.
            now = time.monotonic()
            if render is not None and out.isatty() and (
                    drawn is None or drawn[0] != state or now - drawn[1] >= REDRAW_S):
                out.write("\x1b[H\x1b[2J" + render(run_dir, state, sup.last_output) + "\n")
                out.flush()
                drawn = (dict(state), now)
            if stopping or obs.panes is None:
                return 0
            waker.wait(interval)
    finally:
        waker.close()
        lock.release()


def final_tick(run_dir: ledger.RunDir, wait: float = 10.0) -> dict[str, PaneState]:
    """One last tick under the lock, for `down`: waits for a running watcher to let go."""
    run = run_dir.run()
    lock = Lock(run_dir.watcher_lock)
    if not lock.acquire(wait):
        raise Refused(f"the watcher of run {run_dir.id} did not stop within {wait:.0f}s")
    try:
        state = replay(run_dir.events_of())
        state, _ = tick(Tmux(run.socket), run_dir, run.session,
                        remote.local_names(run_dir, pane_names(run_dir)), state)
        return state
    finally:
        lock.release()

