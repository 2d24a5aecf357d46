"""The command language: layout commands are POSIX sh whatever the user's $SHELL is.

Each row runs one `up` under a login shell of its own (bash, dash, zsh, fish; CI installs
them), with the same four agents: a syntax error must fail (fish 3.6 exits 0 on one, so an
agent that never ran looked `done 0`), a task with `'` and `${...}` must reach the `shell`
preset intact (fish: "${ is not a valid variable"), and an agent killed by a signal must be
recorded as that signal (dash, which does not exec the last command, made it exit 143).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers import fake, up, wait_states, write_layout
from .conftest import SOCK

SHELLS = ["bash", "dash", "zsh", "fish"]
TASK = "printf '%s|%s' \"it's\" \"${HOME:+home}\" > shell.txt"


@pytest.mark.parametrize("login", SHELLS)
def test_layout_commands_are_posix_sh_under_every_shell(repo: Path, login: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    found = shutil.which(login)
    assert found, f"{login} is not installed (scripts/test and CI install it)"
    monkeypatch.setenv("SHELL", found)
    layout = write_layout(repo, [
        {"name": "syntax", "command": "fake-agent --exit 0; fi"},
        # setup and check are layout commands too.
        {"name": "quoted", "agent": "shell", "task": TASK,
         "check": "test \"$(cat setup.txt)\" = 'set' && [ -f shell.txt ]"},
        {"name": "echoed", "command": "fake-agent --echo-task task.txt --task {task}",
         "task": "it's a 'quoted' ${HOME} task; rm -rf nothing"},
        {"name": "signal", "command": fake("--signal", "TERM")},
        {"name": "shellsig", "agent": "shell", "task": fake("--signal", "INT")},
    ], setup="printf '%s' \"${HOME:+set}\" > setup.txt")
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    got = {n: (p["state"], p["exit_code"], p["signal"]) for n, p in panes.items()}
    assert got == {
        "syntax": ("failed", 2, None),
        "quoted": ("done", 0, None),
        "echoed": ("done", 0, None),
        "signal": ("killed", None, "SIGTERM"),
        "shellsig": ("killed", None, "SIGINT"),
    }
    trees = repo / ".agentmux" / "worktrees" / "agents"
    assert (trees / "quoted" / "shell.txt").read_text() == "it's|home"
    assert panes["quoted"]["check_exit_code"] == 0
    assert (trees / "echoed" / "task.txt").read_text() == \
        "it's a 'quoted' ${HOME} task; rm -rf nothing"
