"""Snapshots: a worktree's whole state as a commit under `refs/agentmux/snapshots/<run>/<pane>`.

Taken through a temporary copy of the worktree's index, so the user's index is untouched, and
with `add -A`, so tracked, staged and untracked files are all in it (ignored ones are not:
`clean --force` keeps those aside). `git stash create` would leave untracked files out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import ledger, proc

SNAPSHOT_NS = "refs/agentmux/snapshots"
# Snapshot commits are agentmux's, whoever the user is, and need no configured identity.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentmux", "GIT_AUTHOR_EMAIL": "agentmux@localhost",
    "GIT_COMMITTER_NAME": "agentmux", "GIT_COMMITTER_EMAIL": "agentmux@localhost",
}


def ref_for(run_id: str, pane: str) -> str:
    return f"{SNAPSHOT_NS}/{run_id}/{pane}"


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return proc.run(["git", *args], cwd=cwd, env=env, step="taking a snapshot").stdout.strip()


def take(worktree: Path, ref: str, message: str) -> str:
    """Commit the worktree's full state (parent: its HEAD) and point ref at it."""
    index = Path(_git(worktree, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    fd, tmp = tempfile.mkstemp(prefix="agentmux-index.")
    os.close(fd)
    try:
        if index.exists():
            shutil.copyfile(index, tmp)
        else:
            os.unlink(tmp)
        env = proc.clean_env({"GIT_INDEX_FILE": tmp, **_IDENTITY})
        _git(worktree, "add", "-A", "--", ".", env=env)
        tree = _git(worktree, "write-tree", env=env)
        head = _git(worktree, "rev-parse", "--verify", "HEAD")
        commit = _git(worktree, "commit-tree", tree, "-p", head, "-m", message, env=env)
        _git(worktree, "update-ref", "-m", "agentmux snapshot", ref, commit)
        return commit
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def changes(repo: Path, base: str, commit: str) -> list[dict[str, Any]]:
    """Files changed from base to commit: path, status letter, lines added and removed."""
    status: dict[str, str] = {}
    raw = _git(repo, "diff", "--no-renames", "--name-status", "-z", base, commit)
    parts = raw.split("\0")
    for i in range(0, len(parts) - 1, 2):
        status[parts[i + 1]] = parts[i]
    out = []
    for line in _git(repo, "diff", "--no-renames", "--numstat", "-z", base, commit).split("\0"):
        if not line:
            continue
        added, removed, path = line.split("\t", 2)
        out.append({
            "path": path, "status": status.get(path, "M"),
            "added": int(added) if added.isdigit() else None,      # None: binary
            "removed": int(removed) if removed.isdigit() else None,
        })
    return out


def record(run_dir: ledger.RunDir, pane: str, worktree: Path, base: str) -> dict[str, Any]:
    """Snapshot a pane's worktree and write `panes/<pane>/result.json`; returns it."""
    ref = ref_for(run_dir.id, pane)
    commit = take(worktree, ref, f"agentmux snapshot of {pane} (run {run_dir.id})")
    head = _git(worktree, "rev-parse", "HEAD")
    trees = _git(worktree, "rev-parse", f"{commit}^{{tree}}", f"{head}^{{tree}}").split()
    result = {
        "version": 1,
        "pane": pane,
        "taken_at": ledger.now_iso(),
        "base": base,
        "head": head,
        "snapshot": commit,
        "ref": ref,
        "commits_ahead": int(_git(worktree, "rev-list", "--count", f"{base}..{head}")),
        "dirty": trees[0] != trees[1],
        "files": changes(worktree, base, commit),
    }
    ledger.write_json(run_dir.pane_dir(pane) / "result.json", result)
    return result
