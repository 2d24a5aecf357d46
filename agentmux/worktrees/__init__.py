"""git worktrees: find the repository, create one worktree per pane, and undo exactly that.

`plan` decides what each pane needs from git's state before anything is created, `create`
creates it under `RepoLock` (`lock`), and `rollback` undoes exactly what one call created. All
git goes through agentmux.git; the facts these rules come from are in docs/git.md.
"""

from __future__ import annotations

from pathlib import Path

from agentmux import git
from agentmux.errors import BadInput
from agentmux.worktrees.create import prepare
from agentmux.worktrees.lock import LOCK_NAME, RepoLock
from agentmux.worktrees.plan import Prepared, Want
from agentmux.worktrees.rollback import undo

__all__ = ["LOCK_NAME", "Prepared", "RepoLock", "Want", "git_common_dir", "head_of",
           "list_worktrees", "prepare", "repo_root", "resolve_base", "undo"]

list_worktrees = git.worktree_list
head_of = git.head_of


def git_common_dir(repo: Path) -> Path:
    return git.common_dir(repo)


def repo_root(path: Path) -> Path:
    start = path.parent if path.is_file() else path
    common = git.common_dir(start)
    # A bare repository (or a worktree of one) has no main checkout: the repository is its folder.
    return common.parent if common.name == ".git" else common


def resolve_base(repo: Path, base: str) -> str:
    if base.startswith("-") or not base:
        raise BadInput(f"base {base!r} is not a commit in {repo}")
    sha = git.rev(repo, base)  # a branch head without GitPython (see git.reads)
    if sha is not None:
        return sha
    with git.Repo(repo) as r:
        branches = [b.removeprefix("refs/heads/") for b in r.refs("refs/heads/")]
        head = r.rev("HEAD")
    if not branches and head is None:
        raise BadInput(f"{repo}: the repository has no commits yet; make a first commit, "
                       "agent branches start from one")
    shown = ", ".join(branches) or "(none)"
    raise BadInput(f"base {base!r} is not a commit in {repo}; local branches: {shown}")
