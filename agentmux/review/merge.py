"""`merge`: a queue of agent branches into one target branch, stopping cleanly at a conflict.

Every result is computed without a checkout first (`git merge-tree --write-tree`, then
`commit-tree`), and only then applied: by `git merge --ff-only <result>` in the checkout that has
the target branch (git updates index, files and ref together, and refuses before touching
anything if an untracked file would be overwritten), or, when the target is checked out
nowhere, by `update-ref <target> <result> <old>`. So a conflict is found before anything moves
and there is never a half-done merge to abort.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import git, ledger, snapshot, worktrees
from agentmux.errors import BadInput, Refused
from agentmux.find import check_panes
from agentmux.records import JSON, EventRecord, RunRecord
from agentmux.watch.alive import is_running
from agentmux.worktrees import provisioned as prov
from agentmux.worktrees.unseen import scan

STRATEGIES = ("merge", "squash", "rebase")
# A checkout in the middle of one of these has state a fast-forward would tangle with.
_IN_PROGRESS = {
    "MERGE_HEAD": "a merge is in progress",
    "rebase-merge": "a rebase is in progress",
    "rebase-apply": "a rebase or `git am` is in progress",
    "CHERRY_PICK_HEAD": "a cherry-pick is in progress",
    "REVERT_HEAD": "a revert is in progress",
    "BISECT_LOG": "a bisect is in progress",
}


def checkout_problem(tree: Path) -> str | None:
    """Why a checkout cannot take a merge now, or None."""
    for path, why in zip(git.git_paths(tree, list(_IN_PROGRESS)), _IN_PROGRESS.values(),
                         strict=True):
        if path.exists():
            return why
    changed = [path for _, path in git.status(tree, untracked=False)]
    if changed:
        return "it has uncommitted changes: " + ", ".join(changed[:10]) + (
            ", ..." if len(changed) > 10 else "")
    return None


@dataclass(frozen=True)
class MergeCandidate:
    """A pane of the run as the merge queue sees it: its branch, and its worktree if any."""

    name: str
    branch: str
    worktree: Path | None


@dataclass
class Outcome:
    merged: list[tuple[str, str]] = field(default_factory=list)       # (pane, commit)
    conflict: tuple[str, list[str]] | None = None                    # (pane, files)
    failed: tuple[str, str] | None = None                            # (pane, why)
    left: list[str] = field(default_factory=list)
    committed: list[tuple[str, str]] = field(default_factory=list)   # --include-uncommitted
    dry_run: bool = False
    into: str = ""
    strategy: str = "merge"

    @property
    def stopped(self) -> bool:
        return self.conflict is not None or self.failed is not None

    def render(self) -> str:
        would = "would " if self.dry_run else ""
        lines = [f"{would}commit {pane}'s uncommitted work onto its branch: {c[:12]}"
                 for pane, c in self.committed]
        lines += [f"{would}merge {pane} into {self.into} ({self.strategy}): {c[:12]}"
                  for pane, c in self.merged]
        if self.conflict:
            pane, files = self.conflict
            lines.append(f"{'would stop' if self.dry_run else 'stopped'}: {pane} conflicts "
                         f"with {self.into} in: {', '.join(files)}")
        if self.failed:
            lines.append(f"stopped: {self.failed[0]} was not merged: {self.failed[1]}")
        if self.left:
            lines.append("left in the queue: " + ", ".join(self.left))
        if not self.stopped:
            lines.append(f"{'nothing was changed (dry run)' if self.dry_run else 'done'}: "
                         f"{len(self.merged)} merged into {self.into}")
        elif self.dry_run:
            lines.append("nothing was changed (dry run)")
        else:
            lines.append(f"{self.into} and its checkout are as they were after the last merge")
        return "\n".join(lines)


def panes_of(run: RunRecord, names: Sequence[str]) -> list[MergeCandidate]:
    by_name = {p.name: p for p in run.panes}
    check_panes(list(by_name), names, f"run {run.id}")
    if len(set(names)) != len(names):
        raise BadInput("a pane is named twice in the queue")
    out = []
    for n in names:
        p = by_name[n]
        if not p.branch:
            raise BadInput(f"pane '{n}' has no branch of its own (isolation "
                           f"{run.isolation}); there is nothing to merge")
        tree = Path(p.worktree) if p.worktree else None
        out.append(MergeCandidate(n, p.branch, tree))
    return out


def copies_of(run_dir: ledger.RunDir, pane: MergeCandidate) -> prov.Provisioned:
    """The files `copy` placed in the pane's worktree: never its work, never merged."""
    return prov.read(snapshot.ledger_root_of(run_dir), pane.worktree)


def uncommitted(r: git.Repo, run_id: str, pane: MergeCandidate,
                copies: prov.Provisioned | None = None, live: bool = False) -> list[str]:
    """Files of the agent's work that are not on its branch; provisioned copies are not.

    The live worktree decides while it exists (the snapshot may be older than what the user
    did there since), files git does not compare (skip-worktree, assume-unchanged, sparse)
    included; once it is gone, the snapshot against the branch head decides. live: its agent
    is at work (git.status takes no lock then).
    """
    ours = (copies or prov.Provisioned()).paths
    if pane.worktree is not None and pane.worktree.is_dir():
        look = scan(pane.worktree, ours, live)
        return [path for _, path in look.changed] + [u.path for u in look.unseen
                                                     if u.storable]
    snap = r.rev(snapshot.ref_for(run_id, pane.name))
    if snap is None:
        return []
    return [f for f in git.changed_files(r.path, pane.branch, snap) if f not in ours]


def commit_uncommitted(r: git.Repo, run_id: str, pane: MergeCandidate, dry_run: bool,
                       copies: prov.Provisioned | None = None) -> str:
    """Fast-forward the agent's branch to a commit of its snapshot tree; never a rewrite."""
    ref = snapshot.ref_for(run_id, pane.name)
    head = r.rev(f"refs/heads/{pane.branch}")
    assert head is not None
    live = pane.worktree is not None and pane.worktree.is_dir()
    if live:
        assert pane.worktree is not None
        if git.head_of(pane.worktree) != head:
            raise Refused(f"pane '{pane.name}': {pane.worktree} is not on branch "
                          f"'{pane.branch}' at {head[:12]}; commit its work by hand")
        if dry_run:
            # A fresh snapshot would move the snapshot ref; the dry run checks the branch as is.
            return head
        snap = snapshot.take(pane.worktree, ref,
                             f"agentmux snapshot of {pane.name} (run {run_id}) before merge",
                             (copies or prov.Provisioned()).paths)
    else:
        found = r.rev(ref)
        assert found is not None
        snap = found
        parent = r.rev(f"{snap}^")
        if parent != head:
            raise Refused(f"pane '{pane.name}': its snapshot was taken on {str(parent)[:12]} "
                          f"but branch '{pane.branch}' is now at {head[:12]}; commit by hand")
    if dry_run:
        return snap
    tree = r.tree_of(snap)
    msg = f"agentmux: uncommitted work of {pane.name} (run {run_id})"
    commit = git.commit_tree(r.path, tree, [head], msg)
    git.update_ref(r.path, f"refs/heads/{pane.branch}", commit, head,
                   message="agentmux merge --include-uncommitted")
    if live:
        assert pane.worktree is not None
        # Its files already are the new commit's; only the index still describes the old head.
        git.reset_index(pane.worktree)
    return commit


def rebased(repo: Path, target: str, branch_sha: str) -> tuple[str | None, list[str]]:
    """Rebase a detached copy of the branch onto target in a throwaway worktree."""
    root = ledger.ledger_root(repo) / "tmp"
    root.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rebase-", dir=root))
    git.worktree_add(repo, tmp, branch_sha, detach=True, step="preparing a rebase")
    try:
        return git.rebase(tmp, target)
    finally:
        rm = git.worktree_remove(repo, tmp, check=False)
        if rm.returncode != 0:   # only a detached copy of commits that exist elsewhere
            shutil.rmtree(tmp, ignore_errors=True)
            git.worktree_prune(repo)


def merge(run_dir: ledger.RunDir, names: Sequence[str], into: str | None = None,
          strategy: str = "merge", dry_run: bool = False,
          include_uncommitted: bool = False) -> Outcome:
    if strategy not in STRATEGIES:
        raise BadInput(f"--strategy: expected one of {', '.join(STRATEGIES)}; got {strategy!r}")
    run = run_dir.run()
    repo = Path(run.repo)
    panes = panes_of(run, names)
    with worktrees.RepoLock(repo), git.Repo(repo) as r:
        if into is None:
            into = r.head_branch()
            if into is None:
                raise BadInput(f"{repo} has a detached HEAD; name the target with --into")
        target_ref = f"refs/heads/{into}"
        if r.rev(target_ref) is None:
            raise BadInput(f"--into: no branch '{into}' in {repo}")
        checkout = next((Path(w["worktree"]) for w in git.worktree_list(repo)
                         if w.get("branch") == target_ref), None)
        if checkout is not None and (why := checkout_problem(checkout)):
            raise Refused(f"cannot merge into '{into}' in {checkout}: {why}")
        problems, dirty = [], []
        copies = {p.name: copies_of(run_dir, p) for p in panes}
        for p in panes:
            tip = r.rev(f"refs/heads/{p.branch}")
            if tip is None:
                problems.append(f"pane '{p.name}': branch '{p.branch}' does not exist")
                continue
            base, ours = str(run.base or tip), copies[p.name].paths
            secret = [c for c in ours if git.touched(repo, base, tip, [c])] \
                if git.touched(repo, base, tip, ours) else []
            if secret:
                problems.append(f"pane '{p.name}': its branch commits {', '.join(secret)}, "
                                "which `copy` placed in its worktree (it may hold a secret); "
                                "agentmux never merges a provisioned file: take it out of the "
                                "branch's history first")
            busy = is_running(run_dir, p.name)
            files = uncommitted(r, run_dir.id, p, copies[p.name], busy)
            if files and busy:
                problems.append(f"pane '{p.name}': its agent is still running and has "
                                f"uncommitted work")
            elif files:
                dirty.append(p)
                if not include_uncommitted:
                    problems.append(f"pane '{p.name}' has uncommitted work: "
                                    + ", ".join(files))
        if problems:
            hint = ("\ncommit it, or pass --include-uncommitted to commit the snapshot onto the "
                    "agent's branch first" if dirty and not include_uncommitted else "")
            raise Refused("nothing was merged:\n" + "\n".join(f"  {x}" for x in problems)
                          + hint)
        out = Outcome(dry_run=dry_run, into=into, strategy=strategy)
        tips: dict[str, str] = {}
        for p in panes:
            tip = r.rev(f"refs/heads/{p.branch}")
            assert tip is not None
            if p in dirty:
                tip = commit_uncommitted(r, run_dir.id, p, dry_run, copies[p.name])
                out.committed.append((p.name, tip))
                if not dry_run:
                    run_dir.append(EventRecord("commit-uncommitted", p.name, detail={
                        "branch": p.branch, "commit": tip}))
            tips[p.name] = tip
        simulated = r.rev(target_ref)
        assert simulated is not None
        for i, p in enumerate(panes):
            # Re-read the target before each step: the queue acts on it as it is now.
            now = simulated if dry_run else r.rev(target_ref)
            assert now is not None
            commit, files = _result(repo, run_dir.id, p, tips[p.name], now, into, strategy,
                                    dry_run)
            if commit is None:
                out.conflict = (p.name, files)
                out.left = [q.name for q in panes[i + 1:]]
                if not dry_run:
                    _event(run_dir, p, into, strategy, None, "conflict", files)
                break
            if not dry_run:
                why = _apply(repo, checkout, target_ref, now, commit)
                if why:
                    out.failed = (p.name, why)
                    out.left = [q.name for q in panes[i + 1:]]
                    _event(run_dir, p, into, strategy, commit, "failed", [])
                    break
                _event(run_dir, p, into, strategy, commit, "merged", [])
            simulated = commit
            out.merged.append((p.name, commit))
        return out


def _result(repo: Path, run_id: str, p: MergeCandidate, tip: str, target: str, into: str,
            strategy: str, dry_run: bool) -> tuple[str | None, list[str]]:
    if git.is_ancestor(repo, tip, target):
        return target, []   # already in: nothing to add
    tree, files = git.merge_tree(repo, target, tip)
    if tree is None:
        return None, files
    msg = f"agentmux: merge {p.name} ({p.branch}, run {run_id}) into {into}"
    if strategy == "merge":
        return git.commit_tree(repo, tree, [target, tip], msg), []
    if strategy == "squash":
        body = (f"agentmux: squash {p.name} ({p.branch}, run {run_id})\n\n"
                + git.subjects(repo, target, tip))
        return git.commit_tree(repo, tree, [target], body), []
    if dry_run:
        # Only the merge-tree check: a real rebase needs a throwaway checkout.
        return git.commit_tree(repo, tree, [target], msg), []
    return rebased(repo, target, tip)


def _apply(repo: Path, checkout: Path | None, target_ref: str, old: str, new: str) -> str | None:
    if new == old:
        return None
    if checkout is None:
        p = git.update_ref(repo, target_ref, new, old, message="agentmux merge", check=False)
    else:
        p = git.merge_ff_only(checkout, new)
    return (p.stderr or p.stdout).strip() or f"exited {p.returncode}" if p.returncode else None


def _event(run_dir: ledger.RunDir, p: MergeCandidate, into: str, strategy: str,
           commit: str | None, result: str, files: list[str]) -> None:
    detail: JSON = {"into": into, "strategy": strategy, "commit": commit, "result": result}
    if files:
        detail["files"] = files
    run_dir.append(EventRecord("merge", p.name, detail=detail))
