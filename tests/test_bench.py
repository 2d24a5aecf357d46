"""scripts/bench --quick works end to end: CI proves the benchmark runs; it asserts no times."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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
    for heading in ("machine:", "up, N=5", "build phase, N=5", "worktrees, N=5",
                    "watcher CPU", "exit-to-event latency", "status --json", "review"):
        assert heading in p.stdout
