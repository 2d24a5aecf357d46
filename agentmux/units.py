"""Small formatting helpers shared by modules. They import nothing of agentmux, so any command
can use them without loading the watcher and the rest of `status`."""

from __future__ import annotations

import re

_BACKTICKS = re.compile("`+")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in `text`, so that the text
    (an agent's output, a context file) cannot close it early."""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*")


def parse_duration(text: str) -> float | None:
    """Seconds from "90", "90s", "5m", "1.5h"; None when it is not such a duration (or <= 0)."""
    m = _DURATION.fullmatch(text)
    if not m or float(m[1]) <= 0:
        return None
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]
