"""`approve = "auto"`: each preset's own documented flag, only in a sandbox unless the layout
says otherwise knowingly, and the flag reaches the agent inside the sandbox."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from agentmux import presets

from .conftest import run_cli
from .helpers import latest_run, up, wait_states, write_layout
from .sandboxkit import needs_bwrap

SOCK = "amx"
# What each CLI's --help calls it (pinned versions, scripts/install-agents): docs/agent-clis.md.
FLAGS = {"claude": "--permission-mode bypassPermissions",
         "codex": "--dangerously-bypass-approvals-and-sandbox",
         "gemini": "--approval-mode yolo", "aider": "--yes-always", "opencode": "--auto"}
# The real user's cache of the pinned CLIs (the tests' HOME is a temporary one).
AGENTS_BIN = Path(os.environ.get("AGENTMUX_AGENT_CACHE", Path(
    pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "agentmux" / "agents")) / "bin"


def test_every_preset_that_can_approve_has_its_flag() -> None:
    assert {n: " ".join(p.approve) for n, p in presets.BUILTINS.items() if p.approve} == FLAGS


@pytest.mark.parametrize("agent", sorted(FLAGS))
def test_the_flag_is_one_the_installed_cli_documents(agent: str) -> None:
    cli = AGENTS_BIN / agent
    if not cli.exists():
        pytest.skip(f"{cli} is not installed (scripts/install-agents)")
    p = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=120,
                       check=False, stdin=subprocess.DEVNULL)
    text = p.stdout + p.stderr
    for word in FLAGS[agent].split():
        if word.startswith("-"):
            assert word in text, (agent, word)
    if agent in ("claude", "gemini"):   # the value too: bypassPermissions, yolo
        assert FLAGS[agent].split()[1] in text, agent


@needs_bwrap
@pytest.mark.parametrize("agent", sorted(FLAGS))
def test_validate_shows_the_flag_in_the_command(repo: Path, agent: str) -> None:
    layout = write_layout(repo, [{"name": "a", "agent": agent, "task": "fix it",
                                  "approve": "auto"}], sandbox="bwrap")
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err
    program = presets.get(agent).command.split(" ")[0]
    assert f"  command:  {program} {FLAGS[agent]} " in r.out, r.out
    assert "sandbox bwrap · approve auto" in r.out


def test_auto_without_a_sandbox_is_refused_unless_said_knowingly(repo: Path) -> None:
    pane = {"name": "a", "agent": "claude", "task": "t", "approve": "auto"}
    layout = write_layout(repo, [pane])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: {layout}: pane[1].approve: 'auto' lets the agent run anything "
                     "without asking; it needs sandbox = \"bwrap\", or approve_without_sandbox "
                     "= true at the top level to accept that knowingly\n")
    assert not (repo / ".agentmux").exists()
    layout = write_layout(repo, [pane], approve_without_sandbox=True)
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert "claude --permission-mode bypassPermissions t" in r.out


def test_auto_for_a_command_of_the_layout_is_bad_input(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true", "approve": "auto"}],
                          sandbox="bwrap")
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 2
    assert "pane[1].approve: 'auto' needs a built-in preset with an auto-approve flag" in r.err


@needs_bwrap
def test_the_flags_reach_the_agents_inside_the_sandbox(repo: Path, isolated: Path) -> None:
    """Stand-ins named like the CLIs print the arguments they got, from inside bwrap."""
    bin_dir = isolated / "bin"   # $HOME is visible inside; the test's /tmp is not
    bin_dir.mkdir()
    for name in FLAGS:
        (bin_dir / name).write_text('#!/bin/sh\necho "ARGS: $*"\n')
        (bin_dir / name).chmod(0o755)
    layout = write_layout(repo, [{"name": n, "agent": n, "task": "do it", "approve": "auto"}
                                 for n in sorted(FLAGS)], sandbox="bwrap",
                          env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert {n: p["state"] for n, p in panes.items()} == dict.fromkeys(FLAGS, "done")
    for name, flag in FLAGS.items():
        out = (latest_run(repo) / "panes" / name / "output.log").read_text()
        # The flag, among what agentmux adds (a preset's hook wiring, agentmux/wiring.py).
        assert "ARGS: " in out and f" {flag} " in " " + out.split("ARGS: ", 1)[1], (name, out)
