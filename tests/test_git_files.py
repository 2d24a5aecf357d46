"""agentmux.git.files: the reads on `up`'s path answered from git's files by hand agree with
git itself, and say "not sure" (None, so GitPython answers) for every shape they do not
cover, and `up`'s reads of a plain repository never import GitPython."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentmux import git
from agentmux.git import files

from .conftest import git as sh_git
from .conftest import make_repo


def rev_parse(repo: Path, name: str) -> str | None:
    p = subprocess.run(["git", "rev-parse", "--verify", "-q", "--end-of-options",
                        f"{name}^{{commit}}"], cwd=repo, capture_output=True, text=True,
                       check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def git_says(where: Path, *args: str) -> str | None:
    p = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=False)
    return os.path.realpath(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip() else None


@pytest.fixture
def shapes(repo: Path, tmp_path: Path) -> Path:
    """repo with a second commit, a branch, tags, a linked worktree and a symlink to repo."""
    (repo / "b.txt").write_text("b\n")
    sh_git(repo, "add", "-A")
    sh_git(repo, "commit", "-qm", "second")
    sh_git(repo, "branch", "feature", "HEAD^")
    sh_git(repo, "tag", "v1", "HEAD^")
    sh_git(repo, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "side", "HEAD^")
    (tmp_path / "link").symlink_to(repo)
    return repo


def test_discovery_agrees_with_git(shapes: Path, tmp_path: Path) -> None:
    places = [shapes, shapes / "src", tmp_path / "link" / "src", tmp_path / "linked",
              tmp_path / "linked" / "src"]
    for where in places:
        found = files.discover(str(where))
        assert found is not None, where
        assert found.toplevel == git_says(where, "rev-parse", "--show-toplevel"), where
        assert found.common_dir == git_says(where, "rev-parse", "--path-format=absolute",
                                            "--git-common-dir"), where
        assert os.path.realpath(found.git_dir) == git_says(
            where, "rev-parse", "--path-format=absolute", "--git-dir"), where
        assert git.toplevel(where) == Path(found.toplevel)
    assert files.discover(str(tmp_path / "nowhere")) is None


def test_unusual_repositories_are_left_to_gitpython(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    assert files.discover(str(bare)) is None
    assert git.toplevel(bare) is None                     # GitPython: no work tree
    assert git.common_dir(bare) == bare                   # GitPython: the folder itself

    moved = make_repo(tmp_path / "moved")
    sh_git(moved, "config", "core.worktree", str(tmp_path))
    assert files.discover(str(moved)) is None

    included = make_repo(tmp_path / "included")
    sh_git(included, "config", "include.path", "/dev/null")
    assert files.discover(str(included)) is None

    odd = make_repo(tmp_path / "odd")
    sh_git(odd, "config", "core.bare", "false")
    sh_git(odd, "config", "other.bare", "true")      # a second `bare`: not plainly false
    assert files.discover(str(odd)) is None

    plain = make_repo(tmp_path / "plain")
    assert files.discover(str(plain)) is not None
    (tmp_path / "nogit").mkdir()
    assert files.discover(str(tmp_path / "nogit")) is None


NAMES = ["HEAD", "main", "refs/heads/main", "feature", "refs/heads/feature", "side", "v1",
         "refs/tags/v1", "HEAD^", "HEAD~1", "main^{commit}", "nope", "refs/heads/nope",
         "refs/remotes/x", "a..b", "../main", "main.lock", "-x", "HEAD@{0}", "@"]


@pytest.mark.parametrize("packed", [False, True])
def test_branch_commits_agree_with_git_or_say_nothing(shapes: Path, tmp_path: Path,
                                                      packed: bool) -> None:
    if packed:
        sh_git(shapes, "pack-refs", "--all")
        assert not (shapes / ".git" / "refs" / "heads" / "main").exists()
    for where in (shapes, tmp_path / "linked"):
        found = files.discover(str(where))
        assert found is not None
        got = {n: files.branch_commit(found, n) for n in NAMES}
        answered = {n for n, sha in got.items() if sha is not None}
        assert answered == {"HEAD", "main", "refs/heads/main", "feature", "refs/heads/feature",
                            "side"}, where
        assert {n: got[n] for n in answered} == {n: rev_parse(where, n) for n in answered}
        # Through the room's rev, every name (the rest through GitPython) agrees with git.
        assert {n: git.rev(where, n) for n in NAMES} == {n: rev_parse(where, n) for n in NAMES}
    linked = files.discover(str(tmp_path / "linked"))
    assert linked is not None and files.branch_commit(linked, "HEAD") == rev_parse(shapes,
                                                                                   "side")


def test_a_tag_or_ref_that_shadows_a_branch_is_left_to_git(shapes: Path) -> None:
    found = files.discover(str(shapes))
    assert found is not None
    sh_git(shapes, "tag", "feature", "HEAD")          # refs/tags/feature comes before the branch
    assert files.branch_commit(found, "feature") is None
    assert git.rev(shapes, "feature") == rev_parse(shapes, "feature") == rev_parse(shapes, "HEAD")
    sh_git(shapes, "pack-refs", "--all")
    assert files.branch_commit(found, "feature") is None
    sh_git(shapes, "update-ref", "MAIN_LIKE", "HEAD^")
    sh_git(shapes, "branch", "MAIN_LIKE", "HEAD")     # $GIT_DIR/MAIN_LIKE comes first
    assert files.branch_commit(found, "MAIN_LIKE") is None
    assert git.rev(shapes, "MAIN_LIKE") == rev_parse(shapes, "MAIN_LIKE")


def test_ups_reads_of_a_plain_repository_do_not_import_gitpython(shapes: Path) -> None:
    code = ("import sys; from pathlib import Path; from agentmux import git; from agentmux "
            "import worktrees; r = Path(sys.argv[1]); print(git.toplevel(r / 'src'), "
            "worktrees.resolve_base(r, 'main'), git.common_dir(r)); "
            "print('git' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, str(shapes)], capture_output=True,
                       text=True, check=True)
    top, sha, common, imported = p.stdout.split()
    assert (top, sha, common) == (str(shapes), rev_parse(shapes, "main"), str(shapes / ".git"))
    assert imported == "False"


def test_linked_worktrees_agree_with_git_worktree_list(shapes: Path, tmp_path: Path) -> None:
    sh_git(shapes, "worktree", "add", "-q", "--detach", str(tmp_path / "second dir"), "HEAD")
    listed = [line.removeprefix("worktree ") for line in
              sh_git(shapes, "worktree", "list", "--porcelain").splitlines()
              if line.startswith("worktree ")]
    want = [Path(p) for p in listed[1:]]    # the main checkout is not a linked worktree
    assert len(want) == 2
    for where in (shapes, tmp_path / "linked" / "src"):
        found = files.discover(str(where))
        assert found is not None
        assert sorted(files.linked_worktrees(found) or []) == sorted(map(str, want))
        assert sorted(git.linked_worktrees(where)) == sorted(want)
    # A gitdir file git would not have written itself: git answers instead.
    (shapes / ".git" / "worktrees" / "linked" / "gitdir").write_text("../elsewhere/.git\n")
    found = files.discover(str(shapes))
    assert found is not None and files.linked_worktrees(found) is None
    got = git.linked_worktrees(shapes)
    assert tmp_path / "second dir" in got and len(got) == 2
