"""The queue (`max_running`): never more than N agents at once, and every queued one ends.

Real tmux, real git; the agents' own clocks prove the bound, not the watcher's view.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .conftest import run_cli
from .helpers import latest_run, up, wait_states, write_layout

SOCK = "amx"


def _logging_agent(log: Path, seconds: float) -> str:
    # Each agent writes its own start and end (ns) to one shared log, with O_APPEND lines.
    return (f'echo "start $AGENTMUX_PANE $(date +%s%N)" >> {log}; sleep {seconds}; '
            f'echo "end $AGENTMUX_PANE $(date +%s%N)" >> {log}')


def _max_concurrent(log: Path) -> tuple[int, set[str], set[str]]:
    marks: list[tuple[int, int]] = []
    starts: set[str] = set()
    ends: set[str] = set()
    for line in log.read_text().splitlines():
        what, name, ns = line.split()
        (starts if what == "start" else ends).add(name)
        # At equal instants an end comes first: the slot was free when the next one began.
        marks.append((int(ns), 0 if what == "end" else 1))
    running = peak = 0
    for _, is_start in sorted(marks):
        running += 1 if is_start else -1
        peak = max(peak, running)
    return peak, starts, ends


def test_twelve_panes_with_max_running_three_never_run_more_than_three(
        repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "agents.log"
    layout = write_layout(repo, [{"name": "job", "count": 12,
                                  "command": _logging_agent(log, 0.4)}],
                          max_running=3, poll_interval=0.2)
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, timeout=60)
    assert len(panes) == 12
    assert {p["state"] for p in panes.values()} == {"done"}
    peak, starts, ends = _max_concurrent(log)
    assert starts == ends == set(panes)
    assert peak == 3    # the bound holds, and the queue does run three at once
    # The runners' own records agree: intervals from the gate's opening to the end.
    run = latest_run(repo)
    spans = []
    for name in panes:
        st = json.loads((run / "panes" / name / "status.json").read_text())
        spans.append((st["started_at"], st["ended_at"]))
    for start, _ in spans:
        inside = sum(1 for s, e in spans if s <= start < e)
        assert inside <= 3
    # Nine waited in the queue; their wait is not agent time, and the review's metrics say so.
    queued = {n: p["queued_s"] for n, p in panes.items() if p["queued_s"] is not None}
    assert sorted(queued) == [f"job-{i}" for i in range(4, 13)] or len(queued) == 9
    assert sum(1 for q in queued.values() if q > 0.2) >= 6
    r = run_cli("--socket", SOCK, "review", "--json", cwd=repo)
    assert r.code == 0, r.err
    metrics = json.loads(r.out)["metrics"]
    assert metrics["queued_s"] > 1.0
    assert metrics["agent_time_s"] < 12 * 0.4 + 12 * 0.5
    assert metrics["wall_clock_s"] >= 4 * 0.4


def test_queued_panes_show_queued_and_down_ends_them_never_done(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "hold", "count": 3, "command": "sleep 30"}],
                          max_running=1)
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, {"hold-1": "running", "hold-2": "queued",
                                     "hold-3": "queued"})
    assert panes["hold-2"]["duration_s"] is None
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert "queued (" in r.out
    r = run_cli("--socket", SOCK, "down", cwd=repo)
    assert r.code == 0, r.err
    ended = wait_states(repo, SOCK)
    assert all(p["state"] != "done" for p in ended.values())
    run = latest_run(repo)
    for name in ("hold-2", "hold-3"):
        st = json.loads((run / "panes" / name / "status.json").read_text())
        # Never started: no go was given, and the runner says so.
        assert not (run / "panes" / name / "go").exists()
        assert st["reason"] == "queued", st


def test_init_from_a_twenty_task_checklist_with_a_queue(repo: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "agents.log"
    claude = bin_dir / "claude"
    claude.write_text("#!/bin/sh\n" + _logging_agent(log, 0.1) + "\n")
    claude.chmod(claude.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    tasks = repo / "TODO.md"
    tasks.write_text("".join(f"- [ ] task number {i}\n" for i in range(20)) + "- [x] done\n")
    r = run_cli("init", "--from", str(tasks), "--max-running", "4", "--isolation", "none",
                "--out", str(repo / "q.toml"), cwd=repo)
    assert r.code == 0, r.err
    assert "max_running = 4" in (repo / "q.toml").read_text()
    r = run_cli("--socket", SOCK, "up", "-d", str(repo / "q.toml"), cwd=repo)
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK, timeout=90)
    assert len(panes) == 20 and {p["state"] for p in panes.values()} == {"done"}
    peak, starts, _ = _max_concurrent(log)
    assert len(starts) == 20 and peak <= 4
