"""`mode = "headless"` through `up`, and `restart --continue`, with the fake agent playing the
CLIs (scripts/fake-agent): usage and the final message reach `review --json`."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from .conftest import FAKE_AGENT, ROOT, run_cli, wait_until
from .faults.conftest import snapshot_state
from .helpers import events, latest_run, wait_states, write_layout

SOCK = "amx-headless"
GOLDEN = ROOT / "tests" / "golden"
# A successful run in Claude Code's stream-json (docs/agent-clis.md: system/init, assistant
# messages in the Messages API shape, then `result`; the success fields are the Agent SDK's).
CLAUDE_OK = [
    {"type": "system", "subtype": "init", "session_id": "s1", "model": "claude-x",
     "tools": ["Bash"]},
    {"type": "assistant", "session_id": "s1", "message": {
        "id": "m1", "role": "assistant", "content": [{"type": "text", "text": "Writing it."}],
        "usage": {"input_tokens": 10, "output_tokens": 5}}},
    {"type": "result", "subtype": "success", "is_error": False, "num_turns": 2,
     "result": "Added notes.txt and committed it.", "total_cost_usd": 0.0123,
     "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20,
               "cache_read_input_tokens": 30, "output_tokens": 40}, "session_id": "s1"},
]


@pytest.fixture
def personas(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        (bin_dir / name).symlink_to(FAKE_AGENT)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def steps(*args: str) -> dict[str, str]:
    return {"FAKE_AGENT_STEPS": shlex.join(args)}


def up(repo: Path, layout: Path, env: dict[str, str]) -> None:
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=env)
    assert r.code == 0, r.err


def review(repo: Path) -> dict[str, Any]:
    r = run_cli("review", "--json", cwd=repo)
    assert r.code == 0, r.err
    data: dict[str, Any] = json.loads(r.out)
    return data


def test_headless_runs_report_usage_and_the_final_message(
        repo: Path, tmp_path: Path, personas: dict[str, str]) -> None:
    stream = tmp_path / "claude-ok.jsonl"
    stream.write_text("".join(json.dumps(ev) + "\n" for ev in CLAUDE_OK))
    layout = write_layout(repo, [
        {"name": "writer", "agent": "claude", "task": "add notes", "mode": "headless",
         "env": steps("--print-argv", "--write", "notes.txt=hi", "--commit", "notes",
                      "--cat", str(stream))},
        {"name": "offline", "agent": "codex", "task": "t", "mode": "headless",
         "env": steps("--cat", str(GOLDEN / "codex-exec-offline.jsonl"), "--exit", "1")},
        {"name": "plain", "command": "fake-agent --print hello", "mode": "headless"},
    ], poll_interval=0.3)
    up(repo, layout, personas)
    panes = wait_states(repo, SOCK, timeout=30)
    assert {n: p["state"] for n, p in panes.items()} == {
        "writer": "done", "offline": "failed", "plain": "done"}
    out = (latest_run(repo) / "panes" / "writer" / "output.log").read_text()
    argv = next(line for line in out.splitlines() if line.startswith("argv: "))
    assert "-p --output-format stream-json --verbose 'add notes'" in argv
    assert "--settings " in argv  # its hooks, headless too

    # The watcher reads the stream as it records each end.
    wait_until(lambda: len([e for e in events(repo) if e.get("type") == "state"
                            and e["state"] in ("done", "failed")]) == 3, 20, "the records")
    data = review(repo)
    by = {p["name"]: p for p in data["panes"]}
    assert by["writer"]["usage"] == {
        "tokens_in": 150, "tokens_out": 40, "cost_usd": 0.0123, "turns": 2,
        "final_message": "Added notes.txt and committed it.", "error": None}
    assert by["offline"]["usage"]["error"].startswith("Connection failed")
    assert by["plain"]["usage"] is None   # a command: no stream to read
    m = data["metrics"]
    assert (m["tokens_in"], m["tokens_out"], m["cost_usd"]) == (
        150 + by["offline"]["usage"]["tokens_in"], 40 + by["offline"]["usage"]["tokens_out"],
        0.0123)
    # The transcript is the stream rendered, not its JSON.
    logs = run_cli("logs", "writer", cwd=repo)
    assert logs.out.splitlines()[-3:] == ["[session s1] model claude-x", "Writing it.",
                                          "— done: 2 turns, $0.0123"]
    assert not [line for line in logs.out.splitlines() if line.startswith('{"type"')]
    text = run_cli("review", "writer", cwd=repo).out
    assert "   usage: 150 in, 40 out · $0.0123 · 2 turns" in text
    assert "   final message: Added notes.txt and committed it." in text


def test_restart_continue_resumes_with_the_clis_own_flag(
        repo: Path, personas: dict[str, str]) -> None:
    layout = write_layout(repo, [
        {"name": "claude", "agent": "claude", "task": "t",
         "env": steps("--print-argv", "--wait-input", "> ")},
        {"name": "cmd", "command": fake_wait()},
    ], poll_interval=0.3)
    up(repo, layout, personas)
    wait_states(repo, SOCK, {"claude": "alive", "cmd": "alive"})
    pane_dir = latest_run(repo) / "panes"

    # The agents live (their output and the watcher's records may grow): what a refusal must
    # leave alone is git, tmux, the pane's files and its stop/restart records.
    def kept() -> tuple[object, ...]:
        s = snapshot_state(repo, SOCK)
        files = {p.name: p.read_bytes() for p in (pane_dir / "cmd").iterdir()
                 if p.name != "output.log"}
        acts = [e for e in events(repo) if e.get("type") in ("stop", "restart")]
        return s.refs, s.worktrees, s.sessions, files, acts

    before = kept()
    r = run_cli("--socket", SOCK, "restart", "cmd", "--continue", cwd=repo)
    assert r.code == 2
    assert r.err.strip() == ("agentmux: restart --continue: pane 'cmd' runs a command of the "
                             "layout's own, with no documented way to resume; nothing was "
                             "changed. `agentmux restart cmd` starts it afresh")
    assert kept() == before

    # The agent gets the environment of the shell that runs `restart`: the fake's PATH.
    r = run_cli("--socket", SOCK, "restart", "claude", "--continue", cwd=repo, env=personas)
    assert r.code == 0, r.err
    assert r.out.strip() == "pane 'claude': attempt 2 started (resuming its conversation)"
    first = [json.loads(line) for line in
             (latest_run(repo) / "events.jsonl").read_text().splitlines()]
    ended = [e for e in first if e.get("type") == "state" and e["pane"] == "claude"
             and e["state"] == "stopped"]
    assert [e["reason"] for e in ended] == ["restart"]

    def argv() -> str:
        log = pane_dir / "claude" / "output.log"   # made with the attempt's first bytes
        out = log.read_text(errors="replace") if log.exists() else ""
        return next((line for line in out.splitlines() if line.startswith("argv: ")), "")

    wait_until(argv, 20, "the resumed agent's command line")
    assert argv().startswith("argv: --settings ") and argv().endswith(" --continue")
    # A plain restart afterwards starts the task afresh.
    r = run_cli("--socket", SOCK, "restart", "claude", cwd=repo, env=personas)
    assert r.code == 0, r.err
    wait_until(argv, 20, "the fresh agent's command line")
    assert argv().endswith(" t")


def fake_wait() -> str:
    return "fake-agent --wait-input '> '"


@pytest.mark.parametrize(("pane", "message"), [
    ({"mode": "batch"}, "pane[1].mode: expected one of interactive, headless; got 'batch'"),
    ({"agent": "shell", "mode": "headless"},
     "pane[1].mode: preset 'shell' has no headless form; run it interactively, or give the "
     "pane a 'command' that runs to the end"),
    ({"agent": "claude", "mode": "headless", "task": ""},
     "pane[1].mode: 'headless' runs one task to the end; this pane has no 'task'"),
])
def test_bad_modes_are_refused_and_nothing_is_created(
        repo: Path, pane: dict[str, Any], message: str) -> None:
    spec = {"name": "a", "agent": "claude", "task": "t", **pane}
    if not spec["task"]:
        del spec["task"]
    layout = write_layout(repo, [spec])
    before = snapshot_state(repo, SOCK)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2
    assert r.err.strip() == f"agentmux: {layout}: {message}"
    assert snapshot_state(repo, SOCK) == before
