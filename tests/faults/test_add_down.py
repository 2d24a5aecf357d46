"""Starting an agent in a run that `down` is stopping: `add` (and `restart`, and `up` of the
same session) is refused with exit 3 and creates nothing; an `add` already under way when
`down` comes finishes first, and its agent is stopped with the others, never `lost`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..conftest import git, run_cli, wait_until
from ..helpers import fake, latest_run, up, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agentmux", "--socket", SOCK, *args],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_state(repo: Path) -> str:
    return str(json.loads((latest_run(repo) / "run.json").read_text())["state"])


def test_add_restart_and_up_are_refused_while_down_stops_the_run(repo: Path) -> None:
    # An agent that ignores SIGINT holds `down` in its first grace period, until the test
    # kills it: however slow the machine, the checks happen while `down` is stopping.
    layout = write_layout(repo, [{"name": "a", "command": fake("--ignore-sigint", "--sleep",
                                                                "60")}])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"a": "working"})
    downing = start(repo, "down", "--grace", "120")
    wait_until(lambda: run_state(repo) == "stopping", 10, "down to mark the run")
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "add", "late", "--task", "x", "--command", "true", cwd=repo)
    assert (r.code, r.err) == (3, f"agentmux: add: run {latest_run(repo).name} is being stopped "
                                  "by `agentmux down`; nothing was started. `agentmux up LAYOUT` "
                                  "starts a new run\n")
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 3 and "restart: run " in r.err and "is being stopped" in r.err, r.err
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 3 and "is being stopped" in r.err, r.err
    # `down` goes on writing the ledger (and the watcher snapshots `a` when it ends): no
    # branch, worktree or pane folder of `late`.
    after = snapshot_state(repo)

    def heads(refs: str) -> list[str]:
        return [x for x in refs.splitlines() if "refs/agentmux/snapshots/" not in x]

    assert (heads(after.refs), after.worktrees) == (heads(before.refs), before.worktrees)
    assert not (latest_run(repo) / "panes" / "late").exists()
    assert len(list((repo / ".agentmux" / "runs").iterdir())) == 1
    agent = json.loads((latest_run(repo) / "panes" / "a" / "status.json").read_text())
    os.kill(agent["agent_pid"], signal.SIGKILL)
    out, err = downing.communicate(timeout=60)
    assert downing.returncode == 0, err
    assert "late" not in out
    r = run_cli("--socket", SOCK, "add", "later", "--task", "x", "--command", "true", cwd=repo)
    assert r.code in (1, 3), r.err   # the session is gone (or the run is down): refused


def test_an_add_under_way_finishes_and_down_stops_its_agent(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": fake("--sleep", "60")}])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"a": "working"})
    # The new worktree's checkout takes 2 s, while `add` holds the run's lock.
    hooked = repo / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{hooked}'\nsleep 2\n")
    hook.chmod(0o755)
    adding = start(repo, "add", "late", "--task", "x", "--command", "exec fake-agent --sleep 60")
    wait_until(hooked.exists, 20, "add to be creating its worktree")
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err
    out, err = adding.communicate(timeout=30)
    assert adding.returncode == 0, err
    assert "added late" in out or "late" in out, out
    r = run_cli("--socket", SOCK, "status", "--json", cwd=repo)
    got = {p["name"]: (p["state"], p["signal"]) for p in json.loads(r.out)["panes"]}
    assert got["late"][0] != "lost" and got["late"][1] == "SIGINT", got
    assert tmux("has-session", "-t", "=agents").returncode != 0
    assert "agentmux/agents/late" in git(repo, "branch", "--list", "agentmux/agents/late")
