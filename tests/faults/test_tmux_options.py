"""The user's tmux options (~/.tmux.conf in the temporary HOME): none may end agentmux's
session or send input to another pane (docs/tmux.md, "The user's options").

Each row starts the agents with one option of the class set in the user's config, then
checks that every agent is still running, that an exit status is still recorded, and that
`send` reaches one pane only: the pane beside it in the same window reads nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import run_cli, wait_until
from ..helpers import fake, latest_run, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux

ROWS = {
    # lifetime
    "destroy-unattached": "set -g destroy-unattached on",
    "exit-unattached on a private server": "set -g exit-unattached on",
    "remain-on-exit off": "set -g remain-on-exit off",
    "pane-died hook that kills": "set-hook -g pane-died 'kill-pane'",
    # where input goes
    "synchronize-panes": "setw -g synchronize-panes on",
    "default-shell and default-command": "set -g default-shell /bin/false\n"
                                         "set -g default-command 'exit 7'",
    "base-index": "set -g base-index 5\nsetw -g pane-base-index 3",
}


def _output(repo: Path, name: str) -> str:
    # The log appears when pipe-pane's shell starts, after the pane: none yet reads as "".
    path = latest_run(repo) / "panes" / name / "output.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _prompts(repo: Path) -> None:
    wait_until(lambda: all("ready: " in _output(repo, n) for n in ("a", "b")), 10,
               "both prompts")


def _got(repo: Path, name: str) -> list[str]:
    return [line.strip() for line in _output(repo, name).splitlines() if "got:" in line]


@pytest.mark.parametrize("conf", ROWS.values(), ids=ROWS.keys())
def test_user_option_neither_ends_the_session_nor_misroutes_input(
        repo: Path, isolated: Path, conf: str) -> None:
    (isolated / ".tmux.conf").write_text(conf + "\n")
    reader = fake("--wait-input", "ready: ", "--sleep", "60")
    layout = write_layout(repo, [{"name": "a", "command": reader},
                                 {"name": "b", "command": reader},
                                 {"name": "c", "command": "exit 3"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK, {"a": "working", "b": "working", "c": "failed"})
    assert panes["c"]["exit_code"] == 3
    _prompts(repo)
    # Both readers wait in one window: a key that reached b too would answer its prompt.
    assert run_cli("--socket", SOCK, "send", "a", "hello", cwd=repo).code == 0
    wait_until(lambda: _got(repo, "a"), 10, "a's answer")
    assert run_cli("--socket", SOCK, "send", "b", "--key", "x", "--key", "Enter",
                   cwd=repo).code == 0
    wait_until(lambda: _got(repo, "b"), 10, "b's answer")
    assert (_got(repo, "a"), _got(repo, "b")) == (["got: hello"], ["got: x"])
    # Still there after both clients came and went (destroy-unattached acts on a detach).
    assert tmux("has-session", "-t", "=agents").returncode == 0
    assert wait_states(repo, SOCK, {"a": "working", "b": "working"})
    assert run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo).code == 0


def test_exit_unattached_on_the_users_own_server_is_refused_before_anything(
        repo: Path, isolated: Path) -> None:
    # A server option: turning it off would change every session of the user's. So `up`
    # stops, creates nothing, and says how to go on (a private server, where it is pinned).
    (isolated / ".tmux.conf").write_text("set -g exit-unattached on\n")
    layout = write_layout(repo, [{"name": "a", "command": "sleep 60"}])
    run_cli("trust", str(layout), cwd=repo)
    before = snapshot_state(repo, socket="default")
    r = run_cli("up", "-d", str(layout), cwd=repo)
    assert r.code == 4, r.err
    assert "exit-unattached on" in r.err and "agentmux --socket agents up" in r.err
    assert snapshot_state(repo, socket="default") == before
    assert not (repo / ".agentmux" / "worktrees").exists()


def test_exit_unattached_off_lets_up_use_the_default_server(repo: Path, isolated: Path) -> None:
    # The probe of a server that is not running leaves nothing behind when all is well.
    (isolated / ".tmux.conf").write_text("set -g status off\n")
    layout = write_layout(repo, [{"name": "a", "command": "sleep 60"}])
    assert run_cli("up", "--trust", "-d", str(layout), cwd=repo).code == 0
    listed = tmux("list-sessions", "-F", "#{session_name}", sock="default").stdout.split()
    assert listed == ["agents"]
    assert run_cli("down", "--grace", "1", cwd=repo).code == 0


def test_send_reaches_one_pane_when_the_user_synchronizes_an_agent_window(repo: Path) -> None:
    # The user turns synchronize-panes on in agentmux's window after `up` (over the pin):
    # `send` still presses its keys in one pane, and leaves the window as the user set it.
    reader = fake("--wait-input", "ready: ", "--sleep", "60")
    layout = write_layout(repo, [{"name": "a", "command": reader},
                                 {"name": "b", "command": reader}])
    assert run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo).code == 0
    _prompts(repo)
    window = tmux("list-panes", "-t", "=agents:", "-F", "#{window_id} #{@agentmux_pane}")
    (wid,) = {w for w, n in (line.split() for line in window.stdout.splitlines()) if n == "a"}
    assert tmux("set", "-w", "-t", wid, "synchronize-panes", "on").returncode == 0
    assert run_cli("--socket", SOCK, "send", "a", "--key", "y", "--key", "Enter",
                   cwd=repo).code == 0
    wait_until(lambda: _got(repo, "a"), 10, "a's answer")
    assert run_cli("--socket", SOCK, "send", "b", "--key", "z", "--key", "Enter",
                   cwd=repo).code == 0
    wait_until(lambda: _got(repo, "b"), 10, "b's answer")
    assert (_got(repo, "a"), _got(repo, "b")) == (["got: y"], ["got: z"])
    shown = tmux("list-panes", "-t", wid, "-F", "#{synchronize-panes}").stdout.split()
    assert shown == ["1", "1"]
    assert run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo).code == 0
