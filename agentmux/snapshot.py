"""Snapshots: a worktree's whole state as a commit under `refs/agentmux/snapshots/<run>/<pane>`.

Taken through a temporary copy of the worktree's index, so the user's index is untouched, and
with `add -A`, so tracked, staged and untracked files are all in it (ignored ones are not:
`clean --force` keeps those aside). `git stash create` would leave untracked files out.

Files git does not list (worktrees.unseen) are taken where git can store them: flagged index
entries are unflagged in the temporary index first, files outside a sparse checkout are added
with `--sparse`. What git cannot store (a nested repository, files in an uninitialised
submodule's folder, refused names) is left out, and the commit message and the result say so.
Files `copy` provisioned are never in a snapshot: they stay as they are at HEAD.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import git, ledger
from agentmux.records import JSON, FileChange, ResultRecord
from agentmux.worktrees import provisioned as prov
from agentmux.worktrees import unseen as unseen_files

SNAPSHOT_NS = "refs/agentmux/snapshots"
# Snapshot commits are agentmux's, whoever the user is, and need no configured identity.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentmux", "GIT_AUTHOR_EMAIL": "agentmux@localhost",
    "GIT_COMMITTER_NAME": "agentmux", "GIT_COMMITTER_EMAIL": "agentmux@localhost",
}


def ref_for(run_id: str, pane: str) -> str:
    return f"{SNAPSHOT_NS}/{run_id}/{pane}"


@dataclass(frozen=True)
class Taken:
    commit: str
    tree: str
    head: str
    head_tree: str
    unseen: tuple[unseen_files.Unseen, ...] = ()


def take(worktree: Path, ref: str | None, message: str,
         provisioned: Sequence[str] = ()) -> str:
    """Commit the worktree's full state (parent: its HEAD) and point ref at it.

    With ref None the commit is left unreferenced: `review` and `diff` look at a running agent
    this way without leaving a ref behind (git gc prunes such commits after two weeks).
    """
    return take_full(worktree, ref, message, provisioned).commit


def take_full(worktree: Path, ref: str | None, message: str,
              provisioned: Sequence[str] = (), live: bool = False) -> Taken:
    # One call for the index path, HEAD and its tree: review runs this for every live pane.
    index, head, head_tree = git.index_and_head(worktree)
    scan = unseen_files.scan(worktree, provisioned, live)
    left_out = [u for u in scan.unseen if not u.storable]
    if left_out:
        message += "\n\nNot in this snapshot (git cannot store them):\n" + "\n".join(
            f"  {u.describe()}" for u in left_out)
    fd, tmp = tempfile.mkstemp(prefix="agentmux-index.")
    os.close(fd)
    try:
        if index.exists():
            shutil.copyfile(index, tmp)
        else:
            os.unlink(tmp)
        tree = git.write_tree_of_worktree(
            worktree, tmp, unflag=scan.flagged,
            exclude=[*(p for p in provisioned if p not in scan.ignored_copies), *scan.exclude],
            as_at_head=[p for p in provisioned if p in scan.in_index])
        commit = git.commit_tree(worktree, tree, [head], message, env=_IDENTITY)
        if ref is not None:
            git.update_ref(worktree, ref, commit, message="agentmux snapshot")
        return Taken(commit, tree, head, head_tree, scan.unseen)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def changes(repo: Path, base: str, commit: str) -> list[FileChange]:
    """Files changed from base to commit: path, status letter, lines added and removed.

    One `git diff --raw --numstat -z`: the raw records (`:modes shas STATUS\0path\0`) come
    first and give the status, then one `added\tremoved\tpath\0` record per file.
    """
    return parse_raw_numstat(git.diff_raw_numstat(repo, base, commit))


def parse_raw_numstat(raw: str) -> list[FileChange]:
    status: dict[str, str] = {}
    out = []
    parts = raw.split("\0")
    i = 0
    while i < len(parts):
        tok = parts[i]
        if tok.startswith(":"):
            if i + 1 < len(parts):
                status[parts[i + 1]] = tok.split()[-1][:1]
            i += 2
            continue
        i += 1
        if not tok:
            continue
        added, removed, path = tok.split("\t", 2)
        out.append(FileChange(
            path, status.get(path, "M"),
            int(added) if added.isdigit() else None,      # None: binary
            int(removed) if removed.isdigit() else None,
        ))
    return out


@dataclass(frozen=True)
class Described:
    """What `describe` finds; `to_json` is the body of result.json minus the ids."""

    head: str
    commits_ahead: int
    dirty: bool
    files: list[FileChange]
    provisioned: list[JSON]
    unseen: list[JSON]

    def to_json(self) -> JSON:
        return {"head": self.head, "commits_ahead": self.commits_ahead, "dirty": self.dirty,
                "files": [f.to_json() for f in self.files], "provisioned": self.provisioned,
                "unseen": self.unseen}


def describe(worktree: Path, base: str, taken: Taken,
             copies: prov.Provisioned | None = None) -> Described:
    """What a snapshot holds relative to base: the body of result.json minus the ids.

    `files` never lists a provisioned file; `provisioned` says of each whether the agent changed
    or deleted it, or committed it on its branch (its content is never shown); `unseen` lists
    what git does not see, and whether this snapshot holds it.
    """
    copies = copies or prov.Provisioned()
    ours = set(copies.paths)
    files = changes(worktree, base, taken.commit)
    committed = {f.path for f in files if f.path in ours}
    now = copies.changes(worktree)
    return Described(
        head=taken.head,
        commits_ahead=git.count_commits(worktree, base, taken.head),
        dirty=taken.tree != taken.head_tree,
        files=[f for f in files if f.path not in ours],
        provisioned=[{"path": p, "state": now.get(p, "unchanged"), "committed": p in committed}
                     for p in copies.paths],
        unseen=[{"path": u.path, "kind": u.kind, "why": unseen_files.KINDS[u.kind][0],
                 "in_snapshot": u.storable} for u in taken.unseen],
    )


def ledger_root_of(run_dir: ledger.RunDir) -> Path:
    return run_dir.path.parents[1]   # <repo>/.agentmux/runs/<id>


def record(run_dir: ledger.RunDir, pane: str, worktree: Path, base: str) -> ResultRecord:
    """Snapshot a pane's worktree and write `panes/<pane>/result.json`; returns it."""
    ref = ref_for(run_dir.id, pane)
    copies = prov.read(ledger_root_of(run_dir), worktree)
    taken = take_full(worktree, ref, f"agentmux snapshot of {pane} (run {run_dir.id})",
                      copies.paths)
    st = describe(worktree, base, taken, copies)
    result = ResultRecord(
        pane=pane, base=base, head=st.head, snapshot=taken.commit, taken_at=ledger.now_iso(),
        ref=ref, commits_ahead=st.commits_ahead, dirty=st.dirty, files=tuple(st.files),
        extra={"provisioned": st.provisioned, "unseen": st.unseen})
    run_dir.write_result(result)
    return result


def live(worktree: Path, base: str, pane: str, ledger_root: Path) -> JSON:
    """The same as result.json for an agent still at work, with no ref taken and nothing written."""
    copies = prov.read(ledger_root, worktree)
    taken = take_full(worktree, None, f"agentmux live view of {pane}", copies.paths, live=True)
    return {"version": 1, "pane": pane, "taken_at": ledger.now_iso(), "base": base,
            "snapshot": taken.commit, "ref": None,
            **describe(worktree, base, taken, copies).to_json()}
