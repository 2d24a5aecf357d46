"""`restore`: a worktree removed by `clean` back from its snapshot, with what the ledger kept.

The branch is created again at the snapshot's parent (or must still be there), the snapshot's
files go into the worktree uncommitted, then what `clean --force` copied into the ledger is put
back: ignored files, files git cannot store, changed provisioned files. Provisioned copies that
were unchanged are copied again from the main checkout, as `up` placed them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agentmux import git, ledger, snapshot, worktrees
from agentmux.errors import BadInput, Refused
from agentmux.find import check_panes
from agentmux.review.clean import MANIFEST


def _put_back(src: Path, dst: Path) -> bool:
    if not (src.exists() or src.is_symlink()) or dst.exists() or dst.is_symlink():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
    return True


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
        aside = run_dir.pane_dir(name)
        for folder, key in (("ignored", "ignored"), ("unseen", "unseen"),
                            ("provisioned", "provisioned_kept")):
            for rel in manifest.get(key, []):
                if _put_back(aside / folder / rel.rstrip("/"), tree / rel.rstrip("/")):
                    put_back.append(rel)
        kept = set(manifest.get("provisioned_kept", []))
        for rel in manifest.get("provisioned", []):
            if rel not in kept:
                _put_back(repo / rel, tree / rel)   # a copy again, not the agent's file
    ledger.append_event(run_dir.events, {
        "type": "restore", "pane": name, "worktree": str(tree), "branch": branch,
        "snapshot": snap, "restored_from_ledger": put_back})
    return tree, snap, put_back
