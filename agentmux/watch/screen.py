"""Is a pane's screen asking a person? Pure: a rendered screen and patterns in, a verdict out.

The screen is the pane's raw output as a terminal emulator shows it (agentmux.screen): no
escape codes, words apart where the screen has a gap, the full-screen program's screen while
it is on one."""

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
# Escape sequences: kept for readers of raw output on other branches; screens come rendered.
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
    """Is this rendered screen asking a person? `cursor_y`: the line the cursor is on."""
    text = screen
    if any(p.search(text) for p in patterns):
        return True
    # A question left on the cursor line: the last non-empty line ends with `?`, and the
    # cursor sits on it (a prompt waiting for its answer, not a question in old output).
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return bool(filled and cursor_y == filled[-1] and lines[filled[-1]].rstrip().endswith("?"))


def menu_keys(agent: str | None, screen: str) -> tuple[str, ...] | None:
    """The keys that answer the menu on this rendered screen, where the agent's preset knows
    it (presets.Preset.menu_keys, then the generic ones); None when no known menu shows."""
    own = presets.BUILTINS[agent].menu_keys if agent in presets.BUILTINS else ()
    for pattern, keys in (*own, *presets.GENERIC_MENU_KEYS):
        if re.search(pattern, screen, re.MULTILINE):
            return keys
    return None
