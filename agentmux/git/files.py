"""git's own files read by hand, for the reads on `up`'s and `status`'s path: where the
repository is, what commit a branch name stands for, and where its linked worktrees are.

GitPython's import costs 65-100 ms of CPU here and runs `git version` (docs/performance.md);
`up` with isolation "none" needs git only for these few small files. Each function answers
only when the files leave no doubt, and returns None for anything unusual: a bare repository,
a `.git` symlink, `core.worktree`, `[include]`, reftable, a name that is not plainly a branch
head. The caller (`reads`) then asks GitPython, so the answer is GitPython's either way; it
follows GitPython's discovery (`git.repo.base.Repo.__init__`, `git.repo.fun.is_git_dir`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# A branch name as `up` takes it for `base`: no `..`, `@{`, `~`, `^`, `:`, space or glob.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_HEAD = re.compile(rb"ref: *refs/|[0-9A-Fa-f]{40}")
# `bare = false` as `git init` writes it; any other mention of bare goes to GitPython.
_NOT_BARE = re.compile(r"^\s*bare\s*=\s*false\s*$", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    toplevel: str     # the checkout's top folder, symlinks resolved
    git_dir: str      # its own git folder (a linked worktree's under .git/worktrees/)
    common_dir: str   # the folder shared by all worktrees, symlinks resolved


def _read(path: str, limit: int = 4096) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _git_dir(d: str) -> str | None:
    """The common folder of git folder d when d is one (GitPython's is_git_dir), else None."""
    if os.path.islink(os.path.join(d, "HEAD")):
        return None
    head = _read(os.path.join(d, "HEAD"), 256)
    if head is None or not _HEAD.match(head):
        return None
    common = d
    linked = _read(os.path.join(d, "commondir"))
    if linked is not None:
        rel = os.fsdecode(linked).rstrip("\r\n")
        if not rel:
            return None
        common = os.path.join(d, rel)
    common = os.path.realpath(common)
    ok = os.path.isdir(os.path.join(common, "objects")) and os.path.isdir(
        os.path.join(common, "refs"))
    return common if ok else None


def _plain_config(common: str, git_dir: str) -> bool:
    """No setting that could move the work tree or make the repository bare."""
    if os.path.exists(os.path.join(git_dir, "config.worktree")) or os.path.exists(
            os.path.join(common, "reftable")):
        return False
    raw = _read(os.path.join(common, "config"), 1 << 16)
    if raw is None:
        return False
    text = os.fsdecode(raw).lower()
    if "worktree" in text or "include" in text or "refstorage" in text:
        return False
    bare = text.count("bare")
    return bare == 0 or (bare == 1 and _NOT_BARE.search(text) is not None)


def discover(start: str) -> Found | None:
    """The checkout that holds folder start, or None (not found, or not plain enough)."""
    cur = os.path.abspath(start)
    if not os.path.isdir(cur):
        return None
    while True:
        dotgit = os.path.join(cur, ".git")
        if os.path.islink(dotgit):
            return None
        if os.path.isdir(dotgit):
            git_dir = dotgit
        elif os.path.isfile(dotgit):
            text = os.fsdecode(_read(dotgit) or b"").rstrip("\r\n")
            if not text.startswith("gitdir: ") or len(text) < 9:
                return None
            git_dir = os.path.normpath(os.path.join(cur, text[8:]))
        elif os.path.exists(os.path.join(cur, "HEAD")):
            return None   # perhaps a bare repository or a git folder itself
        else:
            parent = os.path.dirname(cur)
            if parent == cur:
                return None
            cur = parent
            continue
        common = _git_dir(git_dir)
        if common is None or not _plain_config(common, git_dir):
            return None
        return Found(os.path.realpath(cur), git_dir, common)


def _ref_file(found: Found, ref: str) -> bytes | None:
    # HEAD is the worktree's own; branch heads are shared by every worktree.
    where = found.git_dir if ref == "HEAD" else found.common_dir
    return _read(os.path.join(where, ref), 256)


def _packed(found: Found) -> dict[str, str] | None:
    limit = 1 << 26
    raw = _read(os.path.join(found.common_dir, "packed-refs"), limit)
    if raw is None:
        return {}
    if len(raw) == limit:
        return None
    out = {}
    for line in os.fsdecode(raw).splitlines():
        if line.startswith(("#", "^")) or not line:
            continue
        sha, _, name = line.partition(" ")
        if not _SHA.fullmatch(sha):
            return None
        out[name] = sha
    return out


def _resolve(found: Found, ref: str, packed: dict[str, str], depth: int = 0) -> str | None:
    """The commit HEAD or a branch head points at, following `ref:` links; None if unsure."""
    if depth > 5 or not (ref == "HEAD" or ref.startswith("refs/heads/")):
        return None  # only HEAD and branch heads are sure to hold commits (git refuses else)
    raw = _ref_file(found, ref)
    if raw is None:
        return packed.get(ref) if ref != "HEAD" else None
    text = os.fsdecode(raw).strip()
    if text.startswith("ref:"):
        return _resolve(found, text[4:].strip(), packed, depth + 1)
    return text if _SHA.fullmatch(text) else None


def branch_commit(found: Found, name: str) -> str | None:
    """What `git rev-parse NAME^{commit}` says, when name is HEAD or plainly one branch.

    A short name is looked up in git's order ($GIT_DIR/NAME, refs/NAME, refs/tags/NAME,
    refs/heads/NAME); only when the first that exists is the branch head is it read here.
    """
    if name != "HEAD" and (not _NAME.fullmatch(name) or ".." in name or "//" in name
                           or name.endswith((".lock", "/", "."))):
        return None
    packed = _packed(found)
    if packed is None:
        return None
    if name == "HEAD" or name.startswith("refs/heads/"):
        return _resolve(found, name, packed)
    if name.startswith("refs/"):
        return None
    for ahead in (name, f"refs/{name}", f"refs/tags/{name}"):
        for where in {found.git_dir, found.common_dir}:
            if os.path.lexists(os.path.join(where, ahead)):
                return None
        if ahead in packed:
            return None
    return _resolve(found, f"refs/heads/{name}", packed)


def linked_worktrees(found: Found) -> list[str] | None:
    """The top folders of the repository's linked worktrees, as `git worktree list` reads
    them ($GIT_COMMON_DIR/worktrees/<id>/gitdir names each one's .git file); None if unsure."""
    root = os.path.join(found.common_dir, "worktrees")
    try:
        ids = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    except OSError:
        return None
    out = []
    for wid in ids:
        raw = _read(os.path.join(root, wid, "gitdir"))
        if raw is None:
            continue   # not a worktree's folder (git lists it as prunable, with no path)
        dotgit = os.fsdecode(raw).rstrip("\r\n")
        if not os.path.isabs(dotgit) or os.path.basename(dotgit) != ".git":
            return None  # relative (worktree.useRelativePaths) or unusual: ask git
        out.append(os.path.dirname(dotgit))
    return out
