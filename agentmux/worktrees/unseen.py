"""Files in a worktree that git does not list as changed, found by looking at the disk itself.

`git status` is blind to some files, and `git worktree remove` deletes what it does not see:
- anything inside an uninitialised submodule's folder (a gitlink; git never looks inside);
- a nested repository (a folder with its own `.git`): listed as one untracked folder, or not at
  all; `git add` stores only a pointer to its commit, and fails on one with no commit yet;
- files marked skip-worktree (so every file outside a sparse checkout) or assume-unchanged:
  git compares neither with its index;
- names git refuses to store (`.GIT`, `git~1`, `.git.`): listed, but `git add` fails on them.

So `scan` walks the worktree (pruned at ignored folders, which the ignored-file rules cover)
and reports each file or folder that git would lose unseen, and whether a snapshot commit can
hold it (`storable`). Ignored files are not unseen: `ls-files --ignored` lists them, whatever
excludes file hid them (.gitignore, .git/info/exclude, core.excludesFile).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import git

# Why git does not see each kind, for messages; storable: a snapshot commit can hold it.
KINDS: dict[str, tuple[str, bool]] = {
    "submodule": ("inside the folder of an uninitialised submodule, where git never looks",
                  False),
    "nested-repo": ("a nested git repository: git keeps at most a pointer to its commit",
                    False),
    "skip-worktree": ("changed, but marked skip-worktree, so git does not compare it", True),
    "sparse": ("changed, outside the sparse checkout, so git does not compare it", True),
    "assume-unchanged": ("changed, but marked assume-unchanged, so git does not compare it",
                         True),
    "bad-name": ("a name git refuses to store ('.git' spelled otherwise)", False),
    "hidden": ("not listed by git at all", False),
}


@dataclass(frozen=True)
class Unseen:
    path: str        # relative to the worktree; a folder ends in "/"
    kind: str

    @property
    def storable(self) -> bool:
        return KINDS[self.kind][1]

    def describe(self) -> str:
        return f"{self.path} ({KINDS[self.kind][0]})"


@dataclass(frozen=True)
class Scan:
    """One look at a worktree: what git lists, and what it does not."""

    changed: tuple[tuple[str, str], ...]        # (XY, path): tracked changes and untracked files
    ignored: tuple[str, ...]                    # ignored files, and ignored folders as `dir/`
    unseen: tuple[Unseen, ...]
    # (tag, path) of flagged index entries whose file is on disk: a snapshot clears the flag
    # in its temporary index so the file's content is taken.
    flagged: tuple[tuple[str, str], ...] = ()
    in_index: frozenset[str] = field(default_factory=frozenset)
    initialised_submodules: tuple[str, ...] = ()
    # Provisioned paths git ignores: `git add` skips them anyway, and fails (exit 1) when one
    # is named in a pathspec, even an exclude.
    ignored_copies: frozenset[str] = field(default_factory=frozenset)

    @property
    def exclude(self) -> list[str]:
        """Paths a snapshot's `git add` must leave alone: it cannot store them (a nested
        repository with no commit, or a refused name, makes the whole `add` fail)."""
        return [u.path.rstrip("/") for u in self.unseen if not u.storable
                and u.kind != "submodule"]


def bad_name(rel: str) -> bool:
    """git's verify_path refuses `.git` in any case, with trailing dots or spaces, and `git~1`
    (core.protectNTFS, on by default on every system)."""
    for part in rel.split("/"):
        low = part.lower()
        if low.rstrip(". ") == ".git" or low == "git~1":
            return True
    return False


def _blob_id(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def content_ids(tree: Path, paths: list[str]) -> dict[str, str]:
    """{path: the blob id `git add` would store} for each of paths that is a file or symlink."""
    links = {p for p in paths if (tree / p).is_symlink()}
    plain = [p for p in paths if p not in links and (tree / p).is_file()]
    ids = dict(zip(plain, git.hash_files(tree, plain), strict=True)) if plain else {}
    ids.update({p: _blob_id(os.readlink(tree / p).encode()) for p in links})
    return ids


def _files_below(root: Path, rel: str) -> list[str]:
    out = []
    for d, dirs, names in os.walk(root / rel):
        dirs.sort()
        base = Path(d).relative_to(root).as_posix()
        out += [f"{base}/{n}" for n in sorted(names)]
        # A folder holds nothing worth keeping by itself, but a symlink to one does.
        out += [f"{base}/{n}" for n in dirs if (Path(d) / n).is_symlink()]
    return out


def scan(tree: Path, provisioned: Collection[str] = (), live: bool = False) -> Scan:
    """What git lists for tree, and every file it would lose unseen.

    Provisioned paths (files `copy` placed) are left out of both: they are not the agent's.
    live: an agent may be at work there (git.status).
    """
    provisioned = set(provisioned)
    # Two processes that read the same tree: at once, they cost the slower one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(git.index_entries, tree)
        entries = git.status(tree, ignored=True, live=live)
        index = later.result()
    listed = {p for _, p in entries}
    ignored_dirs = {p.rstrip("/") for xy, p in entries if xy == "!!" and p.endswith("/")}
    untracked_dirs = {p.rstrip("/") for xy, p in entries if xy == "??" and p.endswith("/")}
    untracked = {p for xy, p in entries if xy == "??"}
    gitlinks = {p for _, mode, _, p in index if mode == "160000"}
    in_index = frozenset(p for _, _, _, p in index)
    unseen: list[Unseen] = []
    initialised: list[str] = []
    top = str(tree)
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(top, rel_dir)) as it:
                found = list(it)
        except OSError:
            continue
        for e in found:
            rel = rel_dir + e.name
            if rel == ".git" or rel in provisioned:
                continue
            if e.is_dir(follow_symlinks=False):
                if rel in ignored_dirs:
                    continue
                has_git = os.path.lexists(os.path.join(e.path, ".git"))
                if rel in gitlinks:
                    if has_git:
                        initialised.append(rel)
                    else:
                        unseen += [Unseen(f, "submodule") for f in _files_below(tree, rel)]
                elif has_git or rel in untracked_dirs:
                    unseen.append(Unseen(rel + "/", "nested-repo"))
                else:
                    stack.append(rel + "/")
            elif e.is_file(follow_symlinks=False) or e.is_symlink():
                if rel in listed:
                    if rel in untracked and bad_name(rel):
                        unseen.append(Unseen(rel, "bad-name"))
                elif rel not in in_index:
                    unseen.append(Unseen(rel, "bad-name" if bad_name(rel) else "hidden"))
    flagged = [(tag, p, blob) for tag, mode, blob, p in index
               if (tag == "S" or tag.islower()) and mode != "160000" and p not in provisioned
               and os.path.lexists(os.path.join(top, p))]
    unseen += _changed_flagged(tree, [f for f in flagged if f[1] not in listed])
    refused = {u.path for u in unseen if u.kind == "bad-name"}
    changed = tuple((xy, p) for xy, p in entries if xy != "!!" and p not in provisioned
                    and not p.endswith("/") and p not in refused)
    ignored = tuple(p for xy, p in entries if xy == "!!")
    ignored_copies = frozenset(c for c in provisioned if c in ignored or _under(c, ignored_dirs))
    return Scan(changed, tuple(p for p in ignored if p not in provisioned),
                tuple(sorted(unseen, key=lambda u: u.path)),
                tuple((tag, p) for tag, p, _ in flagged), in_index, tuple(initialised),
                ignored_copies)


def _under(path: str, folders: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:i]) in folders for i in range(1, len(parts)))


def _changed_flagged(tree: Path, flagged: list[tuple[str, str, str]]) -> list[Unseen]:
    """Flagged entries whose file differs from the index: changes git does not see."""
    if not flagged:
        return []
    ids = content_ids(tree, [p for _, p, _ in flagged])
    sparse = any(tag == "S" for tag, _, _ in flagged) and git.sparse_checkout(tree)
    out = []
    for tag, p, blob in flagged:
        if ids.get(p) != blob:
            kind = "assume-unchanged" if tag.islower() else "sparse" if sparse else "skip-worktree"
            out.append(Unseen(p, kind))
    return out
