"""scripts/bench --quick works end to end: CI proves the benchmark runs; it asserts no times."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from agentmux.tmux import Launch, Tmux, Window

from .conftest import ROOT


def test_bench_quick_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # tmuxp's install from the registry can be slow on a clean clone; the full run covers it.
    p = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--quick", "--no-tmuxp", "--json", str(out)],
        capture_output=True, text=True, timeout=180, check=False, env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0, p.stderr + p.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["machine"]["cores"] == os.cpu_count()
    assert set(data["build"]) == {"5"}
    assert data["build"]["5"]["tmuxp_s"] is None
    assert len(data["build"]["5"]["up_s"]) == data["reps"]
    assert data["worktrees"]["5"]["agentmux_s"]
    watcher = data["watcher"]
    assert watcher["states"] == ["done"]
    assert len(watcher["latency_s"]) == watcher["panes"]
    assert watcher["idle_ticks"] > 0
    assert "review" in data
    assert len(data["runner"]["one_s"]) == 5 and len(data["runner"]["at_once_each_s"]) == 5
    assert all(0 < t < 10 for t in data["runner"]["one_s"])
    for heading in ("machine:", "up, N=5", "build phase, N=5", "worktrees, N=5",
                    "watcher CPU", "exit-to-event latency", "status --json", "review",
                    "runner start, exec -> agent running", "5 runners at once"):
        assert heading in p.stdout


def test_build_of_fifty_panes_with_long_paths_fits_tmux_message_limit(tmp_path: Path) -> None:
    # Found by the bench: one chain for 50 agents with ledger paths is ~25 KiB, and tmux
    # refuses a command line over 16 KiB ("command too long"). Every pane must still be armed.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    windows = [Window(f"w{w}", [Launch(f"p{w}-{i}", ["sleep", "600"], deep, deep / f"{w}-{i}.log")
                                for i in range(10)]) for w in range(5)]
    tm = Tmux("amx-long")
    ids = tm.build("long", "run-1", deep, ["sleep", "600"], windows, (200, 50), "wake-1")
    assert len(ids) == 50
    panes = tm.panes("long")
    assert panes is not None
    assert {p.name for p in panes} == {"", *ids}
    assert {p.name: p.pane_id for p in panes if p.name} == ids
    listed = tm.run("list-panes", "-s", "-t", "=long", "-F",
                    "#{@agentmux_pane} #{remain-on-exit} #{pane_pipe} #{@agentmux_run}").stdout
    rows = [line.split() for line in listed.splitlines() if not line.startswith(" ")]
    assert [r[1:] for r in rows if r[0] in ids] == [["on", "1", "run-1"]] * 50
    assert len(tm.run("list-windows", "-t", "=long").stdout.splitlines()) == 6
