"""Headless streams: what the real CLIs printed offline, and what they document for a run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentmux.headless import PARSERS, Stream, Usage, parse

GOLDEN = Path(__file__).parent / "golden"


def lines(*events: object) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


# Claude Code stream-json, shaped as https://code.claude.com/docs/en/headless documents it
# and as 2.1.197 printed it offline (tests/golden/claude-headless-*.jsonl): assistant events
# carry one content block each, so one message id repeats with the same usage.
CLAUDE_USAGE_1 = {"input_tokens": 1200, "cache_creation_input_tokens": 300,
                  "cache_read_input_tokens": 0, "output_tokens": 40}
CLAUDE_USAGE_2 = {"input_tokens": 1500, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 1500, "output_tokens": 25}
CLAUDE_RUN = [
    {"type": "system", "subtype": "init", "cwd": "/w", "session_id": "s1",
     "tools": ["Bash", "Write"], "model": "claude-sonnet-4-5", "permissionMode": "default"},
    {"type": "assistant", "session_id": "s1", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "usage": CLAUDE_USAGE_1,
        "content": [{"type": "text", "text": "I'll add the handler."}]}},
    {"type": "assistant", "session_id": "s1", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "usage": CLAUDE_USAGE_1,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "Write",
                     "input": {"file_path": "api/webhooks.py", "content": "def handle(): ..."}}]}},
    {"type": "user", "session_id": "s1", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": "File created successfully at: api/webhooks.py"}]}},
    {"type": "assistant", "session_id": "s1", "message": {
        "id": "msg_02", "type": "message", "role": "assistant", "usage": CLAUDE_USAGE_2,
        "content": [{"type": "text", "text": "Done: the handler is in api/webhooks.py."}]}},
    {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5400,
     "num_turns": 3, "result": "Done: the handler is in api/webhooks.py.", "session_id": "s1",
     "total_cost_usd": 0.0123, "usage": {"input_tokens": 2700,
                                         "cache_creation_input_tokens": 300,
                                         "cache_read_input_tokens": 1500,
                                         "output_tokens": 65}},
]

# codex exec --json, shaped as codex-rs/exec/src/exec_events.rs defines ThreadEvent.
CODEX_RUN = [
    {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning",
                                        "text": "**Scanning the repository**"}},
    {"type": "item.started", "item": {"id": "item_1", "type": "command_execution",
                                      "command": "bash -lc ls", "aggregated_output": "",
                                      "exit_code": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution",
                                        "command": "bash -lc ls",
                                        "aggregated_output": "README.md\n", "exit_code": 0,
                                        "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_2", "type": "file_change", "changes": [
        {"path": "api/webhooks.py", "kind": "add"}], "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message",
                                        "text": "Added the webhook handler."}},
    {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                                         "output_tokens": 122}},
]

# gemini -o stream-json, shaped as Gemini CLI 0.61.0 emits it (bundle nonInteractiveCli:
# JsonStreamEventType init/message/tool_use/tool_result/error/result, convertToStreamStats).
T = "2026-12-01T06:22:42.601Z"
GEMINI_RUN = [
    {"type": "init", "timestamp": T, "session_id": "b4f3", "model": "gemini-3.5-flash"},
    {"type": "message", "timestamp": T, "role": "user", "content": "add a handler"},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "I'll write ",
     "delta": True},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "the file.",
     "delta": True},
    {"type": "tool_use", "timestamp": T, "tool_name": "write_file", "tool_id": "write_file-1",
     "parameters": {"file_path": "api/webhooks.py"}},
    {"type": "tool_result", "timestamp": T, "tool_id": "write_file-1", "status": "success",
     "output": "Successfully created api/webhooks.py"},
    {"type": "message", "timestamp": T, "role": "assistant", "content": "Done.",
     "delta": True},
    {"type": "result", "timestamp": T, "status": "success", "stats": {
        "total_tokens": 5300, "input_tokens": 5100, "output_tokens": 200, "cached": 0,
        "input": 5100, "duration_ms": 4200, "tool_calls": 1, "models": {}}},
]

# opencode run --format json: {type, timestamp, sessionID, part}, parts as opencode 1.18.33
# declares them (StepStartPart, ToolPart, TextPart, StepFinishPart with tokens and cost).
OC = {"timestamp": 1796106919377, "sessionID": "ses_1"}
OPENCODE_RUN = [
    {**OC, "type": "step_start", "part": {"id": "prt_1", "type": "step-start"}},
    {**OC, "type": "tool_use", "part": {"id": "prt_2", "type": "tool", "tool": "write",
                                        "callID": "c1", "state": {
                                            "status": "completed",
                                            "input": {"filePath": "api/webhooks.py"},
                                            "output": "Wrote file successfully.",
                                            "title": "api/webhooks.py"}}},
    {**OC, "type": "step_finish", "part": {"type": "step-finish", "reason": "tool-calls",
                                           "cost": 0.002, "tokens": {
                                               "input": 1000, "output": 50, "reasoning": 10,
                                               "cache": {"read": 200, "write": 0}}}},
    {**OC, "type": "step_start", "part": {"id": "prt_3", "type": "step-start"}},
    {**OC, "type": "text", "part": {"type": "text", "text": "Added the handler.",
                                    "time": {"start": 3, "end": 4}}},
    {**OC, "type": "step_finish", "part": {"type": "step-finish", "reason": "stop",
                                           "cost": 0.001, "tokens": {
                                               "input": 300, "output": 20, "reasoning": 0,
                                               "cache": {"read": 1200, "write": 0}}}},
]

# aider --analytics-log: aider/analytics.py event() lines, message_send as
# coders/base_coder.py show_usage_report sends it.
AIDER_RUN = [
    {"event": "launched", "properties": {}, "user_id": "u", "time": 1796106993},
    {"event": "message_send_starting", "properties": {}, "user_id": "u", "time": 1796106999},
    {"event": "message_send", "properties": {
        "main_model": "gpt-4o", "edit_format": "diff", "prompt_tokens": 2345,
        "completion_tokens": 120, "total_tokens": 2465, "cost": 0.0071, "total_cost": 0.0071},
     "user_id": "u", "time": 1796107004},
    {"event": "message_send_starting", "properties": {}, "user_id": "u", "time": 1796107005},
    {"event": "message_send", "properties": {
        "main_model": "gpt-4o", "edit_format": "diff", "prompt_tokens": 3000,
        "completion_tokens": 80, "total_tokens": 3080, "cost": 0.008, "total_cost": 0.0151},
     "user_id": "u", "time": 1796107010},
    {"event": "exit", "properties": {"reason": "Completed --message"}, "user_id": "u",
     "time": 1796107011},
]
# The same run as aider prints it (base_coder.py calculate_and_show_tokens_and_cost).
AIDER_TEXT = (
    "Aider v0.86.2\nMain model: gpt-4o with diff edit format\n\n"
    "Tokens: 2.3k sent, 120 received. Cost: $0.0071 message, $0.0071 session.\n"
    "Applied edit to api/webhooks.py\n"
    "Tokens: 3.0k sent, 1.2k cache hit, 80 received.\n"
    "Cost: $0.0080 message, $0.02 session.\n"
)

DOCUMENTED = [
    ("claude", lines(*CLAUDE_RUN),
     Usage(4500, 65, 0.0123, 3, "Done: the handler is in api/webhooks.py.", None),
     ["[session s1] model claude-sonnet-4-5", "I'll add the handler.",
      '→ Write {"file_path": "api/webhooks.py", "content": "def handle(): ..."}',
      "← File created successfully at: api/webhooks.py",
      "Done: the handler is in api/webhooks.py.", "— done: 3 turns, $0.0123"]),
    ("codex", lines(*CODEX_RUN),
     Usage(24763, 122, None, 1, "Added the webhook handler.", None),
     ["[thread 0199a213-81c0-7800-8aa1-bbab2a035a53]", "(thinking) **Scanning the repository**",
      "$ bash -lc ls  → exit 0", "changed api/webhooks.py (add)",
      "Added the webhook handler."]),
    ("gemini", lines(*GEMINI_RUN),
     Usage(5100, 200, None, 1, "Done.", None),
     ["[session b4f3] model gemini-3.5-flash", "> add a handler", "I'll write the file.",
      '→ write_file {"file_path": "api/webhooks.py"}',
      "← success: Successfully created api/webhooks.py", "Done.", "— success"]),
    ("opencode", lines(*OPENCODE_RUN),
     Usage(2700, 80, pytest.approx(0.003), 2, "Added the handler.", None),  # type: ignore[arg-type]
     ["→ write api/webhooks.py", "← Wrote file successfully.", "Added the handler."]),
    ("aider", lines(*AIDER_RUN),
     Usage(5345, 200, 0.0151, 2, None, None), ["— exit: Completed --message"]),
    ("aider", AIDER_TEXT, Usage(6500, 200, 0.02, 2, None, None),
     [line for line in AIDER_TEXT.splitlines() if line]),
]


@pytest.mark.parametrize(("agent", "text", "usage", "rendered"), DOCUMENTED,
                         ids=[f"{d[0]}-{i}" for i, d in enumerate(DOCUMENTED)])
def test_documented_runs(agent: str, text: str, usage: Usage, rendered: list[str]) -> None:
    got, out = parse(agent, [text])
    assert got == usage
    assert out == rendered


# What the installed CLIs printed offline (tests/golden/README.md says how).
REAL = [
    ("claude", "claude-headless-not-logged-in.jsonl",
     Usage(0, 0, 0.0, 1, None, "Not logged in · Please run /login"),
     "— error: 1 turns, $0.0000: Not logged in · Please run /login"),
    ("claude", "claude-headless-conn-refused.jsonl",
     Usage(0, 0, 0.0, 1, None, "API Error: Unable to connect to API (ConnectionRefused)"),
     "— error: 1 turns, $0.0000: API Error: Unable to connect to API (ConnectionRefused)"),
    ("codex", "codex-exec-offline.jsonl",
     Usage(0, 0, None, 1, None, "Connection failed: error sending request"),
     "turn failed: Connection failed: error sending request"),
    ("gemini", "gemini-headless-fetch-failed.jsonl",
     Usage(0, 0, None, 1, None, "[API Error: exception TypeError: fetch failed sending request]"),
     "— error: [API Error: exception TypeError: fetch failed sending request]"),
    ("opencode", "opencode-run-offline.jsonl",
     Usage(0, 0, None, 0, None,
           "Cannot connect to API: Unable to connect. Is the computer able to access the url?"),
     "error: Cannot connect to API: Unable to connect. Is the computer able to access the url?"),
    # aider exited 0 here although the model never answered: only the log tells.
    ("aider", "aider-analytics-offline.jsonl",
     Usage(0, 0, None, 0, None, "the model never answered"), "— exit: Completed --message"),
    ("aider", "aider-message-offline.txt",
     Usage(0, 0, None, 0, None, "InternalServerError: OpenAIException - Connection"),
     "The API provider's servers are down or overloaded."),
]


@pytest.mark.parametrize(("agent", "name", "usage", "last"), REAL, ids=[r[1] for r in REAL])
def test_real_offline_output(agent: str, name: str, usage: Usage, last: str) -> None:
    got, out = parse(agent, [(GOLDEN / name).read_text()])
    assert got == usage
    assert out[-1] == last


ALL_STREAMS = [(d[0], d[1]) for d in DOCUMENTED] + [
    (r[0], (GOLDEN / r[1]).read_text()) for r in REAL]


@pytest.mark.parametrize(("agent", "text"), ALL_STREAMS,
                         ids=[f"{a}-{i}" for i, (a, _) in enumerate(ALL_STREAMS)])
def test_any_chunking_gives_the_same_result(agent: str, text: str) -> None:
    whole = parse(agent, [text])
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, 40)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert parse(agent, chunks) == whole
    assert parse(agent, list(text)) == whole  # one character at a time


def test_stream_reports_usage_as_it_goes() -> None:
    stream = Stream("codex")
    assert stream.feed(lines(*CODEX_RUN[:2])) == ["[thread 0199a213-81c0-7800-8aa1-bbab2a035a53]"]
    assert stream.usage == Usage(turns=1)
    stream.feed(lines(*CODEX_RUN[2:]))
    assert stream.usage.tokens_in == 24763


def test_garbage_lines_are_kept_as_text_and_change_nothing() -> None:
    noisy = ["Reading additional input from stdin...\n", "{torn json\n", "\n", "[1, 2]\n",
             "\x1b[31mred warning\x1b[0m\r\n"]
    text = "".join(noisy[i % len(noisy)] + line for i, line in
                   enumerate(lines(*CLAUDE_RUN).splitlines(keepends=True)))
    usage, out = parse("claude", [text])
    assert usage == DOCUMENTED[0][2]
    assert "Reading additional input from stdin..." in out
    assert "{torn json" in out and "[1, 2]" in out
    assert "\x1b[31mred warning\x1b[0m" in out


def test_claude_killed_before_its_result_counts_each_message_once() -> None:
    torn = lines(*CLAUDE_RUN[:-1]) + json.dumps(CLAUDE_RUN[-1])[:40]
    usage, out = parse("claude", [torn])
    # msg_01 came twice (text, then tool_use) with the same usage: counted once.
    assert usage == Usage(1500 + 3000, 40 + 25, None, 2,
                          "Done: the handler is in api/webhooks.py.", None)
    assert out[-1] == json.dumps(CLAUDE_RUN[-1])[:40]  # the torn line, kept verbatim


def test_codex_reconnect_errors_are_cleared_by_a_completed_turn() -> None:
    text = lines(CODEX_RUN[0], CODEX_RUN[1],
                 {"type": "error", "message": "Reconnecting... 2/5 (stream disconnected)"},
                 *CODEX_RUN[2:])
    usage, out = parse("codex", [text])
    assert usage.error is None
    assert "error: Reconnecting... 2/5 (stream disconnected)" in out


def test_codex_warning_items_are_not_errors() -> None:
    text = lines(*CODEX_RUN[:2], {"type": "item.completed", "item": {
        "id": "item_0", "type": "error", "message": "hooks may run without review"}},
        *CODEX_RUN[2:])
    usage, out = parse("codex", [text])
    assert usage.error is None
    assert "warning: hooks may run without review" in out


def test_gemini_text_still_pending_at_the_end_is_flushed() -> None:
    usage, out = parse("gemini", [lines(*GEMINI_RUN[:4])])
    assert out[-1] == "I'll write the file."
    assert usage.final_message == "I'll write the file."


def test_aider_analytics_win_over_the_rounded_text() -> None:
    usage, _ = parse("aider", [lines(*AIDER_RUN) + AIDER_TEXT])
    assert (usage.tokens_in, usage.cost_usd) == (5345, 0.0151)


def test_every_parser_starts_empty() -> None:
    for agent in PARSERS:
        assert Stream(agent).usage == Usage(), agent


def test_unknown_agent() -> None:
    with pytest.raises(KeyError, match="no headless parser for 'nope'; known: claude, codex"):
        Stream("nope")
