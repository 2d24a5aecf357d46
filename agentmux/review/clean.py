"""`clean` and `restore`: remove agent worktrees and branches without ever destroying work.

All or nothing: every named pane is checked first, and if any one is refused nothing at all is
removed, so a refusal never leaves a run half cleaned (and the message lists every reason of
every pane at once).

`--force` keeps everything that cannot be regenerated before it removes anything: tracked and
untracked files in a fresh snapshot commit (`refs/agentmux/snapshots/<run>/<pane>`), ignored
files copied into the ledger (`panes/<pane>/ignored/`). Only files under the layout's
`disposable` globs are deleted for good. A running agent, a worktree locked by someone else and
initialised submodules refuse even with --force: git itself would need `remove --force` there.

Branches are only ever deleted with `git branch -d` semantics (merged into the main checkout's
HEAD, or its upstream), with --force too: an unmerged branch is kept, even though its tip is in
the snapshot ref, because a hidden ref is not where a user looks for their work. For the same
reason unmerged commits do not refuse `--keep-branches` or `--force`: the branch keeps them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentmux import git, ledger, snapshot, worktrees
from agentmux.errors import BadInput, Refused
from agentmux.find import check_panes
from agentmux.watch.alive import is_running

MANIFEST = "clean.json"


def disposable(rel: str, globs: Sequence[str]) -> bool:
    """gitignore-like: `dir/` matches that folder at any depth, `*.log` a name at any depth."""
    parts = rel.split("/")
    for g in globs:
        if g.endswith("/"):
            name = g.rstrip("/")
            if "/" in name:
                if any(fnmatch.fnmatchcase("/".join(parts[:i]), name.lstrip("/"))
                       for i in range(1, len(parts))):
                    return True
            elif any(fnmatch.fnmatchcase(p, name) for p in parts[:-1]):
                return True
        elif fnmatch.fnmatchcase(rel, g.lstrip("/")) or (
                "/" not in g and fnmatch.fnmatchcase(parts[-1], g)):
            return True
    return False


def merged(r: git.Repo, branch: str) -> bool:
    """`git branch -d` semantics: reachable from the main checkout's HEAD, or its upstream."""
    tip = r.rev(f"refs/heads/{branch}")
    if tip is None:
        return True
    for into in ("HEAD", "@{upstream}"):
        if r.rev(into) and git.is_ancestor(r.path, tip, into):
            return True
    up = git.upstream_of(r.path, branch)
    return up is not None and git.is_ancestor(r.path, tip, up)


@dataclass
class Plan:
    name: str
    branch: str | None
    tree: Path | None             # None: no worktree left to remove
    ignored: list[str] = field(default_factory=list)
    disposable: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


@dataclass
class Done:
    name: str
    removed: Path | None
    snapshot: str | None
    copied: list[str]
    deleted: list[str]
    branch: str | None
    branch_deleted: bool
    branch_kept_why: str | None


def _check(r: git.Repo, run_dir: ledger.RunDir, p: dict[str, Any], wts: dict[str, dict[str, str]],
           globs: Sequence[str], force: bool, keep_branches: bool) -> tuple[Plan, list[str]]:
    name, branch = p["name"], p.get("branch")
    tree = Path(p["worktree"]) if p.get("worktree") else None
    why: list[str] = []
    if is_running(run_dir, name):
        why.append("its agent is still running; stop it first (`agentmux down`)")
    if tree is None or os.path.realpath(tree) == os.path.realpath(r.path):
        return Plan(name, None, None), why
    entry = wts.get(os.path.realpath(tree))
    if entry is None:
        if tree.exists():
            why.append(f"{tree} exists but is not a registered worktree; left for you")
        return Plan(name, branch, None), why
    plan = Plan(name, branch, tree)
    if "locked" in entry:
        reason = entry["locked"] or "no reason given"
        why.append(f"the worktree is locked (`git worktree lock`: {reason})")
    if "prunable" in entry or not tree.is_dir():
        why.append(f"{tree} is registered but missing; run `git worktree prune`")
        return plan, why
    if entry.get("branch") != f"refs/heads/{branch}":
        why.append(f"the worktree is not on branch '{branch}' (a commit on a detached HEAD "
                   "would be lost)")
    if git.has_initialised_submodules(tree):
        why.append("it has initialised submodules")
    plan.changed = [path for _, path in git.status(tree)]
    for rel in git.ignored_files(tree):
        (plan.disposable if disposable(rel, globs) else plan.ignored).append(rel)
    if not force:
        if plan.changed:
            why.append("modified, staged or untracked files: " + _list(plan.changed))
        if plan.ignored:
            why.append("ignored files (git would delete them): " + _list(plan.ignored))
        if branch and not keep_branches and not merged(r, branch):
            why.append(f"branch '{branch}' has commits not merged into the main checkout's "
                       "HEAD; merge them, or pass --keep-branches or --force to keep the branch")
    return plan, why


def _list(files: list[str]) -> str:
    return ", ".join(files[:10]) + (f", ... ({len(files)} in all)" if len(files) > 10 else "")


def clean(run_dir: ledger.RunDir, names: Sequence[str] = (), force: bool = False,
          keep_branches: bool = False) -> list[Done]:
    run = run_dir.read_run()
    repo = Path(run["repo"])
    panes = run.get("panes", [])
    check_panes([p["name"] for p in panes], names, f"run {run_dir.id}")
    chosen = [p for p in panes if not names or p["name"] in names]
    globs = run.get("disposable") or []
    with worktrees.RepoLock(repo), git.Repo(repo) as r:
        wts = {os.path.realpath(w["worktree"]): w for w in git.worktree_list(repo)}
        plans, refusals = [], []
        for p in chosen:
            plan, why = _check(r, run_dir, p, wts, globs, force, keep_branches)
            plans.append(plan)
            refusals += [f"  {plan.name}: {w}" for w in why]
        if refusals:
            raise Refused("nothing was removed:\n" + "\n".join(refusals))
        return [_clean_one(r, run_dir, plan, force, keep_branches) for plan in plans]


def _clean_one(r: git.Repo, run_dir: ledger.RunDir, plan: Plan, force: bool,
               keep_branches: bool) -> Done:
    snap = None
    copied: list[str] = []
    if plan.tree is not None:
        tree = plan.tree
        pane_dir = run_dir.pane_dir(plan.name)
        head = git.rev(tree, "HEAD")
        if force:
            ref = snapshot.ref_for(run_dir.id, plan.name)
            snap = snapshot.take(tree, ref, f"agentmux snapshot of {plan.name} "
                                            f"(run {run_dir.id}) before clean --force")
            held = set(git.files_at(tree, snap))
            missing = [f for f in plan.changed if f not in held and (tree / f).exists()]
            if missing:
                raise Refused(f"{plan.name}: the snapshot does not hold {_list(missing)}; "
                              "nothing of this pane was removed")
            aside = pane_dir / "ignored"
            for rel in plan.ignored:
                dst = aside / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree / rel, dst, follow_symlinks=False)
                copied.append(rel)
        ledger.write_json(pane_dir / MANIFEST, {
            "version": 1, "pane": plan.name, "cleaned_at": ledger.now_iso(),
            "branch": plan.branch, "head": head, "worktree": str(tree), "snapshot": snap,
            "ignored": copied, "disposable_deleted": plan.disposable, "forced": force,
        })
        if force:
            # Everything is kept above; now make the tree clean so a plain `worktree remove`
            # (never --force) takes it, and its own check still guards what we missed.
            if plan.changed:
                git.reset_hard(tree)
            for rel in [*(path for _, path in git.status(tree)), *copied]:
                # A folder here (a nested repository) is left for `worktree remove` to refuse.
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    (tree / rel).unlink()
        for rel in plan.disposable:
            with contextlib.suppress(FileNotFoundError):
                (tree / rel).unlink()
        git.worktree_remove(r.path, tree)
    deleted, kept_why = False, None
    if plan.branch and r.rev(f"refs/heads/{plan.branch}") is not None:
        if keep_branches:
            kept_why = "--keep-branches"
        elif not merged(r, plan.branch):
            kept_why = "not merged into the main checkout's HEAD"
        else:
            d = git.delete_merged_branch(r.path, plan.branch)
            deleted = d.returncode == 0
            kept_why = None if deleted else d.stderr.strip()
    done = Done(plan.name, plan.tree, snap, copied, plan.disposable if plan.tree else [],
                plan.branch, deleted, kept_why)
    ledger.append_event(run_dir.events, {
        "type": "clean", "pane": plan.name, "forced": force,
        "worktree": str(plan.tree) if plan.tree else None, "snapshot": snap,
        "ignored_copied": copied, "disposable_deleted": done.deleted,
        "branch": plan.branch, "branch_deleted": deleted})
    return done


def restore(run_dir: ledger.RunDir, name: str) -> tuple[Path, str, list[str]]:
    """Worktree and branch back from the snapshot; files as they were, nothing committed."""
    run = run_dir.read_run()
    repo = Path(run["repo"])
    panes = run.get("panes", [])
    check_panes([p["name"] for p in panes], [name], f"run {run_dir.id}")
    entry = next(p for p in panes if p["name"] == name)
    if not entry.get("worktree") or not entry.get("branch"):
        raise BadInput(f"pane '{name}' had no worktree of its own; nothing to restore")
    tree, branch = Path(entry["worktree"]), str(entry["branch"])
    manifest = ledger.read_json(run_dir.pane_dir(name) / MANIFEST) or {}
    with worktrees.RepoLock(repo), git.Repo(repo) as r:
        if tree.exists() or tree.is_symlink():
            raise Refused(f"{tree} exists; restore only rebuilds a removed worktree")
        snap = r.rev(snapshot.ref_for(run_dir.id, name))
        if snap is None:
            raise Refused(f"pane '{name}' has no snapshot ({snapshot.ref_for(run_dir.id, name)})"
                          "; there is nothing to restore from")
        head = r.rev(f"{snap}^")
        assert head is not None
        now = r.rev(f"refs/heads/{branch}")
        if now is None:
            git.create_branch(repo, branch, head)
        elif now != head:
            raise Refused(f"branch '{branch}' is at {now[:12]}, not at {head[:12]} where the "
                          "snapshot was taken; restore it by hand")
        git.worktree_add(repo, tree, branch, step="restoring a worktree")
        # Snapshot's files into index and tree, then the index back to HEAD: nothing committed,
        # and files that were untracked are untracked again.
        git.checkout_tree(tree, snap)
        git.reset_index(tree)
        put_back = []
        aside = run_dir.pane_dir(name) / "ignored"
        for rel in manifest.get("ignored", []):
            src, dst = aside / rel, tree / rel
            if (src.exists() or src.is_symlink()) and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst, follow_symlinks=False)
                put_back.append(rel)
    ledger.append_event(run_dir.events, {
        "type": "restore", "pane": name, "worktree": str(tree), "branch": branch,
        "snapshot": snap, "ignored_restored": put_back})
    return tree, snap, put_back
