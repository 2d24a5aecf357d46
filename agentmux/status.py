"""`status`: one row per agent, from the ledger plus one live look at tmux.

It works without the watcher: it folds the recorded events with one fresh observation, so a
dead watcher, a killed pane or a dead tmux server still gives a true answer, and an agent with
no trustworthy record shows as `lost`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentmux import ledger, queue, remote, remote_live, screen
from agentmux.records import JSON
from agentmux.tmux import Tmux
from agentmux.units import fmt_duration
from agentmux.watch import loop as watcher
from agentmux.watch.alive import read_status
from agentmux.watch.screen import menu_keys
from agentmux.watch.state import KINDS, PaneState, replay, step, summary_line

VERSION = 1


@dataclass(frozen=True)
class Row:
    name: str
    state: str
    exit_code: int | None
    signal: str | None
    reason: str | None
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    branch: str | None
    worktree: str | None
    pane_id: str | None
    since: str | None = None          # when the pane entered its state (its last event)
    quiet_s: float | None = None      # working with no output for at least idle_after
    check_exit_code: int | None = None
    source: str | None = None         # where the state came from: hook | screen | process
    queued_at: str | None = None      # max_running: when it joined the queue
    queued_s: float | None = None     # time spent queued (not agent time)
    keys: tuple[str, ...] | None = None  # waiting at a known menu: the keys that answer it
    host: str | None = None           # the [hosts.NAME] it runs on; None: this machine


def run_info(run_dir: ledger.RunDir) -> JSON:
    run = run_dir.run()
    return {"id": run.id, "session": run.session, "socket": run.socket, "repo": run.repo,
            "base": run.base, "created_at": run.created_at, "layout": run.layout}


def live_state(run_dir: ledger.RunDir, tmux: Tmux | None = None) -> dict[str, PaneState]:
    """The recorded events folded with one fresh look at tmux (the run's server by default),
    and at every host of the run's remote panes (one ssh call per host)."""
    return _live(run_dir, tmux)[0]


def _live(run_dir: ledger.RunDir, tmux: Tmux | None
          ) -> tuple[dict[str, PaneState], remote_live.Look | None]:
    run = run_dir.run()
    names = remote.local_names(run_dir, run.pane_names)
    state = replay(run_dir.events_of())
    obs = watcher.observe(tmux or Tmux(run.socket), run.session, run_dir, names,
                          state)
    state, _ = step(state, names, obs)
    away = [n for n in run.pane_names if n not in names]
    if not away or all(n in state and state[n].terminal for n in away):
        return state, None
    seen = remote_live.look(run_dir)
    state.update(seen.states)
    return state, seen


def waiting_keys(run_dir: ledger.RunDir, name: str, agent: str | None
                 ) -> tuple[str, ...] | None:
    """The keys that answer the menu a waiting pane shows, read off its rendered screen."""
    path = run_dir.output(name)
    try:
        text = screen.screen_text(str(path)) if path.exists() else ""
    except OSError:
        return None
    return menu_keys(agent, text)


def rows(run_dir: ledger.RunDir, state: Mapping[str, PaneState] | None = None,
         tmux: Tmux | None = None, keys: bool = False) -> list[Row]:
    """One row per pane. With `keys`, a waiting pane's screen is rendered to name the keys
    of its menu (Row.keys); the watcher's table, redrawn often, goes without."""
    run = run_dir.run()
    seen = None
    if state is None:
        state, seen = _live(run_dir, tmux)
    where = {n: p.host for n, p in remote.read(run_dir).panes.items()}
    now = time.time()
    since: dict[str, str] = {}
    for ev in run_dir.events_of():
        if ev.type in ("state", "restart") and ev.ts:
            since[str(ev.pane)] = ev.ts
    out = []
    for p in run.panes:
        name = p.name
        st = state.get(name) or PaneState()
        # The watcher's cached reader: its table is redrawn every tick.
        status = read_status(run_dir.status(name))
        if status is None and seen is not None:
            status = seen.statuses.get(name)
        started = status.started_at if status is not None else None
        ended = status.ended_at if status is not None else None
        queued_at = status.extra.get("queued_at") if status is not None else None
        duration = None
        if started and status is not None and status.phase != "queued":
            end = ledger.parse_iso(ended) if ended else (None if st.terminal else now)
            if end is not None:
                duration = round(max(0.0, end - ledger.parse_iso(started)), 3)
        quiet = None
        if st.state == "working":
            with contextlib.suppress(OSError):
                idle = now - run_dir.output(name).stat().st_mtime
                if idle >= float(p.idle_after or 20.0):
                    quiet = round(idle, 1)
        out.append(Row(
            name=name, state=st.state, exit_code=st.exit_code, signal=st.signal,
            reason=st.reason, started_at=started, ended_at=ended, duration_s=duration,
            branch=p.branch, worktree=p.worktree, pane_id=p.pane_id,
            since=since.get(name), quiet_s=quiet, source=st.source,
            check_exit_code=status.check_exit_code if status is not None else None,
            queued_at=queued_at if isinstance(queued_at, str) else None,
            queued_s=queue.queued_seconds(status.to_json() if status is not None else {}),
            keys=waiting_keys(run_dir, name, p.agent) if keys and st.state == "waiting"
            else None, host=where.get(name),
        ))
    return out


def to_json(run_dir: ledger.RunDir, table: list[Row]) -> JSON:
    return {
        "version": VERSION,
        "run": run_info(run_dir),
        "panes": [
            {"name": r.name, "state": r.state, "exit_code": r.exit_code, "signal": r.signal,
             "reason": r.reason, "started_at": r.started_at, "ended_at": r.ended_at,
             "duration_s": r.duration_s, "branch": r.branch, "worktree": r.worktree,
             "pane_id": r.pane_id, "since": r.since, "quiet_s": r.quiet_s,
             "check_exit_code": r.check_exit_code, "source": r.source, "queued_s": r.queued_s,
             "keys": list(r.keys) if r.keys is not None else None, "host": r.host}
            for r in table
        ],
    }


def outcome(r: Row) -> str:
    if r.signal:
        return r.signal
    if r.exit_code is not None:
        return str(r.exit_code)
    return "-"


COLOURS = {k.name: k.colour for k in KINDS}


def state_text(r: Row) -> str:
    if r.quiet_s is not None:
        q = int(r.quiet_s)
        short = f"{q}s" if q < 60 else f"{q // 60}m" if q < 3600 else f"{q // 3600}h"
        return f"{r.state} (quiet {short})"
    if r.queued_s is not None and r.state in ("queued", "starting"):
        return f"{r.state} ({fmt_duration(r.queued_s)} queued)"
    keys = f"keys: {' '.join(r.keys)}" if r.keys else ""
    detail = "; ".join(x for x in (r.reason or "", keys) if x)
    return r.state + (f" ({detail})" if detail else "")


def last_line(path: Path, width: int = 50) -> str:
    """The last non-empty line of a pane's screen, rendered from the end of its raw log.

    The watcher has this from its followers (Supervisor.last_output) at no cost; this is for
    a table drawn without one."""
    try:
        lines = screen.last_lines(str(path), 1)
    except OSError:
        return ""
    return lines[-1].strip()[:width] if lines else ""


def format_rows(table: list[Row], *, live: dict[str, str] | None = None,
                colour: bool = False) -> str:
    """The table; `live` (pane -> last output line) adds the watcher's SINCE and OUTPUT."""
    head: tuple[str, ...] = ("AGENT", "STATE", "FROM", "EXIT", "STARTED", "DURATION",
                             "BRANCH")
    hosts = any(r.host for r in table)   # a HOST column only for runs with remote panes
    if hosts:
        head = (*head, "HOST")
    if live is not None:
        head = (*head, "SINCE", "LAST OUTPUT")
    now = time.time()
    body = []
    for r in table:
        started = r.started_at[11:19] if r.started_at else "-"
        row: tuple[str, ...] = (r.name, state_text(r), r.source or "-", outcome(r), started,
                                fmt_duration(r.duration_s), r.branch or "-")
        if hosts:
            row = (*row, r.host or "-")
        if live is not None:
            age = fmt_duration(now - ledger.parse_iso(r.since)) if r.since else "-"
            row = (*row, age, live.get(r.name, ""))
        body.append(row)
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]

    def cell(c: str, w: int, i: int, state: str | None) -> str:
        text = c.ljust(w)
        if colour and i == 1 and state in COLOURS:
            return f"\x1b[{COLOURS[state]}m{text}\x1b[0m"
        return text

    lines = ["  ".join(cell(str(c), w, i, st) for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))).rstrip()
             for row, st in [(head, None), *zip(body, [r.state for r in table], strict=True)]]
    return "\n".join([*lines, "", summary_line(r.state for r in table)])


def render_table(run_dir: ledger.RunDir, state: Mapping[str, PaneState],
                 last: Mapping[str, str] | None = None, colour: bool = False) -> str:
    """The watcher's table; `last` holds each pane's last screen line (LAST OUTPUT)."""
    run = run_dir.run()
    title = f"agentmux · run {run_dir.id} · session {run.session}"
    table = rows(run_dir, state)
    live = {r.name: (last[r.name] if last is not None and r.name in last
                     else last_line(run_dir.output(r.name))) for r in table}
    return title + "\n\n" + format_rows(table, live=live, colour=colour)
