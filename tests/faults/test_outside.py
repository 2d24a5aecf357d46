"""Faults found from outside the suite (issue 14): limits and collisions that `up` must refuse
before it creates anything (item 9), a repository named from elsewhere (item 10), views that
disagree with `status` after a reboot (item 7), and hints that no longer hold after `clean`
(item 11)."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentmux.watch.alive import pid_alive

from ..conftest import git, run_cli, wait_until
from ..helpers import latest_run, status, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux, trust

BR = "agentmux/agents/a"
Setup = Callable[[Path], None]


def _none(repo: Path) -> None:
    pass


def _branch(name: str) -> Setup:
    def setup(repo: Path) -> None:
        git(repo, "branch", name)
    return setup


def _on_branch(repo: Path) -> None:
    git(repo, "checkout", "-qb", BR)


# Each row: what the repository holds, the layout's keys, and the start of what `up` says.
# Every one exits 2 and leaves refs, worktrees, sessions and the ledger exactly as they were.
ROWS: list[tuple[str, Setup, dict[str, Any], dict[str, Any], str]] = [
    ("task-140KB-command", _none, {"command": "printf %s {task}", "task": "é" * 70_000}, {},
     "pane[1].task: pane 'a': its command line with the task (140000 bytes)"),
    ("env-value-140KB", _none, {"command": "true", "env": {"X": "x" * 140_000}}, {},
     "pane[1].env.X: X=value is 140002 bytes"),
    ("foreign-branch", _branch(BR), {"command": "true"}, {},
     "branch: this branch already exists, and no earlier run of session 'agents' made it"),
    ("branch-is-a-folder", _branch("agentmux/agents"), {"command": "true"}, {},
     f"branch: pane 'a' needs branch '{BR}', but branch 'agentmux/agents' exists"),
    ("main-checkout-on-branch", _on_branch, {"command": "true"}, {},
     f"branch: pane 'a' needs branch '{BR}' in a worktree of its own, but the main checkout"),
    ("root-absolute", _none, {"command": "true"}, {"worktree_root": "/tmp/x"},
     "worktree_root: '/tmp/x' is an absolute path"),
    ("root-dotdot", _none, {"command": "true"}, {"worktree_root": "../../etc-{session}"},
     "worktree_root: '../../etc-{session}' leaves the repository"),
    ("root-dot", _none, {"command": "true"}, {"worktree_root": "."},
     "worktree_root: '.' is the repository's own folder"),
    ("root-in-git", _none, {"command": "true"}, {"worktree_root": ".git/wt"},
     "worktree_root: '.git/wt' is inside .git"),
    ("root-not-ignored", _none, {"command": "true"}, {"worktree_root": "wt"},
     "worktree_root: 'wt' (wt/) is not ignored by git"),
]


@pytest.mark.parametrize(("setup", "pane", "top", "says"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_up_refuses_before_creating_anything(repo: Path, setup: Setup, pane: dict[str, Any],
                                              top: dict[str, Any], says: str) -> None:
    setup(repo)
    layout = write_layout(repo, [{"name": "a", **pane}], **top)
    before = snapshot_state(repo)
    files = sorted(p.name for p in repo.iterdir())
    # In this process: `up` refuses while it loads the layout, before tmux or any handler.
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, process=False)
    assert r.code == 2, r.err
    assert r.err.startswith(f"agentmux: {layout}: {says}"), r.err
    assert snapshot_state(repo) == before
    assert sorted(p.name for p in repo.iterdir()) == files    # no .agentmux, no ?? a/
    assert git(repo, "status", "--porcelain") == "?? agents.toml\n"


def test_long_task_reaches_an_agent_through_its_brief(repo: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in `claude`: records its arguments. Before the fix its exec failed with E2BIG
    # and the pane ended `lost`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "argv.json"
    (bin_dir / "claude").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(seen)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    (bin_dir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    task = "é" * 70_000 + " the end"
    layout = write_layout(repo, [{"name": "a", "agent": "claude", "task": task}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert wait_states(repo, SOCK)["a"]["state"] == "done"
    brief = latest_run(repo) / "panes" / "a" / "TASK.md"
    # The preset's hook settings come first (agentmux/wiring.py), then the task.
    argv = json.loads(seen.read_text())
    assert argv[0] == "--settings" and json.loads(argv[1])["hooks"]
    assert argv[2:] == [f"Read your task brief at {brief} and follow it."]
    assert task in brief.read_text()


def _up(repo: Path, layout: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=cwd or repo)
    assert r.code == 0, r.err
    return subprocess.CompletedProcess([], 0, r.out, r.err)


def _down(cwd: Path, *extra: str) -> None:
    r = run_cli("--socket", SOCK, *extra, "down", "--grace", "1", cwd=cwd)
    assert r.code == 0, r.err


def test_own_branches_resume_after_down_and_after_clean_keep_branches(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "fake-agent --write w.txt=1 "
                                                          "--commit w"}])
    trust(layout)
    _up(repo, layout)
    wait_states(repo, SOCK)
    _down(repo)
    tip = git(repo, "rev-parse", BR).strip()
    _up(repo, layout)                       # resumes: its own branch, not refused
    wait_states(repo, SOCK)
    _down(repo)
    assert run_cli("--socket", SOCK, "clean", "--keep-branches", cwd=repo).code == 0
    assert run_cli("validate", str(layout), cwd=repo).code == 0
    _up(repo, layout)                       # checks the kept branch out again
    wait_states(repo, SOCK)
    assert git(repo, "merge-base", "--is-ancestor", tip, BR) == ""


def test_another_sessions_branch_is_not_this_sessions(repo: Path) -> None:
    first = write_layout(repo, [{"name": "a", "command": "true"}], name="one.toml",
                         branch="agents/{pane}")
    trust(first)
    _up(repo, first)
    wait_states(repo, SOCK)
    second = write_layout(repo, [{"name": "a", "command": "true"}], name="two.toml",
                          branch="agents/{pane}")
    r = run_cli("validate", str(second), cwd=repo)
    assert r.code == 2
    assert r.err.startswith(f"agentmux: {second}: branch: this branch already exists, and no "
                            "earlier run of session 'two' made it:\n  agents/a (pane 'a'): at ")


# --- item 10: the repository named from elsewhere -----------------------------------------------

def _attach_in_a_terminal(argv: list[str], cwd: Path) -> None:
    """Run argv (an `attach`) on a pseudo-terminal until a client is attached, then detach it."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                         env={**os.environ, "TERM": "xterm"}, start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def attached() -> bool:
        while select.select([master], [], [], 0)[0]:   # drain, so tmux never blocks on us
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen.extend(chunk)
        return bool(tmux("list-clients", "-t", "=agents", "-F", "#{client_tty}").stdout.strip())

    try:
        wait_until(attached, 15, f"a client attached by {argv} (screen: {bytes(screen)!r})")
    finally:
        tmux("detach-client", "-s", "=agents")
        try:
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
            os.close(master)
    assert p.returncode == 0


def test_a_run_is_reached_from_outside_its_repository(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    layout = elsewhere / "agents.toml"
    layout.write_text('repo = "../repo"\n[[pane]]\nname = "a"\ncommand = "sleep 300"\n')
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=elsewhere)
    assert r.code == 0, r.err
    hint = r.out.splitlines()[-1]
    assert hint == f"attach with: agentmux --socket {SOCK} --repo {repo} attach [PANE]"

    # Without --repo: one clear message naming the way out (before: "not a git repository").
    r = run_cli("--socket", SOCK, "status", "--session", "agents", cwd=elsewhere)
    assert (r.code, r.err) == (2, f"agentmux: {elsewhere} is not in a git repository; run this "
                               "inside the repository, or name it with `agentmux --repo PATH "
                               "...` (or AGENTMUX_REPO=PATH)\n")
    # The printed hint works where it was printed.
    words = shlex.split(hint.removeprefix("attach with: "))[1:-1]
    _attach_in_a_terminal([sys.executable, "-m", "agentmux", *words], elsewhere)
    # --repo, as an option and from the environment, relative to the current folder too.
    for args, env in ((["--repo", str(repo)], None), (["--repo", "../repo"], None),
                      ([], {"AGENTMUX_REPO": "../repo"})):
        r = run_cli("--socket", SOCK, *args, "status", "--json", "--session", "agents",
                    cwd=elsewhere, env=env, process=False)
        assert r.code == 0, (args, r.err)
        assert [p["state"] for p in json.loads(r.out)["panes"]] == ["working"]
    for command in (["runs", "--json"], ["review", "--json"], ["doctor"]):
        r = run_cli("--socket", SOCK, "--repo", "../repo", *command, cwd=elsewhere,
                    process=False)
        assert r.code == 0, (command, r.out, r.err)
    r = run_cli("--repo", str(tmp_path / "nowhere"), "status", cwd=elsewhere, process=False)
    assert r.code == 2 and "'--repo'" in r.err and "does not exist" in r.err
    _down(elsewhere, "--repo", "../repo")
    assert tmux("has-session", "-t", "=agents").returncode != 0


def test_attach_hint_names_the_session_when_another_run_is_newer(repo: Path) -> None:
    one = write_layout(repo, [{"name": "a", "command": "sleep 300"}], name="one.toml")
    two = write_layout(repo, [{"name": "b", "command": "sleep 300"}], name="two.toml")
    for layout in (one, two):
        trust(layout)
        _up(repo, layout)
    again = _up(repo, one)       # already running: its run is not the newest one any more
    assert again.stdout.splitlines()[-1] == (f"attach with: agentmux --socket {SOCK} attach "
                                             "--session one [PANE]")


# --- item 7: after a reboot, every view agrees with status --------------------------------------

def _reboot(repo: Path) -> None:
    """What a power cut leaves: no watcher, no runner, no agent, no tmux server, and nothing
    recorded by any of them on the way out (all SIGKILLed, the server last)."""
    run = latest_run(repo)
    server = int(tmux("display-message", "-p", "#{pid}").stdout.strip())
    record = run / "watcher.json"
    wait_until(record.exists, 15, "the watcher's record")   # it starts in its own window
    watcher = json.loads(record.read_text())["pid"]
    pids = [watcher]
    for st in sorted((run / "panes").glob("*/status.json")):
        pids.append(json.loads(st.read_text())["pid"])           # runners before agents
    groups = [json.loads(st.read_text())["agent_pid"]
              for st in sorted((run / "panes").glob("*/status.json"))]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pgid in groups:
        os.killpg(pgid, signal.SIGKILL)
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in [*pids, *groups, server]), 10,
               "every process gone")


def test_after_a_reboot_review_and_runs_agree_with_status(repo: Path) -> None:
    layout = write_layout(repo, [{"name": n, "command": "sleep 300"} for n in ("a", "b")])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK, {"a": "working", "b": "working"})
    _reboot(repo)

    states = {p["name"]: p["state"] for p in status(repo, SOCK)["panes"]}
    assert states == {"a": "lost", "b": "lost"}
    r = run_cli("--socket", SOCK, "review", "--json", cwd=repo)
    assert r.code == 0, r.err
    panes = json.loads(r.out)["panes"]
    assert {p["name"]: p["state"] for p in panes} == states
    assert [(p["source"], p["source_note"]) for p in panes] == [
        ("live", "read from its worktree as it is now, not from a snapshot (the agent is "
                 "lost)")] * 2
    text = run_cli("--socket", SOCK, "review", cwd=repo).out
    assert "still running" not in text
    r = run_cli("--socket", SOCK, "runs", "--json", cwd=repo)
    (run,) = json.loads(r.out)["runs"]
    assert (run["state"], run["states"]) == ("ended", {"lost": 2})
    assert " ended " in run_cli("--socket", SOCK, "runs", cwd=repo).out


def test_runs_state_follows_the_agents(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "sleep 300"},
                                 {"name": "b", "command": "true"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK, {"a": "working", "b": "done"})
    # The watcher snapshots an agent that ended; review then reads that, not the worktree.
    wait_until((latest_run(repo) / "panes" / "b" / "result.json").exists, 10, "b's snapshot")

    def runs() -> tuple[str, dict[str, int]]:
        (run,) = json.loads(run_cli("--socket", SOCK, "runs", "--json", cwd=repo).out)["runs"]
        return run["state"], run["states"]

    assert runs() == ("running", {"working": 1, "done": 1})
    r = run_cli("--socket", SOCK, "review", "--json", cwd=repo)
    notes = {p["name"]: p["source_note"] for p in json.loads(r.out)["panes"]}
    assert notes == {"a": "live (still running)", "b": None}
    _down(repo)
    state, counts = runs()
    assert state == "down" and sum(counts.values()) == 2 and counts["done"] == 1


# --- item 11: hints true to what `clean` left ---------------------------------------------------

def test_status_after_clean_names_restore_not_up(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    _up(repo, layout)
    wait_states(repo, SOCK)
    _down(repo)
    r = run_cli("--socket", SOCK, "clean", cwd=repo)
    assert r.code == 0 and f"a: deleted branch {BR}" in r.out, (r.out, r.err)
    tree = repo / ".agentmux" / "worktrees" / "agents" / "a"
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert r.out.endswith(f"note: a: worktree {tree} and branch {BR} were removed (`agentmux "
                          "clean`); `agentmux restore a` brings them back from its snapshot\n")
    from agentmux import ledger
    from agentmux.find import restart_hint

    rd = ledger.RunDir(latest_run(repo))
    assert restart_hint(rd, repo) == (
        f"the worktrees and branches of a were removed (`agentmux clean`), so `agentmux --socket "
        f"{SOCK} up agents.toml` would start those agents anew from the base; `agentmux "
        "restore a` brings it back from its snapshot first")
    assert run_cli("restore", "a", cwd=repo).code == 0
    assert "note:" not in run_cli("--socket", SOCK, "status", cwd=repo).out
    assert restart_hint(rd, repo) == (f"`agentmux --socket {SOCK} up agents.toml` starts it "
                                      "again on the same branches and worktrees")
