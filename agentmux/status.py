"""`status`: one row per agent, from the ledger plus one live look at tmux.

It works without the watcher: it folds the recorded events with one fresh observation, so a
dead watcher, a killed pane or a dead tmux server still gives a true answer, and an agent with
no trustworthy record shows as `lost`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import ledger, watcher
from .tmux import Tmux

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


def run_info(run_dir: ledger.RunDir) -> dict[str, Any]:
    run = run_dir.read_run()
    return {k: run.get(k) for k in ("id", "session", "socket", "repo", "base", "created_at",
                                    "layout")}


def live_state(run_dir: ledger.RunDir) -> dict[str, watcher.PaneState]:
    run = run_dir.read_run()
    names = [p["name"] for p in run.get("panes", [])]
    state = watcher.replay(ledger.read_events(run_dir.events))
    obs = watcher.observe(Tmux(run.get("socket")), run["session"], run_dir, names, state)
    state, _ = watcher.step(state, names, obs)
    return state


def rows(run_dir: ledger.RunDir, state: Mapping[str, watcher.PaneState] | None = None) -> list[Row]:
    run = run_dir.read_run()
    if state is None:
        state = live_state(run_dir)
    now = time.time()
    out = []
    for p in run.get("panes", []):
        name = p["name"]
        st = state.get(name) or watcher.PaneState()
        # The watcher's cached reader: its table is redrawn every tick.
        status = watcher.read_status(run_dir.status(name)) or {}
        started, ended = status.get("started_at"), status.get("ended_at")
        duration = None
        if started:
            end = ledger.parse_iso(ended) if ended else (None if st.terminal else now)
            if end is not None:
                duration = round(max(0.0, end - ledger.parse_iso(started)), 3)
        out.append(Row(
            name=name, state=st.state, exit_code=st.exit_code, signal=st.signal,
            reason=st.reason, started_at=started, ended_at=ended, duration_s=duration,
            branch=p.get("branch"), worktree=p.get("worktree"), pane_id=p.get("pane_id"),
        ))
    return out


def to_json(run_dir: ledger.RunDir, table: list[Row]) -> dict[str, Any]:
    return {
        "version": VERSION,
        "run": run_info(run_dir),
        "panes": [
            {"name": r.name, "state": r.state, "exit_code": r.exit_code, "signal": r.signal,
             "reason": r.reason, "started_at": r.started_at, "ended_at": r.ended_at,
             "duration_s": r.duration_s, "branch": r.branch, "worktree": r.worktree,
             "pane_id": r.pane_id}
            for r in table
        ],
    }


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def outcome(r: Row) -> str:
    if r.signal:
        return r.signal
    if r.exit_code is not None:
        return str(r.exit_code)
    return "-"


def format_rows(table: list[Row]) -> str:
    head = ("AGENT", "STATE", "EXIT", "STARTED", "DURATION", "BRANCH")
    body = []
    for r in table:
        state = r.state + (f" ({r.reason})" if r.reason else "")
        started = r.started_at[11:19] if r.started_at else "-"
        body.append((r.name, state, outcome(r), started, fmt_duration(r.duration_s),
                     r.branch or "-"))
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [head, *body]]
    counts: dict[str, int] = {}
    for r in table:
        counts[r.state] = counts.get(r.state, 0) + 1
    summary = " · ".join(f"{counts[s]} {s}" for s in watcher.STATES if s in counts)
    return "\n".join([*lines, "", summary])


def render_table(run_dir: ledger.RunDir, state: Mapping[str, watcher.PaneState]) -> str:
    run = run_dir.read_run()
    title = f"agentmux · run {run_dir.id} · session {run['session']}"
    return title + "\n\n" + format_rows(rows(run_dir, state))
