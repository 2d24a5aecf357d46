"""What a pane's screen says: a person is needed (and why), or the agent's turn ended.

Pure: a rendered screen and rules in, a verdict out. The rules are data: each built-in
preset's `screens` (most specific first, agentmux/presets.py), the layout's own
`waiting_patterns`, then generic prompts any program shows.

The screen is the pane's raw output as a terminal emulator shows it (agentmux.screen): no
escape codes, words apart where the screen has a gap, the full-screen program's screen while
it is on one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agentmux import presets
from agentmux.records import PaneRecord

log = logging.getLogger(__name__)

# Generic prompts, for every pane including plain `command` panes.
GENERIC = (
    ("question", r"(?i)[\[(]y(?:es)?/n(?:o)?[\])]"),   # (y/n), [Y/n], (yes/no): read(1)-style
    ("prompt", r"(?i)press enter to continue"),
)
GENERIC_PATTERNS = tuple(p for _, p in GENERIC)
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass(frozen=True)
class Rule:
    state: str                  # waiting | idle
    reason: str
    pattern: re.Pattern[str]


def compile_rules(entry: PaneRecord | None) -> list[Rule]:
    """The preset's own rules, then the layout's patterns (pane, layout, [agents.x]), then
    the generic ones; the first that matches decides."""
    agent = entry.agent if entry is not None else None
    own = presets.BUILTINS[agent].screens if agent in presets.BUILTINS else ()
    raw = [(r.state, r.reason, r.pattern) for r in own]
    raw += [("waiting", "prompt", p) for p in (entry.waiting_patterns if entry else ())]
    raw += [("waiting", reason, p) for reason, p in GENERIC]
    out = []
    for state, reason, text in raw:
        try:
            out.append(Rule(state, reason, re.compile(text, re.MULTILINE)))
        except re.error as e:  # the layout is validated; a ledger edited by hand must not crash
            log.warning("bad screen pattern %r: %s", text, e)
    return out


def screen_verdict(screen: str, cursor_y: int | None, rules: Iterable[Rule]
                   ) -> tuple[str, str] | None:
    """(state, reason) when this rendered screen says `waiting` or `idle`, else None."""
    text = ANSI.sub("", screen)
    for r in rules:
        if r.pattern.search(text):
            return r.state, r.reason
    # A question left on the cursor line: the last non-empty line ends with `?`, and the
    # cursor sits on it (a prompt waiting for its answer, not a question in old output).
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if filled and cursor_y == filled[-1] and lines[filled[-1]].rstrip().endswith("?"):
        return "waiting", "question"
    return None


# The waiting-only view, kept for callers that ask just "is a person needed?".
def compile_patterns(entry: PaneRecord | None) -> list[re.Pattern[str]]:
    return [r.pattern for r in compile_rules(entry) if r.state == "waiting"]


def screen_waiting(screen: str, cursor_y: int | None, patterns: Iterable[re.Pattern[str]]
                   ) -> bool:
    rules = [Rule("waiting", "prompt", p) for p in patterns]
    return screen_verdict(screen, cursor_y, rules) is not None


def menu_keys(agent: str | None, screen: str) -> tuple[str, ...] | None:
    """The keys that answer the menu on this rendered screen, where the agent's preset knows
    it (presets.Preset.menu_keys, then the generic ones); None when no known menu shows."""
    own = presets.BUILTINS[agent].menu_keys if agent in presets.BUILTINS else ()
    for pattern, keys in (*own, *presets.GENERIC_MENU_KEYS):
        if re.search(pattern, screen, re.MULTILINE):
            return keys
    return None
