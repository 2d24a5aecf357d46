"""Is a pane's screen asking a person? Pure: a rendered screen and patterns in, a verdict out."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from agentmux import presets
from agentmux.records import PaneRecord

log = logging.getLogger(__name__)

# Generic prompts, for every pane including plain `command` panes.
GENERIC_PATTERNS = (
    r"(?i)[\[(]y(?:es)?/n(?:o)?[\])]",   # (y/n), [Y/n], (yes/no): read(1)-style confirmations
    r"(?i)press enter to continue",
)
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def compile_patterns(entry: PaneRecord | None) -> list[re.Pattern[str]]:
    """Generic + the built-in preset's + the layout's (pane, layout, [agents.x]) patterns."""
    agent = entry.agent if entry is not None else None
    own = presets.BUILTINS[agent].waiting_patterns if agent in presets.BUILTINS else ()
    out = []
    for text in (*GENERIC_PATTERNS, *own, *(entry.waiting_patterns if entry else ())):
        try:
            out.append(re.compile(text, re.MULTILINE))
        except re.error as e:  # the layout is validated; a ledger edited by hand must not crash
            log.warning("bad waiting pattern %r: %s", text, e)
    return out


def screen_waiting(screen: str, cursor_y: int | None, patterns: Iterable[re.Pattern[str]]
                   ) -> bool:
    """Is this rendered screen asking a person?"""
    text = ANSI.sub("", screen)
    if any(p.search(text) for p in patterns):
        return True
    # A question left on the cursor line: the last non-empty line ends with `?`, and the
    # cursor sits on it (a prompt waiting for its answer, not a question in old output).
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return bool(filled and cursor_y == filled[-1] and lines[filled[-1]].rstrip().endswith("?"))
