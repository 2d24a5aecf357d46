"""review meets decomposition: out-of-scope edits and best-of-N attempts, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli, wait_until
from .helpers import events, fake, up, wait_states, write_layout

SOCK = "amx"


def _ended(repo: Path, n: int) -> None:
    wait_until(lambda: len([e for e in events(repo) if e["state"] == "done"]) == n, 15,
               "every snapshot and terminal event")


def test_review_flags_only_the_file_outside_scope(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "api", "scope": ["api/**"], "command": fake(
            "--write", "api/x.py=1", "--write", "web/stray.js=2", "--commit", "c")},
        {"name": "web", "scope": ["web/app/**"], "command": fake(
            "--write", "web/app/a.js=1", "--commit", "c")},
    ])
    up(layout, SOCK)
    wait_states(repo, SOCK)
    _ended(repo, 2)
    r = run_cli("--socket", SOCK, "review", "--json", cwd=repo)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    got = {p["name"]: p["out_of_scope"] for p in data["panes"]}
    assert got == {"api": ["web/stray.js"], "web": []}
    assert data["metrics"]["out_of_scope_edits"] == 1
    text = run_cli("--socket", SOCK, "review", cwd=repo).out
    assert "OUT OF SCOPE: web/stray.js" in text


def test_fan_out_attempts_compare_side_by_side(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "fix", "count": 3, "task": "fix it",
                                  "command": "fake-agent --write \"fix-$AGENTMUX_PANE.txt=x\" "
                                             "--commit {task}"}])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert sorted(panes) == ["fix-1", "fix-2", "fix-3"]
    assert {p["branch"] for p in panes.values()} == {
        f"agentmux/agents/fix-{i}" for i in (1, 2, 3)}
    _ended(repo, 3)
    r = run_cli("--socket", SOCK, "review", "--compare", "fix", cwd=repo)
    assert r.code == 0, r.err
    header = r.out.splitlines()[0]
    assert header == "fix: 3 attempts"
    for i in (1, 2, 3):
        assert f"fix-{i}" in r.out and f"fix-fix-{i}.txt" in r.out
