"""What `prepare` will do for each pane, decided from git's state before anything is created.

Every problem of every pane is found first and reported at once; nothing is created unless all
panes can be prepared.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import git
from agentmux.errors import BadInput, Refused

# Never copied into a worktree: git's own folder and agentmux's ledger (which holds the worktrees).
_NEVER_COPY = {".git", ".agentmux"}


@dataclass(frozen=True)
class Want:
    pane: str
    branch: str
    path: Path


@dataclass(frozen=True)
class Prepared:
    pane: str
    branch: str
    path: Path
    created_worktree: bool
    created_branch: bool
    head: str
    # Files `copy` put into this new worktree (relative paths), so undo can take them out
    # again while they are unchanged instead of refusing to remove the worktree.
    copied: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    want: Want
    action: str          # "reuse" | "checkout" (existing branch) | "new" | "recreate"
    head: str


def real(path: Path | str) -> str:
    return os.path.realpath(path)


def by_path(worktrees: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {real(w["worktree"]): w for w in worktrees}


def plan(base_sha: str, wants: Sequence[Want], worktrees: list[dict[str, str]],
         branches: dict[str, str]) -> list[Plan]:
    problems: list[str] = []
    for attr in ("pane", "branch", "path"):
        seen: set[str] = set()
        for w in wants:
            key = real(w.path) if attr == "path" else str(getattr(w, attr))
            if key in seen:
                problems.append(f"{attr} {key!r} is asked for twice")
            seen.add(key)
    at_path = by_path(worktrees)
    checked_out = {w["branch"].removeprefix("refs/heads/"): w["worktree"]
                   for w in worktrees if "branch" in w}
    plans: list[Plan] = []
    moved = False
    for w in wants:
        where = f"pane '{w.pane}': "
        if not w.path.is_absolute():
            problems.append(f"{where}worktree path {w.path} is not absolute")
            continue
        entry = at_path.get(real(w.path))
        if entry is not None:
            if not w.path.is_dir():
                missing = _missing_registered(w, entry, checked_out)
                if missing is None:
                    # Our own worktree, deleted by hand: its branch holds the work, so check
                    # the branch out again in the same place.
                    plans.append(Plan(w, "recreate", entry["HEAD"]))
                else:
                    moved = moved or missing.startswith("the worktree")
                    problems.append(where + missing)
            elif entry.get("branch") == f"refs/heads/{w.branch}":
                plans.append(Plan(w, "reuse", entry["HEAD"]))
            else:
                now = entry.get("branch", "a detached HEAD").removeprefix("refs/heads/")
                problems.append(f"{where}{w.path} is already a worktree with {now} checked "
                                f"out, not branch '{w.branch}'")
            continue
        if w.branch in checked_out:
            there = checked_out[w.branch]
            problems.append(f"{where}branch '{w.branch}' is already checked out in {there}; "
                            "if that is this pane's worktree moved away, move it back with "
                            f"`git worktree move {there} {w.path}`")
        elif w.path.exists() and (not w.path.is_dir() or any(w.path.iterdir())):
            problems.append(f"{where}{w.path} already exists and is not empty")
        elif w.branch in branches:
            plans.append(Plan(w, "checkout", branches[w.branch]))
        else:
            plans.append(Plan(w, "new", base_sha))
    if problems and moved:
        raise Refused("cannot prepare worktrees:\n" + "\n".join(f"  {p}" for p in problems))
    if problems:
        # BadInput, not Refused: the layout asks for something impossible, nothing is at risk.
        raise BadInput("cannot prepare worktrees:\n" + "\n".join(f"  {p}" for p in problems))
    return plans


def _missing_registered(w: Want, entry: dict[str, str],
                        checked_out: dict[str, str]) -> str | None:
    """Why w's registered-but-missing worktree cannot simply be checked out again, or None."""
    if "locked" in entry:
        why = f" ({entry['locked']})" if entry["locked"] else ""
        return (f"{w.path} is registered as a worktree, locked by another tool{why}, and its "
                f"folder is missing; when it is back (or `git worktree unlock {w.path}`), "
                "run up again")
    if entry.get("branch") != f"refs/heads/{w.branch}" or real(
            checked_out.get(w.branch, "")) != real(w.path):
        now = entry.get("branch", "a detached HEAD").removeprefix("refs/heads/")
        return (f"{w.path} is registered as a worktree of {now}, not branch '{w.branch}', and "
                f"its folder is missing; see `git worktree list`")
    moved_to = _find_moved(w.path)
    if moved_to is not None:
        return (f"the worktree {w.path} was moved to {moved_to} by hand; move it back with "
                f"`mv {moved_to} {w.path}` (or `git -C {moved_to} worktree repair` to keep it "
                "there), then run up again")
    return None


def _admin_dir(path: Path) -> Path | None:
    """git's `.git/worktrees/<id>` folder of the worktree registered at path."""
    try:
        common = git.common_dir(_existing_parent(path))
    except BadInput:
        return None
    want = real(path / ".git")
    for gitdir in common.glob("worktrees/*/gitdir"):
        try:
            if real(gitdir.read_text().strip()) == want:
                return gitdir.parent
        except OSError:
            continue
    return None


def _existing_parent(path: Path) -> Path:
    for p in path.parents:
        if p.is_dir():
            return p
    return Path("/")


def _find_moved(path: Path) -> Path | None:
    """A folder near path whose .git points at path's admin entry: the worktree, moved by mv.

    Only the likely places are searched (path's siblings, its parent's siblings, and the
    repository's neighbours), so a worktree moved far away looks deleted; its admin entry is
    then replaced, and `git worktree repair` can no longer attach it (its files stay).
    """
    admin = _admin_dir(path)
    if admin is None:
        return None
    want = f"gitdir: {admin}"
    common = admin.parent.parent
    top = common.parent if common.name == ".git" else common
    seen: set[str] = set()
    for folder in (path.parent, path.parent.parent, top.parent):
        if not folder.is_dir() or str(folder) in seen:
            continue
        seen.add(str(folder))
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for child in children:
            dotgit = child / ".git"
            try:
                if dotgit.is_file() and dotgit.read_text().strip() == want:
                    return child
            except OSError:
                continue
    return None


def copy_sources(repo: Path, patterns: Sequence[str], skip: list[str]) -> list[str]:
    """Relative paths the `copy` globs match; never inside .git, .agentmux or a worktree."""
    found: dict[str, None] = {}
    root = real(repo)
    for pattern in patterns:
        if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise BadInput(f"copy: {pattern!r} must be a glob relative to the repository")
        for match in sorted(repo.glob(pattern)):
            files = [match] if not match.is_dir() or match.is_symlink() else sorted(
                p for p in match.rglob("*") if not p.is_dir() or p.is_symlink())
            for f in files:
                rel = f.relative_to(repo)
                parent = real(f.parent)
                if _NEVER_COPY & set(rel.parts) or any(
                        parent == s or parent.startswith(s + os.sep) for s in skip if s != root):
                    continue
                found[rel.as_posix()] = None
    return list(found)
