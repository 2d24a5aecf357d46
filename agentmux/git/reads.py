"""Reading a repository in-process through GitPython's `Repo`: refs, commits, trees, blobs.

A ref read from the ref files costs about 0.4 ms with the repository opened and closed around
it, against about 2 ms for a `git rev-parse` process; reading objects starts GitPython's
`git cat-file` processes, which pay off only over several reads of one open `Repo`
(docs/git.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from agentmux.errors import BadInput, WorkFailed
from agentmux.git import files
from agentmux.git.command import ready, run, unleak

if TYPE_CHECKING:
    import git as gitpython

# Branch heads and agentmux's own refs always hold commits (git refuses anything else in
# refs/heads, agentmux writes only commits), so these are read from the ref files alone.
_PLAIN_REF = re.compile(r"HEAD|refs/(heads|agentmux)/[^\s~^:?*\[\\@{}]+")
# Names GitPython's rev_parse reads as git does: a name, then ^N, ~N, ^{commit}, ^{tree}.
_SIMPLE_REV = re.compile(r"[\w./-]+(\^[0-9]*|~[0-9]*|\^\{(commit|tree)\})*")

class Repo:
    """In-process reads of one repository (refs, commits, trees, blobs).

    Use it with `with`, or close() it: GitPython keeps `git cat-file` processes for object
    reads until then. Not for sharing between threads.
    """

    def __init__(self, path: Path | str, search_up: bool = True) -> None:
        ready()
        from git import Repo as GitRepo
        from git.exc import InvalidGitRepositoryError, NoSuchPathError

        self.path = Path(path)
        try:
            self._r: gitpython.Repo = GitRepo(path, search_parent_directories=search_up)
        except (InvalidGitRepositoryError, NoSuchPathError, OSError, ValueError) as e:
            raise BadInput(f"{path}: not a git repository (or any parent)") from e

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._r.close()

    @property
    def common_dir(self) -> Path:
        return Path(os.path.realpath(self._r.common_dir))

    @property
    def toplevel(self) -> Path | None:
        top = self._r.working_tree_dir
        return Path(os.path.realpath(top)) if top else None

    def rev(self, name: str) -> str | None:
        """The commit name stands for, or None: `git rev-parse --verify -q NAME^{commit}`.

        Branch heads and agentmux's refs are read from the ref files; a name with `^`, `~`
        suffixes through GitPython's rev_parse; any other syntax (`@{upstream}`, `:/text`),
        or a name GitPython cannot resolve, by git itself.
        """
        from git import SymbolicReference
        from git.exc import BadName, BadObject

        if not name or name.startswith("-"):
            return None
        try:
            if _PLAIN_REF.fullmatch(name):
                return str(SymbolicReference.dereference_recursive(self._r, name))
            if _SIMPLE_REV.fullmatch(name):
                obj = self._r.rev_parse(name)
                while obj.type == "tag":
                    obj = obj.object
                return obj.hexsha if obj.type == "commit" else None
        except (ValueError, OSError):
            return None   # a missing ref
        except (BadName, BadObject, LookupError, TypeError):
            pass
        p = run(self.path, "rev-parse", "--verify", "-q", "--end-of-options",
                f"{name}^{{commit}}", check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    def _commit(self, name: str) -> gitpython.Commit:
        from git.exc import BadName, BadObject

        try:
            return self._r.commit(name)
        except (BadName, BadObject, ValueError, LookupError, TypeError) as e:
            raise WorkFailed(f"{name!r} is not a commit in {self.path}") from e

    def tree_of(self, commit: str) -> str:
        """The id of commit's tree (`COMMIT^{tree}`)."""
        return str(self._commit(commit).tree.hexsha)

    def head_branch(self) -> str | None:
        """The branch HEAD is on (short name), None when detached or not a branch."""
        head = self._r.head
        if head.is_detached or not head.reference.path.startswith("refs/heads/"):
            return None
        return head.reference.path.removeprefix("refs/heads/")

    def refs(self, prefix: str) -> dict[str, str]:
        """{full ref name: sha} of the refs under prefix (e.g. "refs/heads/"), sorted."""
        from git import Reference, SymbolicReference

        out: dict[str, str] = {}
        for ref in Reference.iter_items(self._r, common_path=prefix.rstrip("/")):
            try:
                out[ref.path] = SymbolicReference.dereference_recursive(self._r, ref.path)
            except (ValueError, OSError):
                continue  # a broken ref: for-each-ref skips it too
        return dict(sorted(out.items()))

    def committed_at(self, sha: str) -> int | None:
        """The committer date (epoch seconds) of commit sha, None when it is not a commit."""
        try:
            return int(self._commit(sha).committed_date)
        except WorkFailed:
            return None

    def existing_commits(self, shas: Iterable[str]) -> set[str]:
        """Those of shas (full ids) that name commits here."""
        from git.exc import BadObject

        out = set()
        for sha in set(shas):
            try:
                if len(sha) == 40 and self._r.odb.info(bytes.fromhex(sha)).type == b"commit":
                    out.add(sha)
            except (ValueError, BadObject):
                continue
        return out

    def blob_sizes(self, commit: str, paths: Iterable[str]) -> dict[str, int]:
        """The size of each of paths that is a file (a blob) in commit's tree."""
        tree = self._commit(commit).tree
        out = {}
        for path in paths:
            try:
                obj = tree / path
            except KeyError:
                continue
            if obj.type == "blob":
                out[path] = int(obj.size)
        return out

    def blob(self, commit: str, path: str) -> bytes:
        data: bytes = (self._commit(commit).tree / path).data_stream.read()
        return data


# The three reads below are on `up`'s path. They read git's files by hand when those leave no
# doubt (`files`), so `up` with isolation "none" never imports GitPython; else GitPython.

def _found(path: Path) -> files.Found | None:
    unleak()  # as `Repo()` would: the environment up hands to its agents is the same
    return files.discover(os.fspath(path))


def common_dir(path: Path) -> Path:
    """The repository's git folder shared by all its worktrees (`.git` of the main one)."""
    found = _found(path)
    if found is not None:
        return Path(found.common_dir)
    with Repo(path) as r:
        return r.common_dir


def toplevel(path: Path) -> Path | None:
    """The top folder of the checkout that holds path; None outside one (or in a bare repo)."""
    found = _found(path)
    if found is not None:
        return Path(found.toplevel)
    try:
        with Repo(path) as r:
            return r.toplevel
    except BadInput:
        return None


def rev(path: Path, name: str) -> str | None:
    """`Repo.rev` in a repository opened for this one read."""
    found = _found(path)
    sha = files.branch_commit(found, name) if found is not None else None
    if sha is not None:
        return sha
    with Repo(path) as r:
        return r.rev(name)


def linked_worktrees(path: Path) -> list[Path]:
    """The top folders of the linked worktrees of the repository that holds path (the main
    checkout and a bare repository's folder are not among them)."""
    found = _found(path)
    tops = files.linked_worktrees(found) if found is not None else None
    if tops is not None:
        return [Path(t) for t in tops]
    from agentmux.git.ops import worktree_list

    listed = worktree_list(path)
    return [Path(w["worktree"]) for w in listed[1:] if "bare" not in w and w.get("worktree")]


def head_of(path: Path) -> str | None:
    """HEAD's commit of the worktree whose top folder is path; None for anything else."""
    if not path.is_dir():
        return None
    try:
        with Repo(path, search_up=False) as r:
            top = r.toplevel
            return r.rev("HEAD") if top == Path(os.path.realpath(path)) else None
    except BadInput:
        return None


def branches(repo: Path, prefix: str = "refs/heads/") -> dict[str, str]:
    """{branch name: sha} of the branches under prefix."""
    with Repo(repo) as r:
        return {k.removeprefix("refs/heads/"): v for k, v in r.refs(prefix).items()}
