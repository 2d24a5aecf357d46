"""`attach` for real: from inside a pane of a second, outer tmux server, then detach."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from .conftest import run_cli, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

INNER, OUTER = "amx-inner", "amx-outer"


def tmux(sock: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                          check=False)


def screen(sock: str, target: str) -> str:
    return tmux(sock, "capture-pane", "-p", "-t", target).stdout


def test_attach_from_inside_another_server_then_detach(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "other", "command": fake("--print", "other-agent", "--sleep", "60")},
        {"name": "tests", "command": fake("--print", "HELLO-FROM-TESTS", "--sleep", "60")},
    ])
    up(layout, INNER)
    wait_states(repo, INNER, {"tests": "working", "other": "working"})
    # Nesting on purpose: inside the outer server $TMUX names the outer one.
    cmd = (f"env -u TMUX {shlex.quote(sys.executable)} -m agentmux --socket {INNER} "
           "attach tests --zoom")
    tmux(OUTER, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "-s", "outer",
         "-c", str(repo), cmd)
    wait_until(lambda: "HELLO-FROM-TESTS" in screen(OUTER, "=outer:"), 15,
               "the agent's output on the outer screen")
    assert "other-agent" not in screen(OUTER, "=outer:")  # zoomed onto the one pane
    wait_until(lambda: tmux(INNER, "list-clients").stdout.strip(), 5, "an inner client")
    tmux(OUTER, "send-keys", "-t", "=outer:", "C-b", "d")
    wait_until(lambda: not tmux(INNER, "list-clients").stdout.strip(), 10, "the detach")
    assert tmux(INNER, "has-session", "-t", "=agents").returncode == 0
    # Detaching stopped nothing: the agent is still running, with no end recorded.
    status = json.loads((latest_run(repo) / "panes" / "tests" / "status.json").read_text())
    assert status["ended_at"] is None


def test_attach_to_private_server_from_inside_tmux_explains(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": fake("--sleep", "60")}])
    up(layout, INNER)
    wait_states(repo, INNER, {"a": "working"})
    r = run_cli("--socket", INNER, "attach", "a", cwd=repo,
                env={"TMUX": "/tmp/some-other-server,1,0"})
    assert r.code == 4
    assert "TMUX= agentmux --socket amx-inner attach a" in r.err
