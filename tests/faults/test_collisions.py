"""Collisions with branches, worktrees and folders that already exist; worktrees damaged by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..conftest import git, run_cli
from ..helpers import status, wait_states, write_layout
from .conftest import SOCK, snapshot_state, trust

BR = "agentmux/agents/a"


def _layout(repo: Path) -> Path:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    return layout


def _up(repo: Path, layout: Path) -> None:
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK)


def _down(repo: Path) -> None:
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err


def test_existing_branch_of_someone_else_is_refused_at_validate(repo: Path) -> None:
    # Issue 14 item 9: a branch with the agent's name that no run of this session made is
    # someone's work; agentmux takes it over no more (it used to check it out as is).
    git(repo, "checkout", "-qb", BR)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-qm", "mine")
    tip = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    layout = _layout(repo)
    before = snapshot_state(repo)
    for command in ("validate", "up"):
        r = run_cli("--socket", SOCK, command, *(["-d"] if command == "up" else []),
                    str(layout), cwd=repo)
        assert r.code == 2, r.err
        assert r.err == (
            f"agentmux: {layout}: branch: this branch already exists, and no earlier run of "
            "session 'agents' made it:\n"
            f"  {BR} (pane 'a'): at {tip[:7]} ('mine')\n"
            "agentmux takes over no branch it did not make. Give the agents other branches "
            "with the `branch` template, such as \"agentmux/{session}-2/{pane}\", or delete "
            f"the branch if nobody needs it: `git branch -d {BR}`\n")
        assert snapshot_state(repo) == before
    assert git(repo, "rev-parse", BR).strip() == tip


def test_branch_checked_out_in_another_worktree(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", BR, str(other))
    layout = _layout(repo)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    # Not this pane's worktree, and no run of this session made the branch: someone else's.
    tip = git(repo, "rev-parse", "--short=7", BR).strip()
    assert f"  {BR} (pane 'a'): at {tip} ('init'), checked out in {other}\n" in r.err
    assert snapshot_state(repo) == before


def test_target_path_exists_and_is_not_empty(repo: Path) -> None:
    target = repo / ".agentmux" / "worktrees" / "agents" / "a"
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("keep\n")
    layout = _layout(repo)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err.endswith(f"  pane 'a': {target} already exists and is not empty\n")
    assert snapshot_state(repo) == before      # and no branch leaked (git 2.39 leaks one)
    assert (target / "precious.txt").read_text() == "keep\n"


def test_deleted_worktree_is_recreated_from_its_branch(repo: Path, tmp_path: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "fake-agent --write w.txt=1 --commit w"}])
    trust(layout)
    _up(repo, layout)
    _down(repo)
    tip = git(repo, "rev-parse", BR).strip()
    # A foreign worktree that is missing too: its registration must survive our up.
    foreign = tmp_path / "foreign"
    git(repo, "worktree", "add", "-q", "-b", "foreign", str(foreign))
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    shutil.rmtree(tree)
    shutil.rmtree(foreign)
    assert git(repo, "worktree", "list", "--porcelain").count("prunable") == 2
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert (tree / "w.txt").read_text() == "1\n"
    wait_states(repo, SOCK)
    listed = git(repo, "worktree", "list", "--porcelain")
    assert f"worktree {foreign}\n" in listed and listed.count("prunable") == 1
    assert listed.count(f"worktree {tree}\n") == 1
    # The branch was checked out as it was, never reset (the agent then committed on top).
    assert git(repo, "merge-base", "--is-ancestor", tip, BR) == ""


def test_status_says_a_worktree_folder_is_missing(repo: Path) -> None:
    layout = _layout(repo)
    _up(repo, layout)
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    shutil.rmtree(tree)
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert r.code == 0, r.err
    assert (f"note: a: worktree {tree} is missing; `agentmux --socket {SOCK} up agents.toml` "
            f"checks branch {BR} out there again") in r.out


def test_worktree_moved_with_mv_is_detected_and_kept(repo: Path) -> None:
    layout = _layout(repo)
    _up(repo, layout)
    _down(repo)
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    (tree / "wip.txt").write_text("uncommitted\n")
    moved = tree.parent / "a-moved"
    tree.rename(moved)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 3, r.err
    assert (f"  pane 'a': the worktree {tree} was moved to {moved} by hand; move it back with "
            f"`mv {moved} {tree}`") in r.err
    assert snapshot_state(repo) == before
    assert (moved / "wip.txt").read_text() == "uncommitted\n"
    assert not tree.exists()


def test_worktree_moved_with_git_worktree_move_is_named(repo: Path, tmp_path: Path) -> None:
    layout = _layout(repo)
    _up(repo, layout)
    _down(repo)
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    moved = tmp_path / "elsewhere"
    git(repo, "worktree", "move", str(tree), str(moved))
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert f"move it back with `git worktree move {moved} {tree}`" in r.err
    assert snapshot_state(repo) == before


def test_locked_worktree_is_reused_and_stays_locked(repo: Path) -> None:
    layout = _layout(repo)
    _up(repo, layout)
    _down(repo)
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    git(repo, "worktree", "lock", "--reason", "backup tool", str(tree))
    _up(repo, layout)
    assert "locked backup tool" in git(repo, "worktree", "list", "--porcelain")
    run = json.loads(next((repo / ".agentmux" / "runs").glob("*/run.json")).read_text())
    assert run["panes"][0]["worktree"] == str(tree)
    assert status(repo, SOCK)["panes"][0]["state"] == "done"
