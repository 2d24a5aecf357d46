"""The snapshot taken when an agent ends: whole worktree state, user's index untouched."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import git, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

SOCK = "amx"


def test_snapshot_holds_committed_staged_and_untracked_work(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": fake(
        "--write", "src/app.py=changed", "--commit", "edit app",
        "--write", "new.txt=untracked\nline2",
        "--write", "README.md=staged")
        + " && git add README.md"}])
    up(layout, SOCK)
    assert wait_states(repo, SOCK)["a"]["state"] == "done"
    run = latest_run(repo)
    result_path = run / "panes" / "a" / "result.json"
    wait_until(result_path.exists, 10, "result.json")
    result = json.loads(result_path.read_text())
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    # The agent's index still has only its staged README; the snapshot did not touch it.
    assert git(tree, "diff", "--cached", "--name-only").split() == ["README.md"]
    assert git(tree, "status", "--porcelain").splitlines() == ["M  README.md", "?? new.txt"]
    ref = f"refs/agentmux/snapshots/{run.name}/a"
    assert git(repo, "rev-parse", ref).strip() == result["snapshot"]
    assert git(repo, "show", f"{ref}:new.txt") == "untracked\nline2\n"
    assert git(repo, "show", f"{ref}:README.md") == "staged\n"
    assert result["commits_ahead"] == 1 and result["dirty"] is True
    files = {f["path"]: (f["status"], f["added"], f["removed"]) for f in result["files"]}
    assert files == {"src/app.py": ("M", 1, 1), "new.txt": ("A", 2, 0),
                     "README.md": ("M", 1, 1)}
