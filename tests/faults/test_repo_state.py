"""Repository state: no repository, no commits, a bad base, and finding a run from anywhere."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import git, run_cli
from ..helpers import wait_states, write_layout
from .conftest import SOCK, snapshot_state, trust


def test_not_a_git_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    layout = write_layout(folder, [{"name": "a", "command": "true"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=folder)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: {layout}: repo: the layout's folder {folder} is not in a git "
                     "repository; set 'repo'\n")
    assert sorted(p.name for p in folder.iterdir()) == ["agents.toml"]


def test_repository_with_no_commits(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: up failed while resolving base: {repo}: the repository has no "
                     "commits yet; make a first commit, agent branches start from one\n")
    assert snapshot_state(repo) == before
    assert not (repo / ".agentmux").exists()


def test_base_that_does_not_exist_names_the_local_branches(repo: Path) -> None:
    git(repo, "branch", "develop")
    layout = write_layout(repo, [{"name": "a", "command": "true"}], base="mian")
    trust(layout)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: up failed while resolving base: base 'mian' is not a commit in "
                     f"{repo}; local branches: develop, main\n")
    assert snapshot_state(repo) == before


def _run_id(cwd: Path) -> str:
    r = run_cli("--socket", SOCK, "status", "--json", cwd=cwd)
    assert r.code == 0, (cwd, r.err)
    return str(json.loads(r.out)["run"]["id"])


def test_run_found_from_a_subfolder_of_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK)
    mine = tmp_path / "my-linked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(mine))
    (mine / "src" / "deep").mkdir(parents=True)
    want = _run_id(repo)
    assert _run_id(mine / "src" / "deep") == want
    # ... and from inside the agent's own worktree.
    assert _run_id(repo / ".agentmux" / "worktrees" / "agents" / "a" / "src") == want


def test_run_found_from_any_worktree_of_a_bare_clone(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    one, two = tmp_path / "one", tmp_path / "two"
    git(bare, "worktree", "add", "-q", str(one), "main")
    git(bare, "worktree", "add", "-q", "-b", "other", str(two), "main")
    layout = write_layout(one, [{"name": "a", "command": "true"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=one)
    assert r.code == 0, r.err
    wait_states(one, SOCK)
    want = _run_id(one)
    (one / "src" / "deep").mkdir()
    assert _run_id(one / "src" / "deep") == want
    assert _run_id(two) == want
    assert _run_id(bare) == want
