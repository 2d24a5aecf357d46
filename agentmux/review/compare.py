"""`agentmux review --compare NAME`: which panes are the attempts of one fanned-out task.

It works on the `review --json` contract only:
`{"panes": [{"name", "state", "exit_code", "signal", "duration_s", "files": [{"path",
"status", "added", "removed"}], "conflicts_with": [names], ...}], ...}`; optional per pane:
`"attempt_of"` (as run.json records it) and `"check"` (true/false, a string, or an object with
`"passed"`). The attempts of NAME are the panes with `attempt_of == NAME`, else the panes
named NAME-1, NAME-2, ...; conflicts between attempts are expected (they do the same task)
and are left out, so the conflicts kept are those with the rest of the run. `cli.render`
draws the result side by side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentmux.errors import BadInput


@dataclass(frozen=True)
class Attempt:
    pane: Mapping[str, Any]                # the pane's entry in the review JSON
    files: tuple[Mapping[str, Any], ...]   # its changed files
    conflicts: tuple[str, ...]             # panes outside the attempts it conflicts with

    @property
    def name(self) -> str:
        return str(self.pane.get("name"))


def attempts(review: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    panes = [p for p in review.get("panes", []) if isinstance(p, dict)]
    pattern = re.compile(re.escape(name) + r"-([0-9]+)")
    found = [p for p in panes if p.get("attempt_of") == name]
    if not found:
        found = [p for p in panes if pattern.fullmatch(str(p.get("name", "")))]
    if not found:
        found = [p for p in panes if p.get("name") == name]
    if not found:
        raise BadInput(f"compare: no attempts of {name!r} in this run; panes: "
                       + ", ".join(str(p.get("name")) for p in panes))

    def number(p: Mapping[str, Any]) -> int:
        m = pattern.fullmatch(str(p.get("name", "")))
        return int(m[1]) if m else 0

    return sorted(found, key=number)


def compare(review: Mapping[str, Any], name: str) -> list[Attempt]:
    found = attempts(review, name)
    siblings = {str(p.get("name")) for p in found}
    return [Attempt(p, tuple(f for f in p.get("files") or [] if isinstance(f, dict)),
                    tuple(str(c) for c in p.get("conflicts_with") or [] if c not in siblings))
            for p in found]
