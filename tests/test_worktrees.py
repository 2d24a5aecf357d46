from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentmux import worktrees as wt
from agentmux.errors import BadInput, WorkFailed
from tests.conftest import git, make_repo

NAMES = ["api", "web", "docs", "tests", "infra"]


def wants(repo: Path, names: list[str], session: str = "s") -> list[wt.Want]:
    root = repo / ".agentmux" / "worktrees" / session
    return [wt.Want(n, f"agentmux/{session}/{n}", root / n) for n in names]


def state(repo: Path) -> tuple[str, str]:
    """Everything a leak would show: every ref, and the worktree registry."""
    return git(repo, "for-each-ref"), git(repo, "worktree", "list", "--porcelain")


def commit_in(path: Path, name: str) -> str:
    (path / name).write_text(name + "\n")
    git(path, "add", name)
    git(path, "commit", "-qm", f"add {name}")
    return git(path, "rev-parse", "HEAD").strip()


def test_creates_worktrees_on_new_branches_at_base(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    got = wt.prepare(repo, base, wants(repo, NAMES))
    assert [p.pane for p in got] == NAMES
    for p in got:
        assert (p.created_worktree, p.created_branch, p.head) == (True, True, base)
        assert (p.path / "src" / "app.py").read_text() == "print('app')\n"
        assert git(p.path, "symbolic-ref", "HEAD").strip() == f"refs/heads/{p.branch}"
        assert wt.head_of(p.path) == base
    # --no-track: no branch.<name>.* config written (that is what races on config.lock)
    assert "branch." not in git(repo, "config", "--list")
    assert len(wt.list_worktrees(repo)) == 6


def test_prepare_again_reuses_untouched(repo: Path) -> None:
    base = wt.resolve_base(repo, "main")
    first = wt.prepare(repo, base, wants(repo, NAMES))
    new = commit_in(first[1].path, "agent.txt")
    (first[2].path / "wip.txt").write_text("uncommitted\n")
    again = wt.prepare(repo, base, wants(repo, NAMES))
    assert [(p.created_worktree, p.created_branch) for p in again] == [(False, False)] * 5
    assert again[1].head == new
    assert wt.head_of(first[1].path) == new
    assert git(repo, "rev-parse", first[1].branch).strip() == new
    assert (first[2].path / "wip.txt").read_text() == "uncommitted\n"


def test_existing_branch_is_checked_out_as_is(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    git(repo, "checkout", "-qb", "agentmux/s/api")
    ahead = commit_in(repo, "more.txt")
    git(repo, "checkout", "-q", "main")
    [p] = wt.prepare(repo, base, wants(repo, ["api"]))
    assert (p.created_worktree, p.created_branch, p.head) == (True, False, ahead)
    assert wt.head_of(p.path) == ahead
    assert (p.path / "more.txt").exists()


def test_branch_checked_out_elsewhere_creates_nothing(repo: Path, tmp_path: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    ws = wants(repo, NAMES)
    other = tmp_path / "elsewhere"
    git(repo, "worktree", "add", "-q", "-b", ws[3].branch, str(other))
    before = state(repo)
    with pytest.raises(BadInput) as e:
        wt.prepare(repo, base, ws)
    assert e.value.exit_code == 2
    assert f"pane 'tests': branch 'agentmux/s/tests' is already checked out in {other}" in str(
        e.value)
    assert state(repo) == before
    assert not (repo / ".agentmux").exists()


def test_occupied_path_creates_nothing(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    ws = wants(repo, NAMES)
    ws[2].path.mkdir(parents=True)
    (ws[2].path / "keep.txt").write_text("mine\n")
    before = state(repo)
    with pytest.raises(BadInput, match=f"{ws[2].path} already exists and is not empty"):
        wt.prepare(repo, base, ws)
    assert state(repo) == before
    assert [p.name for p in ws[2].path.parent.iterdir()] == ["docs"]


def test_failing_post_checkout_hook_rolls_back_everything(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text('#!/bin/sh\ncase "$PWD" in */tests) echo hook says no >&2; exit 1;; esac\n')
    hook.chmod(0o755)
    before = state(repo)
    with pytest.raises(WorkFailed) as e:
        wt.prepare(repo, base, wants(repo, NAMES), copy=[".env"])
    msg = str(e.value)
    assert msg.startswith("creating worktree for pane 'tests' (branch 'agentmux/s/tests', "
                          f"{repo / '.agentmux/worktrees/s/tests'}) failed")
    assert "hook says no" in msg
    assert "nothing this call created was kept" in msg
    assert state(repo) == before
    assert not (repo / ".agentmux").exists()


def test_git_failure_for_one_pane_rolls_back_the_others(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    ws = wants(repo, NAMES)
    ws[4] = wt.Want("infra", "bad..name", ws[4].path)
    before = state(repo)
    with pytest.raises(WorkFailed, match="pane 'infra'"):
        wt.prepare(repo, base, ws)
    assert state(repo) == before


def test_copy_ignored_env_into_new_worktrees_only(repo: Path) -> None:
    (repo / ".gitignore").write_text(".env\n*.local\nnode_modules/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    base = wt.resolve_base(repo, "HEAD")
    [old] = wt.prepare(repo, base, wants(repo, ["api"]))
    (repo / ".env").write_text("SECRET=1\n")
    (repo / ".env").chmod(0o600)
    (repo / "config").mkdir()
    (repo / "config" / "db.local").write_text("db\n")
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "x.js").write_text("x\n")
    globs = [".env", "config/*.local", "nothing-*", ".git/*", ".agentmux/**/*"]
    got = wt.prepare(repo, base, wants(repo, ["api", "web"]), copy=globs)
    new = got[1]
    assert new.copied == (".env", "config/db.local")
    assert (new.path / ".env").read_text() == "SECRET=1\n"
    assert stat.S_IMODE((new.path / ".env").stat().st_mode) == 0o600
    assert (new.path / "config" / "db.local").read_text() == "db\n"
    assert not (new.path / "node_modules").exists()
    assert not (new.path / "HEAD").exists() and not (new.path / ".agentmux").exists()
    assert not (old.path / ".env").exists() and got[0].copied == ()
    # undo takes unchanged copies back out, so removal is not blocked by them
    assert wt.undo(repo, [new]) == []
    assert not new.path.exists()


def test_resolve_base_errors(tmp_path: Path, repo: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(BadInput) as e:
        wt.resolve_base(empty, "HEAD")
    assert str(e.value) == (f"{empty}: the repository has no commits yet; make a first commit, "
                            "agent branches start from one")
    git(repo, "branch", "dev")
    with pytest.raises(BadInput) as e:
        wt.resolve_base(repo, "mian")
    assert str(e.value) == f"base 'mian' is not a commit in {repo}; local branches: dev, main"
    with pytest.raises(BadInput):
        wt.resolve_base(repo, "--all")
    assert wt.resolve_base(repo, "dev") == git(repo, "rev-parse", "HEAD").strip()


def test_repo_root_agrees_everywhere(repo: Path, tmp_path: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    [p] = wt.prepare(repo, base, [wt.Want("api", "a", tmp_path / "linked")])
    assert wt.repo_root(p.path / "src") == repo
    assert wt.repo_root(repo / "src") == repo
    assert wt.repo_root(repo / "src" / "app.py") == repo
    assert wt.git_common_dir(p.path) == repo / ".git"
    with pytest.raises(BadInput) as e:
        wt.repo_root(tmp_path / "home")
    assert str(e.value) == f"{tmp_path / 'home'}: not a git repository (or any parent)"
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(bare, "worktree", "add", "-q", str(tmp_path / "bwt"), "main")
    assert wt.repo_root(tmp_path / "bwt" / "src") == bare


def test_head_of(repo: Path, tmp_path: Path) -> None:
    assert wt.head_of(repo) == git(repo, "rev-parse", "HEAD").strip()
    assert wt.head_of(repo / "src") is None
    assert wt.head_of(tmp_path / "nope") is None


def test_path_with_space_and_hash(tmp_path: Path) -> None:
    r = make_repo(tmp_path / "my repo #1", {"a.txt": "a\n"})
    before = state(r)
    base = wt.resolve_base(r, "HEAD")
    root = r / ".agentmux" / "worktrees" / "s #2"
    got = wt.prepare(r, base, [wt.Want(n, f"s#2/{n}", root / n) for n in ("api", "web")])
    assert all((p.path / "a.txt").exists() and " #" in str(p.path) for p in got)
    assert wt.repo_root(got[0].path) == r
    assert wt.undo(r, got) == []
    assert state(r) == before


def test_undo_keeps_branch_with_new_commit(repo: Path) -> None:
    base = wt.resolve_base(repo, "HEAD")
    got = wt.prepare(repo, base, wants(repo, ["api", "web"]))
    new = commit_in(got[0].path, "work.txt")
    problems = wt.undo(repo, got)
    assert problems == [f"branch 'agentmux/s/api': kept, it moved from {base[:12]} to {new[:12]}"]
    assert git(repo, "rev-parse", "agentmux/s/api").strip() == new
    assert git(repo, "branch", "--list", "agentmux/s/web") == ""
    assert len(wt.list_worktrees(repo)) == 1


def test_undo_never_deletes_ignored_or_untracked_files(repo: Path) -> None:
    (repo / ".gitignore").write_text("node_modules/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    git(repo, "config", "status.showUntrackedFiles", "no")
    base = wt.resolve_base(repo, "HEAD")
    got = wt.prepare(repo, base, wants(repo, ["api", "web"]))
    (got[0].path / "node_modules").mkdir()
    (got[0].path / "node_modules" / "dep.js").write_text("x\n")
    (got[1].path / "notes.txt").write_text("y\n")
    problems = wt.undo(repo, got)
    assert len(problems) == 4
    assert (got[0].path / "node_modules" / "dep.js").exists()
    assert (got[1].path / "notes.txt").exists()
    assert "node_modules/" in problems[1] and "notes.txt" in problems[0]


def test_repo_lock_waits_for_other_process(repo: Path) -> None:
    lock = repo / ".git" / wt.LOCK_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys\n"
         f"f = open({str(lock)!r}, 'w')\n"
         "fcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(WorkFailed, match=f"{lock} is locked"), wt.RepoLock(repo, 0.2):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    with wt.RepoLock(repo, 5) as held:
        held_lock, _ = wt.RepoLock._held[(str(held.path), threading.get_ident())]
        assert not os.get_inheritable(held_lock.fd)
        # re-entrant in one thread, so a caller may hold it around prepare and undo
        base = wt.resolve_base(repo, "HEAD")
        got = wt.prepare(repo, base, wants(repo, ["api"]))
        assert wt.undo(repo, got) == []


def test_sixteen_concurrent_from_remote_base(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "-q", "origin")
    base = wt.resolve_base(repo, "origin/main")
    names = [f"p{i:02d}" for i in range(16)]
    got = wt.prepare(repo, base, wants(repo, names))
    assert all(p.created_worktree and p.head == base for p in got)
    heads = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert sorted(heads) == sorted(["main", *(p.branch for p in got)])
    assert len(wt.list_worktrees(repo)) == 17
    assert "branch.agentmux" not in git(repo, "config", "--list")
