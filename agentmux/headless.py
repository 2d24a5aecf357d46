"""Each agent CLI's headless output, parsed as it streams: usage numbers and a readable text.

The headless forms (docs/agent-clis.md) print one JSON event a line:

    claude -p --output-format stream-json --verbose TASK
    codex exec --json TASK
    gemini -p TASK -o stream-json
    opencode run --format json TASK
    aider --message TASK --no-analytics --analytics-log FILE   (aider's own text is read too)

`Stream(agent)` takes the output in chunks of any size, hands each complete line to that
CLI's parser, and returns the transcript lines it rendered. A line that is not JSON (stderr
mixed in, a warning, a line torn by a kill) is kept verbatim in the transcript and never
stops the parse. `usage` is a frozen `Usage` at any moment, so a run that was killed half
way still tells what it had spent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from .headless_parsers import (
    AiderParser,
    ClaudeParser,
    CodexParser,
    GeminiParser,
    OpenCodeParser,
    Parser,
    Usage,
)

__all__ = ["PARSERS", "Stream", "Usage", "parse"]

PARSERS: dict[str, Callable[[], Parser]] = {
    "claude": ClaudeParser,
    "codex": CodexParser,
    "gemini": GeminiParser,
    "opencode": OpenCodeParser,
    "aider": AiderParser,
}


class Stream:
    """Feed a CLI's output in chunks; read the rendered lines and the usage so far."""

    def __init__(self, agent: str) -> None:
        if agent not in PARSERS:
            raise KeyError(f"no headless parser for {agent!r}; known: {', '.join(PARSERS)}")
        self.parser = PARSERS[agent]()
        self.tail = ""

    def feed(self, chunk: str) -> list[str]:
        lines = (self.tail + chunk).split("\n")
        self.tail = lines.pop()
        out: list[str] = []
        for line in lines:
            out.extend(self.line(line))
        return out

    def close(self) -> list[str]:
        """The last line even without its newline (a torn one is kept as text), then flush."""
        out = self.line(self.tail) if self.tail else []
        self.tail = ""
        return out + self.parser.flush()

    def line(self, line: str) -> list[str]:
        line = line.rstrip("\r")
        try:
            ev = json.loads(line) if line.lstrip().startswith("{") else None
        except ValueError:
            ev = None
        if isinstance(ev, dict):
            return self.parser.event(ev)
        return self.parser.text(line)

    @property
    def usage(self) -> Usage:
        return self.parser.usage()


def parse(agent: str, chunks: Iterable[str]) -> tuple[Usage, list[str]]:
    """The whole output at once: its usage and its transcript lines."""
    stream = Stream(agent)
    out: list[str] = []
    for chunk in chunks:
        out.extend(stream.feed(chunk))
    out.extend(stream.close())
    return stream.usage, out
