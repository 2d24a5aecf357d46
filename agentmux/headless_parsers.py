"""One parser per agent CLI's headless stream; agentmux.headless streams lines into them.

Each parser turns one decoded JSON event (or one line that is not JSON) into transcript
lines and keeps the numbers `Usage` reports. The stream shapes are cited on each class.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SNIPPET = 160  # characters of a tool's input or output shown in a transcript


@dataclass(frozen=True)
class Usage:
    """What a headless run spent and how it ended, as far as its stream tells."""

    tokens_in: int = 0  # prompt tokens, cached ones included
    tokens_out: int = 0  # completion tokens, reasoning included
    cost_usd: float | None = None  # None: this CLI does not report cost
    turns: int = 0  # as the CLI counts them; see each parser
    final_message: str | None = None
    error: str | None = None


def _short(value: object, limit: int = SNIPPET) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Field readers that never raise: a CLI may drop or retype any field in its next release.
def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class Parser:
    """Shared state; each CLI's subclass turns one decoded event into transcript lines."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    turns: int = 0
    final: str | None = None
    error: str | None = None

    def event(self, ev: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def text(self, line: str) -> list[str]:
        """A line that is not a JSON object: kept as the CLI printed it."""
        return [line] if line.strip() else []

    def flush(self) -> list[str]:
        return []

    def usage(self) -> Usage:
        return Usage(self.tokens_in, self.tokens_out, self.cost, self.turns, self.final,
                     self.error)


def _claude_in(usage: dict[str, Any]) -> int:
    return sum(_int(usage.get(k)) for k in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


@dataclass
class ClaudeParser(Parser):
    """Claude Code stream-json: system/init, assistant and user messages (Anthropic Messages
    API content blocks), then one `result` with num_turns, total_cost_usd and usage
    (https://code.claude.com/docs/en/headless; the Agent SDK's SDKResultMessage). Without a
    result (killed), usage falls back to the assistant messages, counted once per id."""

    per_message: dict[str, tuple[int, int]] = field(default_factory=dict)
    result_seen: bool = False

    def event(self, ev: dict[str, Any]) -> list[str]:
        kind, sub = ev.get("type"), ev.get("subtype")
        if kind == "system" and sub == "init":
            return [f"[session {ev.get('session_id')}] model {ev.get('model')}"]
        if kind == "system" and sub == "api_retry":
            return [f"retrying the API ({ev.get('attempt')}/{ev.get('max_retries')}):"
                    f" {ev.get('error')}"]
        if kind == "assistant":
            return self._assistant(ev)
        if kind == "user":
            return [f"← {_short(b.get('content'))}" for b in map(
                _dict, _list(_dict(ev.get("message")).get("content")))
                if b.get("type") == "tool_result"]
        if kind == "result":
            return self._result(ev)
        return []

    def _assistant(self, ev: dict[str, Any]) -> list[str]:
        msg = _dict(ev.get("message"))
        usage = _dict(msg.get("usage"))
        self.per_message[str(msg.get("id"))] = (_claude_in(usage),
                                                 _int(usage.get("output_tokens")))
        if not self.result_seen:
            self.tokens_in = sum(t[0] for t in self.per_message.values())
            self.tokens_out = sum(t[1] for t in self.per_message.values())
            self.turns = len(self.per_message)
        out = []
        for block in _list(msg.get("content")):
            block = _dict(block)
            if block.get("type") == "text" and _str(block.get("text")):
                self.final = block["text"]
                out.extend(block["text"].splitlines())
            elif block.get("type") == "tool_use":
                out.append(f"→ {block.get('name')} {_short(block.get('input'))}")
        if _str(ev.get("error")):
            self.error = ev["error"]
        return out

    def _result(self, ev: dict[str, Any]) -> list[str]:
        self.result_seen = True
        usage = _dict(ev.get("usage"))
        self.tokens_in = _claude_in(usage)
        self.tokens_out = _int(usage.get("output_tokens"))
        self.cost = _num(ev.get("total_cost_usd"))
        self.turns = _int(ev.get("num_turns"))
        result = _str(ev.get("result"))
        sub = str(ev.get("subtype"))
        if ev.get("is_error") is True or sub.startswith("error"):
            self.error = result or sub
            if self.final == result:  # Claude's own error text, not the model's answer
                self.final = None
        elif result:
            self.final, self.error = result, None
        cost = "?" if self.cost is None else f"${self.cost:.4f}"
        return [f"— {'error' if self.error else 'done'}: {self.turns} turns, {cost}"
                + (f": {self.error}" if self.error else "")]


@dataclass
class CodexParser(Parser):
    """`codex exec --json` ThreadEvents (codex-rs/exec/src/exec_events.rs): usage arrives per
    turn in turn.completed; turns counts turn.started; Codex reports no cost. Its top-level
    `error` events include transient "Reconnecting..." notes, so only the last error that no
    later turn.completed cleared counts."""

    def event(self, ev: dict[str, Any]) -> list[str]:
        kind = ev.get("type")
        if kind == "thread.started":
            return [f"[thread {ev.get('thread_id')}]"]
        if kind == "turn.started":
            self.turns += 1
            return []
        if kind == "turn.completed":
            usage = _dict(ev.get("usage"))
            self.tokens_in += _int(usage.get("input_tokens"))
            self.tokens_out += _int(usage.get("output_tokens"))
            self.error = None
            return []
        if kind in ("turn.failed", "error"):
            self.error = _str(_dict(ev.get("error")).get("message")) or _str(
                ev.get("message")) or "error"
            return [f"{'turn failed' if kind == 'turn.failed' else 'error'}: {self.error}"]
        if kind == "item.completed":
            return self._item(_dict(ev.get("item")))
        if kind == "request_user_input":
            return [f"? {_short(q.get('question'))}"
                    for q in map(_dict, _list(ev.get("questions")))]
        return []

    def _item(self, item: dict[str, Any]) -> list[str]:
        kind = item.get("type")
        if kind == "agent_message" and _str(item.get("text")):
            self.final = item["text"]
            return list(item["text"].splitlines())
        if kind == "reasoning":
            return [f"(thinking) {_short(item.get('text'))}"]
        if kind == "command_execution":
            return [f"$ {item.get('command')}  → exit {item.get('exit_code')}"]
        if kind == "file_change":
            return [f"changed {c.get('path')} ({c.get('kind')})"
                    for c in map(_dict, _list(item.get("changes")))]
        if kind == "mcp_tool_call":
            return [f"→ {item.get('server')}.{item.get('tool')} {item.get('status')}"]
        if kind == "web_search":
            return [f"search: {item.get('query')}"]
        if kind == "error":
            return [f"warning: {item.get('message')}"]
        return []


@dataclass
class GeminiParser(Parser):
    """Gemini CLI stream-json (packages/core/src/output/types.ts JsonStreamEventType and
    nonInteractiveCli): assistant text arrives as `delta` fragments, joined here until the
    next other event; `result` carries stats.input_tokens/output_tokens. turns counts the
    user messages; Gemini reports no cost."""

    pending: list[str] = field(default_factory=list)

    def event(self, ev: dict[str, Any]) -> list[str]:
        kind = ev.get("type")
        if kind == "message" and ev.get("role") == "assistant":
            self.pending.append(str(ev.get("content", "")))
            return []
        out = self.flush()
        if kind == "init":
            out.append(f"[session {ev.get('session_id')}] model {ev.get('model')}")
        elif kind == "message":
            self.turns += 1
            out.append(f"> {ev.get('content')}")
        elif kind == "tool_use":
            out.append(f"→ {ev.get('tool_name')} {_short(ev.get('parameters'))}")
        elif kind == "tool_result":
            err = _dict(ev.get("error"))
            out.append(f"← {ev.get('status')}: {_short(err.get('message') or ev.get('output'))}")
        elif kind == "error":
            out.append(f"{ev.get('severity', 'error')}: {ev.get('message')}")
        elif kind == "result":
            stats = _dict(ev.get("stats"))
            self.tokens_in = _int(stats.get("input_tokens"))
            self.tokens_out = _int(stats.get("output_tokens"))
            if ev.get("status") == "error":
                self.error = _str(_dict(ev.get("error")).get("message")) or "error"
            out.append(f"— {ev.get('status')}" + (f": {self.error}" if self.error else ""))
        return out

    def flush(self) -> list[str]:
        if not self.pending:
            return []
        text, self.pending = "".join(self.pending), []
        if text.strip():
            self.final = text
        return text.splitlines()


@dataclass
class OpenCodeParser(Parser):
    """`opencode run --format json` (opencode 1.18.33, cli/cmd/run.ts): {type, timestamp,
    sessionID, part|error}; step_finish parts carry tokens {input, output, reasoning,
    cache{read, write}} and cost. turns counts step_start (model round trips)."""

    def event(self, ev: dict[str, Any]) -> list[str]:
        kind, part = ev.get("type"), _dict(ev.get("part"))
        if kind == "step_start":
            self.turns += 1
            return []
        if kind == "step_finish":
            tokens = _dict(part.get("tokens"))
            cache = _dict(tokens.get("cache"))
            self.tokens_in += _int(tokens.get("input")) + _int(cache.get("read")) + _int(
                cache.get("write"))
            self.tokens_out += _int(tokens.get("output")) + _int(tokens.get("reasoning"))
            cost = _num(part.get("cost"))
            if cost is not None:
                self.cost = (self.cost or 0.0) + cost
            return []
        if kind == "text" and _str(part.get("text")):
            self.final = part["text"]
            return list(part["text"].splitlines())
        if kind == "reasoning":
            return [f"(thinking) {_short(part.get('text'))}"]
        if kind == "tool_use":
            state = _dict(part.get("state"))
            lines = [f"→ {part.get('tool')} {_short(state.get('title') or state.get('input'))}"]
            done = state.get("output") if state.get("status") == "completed" else state.get(
                "error")
            return [*lines, f"← {_short(done)}"] if done else lines
        if kind == "error":
            err = _dict(ev.get("error"))
            self.error = _str(_dict(err.get("data")).get("message")) or _str(
                err.get("name")) or "error"
            return [f"error: {self.error}"]
        return []


_AIDER_TOKENS = re.compile(r"^Tokens: (\S+) sent(?:, (\S+) cache write)?(?:, (\S+) cache hit)?,"
                           r" (\S+) received\.")
# With both cache numbers the cost goes on a line of its own (base_coder.py, sep = "\n").
_AIDER_COST = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session\.")
_AIDER_ERROR = re.compile(r"^litellm\.\w+: (.*)")


def _aider_count(text: str | None) -> int:
    """aider's format_tokens: 999, 1.2k, 12k (so an estimate above 1,000)."""
    if not text:
        return 0
    try:
        return round(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        return 0


@dataclass
class AiderParser(Parser):
    """aider prints no JSON events; `--analytics-log FILE` (with --no-analytics nothing leaves
    the machine) writes exact `message_send` events: prompt_tokens, completion_tokens,
    total_cost (aider/analytics.py, coders/base_coder.py show_usage_report). Its own text
    gives the rounded "Tokens: 1.2k sent, 300 received. Cost: $0.01 message, $0.02 session."
    lines, used only when no analytics event was seen. A message_send_starting with no
    message_send after it means the model never answered; aider still exits 0 then."""

    exact: bool = False
    text_usage: list[tuple[int, int, float | None]] = field(default_factory=list)
    sending: bool = False
    last_error: str | None = None

    def event(self, ev: dict[str, Any]) -> list[str]:
        name, props = ev.get("event"), _dict(ev.get("properties"))
        if name == "message_send_starting":
            self.sending = True
        elif name == "message_send":
            self.exact, self.sending = True, False
            self.turns += 1
            self.tokens_in += _int(props.get("prompt_tokens"))
            self.tokens_out += _int(props.get("completion_tokens"))
            self.cost = _num(props.get("total_cost"))
        elif name == "exit":
            return [f"— exit: {props.get('reason')}"]
        return []

    def text(self, line: str) -> list[str]:
        m = _AIDER_TOKENS.match(line.strip())
        if m:
            # "sent" already counts the cache writes (base_coder.py); cache hits come on top.
            self.text_usage.append((_aider_count(m[1]) + _aider_count(m[3]),
                                    _aider_count(m[4]), None))
        cost = _AIDER_COST.search(line)
        if cost and self.text_usage:
            tin, tout, _ = self.text_usage[-1]
            self.text_usage[-1] = (tin, tout, float(cost[2]))
        err = _AIDER_ERROR.match(line.strip())
        if err:
            self.last_error = err[1].strip()
        return super().text(line)

    def usage(self) -> Usage:
        error = self.error
        if self.sending:
            error = self.last_error or "the model never answered"
        elif not self.exact and not self.text_usage:
            error = self.last_error
        if self.exact or not self.text_usage:
            return Usage(self.tokens_in, self.tokens_out, self.cost, self.turns, None, error)
        return Usage(sum(u[0] for u in self.text_usage), sum(u[1] for u in self.text_usage),
                     self.text_usage[-1][2], len(self.text_usage), None, error)
