"""Agents that fail to start or lose their runner; tmux sessions, servers and versions."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import run_cli
from ..helpers import fake, latest_run, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux, trust


def _up(repo: Path, layout: Path) -> None:
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err


def test_agent_command_that_does_not_exist_fails_alone(repo: Path) -> None:
    _up(repo, write_layout(repo, [{"name": "ghost", "command": "no-such-agent-zz --go"},
                                  {"name": "fine", "command": "true"}]))
    panes = wait_states(repo, SOCK)
    assert (panes["ghost"]["state"], panes["ghost"]["exit_code"]) == ("failed", 127)
    assert (panes["fine"]["state"], panes["fine"]["exit_code"]) == ("done", 0)


@pytest.fixture
def agent_pgids() -> Iterator[list[int]]:
    pgids: list[int] = []
    yield pgids
    for g in pgids:   # the agent a SIGKILLed runner leaves behind, killed by its own group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g, signal.SIGKILL)


def test_runner_sigkilled_is_lost_never_done(repo: Path, agent_pgids: list[int]) -> None:
    _up(repo, write_layout(repo, [{"name": "a", "command": "exec " + fake("--sleep", "30")}]))
    wait_states(repo, SOCK, {"a": "working"})
    st = json.loads((latest_run(repo) / "panes" / "a" / "status.json").read_text())
    agent_pgids.append(st["agent_pid"])
    os.kill(st["pid"], signal.SIGKILL)
    panes = wait_states(repo, SOCK)
    assert panes["a"]["state"] == "lost"
    assert panes["a"]["exit_code"] is None


def test_worktree_gone_before_launch_runner_refuses(repo: Path, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    _up(repo, write_layout(repo, [{"name": "a", "command": f"touch {ran}"}]))
    wait_states(repo, SOCK)
    ran.unlink()
    assert run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo).code == 0
    shutil.rmtree(repo / ".agentmux" / "worktrees" / "agents" / "a")
    spec = latest_run(repo) / "panes" / "a" / "spec.json"
    # As tmux does with `-c` on a missing folder: the runner starts somewhere else.
    p = subprocess.run([sys.executable, "-m", "agentmux.runner", str(spec)], cwd=tmp_path,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 97, p.stderr
    assert "the agent was not started" in p.stderr
    assert not ran.exists()
    status = json.loads((spec.parent / "status.json").read_text())
    assert (status["exit_code"], status["agent_pid"]) == (97, None)


def test_down_touches_only_the_exact_session(repo: Path) -> None:
    _up(repo, write_layout(repo, [{"name": "a", "command": fake("--sleep", "30")}],
                           name="x.toml", session="agents-x"))
    _up(repo, write_layout(repo, [{"name": "a", "command": fake("--sleep", "30")}]))
    r = run_cli("--socket", SOCK, "down", "--session", "agents", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err
    assert tmux("list-sessions", "-F", "#{session_name}").stdout == "agents-x\n"
    r = run_cli("--socket", SOCK, "status", "--json", "--session", "agents-x", cwd=repo)
    assert json.loads(r.out)["panes"][0]["state"] == "working"
    # (`clean` is not in this branch; its half of this row is tested where it lives.)


def test_tmux_env_pointing_at_another_server(repo: Path) -> None:
    assert tmux("-f", "/dev/null", "new-session", "-d", "-s", "theirs", "sleep 60",
                sock="other").returncode == 0
    other = tmux("display", "-p", "#{socket_path},#{pid},0", sock="other").stdout.strip()
    env = {"TMUX": other, "TMUX_PANE": "%0"}
    layout = write_layout(repo, [{"name": "a", "command": fake("--sleep", "30")}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=env)
    assert r.code == 0, r.err
    r = run_cli("--socket", SOCK, "status", "--json", cwd=repo, env=env)
    assert json.loads(r.out)["panes"][0]["state"] in ("starting", "working")
    assert tmux("list-sessions", "-F", "#{session_name}").stdout == "agents\n"
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo, env=env)
    assert r.code == 0, r.err
    assert tmux("list-sessions", "-F", "#{session_name}", sock="other").stdout == "theirs\n"


def _bin_without_tmux(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh", "env"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def test_tmux_missing(repo: Path, tmp_path: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo,
                env={"PATH": str(_bin_without_tmux(tmp_path))})
    assert r.code == 4, r.err
    assert r.err == ("agentmux: tmux is not installed or not on PATH; install it (Debian/Ubuntu: "
                     "sudo apt-get install tmux) — agentmux needs tmux 3.2 or newer\n")
    assert snapshot_state(repo) == before
    assert not (repo / ".agentmux").exists()


def test_tmux_too_old(repo: Path, tmp_path: Path) -> None:
    bin_dir = _bin_without_tmux(tmp_path)
    (bin_dir / "tmux").write_text("#!/bin/sh\necho 'tmux 3.1'\n")
    (bin_dir / "tmux").chmod(0o755)
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo, env={"PATH": str(bin_dir)})
    assert r.code == 4, r.err
    assert r.err == ("agentmux: tmux 3.1 is too old: agentmux needs tmux 3.2 or newer "
                     "(tmux 3.1)\n")
    assert not (repo / ".agentmux").exists()
