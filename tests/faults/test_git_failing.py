"""git failing halfway: a failing post-checkout hook, and git's config.lock held by someone else."""

from __future__ import annotations

from pathlib import Path

from ..conftest import run_cli
from ..helpers import wait_states, write_layout
from .conftest import SOCK, snapshot_state, trust


def test_failing_post_checkout_hook_leaves_nothing(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 7\n")
    hook.chmod(0o755)
    layout = write_layout(repo, [{"name": n, "command": "true"} for n in ("a", "b")])
    trust(layout)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 1, r.err
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    assert r.err.startswith(
        "agentmux: up failed while creating worktrees: creating worktree for pane 'a' (branch "
        f"'agentmux/agents/a', {tree}) failed: `git worktree add` exited 7:\n")
    assert "  hook says no\n" in r.err
    assert r.err.endswith("\nalso failed: b\nnothing this call created was kept\n")
    assert snapshot_state(repo) == before
    assert not (repo / ".agentmux" / "worktrees" / "agents").exists()


def test_config_lock_held_by_another_program(repo: Path) -> None:
    lock = repo / ".git" / "config.lock"
    lock.write_text("someone else's edit\n")
    layout = write_layout(repo, [{"name": n, "command": "true"} for n in ("a", "b")])
    trust(layout)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    # --no-track means `worktree add` never writes .git/config: the lock is no obstacle, and
    # agentmux leaves the other program's lock alone.
    assert r.code == 0, r.err
    assert {n: p["state"] for n, p in wait_states(repo, SOCK).items()} == {"a": "done",
                                                                           "b": "done"}
    assert lock.read_text() == "someone else's edit\n"


def test_ref_lock_held_fails_one_pane_and_rolls_back_the_others(repo: Path) -> None:
    held = repo / ".git" / "refs" / "heads" / "agentmux" / "agents" / "b.lock"
    held.parent.mkdir(parents=True)
    held.write_text("")
    layout = write_layout(repo, [{"name": n, "command": "true"} for n in ("a", "b", "c")])
    trust(layout)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 1, r.err
    assert "creating worktree for pane 'b' (branch 'agentmux/agents/b'" in r.err
    assert "b.lock': File exists" in r.err
    assert r.err.endswith("\nnothing this call created was kept\n")
    assert snapshot_state(repo) == before
    assert held.exists()
