"""States from the agents' own hooks on another host, through a real sshd.

The fake agent plays Claude's and Gemini's hook contracts (scripts/fake-agent) in panes on the
host "box" (tests/test_remote.py's sshd, one for this module). What is tested is the whole
path: wiring with the host's paths -> the CLI's mechanism -> the host's agentmux/hook.py (from
the runner's cache there) -> the host's hooks.jsonl -> the watcher's one tick per host -> the
local ledger -> `status --json`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from .conftest import FAKE_AGENT, wait_until
from .helpers import write_layout
from .sshd import DEFAULT_PATH, SshServer
from .test_remote import _clone, amx, box, panes, server  # noqa: F401 (fixtures)


def steps(*args: str) -> dict[str, str]:
    return {"FAKE_AGENT_STEPS": shlex.join(args)}


def seen(repo: Path, want: dict[str, tuple[str, str | None, str]]) -> dict[str, Any]:
    """Wait until each pane shows (state, reason, source) in `status --json`."""
    def ready() -> dict[str, Any] | None:
        got = panes(repo)
        ok = all((got[n]["state"], got[n]["reason"], got[n]["source"]) == w
                 for n, w in want.items())
        return got if ok else None

    found = wait_until(ready, 20, f"states {want}")
    assert isinstance(found, dict)
    return found


def test_remote_agents_hooks_reach_status(repo: Path, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    host: SshServer = request.getfixturevalue("box")
    remote = _clone(repo, host, "hooks")
    personas = tmp_path / "bin"   # claude and gemini are the fake agent, on the host's PATH
    personas.mkdir()
    for name in ("claude", "gemini"):
        (personas / name).symlink_to(FAKE_AGENT)
    ask = ("--wait-input", "Allow? ")
    layout = write_layout(repo, [
        {"name": "claude", "agent": "claude", "task": "t", "host": "box", "env": steps(
            "--hook", "SessionStart", "--hook", "UserPromptSubmit",
            "--hook", "Notification:permission_prompt", *ask, "--hook", "PreToolUse",
            "--hook", "Stop", "--wait-input", "> ")},
        {"name": "gemini", "agent": "gemini", "task": "t", "host": "box", "env": steps(
            "--hook", "BeforeAgent", "--hook", "Notification:ToolPermission", *ask,
            "--hook", "AfterTool", "--hook", "AfterAgent", "--wait-input", "> ")},
    ], poll_interval=0.3, hosts={"box": {
        "ssh": host.alias, "repo": str(remote),
        "env": {"PATH": f"{personas}:{FAKE_AGENT.parent}:{DEFAULT_PATH}"}}})
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code == 0, r.err

    got = seen(repo, {"claude": ("waiting", "permission_prompt", "hook"),
                      "gemini": ("waiting", "ToolPermission", "hook")})
    assert {p["host"] for p in got.values()} == {"box"}
    # The hooks ran on the host: its ledger holds the records, and a copy of them is here.
    run_id = next((repo / ".agentmux" / "runs").iterdir()).name
    there = remote / ".agentmux" / "runs" / run_id / "panes" / "claude" / "hooks.jsonl"
    here = repo / ".agentmux" / "runs" / run_id / "panes" / "claude" / "hooks.jsonl"
    assert here.read_bytes() == there.read_bytes()[:len(here.read_bytes())]
    assert b'"raw_event":"Notification"' in there.read_bytes()
    # Gemini's hooks were placed in its worktree on the host (trusted by its pane's file).
    tree = remote / ".agentmux" / "worktrees" / "agents" / "gemini"
    assert "agentmux-AfterAgent" in (tree / ".gemini" / "settings.json").read_text()

    for name in ("claude", "gemini"):
        assert amx(repo, "send", name, "y").code == 0
    seen(repo, {"claude": ("idle", None, "hook"), "gemini": ("idle", None, "hook")})
    for name in ("claude", "gemini"):
        assert amx(repo, "send", name, "bye").code == 0
    got = seen(repo, {"claude": ("done", None, "process"), "gemini": ("done", None, "process")})
    assert (got["claude"]["exit_code"], got["gemini"]["exit_code"]) == (0, 0)

    # A new attempt: the host moved its hooks.jsonl into attempt-1, `restart` moved the copy;
    # the new log is followed from its first byte, and only its own records count.
    assert amx(repo, "restart", "claude").code == 0
    seen(repo, {"claude": ("waiting", "permission_prompt", "hook")})
    assert here.read_bytes() == there.read_bytes()[:len(here.read_bytes())]
    assert here.read_bytes().count(b'"raw_event":"SessionStart"') == 1
