"""`clean` and `restore`: remove agent worktrees and branches without ever destroying work.

All or nothing: every named pane is checked first, and if any one is refused nothing at all is
removed, so a refusal never leaves a run half cleaned (and the message lists every reason of
every pane at once, then what to run instead).

What would be lost is looked for on disk, not only in `git status` (worktrees.unseen): files in
an uninitialised submodule's folder, nested repositories, changed skip-worktree,
assume-unchanged and sparse files, names git refuses. A plain `clean` refuses each by name.

`--force` keeps everything that cannot be regenerated before it removes anything: tracked and
untracked files, and the unseen ones git can store, in a fresh snapshot commit
(`refs/agentmux/snapshots/<run>/<pane>`), checked file by file against the disk; ignored files
and what git cannot store copied into the ledger (`panes/<pane>/ignored/`, `.../unseen/`).
Only files under the layout's `disposable` globs are deleted for good. A running agent, a
worktree locked by someone else and initialised submodules refuse even with --force: git itself
would need `remove --force` there.

Files `copy` provisioned are copies of the main checkout's: removed with the worktree, never
kept in git. One the agent changed refuses a plain `clean` (its content is not shown); --force
keeps it in the ledger (`panes/<pane>/provisioned/`, mode 0600), never in a snapshot.

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

from agentmux import git, ledger, remote, snapshot, worktrees
from agentmux.errors import Refused, WorkFailed
from agentmux.find import check_panes, hint
from agentmux.records import EventRecord, PaneRecord
from agentmux.watch.alive import is_running
from agentmux.worktrees import provisioned as prov
from agentmux.worktrees.unseen import Unseen, content_ids, scan

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
    unseen: list[Unseen] = field(default_factory=list)
    copies: prov.Provisioned = field(default_factory=prov.Provisioned)
    copies_changed: list[str] = field(default_factory=list)
    copies_in_index: bool = False


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
    aside: Path | None = None                     # the pane's ledger folder
    unseen_kept: list[str] = field(default_factory=list)
    copies_kept: list[str] = field(default_factory=list)
    copies_removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Why:
    text: str
    forceable: bool = False       # --force keeps what this reason protects


def _check(r: git.Repo, run_dir: ledger.RunDir, p: PaneRecord, wts: dict[str, dict[str, str]],
           globs: Sequence[str], force: bool, keep_branches: bool) -> tuple[Plan, list[Why]]:
    name, branch = p.name, p.branch
    tree = Path(p.worktree) if p.worktree else None
    why: list[Why] = []
    if is_running(run_dir, name):
        why.append(Why("its agent is still running; stop it first (`agentmux down`)"))
    if tree is None or os.path.realpath(tree) == os.path.realpath(r.path):
        return Plan(name, None, None), why
    entry = wts.get(os.path.realpath(tree))
    if entry is None:
        if tree.exists():
            why.append(Why(f"{tree} exists but is not a registered worktree; left for you"))
        return Plan(name, branch, None), why
    plan = Plan(name, branch, tree)
    if "locked" in entry:
        reason = entry["locked"] or "no reason given"
        why.append(Why(f"the worktree is locked (`git worktree lock`: {reason})"))
    if "prunable" in entry or not tree.is_dir():
        why.append(Why(f"{tree} is registered but missing; run `git worktree prune`"))
        return plan, why
    if entry.get("branch") != f"refs/heads/{branch}":
        why.append(Why(f"the worktree is not on branch '{branch}' (a commit on a detached HEAD "
                       "would be lost)"))
    plan.copies = prov.read(snapshot.ledger_root_of(run_dir), tree)
    ours = set(plan.copies.paths)
    look = scan(tree, ours)
    if look.initialised_submodules:
        why.append(Why("it has initialised submodules: " + _list(
            list(look.initialised_submodules))))
    plan.changed = [path for _, path in look.changed]
    plan.unseen = list(look.unseen)
    plan.copies_in_index = bool(ours & look.in_index)
    plan.copies_changed = [c for c, st in plan.copies.changes(tree).items() if st == "changed"]
    for rel in git.ignored_files(tree):
        if rel not in ours:
            (plan.disposable if disposable(rel, globs) else plan.ignored).append(rel)
    if not force:
        if plan.changed:
            why.append(Why("modified, staged or untracked files: " + _list(plan.changed), True))
        if plan.ignored:
            why.append(Why("ignored files (git would delete them): " + _list(plan.ignored),
                           True))
        for u in plan.unseen[:10]:
            why.append(Why(f"git does not list {u.describe()}; removing the worktree would "
                           "delete it unseen", True))
        if len(plan.unseen) > 10:
            why.append(Why(f"... and {len(plan.unseen) - 10} more files git does not list",
                           True))
        if plan.copies_changed:
            why.append(Why("changed provisioned files (copies `copy` placed; content not "
                           "shown): " + _list(plan.copies_changed), True))
        if branch and not keep_branches and not merged(r, branch):
            why.append(Why(f"branch '{branch}' has commits not merged into the main checkout's "
                           "HEAD; merge them, or pass --keep-branches or --force to keep the "
                           "branch", True))
    return plan, why


def _list(files: list[str]) -> str:
    return ", ".join(files[:10]) + (f", ... ({len(files)} in all)" if len(files) > 10 else "")


FORCE_KEEPS = ("uncommitted and untracked files go into a snapshot ref, ignored files, changed "
               "provisioned files and files git cannot store into the run's ledger; unmerged "
               "branches are kept")


def _hint(r: git.Repo, run_dir: ledger.RunDir, plans: list[Plan], why: dict[str, list[Why]],
          force: bool) -> str:
    """What to run instead, typed as it must be where it is printed (find.hint): clean the
    panes nothing refused (that still have a worktree or a branch), or --force when it would
    lift every refusal."""
    out = []
    fine = [p.name for p in plans if not why[p.name] and (
        p.tree is not None or (p.branch and r.rev(f"refs/heads/{p.branch}") is not None))]
    if fine:
        out.append(f"to remove the others now: {hint(run_dir, 'clean', ' '.join(fine))}")
    refused = [w for ws in why.values() for w in ws]
    if not force and all(w.forceable for w in refused):
        names = " ".join(p.name for p in plans if why[p.name])
        out.append("to keep what is listed and remove it anyway: "
                   f"{hint(run_dir, 'clean', '--force ' + names)} ({FORCE_KEEPS})")
    return "".join(f"\n{line}" for line in out)


def clean(run_dir: ledger.RunDir, names: Sequence[str] = (), force: bool = False,
          keep_branches: bool = False) -> list[Done]:
    run = run_dir.run()
    repo = Path(run.repo)
    panes = run.panes
    check_panes([p.name for p in panes], names, f"run {run_dir.id}")
    chosen = [p for p in panes if not names or p.name in names]
    globs = run.disposable
    with worktrees.RepoLock(repo), git.Repo(repo) as r:
        wts = {os.path.realpath(w["worktree"]): w for w in git.worktree_list(repo)}
        plans, why = [], {}
        for p in chosen:
            plan, reasons = _check(r, run_dir, p, wts, globs, force, keep_branches)
            plans.append(plan)
            why[plan.name] = reasons
        away = remote.read(run_dir)
        for p in chosen:
            if p.name in away.panes and run_dir.result_of(p.name) is None:
                why[p.name].append(Why(f"its worktree is on host '{away.panes[p.name].host}' "
                                       "and no snapshot of it was fetched here yet; run "
                                       "`agentmux down` first"))
        refusals = [f"  {name}: {w.text}" for name, ws in why.items() for w in ws]
        if refusals:
            raise Refused("nothing was removed:\n" + "\n".join(refusals)
                          + _hint(r, run_dir, plans, why, force))
        done = [_clean_one(r, run_dir, plan, force, keep_branches) for plan in plans]
    _clean_hosts(away, [p.name for p in chosen], keep_branches)
    return done


def _clean_hosts(away: remote.RemoteRecord, names: Sequence[str], keep_branches: bool) -> None:
    """The remote panes' worktrees (and their branches there, unless kept): their work was
    snapshotted and fetched by `down`, so the host's copy goes."""
    from agentmux import remote_live

    for host, rh in away.hosts.items():
        trees = [("" if keep_branches else p.branch or "", p.worktree)
                 for p in away.on(host) if p.name in names and p.worktree]
        if not trees:
            continue
        left = remote.call(remote_live.transport(rh), "clean", {
            "repo": rh.repo, "socket": remote.SOCKET, "trees": trees}).get("left")
        if isinstance(left, list) and left:
            raise WorkFailed(f"host '{host}': " + "; ".join(str(x) for x in left))


def _copy_aside(tree: Path, rel: str, dst_root: Path, mode: int | None = None) -> None:
    src, dst = tree / rel.rstrip("/"), dst_root / rel.rstrip("/")
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
        if mode is not None:
            os.chmod(dst, mode)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _check_held(tree: Path, snap: str, plan: Plan) -> None:
    """Every changed file, and every unseen one git can store, is in the snapshot as it is on
    disk; else refuse before anything is removed (a sparse or flagged file the snapshot took
    at its old content would otherwise be lost to the reset)."""
    want = [*plan.changed, *(u.path for u in plan.unseen if u.storable)]
    held = git.blobs_at(tree, snap)
    now = content_ids(tree, want)
    missing = [f for f in want if f in now and held.get(f) != now[f]]
    if missing:
        raise Refused(f"{plan.name}: the snapshot does not hold {_list(missing)}; "
                      "nothing of this pane was removed")


def _keep_aside(tree: Path, pane_dir: Path, plan: Plan) -> tuple[list[str], list[str], list[str]]:
    """Copy into the ledger what no snapshot holds: (ignored, unseen, changed copies)."""
    copied, kept, copies = [], [], []
    for rel in plan.ignored:
        _copy_aside(tree, rel, pane_dir / "ignored")
        copied.append(rel)
    for u in plan.unseen:
        if not u.storable:
            _copy_aside(tree, u.path, pane_dir / "unseen")
            kept.append(u.path)
    for rel in plan.copies_changed:
        # A provisioned file may hold a secret: the owner only may read the copy kept.
        _copy_aside(tree, rel, pane_dir / "provisioned", mode=0o600)
        copies.append(rel)
    return copied, kept, copies


def _drop_copies(tree: Path, plan: Plan) -> list[str]:
    """Take the provisioned copies out so a plain `worktree remove` takes the tree."""
    if plan.copies_in_index:
        # The agent staged or committed one. Nothing else differs from HEAD here (anything
        # else was refused, or is kept above), so a hard reset touches only the copies.
        git.reset_hard(tree)
    at_head = {p for _, _, _, p in git.index_entries(tree)} if plan.copies_in_index else set()
    removed = []
    for rel in plan.copies.paths:
        if rel not in at_head and ((tree / rel).exists() or (tree / rel).is_symlink()):
            (tree / rel).unlink()   # committed ones go with the branch; these are copies
            removed.append(rel)
    return removed


def _clean_one(r: git.Repo, run_dir: ledger.RunDir, plan: Plan, force: bool,
               keep_branches: bool) -> Done:
    snap = None
    copied: list[str] = []
    kept: list[str] = []
    copies_kept: list[str] = []
    copies_removed: list[str] = []
    pane_dir = run_dir.pane_dir(plan.name)
    if plan.tree is not None:
        tree = plan.tree
        head = git.rev(tree, "HEAD")
        if force:
            ref = snapshot.ref_for(run_dir.id, plan.name)
            snap = snapshot.take(tree, ref, f"agentmux snapshot of {plan.name} "
                                            f"(run {run_dir.id}) before clean --force",
                                 plan.copies.paths)
            _check_held(tree, snap, plan)
            copied, kept, copies_kept = _keep_aside(tree, pane_dir, plan)
        ledger.write_json(pane_dir / MANIFEST, {
            "version": 1, "pane": plan.name, "cleaned_at": ledger.now_iso(),
            "branch": plan.branch, "head": head, "worktree": str(tree), "snapshot": snap,
            "ignored": copied, "unseen": kept, "provisioned_kept": copies_kept,
            "provisioned": plan.copies.paths, "disposable_deleted": plan.disposable,
            "forced": force,
        })
        if force:
            # Everything is kept above; now make the tree clean so a plain `worktree remove`
            # (never --force) takes it, and its own check still guards what we missed.
            if plan.changed:
                git.reset_hard(tree)
            for rel in [*(path for _, path in git.status(tree)), *copied]:
                if rel not in plan.copies.paths:
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        (tree / rel).unlink()
            for rel in kept:
                _remove(tree / rel.rstrip("/"))
        copies_removed = _drop_copies(tree, plan)
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
                plan.branch, deleted, kept_why, pane_dir, kept, copies_kept, copies_removed)
    run_dir.append(EventRecord("clean", plan.name, detail={
        "forced": force,
        "worktree": str(plan.tree) if plan.tree else None, "snapshot": snap,
        "ignored_copied": copied, "unseen_copied": kept, "provisioned_kept": copies_kept,
        "provisioned_removed": copies_removed, "disposable_deleted": done.deleted,
        "branch": plan.branch, "branch_deleted": deleted}))
    return done
