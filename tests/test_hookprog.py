"""agentmux/hook.py as the agents run it: a real process, payloads the real CLIs sent."""

from __future__ import annotations

import concurrent.futures
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentmux import hook

from .conftest import ROOT, wait_until

HOOK = ROOT / "agentmux" / "hook.py"
# The two ways to call it: the script path (what agentmux writes into hook configs, as -S
# leaves site-packages and so an installed agentmux off sys.path), and -m with PYTHONPATH.
FORMS = {
    "script": [sys.executable, "-S", str(HOOK)],
    "module": [sys.executable, "-S", "-m", "agentmux.hook"],
}

# Payloads captured offline from the installed CLIs (docs/agent-clis.md), ids shortened.
CLAUDE_SESSION_START = {  # claude 2.1.197, interactive, after the trust prompt
    "session_id": "d1905059", "transcript_path": "/h/.claude/projects/-w/d1905059.jsonl",
    "cwd": "/w", "hook_event_name": "SessionStart", "source": "startup",
    "model": "claude-opus-4-8[1m]"}
CLAUDE_PROMPT = {
    "session_id": "d1905059", "transcript_path": "/h/t.jsonl", "cwd": "/w",
    "prompt_id": "57b538c5", "permission_mode": "default",
    "hook_event_name": "UserPromptSubmit", "prompt": "say hi"}
CLAUDE_STOP_FAILURE = {
    "session_id": "d1905059", "transcript_path": "/h/t.jsonl", "cwd": "/w",
    "prompt_id": "57b538c5", "effort": {"level": "high"}, "hook_event_name": "StopFailure",
    "error": "authentication_failed", "last_assistant_message": "Not logged in · Please run /login"}
CLAUDE_SESSION_END = {  # claude -p, after StopFailure
    "session_id": "a07ec333", "transcript_path": "/h/t.jsonl", "cwd": "/w",
    "prompt_id": "38e77ef2", "hook_event_name": "SessionEnd", "reason": "other"}
# Documented shapes (https://code.claude.com/docs/en/hooks, Notification input): the real
# CLI fires no Notification offline.
CLAUDE_PERMISSION = {
    "session_id": "d1905059", "transcript_path": "/h/t.jsonl", "cwd": "/w",
    "hook_event_name": "Notification", "notification_type": "permission_prompt",
    "message": "Claude needs your permission to use Bash"}
CLAUDE_IDLE = {**CLAUDE_PERMISSION, "notification_type": "idle_prompt",
               "message": "Claude is waiting for your input"}
CODEX_PROMPT = {  # codex 0.171.0 exec, hooks given with -c
    "session_id": "01a23044", "turn_id": "01a23044-2069",
    "transcript_path": "/h/.codex/sessions/rollout.jsonl", "cwd": "/w",
    "hook_event_name": "UserPromptSubmit", "model": "gpt-6.2-sol",
    "permission_mode": "bypassPermissions", "prompt": "say hi"}
# codex-rs/hooks/src/legacy_notify.rs, test_user_notification: the historical wire shape.
CODEX_NOTIFY = {
    "type": "agent-turn-complete", "thread-id": "b5f6c1c2-1111-2222-3333-444455556666",
    "turn-id": "12345", "cwd": "/Users/example/project", "client": "codex-tui",
    "input-messages": ["Rename `foo` to `bar` and update the callsites."],
    "last-assistant-message": "Rename complete and verified `cargo build` succeeds."}
GEMINI_BEFORE_AGENT = {  # gemini 0.61.0 createBaseInput + fireBeforeAgentEvent
    "session_id": "f37c255e", "transcript_path": "", "cwd": "/w",
    "hook_event_name": "BeforeAgent", "timestamp": "2026-12-01T06:41:36.000Z",
    "prompt": "say hi"}
GEMINI_PERMISSION = {**GEMINI_BEFORE_AGENT, "hook_event_name": "Notification",
                     "notification_type": "ToolPermission",
                     "message": "Tool run_shell_command requires confirmation", "details": {}}
OPENCODE_RETRY = {  # opencode 1.18.33 bus event, through agentmux's plugin
    "id": "evt_2304fa746001", "type": "session.status",
    "properties": {"sessionID": "ses_dcfb0766", "status": {
        "type": "retry", "attempt": 1, "next": 1796106858529,
        "message": "Cannot connect to API: Unable to connect."}}}
OPENCODE_IDLE = {"id": "evt_1", "type": "session.status",
                 "properties": {"sessionID": "ses_dcfb0766", "status": {"type": "idle"}}}


def run_hook(pane: Path | None, *args: str, stdin: bytes | int = b"", form: str = "script",
             **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """stdin: the payload's bytes, or a file descriptor the hook gets as its stdin."""
    env = {k: v for k, v in os.environ.items() if k != hook.PANE_DIR_VAR}
    env["PYTHONPATH"] = str(ROOT)
    if pane is not None:
        env[hook.PANE_DIR_VAR] = str(pane)
    if isinstance(stdin, bytes):
        kw["input"] = stdin
    else:
        kw["stdin"] = stdin
    return subprocess.run([*FORMS[form], *args], env=env, capture_output=True, timeout=30,
                          check=False, **kw)


def records(pane: Path) -> list[dict[str, Any]]:
    lines = (pane / hook.FILE_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines]


def expect_one(pane: Path, result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    [rec] = records(pane)
    return rec


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize(("agent", "event", "payload", "want"), [
    ("claude", "SessionStart", CLAUDE_SESSION_START,
     ("session_start", None, "startup", "SessionStart", "d1905059")),
    ("claude", "UserPromptSubmit", CLAUDE_PROMPT,
     ("prompt", "working", None, "UserPromptSubmit", "d1905059")),
    ("claude", "StopFailure", CLAUDE_STOP_FAILURE,
     ("turn_failed", "idle", "authentication_failed", "StopFailure", "d1905059")),
    ("claude", "SessionEnd", CLAUDE_SESSION_END,
     ("session_end", None, "other", "SessionEnd", "a07ec333")),
    ("claude", "Notification", CLAUDE_PERMISSION,
     ("notification", "waiting", "permission_prompt", "Notification", "d1905059")),
    ("claude", "Notification", CLAUDE_IDLE,
     ("notification", "idle", "idle_prompt", "Notification", "d1905059")),
    ("codex", "UserPromptSubmit", CODEX_PROMPT,
     ("prompt", "working", None, "UserPromptSubmit", "01a23044")),
    ("gemini", "BeforeAgent", GEMINI_BEFORE_AGENT,
     ("prompt", "working", None, "BeforeAgent", "f37c255e")),
    ("gemini", "Notification", GEMINI_PERMISSION,
     ("notification", "waiting", "ToolPermission", "Notification", "f37c255e")),
    ("opencode", "session.status", OPENCODE_RETRY,
     ("status", "working", "Cannot connect to API: Unable to connect.", "session.status",
      "ses_dcfb0766")),
    ("opencode", "session.status", OPENCODE_IDLE,
     ("status", "idle", "idle", "session.status", "ses_dcfb0766")),
])
def test_payload_on_stdin_becomes_one_record(
        tmp_path: Path, form: str, agent: str, event: str, payload: dict[str, Any],
        want: tuple[object, ...]) -> None:
    before = time.time()
    rec = expect_one(tmp_path, run_hook(tmp_path, agent, event,
                                        stdin=json.dumps(payload).encode(), form=form))
    assert (rec["event"], rec["state"], rec["reason"], rec["raw_event"], rec["session"]) == want
    assert (rec["version"], rec["agent"]) == (1, agent)
    assert before <= rec["t"] <= time.time()


def test_the_record_says_how_much_output_the_pane_had_written(tmp_path: Path) -> None:
    # The watcher tells an agent that moved on after a hook by the output after it.
    (tmp_path / "output.log").write_bytes(b"x" * 1234)
    rec = expect_one(tmp_path, run_hook(tmp_path, "aider", "notification", stdin=b""))
    assert rec["output_size"] == 1234


def test_codex_notify_payload_is_the_last_argument(tmp_path: Path) -> None:
    # Codex gives notify programs /dev/null as stdin (legacy_notify.rs: Stdio::null()).
    result = run_hook(tmp_path, "codex", "notify", json.dumps(CODEX_NOTIFY),
                      stdin=subprocess.DEVNULL)
    rec = expect_one(tmp_path, result)
    assert (rec["event"], rec["state"], rec["raw_event"], rec["session"]) == (
        "turn_end", "idle", "agent-turn-complete", "b5f6c1c2-1111-2222-3333-444455556666")


def test_outside_a_pane_it_writes_nothing_and_says_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = run_hook(None, "claude", "Stop", stdin=json.dumps(CLAUDE_PROMPT).encode(),
                      cwd=work)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert list(work.iterdir()) == []


def test_aider_with_the_terminal_as_stdin_leaves_the_terminal_alone(tmp_path: Path) -> None:
    # aider's notifications command inherits aider's terminal (aider/io.py ring_bell): what
    # the person typed there is aider's, and a read would wait for them to type.
    master, slave = os.openpty()
    try:
        os.write(master, b"typed by a person\n")
        result = run_hook(tmp_path, "aider", "notification", stdin=slave)
        ready, _, _ = select.select([slave], [], [], 5)
        left = os.read(slave, 100) if ready else b""
    finally:
        os.close(master)
        os.close(slave)
    rec = expect_one(tmp_path, result)
    assert (rec["event"], rec["state"], rec["raw_event"]) == ("input_wanted", "waiting",
                                                              "notification")
    assert left == b"typed by a person\n"


def test_stdin_that_never_closes_is_read_until_the_deadline(tmp_path: Path) -> None:
    proc = subprocess.Popen([*FORMS["script"], "claude", "Notification"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, hook.PANE_DIR_VAR: str(tmp_path)})
    assert proc.stdin is not None
    try:
        start = time.monotonic()
        proc.stdin.write(json.dumps(CLAUDE_PERMISSION).encode())
        proc.stdin.flush()  # and keep it open
        code = proc.wait(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
    assert code == 0
    assert hook.STDIN_DEADLINE - 0.1 <= elapsed < hook.STDIN_DEADLINE + 5
    [rec] = records(tmp_path)
    assert (rec["state"], rec["reason"]) == ("waiting", "permission_prompt")


def test_ctrl_c_while_it_waits_still_exits_0(tmp_path: Path) -> None:
    # Ctrl-C in the agent's pane reaches the whole foreground process group, hooks included.
    proc = subprocess.Popen([*FORMS["script"], "claude", "Stop"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, hook.PANE_DIR_VAR: str(tmp_path)})
    try:
        wchan = Path(f"/proc/{proc.pid}/wchan")
        wait_until(lambda: any(w in wchan.read_text() for w in ("poll", "select")),
                   what="the hook waiting on its stdin")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (0, b"", b"")


def test_no_stdin_at_all(tmp_path: Path) -> None:
    result = run_hook(tmp_path, "claude", "Stop", stdin=subprocess.DEVNULL,
                      preexec_fn=lambda: os.close(0))
    rec = expect_one(tmp_path, result)
    assert (rec["event"], rec["state"], rec["raw_event"]) == ("turn_end", "idle", "Stop")


@pytest.mark.parametrize("stdin", [b"{not json", b"[1, 2]", b"\xff\xfe\x00", b"null"])
def test_garbage_payload_still_records_the_event_it_was_called_for(
        tmp_path: Path, stdin: bytes) -> None:
    rec = expect_one(tmp_path, run_hook(tmp_path, "claude", "Stop", stdin=stdin))
    assert (rec["event"], rec["state"], rec["reason"], rec["session"]) == (
        "turn_end", "idle", None, None)


def test_unknown_agent_or_event_is_recorded_without_a_state(tmp_path: Path) -> None:
    run_hook(tmp_path, "claude", "BrandNewEvent", stdin=b"{}")
    run_hook(tmp_path, "nobody", "Stop", stdin=b"{}")
    assert [(r["agent"], r["event"], r["state"], r["raw_event"]) for r in records(tmp_path)] == [
        ("claude", "other", None, "BrandNewEvent"), ("nobody", "other", None, "Stop")]


def test_a_huge_payload_is_drained_so_the_writer_never_sees_a_broken_pipe(
        tmp_path: Path) -> None:
    # PostToolUse carries the whole tool output; the CLI must be able to write all of it.
    payload = {**CLAUDE_PROMPT, "hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_response": {"stdout": "x" * (3 * hook.STDIN_KEEP)}}
    proc = subprocess.Popen([*FORMS["script"], "claude", "PostToolUse"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, hook.PANE_DIR_VAR: str(tmp_path)})
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload).encode())  # BrokenPipeError if it stopped reading
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    [rec] = records(tmp_path)
    # Past STDIN_KEEP the JSON is cut and unparseable: the event name comes from argv.
    assert (rec["event"], rec["state"], rec["raw_event"]) == ("tool_end", "working",
                                                              "PostToolUse")


@pytest.mark.parametrize("pane", ["missing", "file"])
def test_a_pane_dir_it_cannot_write_still_exits_0_silently(tmp_path: Path, pane: str) -> None:
    target = tmp_path / "x"
    if pane == "file":
        target.write_text("")
    result = run_hook(target, "claude", "Stop", stdin=b"{}")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_concurrent_hooks_write_whole_lines(tmp_path: Path) -> None:
    # Claude and Codex launch the hooks of one event concurrently (seen: StopFailure and
    # SessionEnd interleaved in a plain shell hook's output).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda i: run_hook(tmp_path, "claude", "PreToolUse", stdin=json.dumps(
                {**CLAUDE_PROMPT, "hook_event_name": "PreToolUse",
                 "tool_name": f"tool{i}", "tool_input": {"pad": "y" * 5000}}).encode()),
            range(24)))
    assert all(r.returncode == 0 for r in results)
    recs = records(tmp_path)
    assert sorted(r["reason"] for r in recs) == sorted(f"tool{i}" for i in range(24))


@pytest.mark.parametrize(("agent", "payload", "want"), [
    ("codex", {"hook_event_name": "PermissionRequest", "tool_name": "Bash"},
     ("permission", "waiting", "Bash")),
    ("codex", {"hook_event_name": "Stop"}, ("turn_end", "idle", None)),
    ("gemini", {"hook_event_name": "AfterAgent"}, ("turn_end", "idle", None)),
    ("gemini", {"hook_event_name": "SessionEnd", "reason": "exit"},
     ("session_end", None, "exit")),
    ("claude", {"hook_event_name": "Notification", "notification_type": "auth_success"},
     ("notification", None, "auth_success")),
    ("opencode", {"type": "permission.asked", "properties": {"permission": "bash"}},
     ("permission", "waiting", "bash")),
    ("opencode", {"type": "session.error", "properties": {"error": {
        "name": "APIError", "data": {"message": "Cannot connect to API"}}}},
     ("error", None, "Cannot connect to API")),
    ("opencode", {"type": "session.status", "properties": {"status": {"type": "new"}}},
     ("status", None, "new")),
])
def test_mapping_table(agent: str, payload: dict[str, Any], want: tuple[object, ...]) -> None:
    rec = hook.classify(agent, "ignored-when-the-payload-names-it", payload)
    assert (rec["event"], rec["state"], rec["reason"]) == want


CACHE = Path(os.environ.get("AGENTMUX_AGENT_CACHE",
                            Path.home() / ".cache" / "agentmux" / "agents"))
CLAUDE = CACHE / "bin" / "claude"


@pytest.mark.skipif(not CLAUDE.exists(), reason="real Claude Code not installed "
                    "(scripts/install-agents)")
def test_real_claude_headless_calls_the_hook_through_settings(tmp_path: Path) -> None:
    # Offline and signed out, claude -p still runs SessionStart, UserPromptSubmit,
    # StopFailure and SessionEnd (verified with 2.1.197), about a second in all.
    pane, work = tmp_path / "pane", tmp_path / "work"
    pane.mkdir()
    work.mkdir()
    cmd = " ".join([sys.executable, "-S", str(HOOK), "claude"])
    events = ["SessionStart", "UserPromptSubmit", "Stop", "StopFailure", "SessionEnd"]
    settings = {"hooks": {e: [{"hooks": [{"type": "command", "command": f"{cmd} {e}"}]}]
                          for e in events}}
    env = {**os.environ, hook.PANE_DIR_VAR: str(pane), "DISABLE_AUTOUPDATER": "1"}
    result = subprocess.run([str(CLAUDE), "-p", "--settings", json.dumps(settings), "say hi"],
                            cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    got = [(r["event"], r["state"]) for r in records(pane)]
    assert got[:2] == [("session_start", None), ("prompt", "working")]
    # Claude runs the StopFailure and SessionEnd hooks at the same time.
    assert sorted(got[2:], key=str) == [("session_end", None), ("turn_failed", "idle")]


def test_the_watcher_steps_through_every_state_the_hooks_passed_through(tmp_path: Path) -> None:
    # A person answered a permission prompt and the turn ended, all between two ticks: the
    # watcher still records waiting (and so tells on_event), then working, then idle.
    from agentmux.watch.hooks import HookReader

    reader = HookReader(tmp_path / hook.FILE_NAME)
    assert reader.step() is None  # the watcher's first look: nothing yet
    for event, payload in [("UserPromptSubmit", CLAUDE_PROMPT),
                           ("Notification", CLAUDE_PERMISSION)]:
        run_hook(tmp_path, "claude", event, stdin=json.dumps(payload).encode())
    assert [reader.step().state for _ in range(2)] == ["working", "waiting"]  # type: ignore[union-attr]
    for event, payload in [("UserPromptSubmit", CLAUDE_PROMPT),
                           ("UserPromptSubmit", CLAUDE_PROMPT), ("Notification", CLAUDE_IDLE)]:
        run_hook(tmp_path, "claude", event, stdin=json.dumps(payload).encode())
    seen = [v.state if v else None for v in (reader.step() for _ in range(4))]
    assert seen == ["working", "idle", "idle", "idle"]
    assert reader.poll() is not None and reader.poll().state == "idle"  # type: ignore[union-attr]
    # A watcher that restarts reads the history once and tells only what holds now.
    assert HookReader(tmp_path / hook.FILE_NAME).step().state == "idle"  # type: ignore[union-attr]
