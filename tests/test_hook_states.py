"""States from the agents' own hooks, end to end and offline.

The fake agent plays each CLI's hook contract (scripts/fake-agent, "Playing a real CLI's hook
contract"): called as `claude`, `codex`, `gemini` or `aider` through the built-in presets, it
reads the hook configuration agentmux wired into its command line, settings or worktree, and
runs those hooks with the payloads each CLI documents. So what is tested is the whole path:
wiring -> the CLI's mechanism -> agentmux/hook.py -> hooks.jsonl -> the watcher -> status.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from .conftest import FAKE_AGENT, Result, run_cli, wait_until
from .helpers import latest_run, status, write_layout

SOCK = "amx-hooks"


@pytest.fixture
def personas(tmp_path: Path) -> dict[str, str]:
    """A PATH on which claude, codex, gemini and aider are the fake agent."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex", "gemini", "aider"):
        (bin_dir / name).symlink_to(FAKE_AGENT)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def steps(*args: str) -> dict[str, str]:
    return {"FAKE_AGENT_STEPS": shlex.join(args)}


def cli(repo: Path, *args: str) -> Result:
    return run_cli("--socket", SOCK, *args, cwd=repo)


def pane(repo: Path, name: str) -> tuple[str, str | None, str | None]:
    p = next(p for p in status(repo, SOCK)["panes"] if p["name"] == name)
    return p["state"], p["reason"], p["source"]


def output(repo: Path, name: str) -> str:
    path = latest_run(repo) / "panes" / name / "output.log"
    return path.read_bytes().decode(errors="replace") if path.exists() else ""


def test_each_clis_hooks_drive_waiting_idle_and_wait(repo: Path,
                                                     personas: dict[str, str]) -> None:
    ask = ("--wait-input", "Allow? ")
    layout = write_layout(repo, [
        {"name": "claude", "agent": "claude", "task": "t", "env": steps(
            "--hook", "SessionStart", "--hook", "UserPromptSubmit",
            "--hook", "Notification:permission_prompt", *ask, "--hook", "PreToolUse",
            "--hook", "Stop", "--wait-input", "> ")},
        {"name": "codex", "agent": "codex", "task": "t", "env": steps(
            "--hook", "UserPromptSubmit", "--hook", "PermissionRequest", *ask,
            "--hook", "PostToolUse", "--hook", "notify", "--wait-input", "> ")},
        {"name": "gemini", "agent": "gemini", "task": "t", "env": steps(
            "--hook", "BeforeAgent", "--hook", "Notification:ToolPermission", *ask,
            "--hook", "AfterTool", "--hook", "AfterAgent", "--wait-input", "> ")},
        {"name": "aider", "agent": "aider", "task": "t", "env": steps(
            "--hook", "notification", "--wait-input", "", "--lines", "100",
            "--sleep", "30")},
    ], poll_interval=0.3)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=personas)
    assert r.code == 0, r.err

    r = cli(repo, "wait", "claude", "codex", "gemini", "aider", "--for", "waiting",
            "--timeout", "30")
    assert r.code == 0, r.err + r.out
    assert pane(repo, "claude") == ("waiting", "permission_prompt", "hook")
    assert pane(repo, "codex") == ("waiting", "Bash", "hook")
    assert pane(repo, "gemini") == ("waiting", "ToolPermission", "hook")
    assert pane(repo, "aider") == ("waiting", None, "hook")
    # Gemini's hooks were in its worktree, with git told to ignore them, only while it runs.
    tree = repo / ".agentmux" / "worktrees" / "agents" / "gemini"
    assert (tree / ".gemini" / ".gitignore").read_text() == "*\n"

    for name in ("claude", "codex", "gemini", "aider"):
        assert cli(repo, "send", name, "y").code == 0
    r = cli(repo, "wait", "claude", "codex", "gemini", "--for", "idle", "--timeout", "30")
    assert r.code == 0, r.err + r.out
    assert r.out.splitlines() == ["claude: idle", "codex: idle", "gemini: idle"]
    assert [pane(repo, n)[2] for n in ("claude", "codex", "gemini")] == ["hook"] * 3
    # aider's hook cannot say `working`: once aider writes on after it, the hook is stale.
    wait_until(lambda: pane(repo, "aider")[0] == "working", 20, "aider working again")

    r = cli(repo, "wait", "claude", "--for", "ended", "--timeout", "1")
    assert r.code == 1 and "timed out after 1s; not there yet: claude (idle)" in r.err, r.err
    for name in ("claude", "codex", "gemini"):
        assert cli(repo, "send", name, "bye").code == 0
    r = cli(repo, "wait", "claude", "codex", "gemini", "--for", "ended", "--timeout", "30")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["claude: done", "codex: done", "gemini: done"]
    assert not (tree / ".gemini").exists()
    r = cli(repo, "wait", "claude", "--for", "idle", "--timeout", "5")
    assert r.code == 1 and "ended before reaching it: claude (done)" in r.err, r.err
    r = cli(repo, "wait", "nobody", "--for", "idle")
    assert r.code == 2 and "no pane named nobody" in r.err


def test_a_hook_that_hangs_or_fails_does_not_block_the_agent(
        repo: Path, personas: dict[str, str]) -> None:
    go = ("--wait-input", "go? ")
    layout = write_layout(repo, [
        # The CLI keeps the hook's stdin open: the hook reads until its deadline, then exits 0.
        {"name": "hangs", "agent": "claude", "task": "t",
         "env": {**steps("--hook", "UserPromptSubmit", "--hook", "Stop", "--sleep", "1"),
                 "FAKE_HOOK_KEEP_STDIN": "1"}},
        # hooks.jsonl cannot be written: the hook still exits 0 at once.
        {"name": "fails", "agent": "claude", "task": "t",
         "env": steps(*go, "--hook", "UserPromptSubmit", "--hook", "Stop")},
    ], poll_interval=0.3)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=personas)
    assert r.code == 0, r.err
    wait_until(lambda: "go? " in output(repo, "fails"), 20, "the prompt")
    (latest_run(repo) / "panes" / "fails" / "hooks.jsonl").mkdir()
    assert cli(repo, "send", "fails", "y").code == 0
    r = cli(repo, "wait", "--for", "ended", "--timeout", "30")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["hangs: done", "fails: done"]
    for name in ("hangs", "fails"):
        took = [float(s) for s in re.findall(r"hook \w+: exit 0 in ([\d.]+)s", output(repo, name))]
        assert len(took) == 2 and max(took) < 5, output(repo, name)
    hung = [float(s) for s in re.findall(r"exit 0 in ([\d.]+)s", output(repo, "hangs"))]
    assert min(hung) >= 0.4  # it did wait for the stdin that never closed, up to its deadline


def test_waiting_and_idle_tell_the_person(repo: Path, tmp_path: Path,
                                           personas: dict[str, str]) -> None:
    log = tmp_path / "events.log"
    layout = write_layout(repo, [
        {"name": "claude", "agent": "claude", "task": "t", "env": steps(
            "--hook", "UserPromptSubmit", "--hook", "Notification:permission_prompt",
            "--wait-input", "Allow? ", "--hook", "PreToolUse", "--hook", "Stop",
            "--wait-input", "> ")},
    ], poll_interval=0.3, on_event=f'echo "$AGENTMUX_STATE|$AGENTMUX_REASON" >> {log}')
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=personas)
    assert r.code == 0, r.err
    assert cli(repo, "wait", "--for", "waiting", "--timeout", "20").code == 0
    assert cli(repo, "send", "claude", "y").code == 0
    assert cli(repo, "wait", "--for", "idle", "--timeout", "20").code == 0

    def told() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    wait_until(lambda: "idle|" in told(), 10, "on_event for idle")
    assert told() == ["waiting|permission_prompt", "idle|"]
    shown = subprocess.run(["tmux", "-L", SOCK, "show", "-v", "-t", "=agents:", "status-right"],
                           capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "1 idle"
    table = cli(repo, "status").out.splitlines()
    assert table[0].split()[:3] == ["AGENT", "STATE", "FROM"]
    assert table[1].split()[:3] == ["claude", "idle", "hook"]
