"""The program every agent's own hook mechanism calls: one JSON line per event, nothing else.

    python3 -S /path/to/agentmux/hook.py AGENT EVENT [PAYLOAD]
    python3 -S -m agentmux.hook AGENT EVENT [PAYLOAD]      (with agentmux on PYTHONPATH)

Claude Code, Codex hooks and Gemini CLI hand the event's JSON on stdin; Codex's `notify`
appends it as the last argument; aider's `--notifications-command` and OpenCode's plugin
(docs/agent-clis.md) call it too. It appends one line to `$AGENTMUX_PANE_DIR/hooks.jsonl`:

    {"version": 1, "t": 1796106852.1, "agent": "claude", "event": "turn_end",
     "state": "idle", "reason": null, "raw_event": "Stop", "session": "d190...",
     "output_size": 48213}

Why it is this careful:
- It always exits 0 and prints nothing. A failing hook blocks tool calls in Claude Code, and
  Claude and Gemini read a hook's stdout as instructions or context.
- Outside an agentmux pane (no AGENTMUX_PANE_DIR) it does nothing: a user's own agent that
  inherits the settings must not be slowed or disturbed.
- It runs once per event, often several at once, so it imports only what the interpreter
  has loaded anyway plus select, and json (7 ms, through re) only inside a pane. Each record
  is one os.write on an O_APPEND descriptor (docs/ledger.md: 0 torn lines from 8
  concurrent writers).
- aider runs it with the terminal as stdin and Codex with /dev/null; a hook that waited for
  a stdin that never closes would hang the agent, so stdin is read only when it is not a
  tty, and only until a short deadline.
"""

from __future__ import annotations

import os
import select
import sys
import time

VERSION = 1
PANE_DIR_VAR = "AGENTMUX_PANE_DIR"
FILE_NAME = "hooks.jsonl"
OUTPUT_NAME = "output.log"  # the pane's raw output (ledger.RunDir.output)
STDIN_DEADLINE = 0.5  # seconds; the CLIs write the payload and close at once
STDIN_KEEP = 1 << 20  # bytes kept; PostToolUse payloads carry whole tool outputs
REASON_MAX = 200

WORKING, WAITING, IDLE = "working", "waiting", "idle"

# A rule: (normalised event, state, refine_path, reason_paths).
# - state is a state name, None (the event says nothing about the state), or a table from
#   the value found at refine_path in the payload to a state (values not listed: None).
# - reason_paths: dotted payload paths, the first present one is the record's reason.
Rule = tuple[str, "str | dict[str, str | None] | None", str, tuple[str, ...]]

# Claude Code 2.1.197 (verified offline: SessionStart, UserPromptSubmit, StopFailure,
# SessionEnd; the rest from https://code.claude.com/docs/en/hooks). Codex 0.171.0 names its
# hooks the same way (codex-rs/hooks/src/events/*.rs; SessionStart and UserPromptSubmit
# verified offline).
_CLAUDE_LIKE: dict[str, Rule] = {
    "SessionStart": ("session_start", None, "", ("source",)),
    "UserPromptSubmit": ("prompt", WORKING, "", ()),
    "PreToolUse": ("tool_start", WORKING, "", ("tool_name",)),
    "PostToolUse": ("tool_end", WORKING, "", ("tool_name",)),
    "PostToolUseFailure": ("tool_end", WORKING, "", ("tool_name", "error")),
    "PermissionRequest": ("permission", WAITING, "", ("tool_name",)),
    "ElicitationResult": ("elicitation_result", WORKING, "", ()),
    "SubagentStart": ("subagent_start", WORKING, "", ("agent_type",)),
    "SubagentStop": ("subagent_end", WORKING, "", ("agent_type",)),
    "PreCompact": ("compact", WORKING, "", ("trigger",)),
    "PostCompact": ("compact", WORKING, "", ("trigger",)),
    # Stop ends a turn, not the task: the agent sits at its prompt.
    "Stop": ("turn_end", IDLE, "", ()),
    # "Not logged in" and API errors end the turn with StopFailure, then the prompt is back.
    "StopFailure": ("turn_failed", IDLE, "", ("error", "last_assistant_message")),
    "Notification": (
        "notification",
        {"permission_prompt": WAITING, "elicitation_dialog": WAITING, "idle_prompt": IDLE},
        "notification_type",
        ("notification_type", "message"),
    ),
    "SessionEnd": ("session_end", None, "", ("reason",)),
}

EVENTS: dict[str, dict[str, Rule]] = {
    "claude": _CLAUDE_LIKE,
    "codex": {
        **_CLAUDE_LIKE,
        # `notify` (codex-rs/hooks/src/legacy_notify.rs): the payload's "type" names the
        # event, and agent-turn-complete is the only type there is.
        "agent-turn-complete": ("turn_end", IDLE, "", ()),
    },
    # Gemini CLI 0.61.0, packages/core hookEventHandler (bundle/chunk-JDPZ4CE3.js): hooks run
    # synchronously; Notification fires only for ToolPermission.
    "gemini": {
        "SessionStart": ("session_start", None, "", ("source",)),
        "BeforeAgent": ("prompt", WORKING, "", ()),
        "BeforeModel": ("model_start", WORKING, "", ()),
        "AfterModel": ("model_end", WORKING, "", ()),
        "BeforeToolSelection": ("tool_select", WORKING, "", ()),
        "BeforeTool": ("tool_start", WORKING, "", ("tool_name",)),
        "AfterTool": ("tool_end", WORKING, "", ("tool_name",)),
        "PreCompress": ("compact", WORKING, "", ("trigger",)),
        "AfterAgent": ("turn_end", IDLE, "", ()),
        "Notification": (
            "notification",
            {"ToolPermission": WAITING},
            "notification_type",
            ("notification_type", "message"),
        ),
        "SessionEnd": ("session_end", None, "", ("reason",)),
    },
    # OpenCode 1.18.33 bus events, handed over by agentmux's plugin (verified offline:
    # session.status busy/retry/idle, session.idle, session.error).
    "opencode": {
        "session.status": (
            "status",
            {"busy": WORKING, "retry": WORKING, "idle": IDLE},
            "properties.status.type",
            ("properties.status.message", "properties.status.type"),
        ),
        "session.idle": ("turn_end", IDLE, "", ()),
        "session.error": (
            "error", None, "", ("properties.error.data.message", "properties.error.name"),
        ),
        "permission.asked": ("permission", WAITING, "", ("properties.permission",)),
        "permission.replied": ("permission_answered", WORKING, "", ("properties.reply",)),
        "question.asked": ("question", WAITING, "", ()),
        "question.replied": ("question_answered", WORKING, "", ()),
        "question.rejected": ("question_answered", WORKING, "", ()),
    },
    # aider runs its notifications command, with no payload, whenever it wants input after
    # an LLM reply: at a yes/no question (waiting) and at its chat prompt (idle) alike
    # (aider/io.py ring_bell). It cannot tell them apart, so this says "waiting": a person
    # is needed either way, and the preset's one-shot --message form only ever asks
    # questions. The watcher's screen pattern can still refine it.
    "aider": {
        "notification": ("input_wanted", WAITING, "", ()),
    },
}

_SESSION_PATHS = ("session_id", "thread-id", "sessionID", "properties.sessionID")


def _get(payload: object, path: str) -> object:
    for key in path.split("."):
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value[:REASON_MAX]
    return None


def classify(agent: str, event: str, payload: object) -> dict[str, object]:
    """The record for one event, without its time stamp."""
    raw = _text(_get(payload, "hook_event_name")) or _text(_get(payload, "type")) or event
    rule = EVENTS.get(agent, {}).get(raw)
    name, state, reason = "other", None, None
    if rule is not None:
        name, rule_state, refine, reasons = rule
        if isinstance(rule_state, dict):
            sub = _get(payload, refine)
            state = rule_state.get(sub) if isinstance(sub, str) else None
        else:
            state = rule_state
        for path in reasons:
            reason = _text(_get(payload, path))
            if reason is not None:
                break
    session = None
    for path in _SESSION_PATHS:
        session = _text(_get(payload, path))
        if session is not None:
            break
    return {"version": VERSION, "agent": agent, "event": name, "state": state,
            "reason": reason, "raw_event": raw, "session": session}


def read_stdin(deadline: float = STDIN_DEADLINE, keep: int = STDIN_KEEP) -> bytes:
    """What the agent wrote on stdin, read until EOF or the deadline; b"" for a tty."""
    if os.isatty(0):
        return b""
    chunks: list[bytes] = []
    kept = 0
    end = time.monotonic() + deadline
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            ready, _, _ = select.select([0], [], [], left)
            if not ready:
                break
            data = os.read(0, 65536)
        except (OSError, ValueError):  # no stdin at all
            break
        if not data:
            break
        # Keep reading past the limit: a writer whose pipe closes early gets EPIPE.
        if kept < keep:
            chunks.append(data[: keep - kept])
            kept += len(chunks[-1])
    return b"".join(chunks)


def parse(text: bytes | str) -> object:
    import json

    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {}


def append(pane_dir: str, record: dict[str, object]) -> None:
    import json

    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(os.path.join(pane_dir, FILE_NAME),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def output_size(pane_dir: str) -> int | None:
    """How much the pane had written when the hook ran: the watcher tells an agent that moved
    on after a hook that cannot say `working` (aider's) by the output that came after it."""
    try:
        return os.stat(os.path.join(pane_dir, OUTPUT_NAME)).st_size
    except FileNotFoundError:  # made with the pane's first bytes: none yet
        return 0
    except OSError:
        return None


def main(argv: list[str]) -> int:
    try:
        pane_dir = os.environ.get(PANE_DIR_VAR)
        if not pane_dir or len(argv) < 2:
            return 0
        agent, event = argv[0], argv[1]
        # Codex's notify appends the payload as the last argument and gives /dev/null.
        payload = parse(argv[-1]) if len(argv) > 2 else parse(read_stdin())
        record = classify(agent, event, payload)
        append(pane_dir, {"version": VERSION, "t": time.time(), **record,
                          "output_size": output_size(pane_dir)})
    except BaseException:  # a hook must never fail its agent, whatever happened
        pass
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
    raise SystemExit(0)
