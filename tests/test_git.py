"""agentmux.git, the one room that runs git: in-process reads agree with git, no process is
left behind, leaked GIT_* variables are ignored, and failures name the command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentmux import git
from agentmux.errors import BadInput, CommandFailed

from .conftest import git as sh_git
from .conftest import make_repo


def children() -> list[str]:
    """The command lines of this process's children, zombies included, from /proc."""
    me = os.getpid()
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The fields after the parenthesised name: state, then the parent's pid.
        if int(text.rsplit(")", 1)[1].split()[1]) == me:
            try:
                out.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                out.append(text.split(" ", 2)[1])
    return out


@pytest.fixture
def history(repo: Path) -> Path:
    """main with two commits, a lightweight and an annotated tag, a branch and a snapshot ref."""
    (repo / "b.txt").write_text("b\n")
    sh_git(repo, "add", "-A")
    sh_git(repo, "commit", "-qm", "second")
    sh_git(repo, "tag", "light")
    sh_git(repo, "tag", "-a", "-m", "annotated", "v1")
    sh_git(repo, "branch", "feature", "HEAD^")
    sh_git(repo, "update-ref", "refs/agentmux/snapshots/r1/a", "HEAD")
    return repo


def rev_parse(repo: Path, name: str) -> str | None:
    p = subprocess.run(["git", "rev-parse", "--verify", "-q", "--end-of-options",
                        f"{name}^{{commit}}"], cwd=repo, capture_output=True, text=True,
                       check=False)
    return p.stdout.strip() if p.returncode == 0 else None


NAMES = ["HEAD", "main", "refs/heads/main", "feature", "refs/heads/feature", "light", "v1",
         "refs/tags/v1", "HEAD^", "HEAD~1", "main^{commit}", "v1^{commit}", "HEAD^{tree}",
         "HEAD^^", "refs/agentmux/snapshots/r1/a", "refs/agentmux/snapshots/r1/nope",
         "refs/heads/nope", "nope", "HEAD@{0}", ":/second", "-x", ""]


def test_rev_agrees_with_git_rev_parse(history: Path) -> None:
    with git.Repo(history) as r:
        got = {n: r.rev(n) for n in NAMES}
    sha = rev_parse(history, "HEAD")
    assert sha is not None
    got[sha] = git.rev(history, sha)
    got[sha[:10]] = git.rev(history, sha[:10])
    want = {n: rev_parse(history, n) if n else None for n in got}
    assert got == want
    assert got["v1"] == got["HEAD"] and got["HEAD^{tree}"] is None


def test_reads_leave_no_process_behind(history: Path) -> None:
    before = children()
    head = rev_parse(history, "HEAD")
    assert head is not None
    for _ in range(3):
        with git.Repo(history) as r:
            assert r.rev("HEAD^") is not None          # an object read: cat-file starts
            assert r.existing_commits([head, "0" * 40]) == {head}
            assert r.blob(head, "README.md") == b"hello\n"
            assert r.blob_sizes(head, ["README.md", "src", "nope"]) == {"README.md": 6}
            assert r.committed_at(head) is not None
            assert r.tree_of(head) == sh_git(history, "rev-parse", "HEAD^{tree}").strip()
        assert git.rev(history, "v1") == head
        assert git.head_of(history) == head
        assert git.branches(history) == {"feature": rev_parse(history, "feature"),
                                         "main": head}
    assert children() == before


def test_leaked_git_variables_are_ignored(history: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    other = make_repo(tmp_path / "other")
    feature = rev_parse(history, "feature")
    assert feature is not None
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert git.rev(history, "refs/heads/feature") == feature
    assert git.run(history, "rev-parse", "--git-dir").stdout.strip() == ".git"
    assert git.status(history) == []
    assert git.common_dir(history) == history / ".git"
    assert "GIT_DIR" not in os.environ


def test_a_failure_names_the_command_its_status_and_stderr(repo: Path) -> None:
    with pytest.raises(CommandFailed) as e:
        git.run(repo, "rev-parse", "--verify", "nope", step="reading")
    assert (e.value.argv, e.value.returncode) == (["git", "rev-parse", "--verify", "nope"], 128)
    assert str(e.value) == ("reading: `git rev-parse --verify nope` exited 128:\n"
                            "  fatal: Needed a single revision")
    p = git.run(repo, "rev-parse", "--verify", "nope", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (128, "", "fatal: Needed a single revision")


def test_a_missing_folder_is_not_replaced_by_the_current_one(repo: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(repo)
    p = git.run(tmp_path / "gone", "rev-parse", "--show-toplevel", check=False)
    assert p.returncode == 128 and p.stdout == ""
    with pytest.raises(BadInput, match="not a git repository"):
        git.common_dir(tmp_path / "gone")


def test_env_adds_variables(repo: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    (repo / "new.txt").write_text("new\n")
    tree = git.write_tree_of_worktree(repo, str(index))
    assert index.exists()
    assert "new.txt" in sh_git(repo, "ls-tree", "--name-only", tree).split()
    assert sh_git(repo, "status", "--porcelain") == "?? new.txt\n"  # the real index untouched


def test_merge_tree(repo: Path) -> None:
    base = sh_git(repo, "rev-parse", "HEAD").strip()
    tips = {}
    for name, path, text in (("a", "README.md", "from a\n"), ("b", "README.md", "from b\n"),
                             ("c", "c.txt", "hello\n")):
        sh_git(repo, "checkout", "-q", "-b", name, base)
        (repo / path).write_text(text)
        sh_git(repo, "add", path)
        sh_git(repo, "commit", "-qm", name)
        tips[name] = sh_git(repo, "rev-parse", "HEAD").strip()
    assert git.merge_tree(repo, tips["a"], tips["b"]) == (None, ["README.md"])
    tree, files = git.merge_tree(repo, tips["a"], tips["c"])
    assert files == [] and tree is not None
    assert sorted(sh_git(repo, "ls-tree", "--name-only", tree).split()) == [
        "README.md", "c.txt", "src"]
    with pytest.raises(CommandFailed):
        git.merge_tree(repo, tips["a"], "0" * 40)


def test_no_git_on_path_is_an_environment_problem(repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tmux", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    p = subprocess.run([sys.executable, "-m", "agentmux", "doctor"], cwd=repo,
                       env={**os.environ, "PATH": str(bin_dir)}, capture_output=True,
                       text=True, check=False)
    assert p.stdout.splitlines()[0] == ("problem  git: git is not installed or not on PATH; "
                                        "repair: install git 2.38 or newer"), p.stderr
