"""Undoing exactly what a `prepare` created, and never anything that could hold work.

A non-zero exit does not mean nothing happened (a failing post-checkout hook leaves the
worktree; a failing `-b` leaves the branch), so undo works from git's state as it is now
(docs/git.md).
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import git
from agentmux.errors import BadInput, CommandFailed, EnvironmentProblem, WorkFailed
from agentmux.worktrees import provisioned, unseen
from agentmux.worktrees.lock import RepoLock
from agentmux.worktrees.plan import Plan, Prepared, by_path, real

# What one pane's creation returned: the files copied into it, or why it failed.
Outcome = tuple[str, ...] | BaseException


@dataclass(frozen=True)
class Attempt:
    """One `prepare` call as it went: git's state before it, its plans, and each outcome."""

    repo: Path
    plans: list[Plan]
    before_wts: list[dict[str, str]]
    before_branches: dict[str, str]
    results: dict[str, Outcome]
    tops: dict[str, Path | None]    # per pane: the outermost folder git made on the way

    @property
    def failures(self) -> list[tuple[Plan, BaseException]]:
        return [(p, r) for p in self.plans
                if isinstance(r := self.results.get(p.want.pane, ()), BaseException)]


def fail(attempt: Attempt) -> None:
    """Undo what attempt created, then raise one WorkFailed that says what failed and why."""
    had_path = set(by_path(attempt.before_wts))
    now_wts = by_path(git.worktree_list(attempt.repo))
    now_branches = git.branches(attempt.repo)
    made = []
    for p in attempt.plans:
        if p.action == "reuse":
            continue
        w = p.want
        entry = now_wts.get(real(w.path))
        made_wt = (entry is not None and real(w.path) not in had_path
                   and entry.get("branch") == f"refs/heads/{w.branch}")
        made_br = (p.action == "new" and w.branch not in attempt.before_branches
                   and now_branches.get(w.branch) == p.head)
        copied = attempt.results.get(w.pane)
        made.append(Prepared(w.pane, w.branch, w.path, made_wt, made_br, p.head,
                             copied if isinstance(copied, tuple) else ()))
    problems = _undo(attempt.repo, made)
    for p in attempt.plans:   # folders git made on the way to a worktree that is gone again
        _remove_empty(p.want.path, attempt.tops.get(p.want.pane))
    failures = attempt.failures
    first, exc = failures[0]
    msg = (f"creating worktree for pane '{first.want.pane}' (branch '{first.want.branch}', "
           f"{first.want.path}) failed")
    if isinstance(exc, CommandFailed):
        msg += f": `git {' '.join(exc.argv[1:3])}` exited {exc.returncode}"
        if exc.output.strip():
            msg += ":\n" + "\n".join("  " + ln for ln in exc.output.strip().splitlines()[-12:])
    else:
        msg += f": {exc}"
    others = [p.want.pane for p, _ in failures[1:]]
    if others:
        msg += f"\nalso failed: {', '.join(others)}"
    msg += "\nnothing this call created was kept" if not problems else (
        "\nundoing what this call created left problems:\n"
        + "\n".join(f"  {pr}" for pr in problems))
    raise WorkFailed(msg) from exc


def _remove_empty(path: Path, top: Path | None) -> None:
    """Empty folders from path up to top (both included)."""
    if top is None:
        return
    for d in (path, *path.parents):
        try:
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return
        if d == top:
            return


def _unchanged_copy(repo: Path, wt: Path, rel: str) -> bool:
    src, dst = repo / rel, wt / rel
    if src.is_symlink() or dst.is_symlink():
        return src.is_symlink() and dst.is_symlink() and os.readlink(src) == os.readlink(dst)
    return src.is_file() and dst.is_file() and filecmp.cmp(src, dst, shallow=False)


def _remove_worktree(repo: Path, p: Prepared, wts: dict[str, dict[str, str]]) -> str | None:
    """Remove p's worktree unless that could lose anything; the problem, or None when gone."""
    entry = wts.get(real(p.path))
    if entry is None:
        return None if not p.path.exists() else f"{p.path}: no longer a registered worktree; left"
    if entry.get("branch") != f"refs/heads/{p.branch}":
        # A commit on a detached HEAD is unreachable once its worktree is removed.
        return f"{p.path}: no longer on branch '{p.branch}'; left in place"
    try:
        entries = git.status(p.path, ignored=True)
    except CommandFailed as e:
        return f"{p.path}: `git status` failed: {e.output.strip()}; left in place"
    ours = {path for xy, path in entries if xy in ("??", "!!") and path in p.copied
            and _unchanged_copy(repo, p.path, path)}
    # `worktree remove` deletes ignored files without asking (.env, node_modules): check ourselves.
    other = [path for _, path in entries if path not in ours]
    if other:
        shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        return f"{p.path}: has changes or untracked/ignored files ({shown}); left in place"
    hidden = unseen.scan(p.path, ours).unseen
    if hidden:
        shown = ", ".join(u.path for u in hidden[:5]) + (", ..." if len(hidden) > 5 else "")
        return f"{p.path}: has files git does not list ({shown}); left in place"
    for rel in ours:
        (p.path / rel).unlink()
    rm = git.worktree_remove(repo, p.path, check=False)
    if rm.returncode != 0:
        return f"{p.path}: `git worktree remove` exited {rm.returncode}: {rm.stderr.strip()}"
    provisioned.forget(repo, p.path)
    return None


def _undo(repo: Path, prepared: Sequence[Prepared]) -> list[str]:
    problems: list[str] = []
    wts = by_path(git.worktree_list(repo))
    kept: set[str] = set()
    for p in reversed(prepared):
        if p.created_worktree:
            problem = _remove_worktree(repo, p, wts)
            if problem:
                problems.append(problem)
                kept.add(p.branch)
    if not any(p.created_branch for p in prepared):
        return problems
    checked_out = {w.get("branch", "").removeprefix("refs/heads/"): w["worktree"]
                   for w in git.worktree_list(repo)}
    for p in prepared:
        if not p.created_branch:
            continue
        if p.branch in kept or p.branch in checked_out:
            where = checked_out.get(p.branch, p.path)
            problems.append(f"branch '{p.branch}': still checked out in {where}; kept")
            continue
        d = git.delete_ref(repo, f"refs/heads/{p.branch}", p.head)
        if d.returncode != 0:
            now = git.branches(repo).get(p.branch)
            problems.append(f"branch '{p.branch}': kept, it moved from {p.head[:12]} to "
                            f"{now[:12]}" if now else
                            f"branch '{p.branch}': not deleted: {d.stderr.strip()}")
    return problems


def undo(repo: Path, prepared: Sequence[Prepared]) -> list[str]:
    try:
        with RepoLock(repo):
            return _undo(repo, prepared)
    except (WorkFailed, BadInput, EnvironmentProblem) as e:
        # A caller's cleanup must never hide the error that made it clean up.
        return [f"undo failed: {e}"]
