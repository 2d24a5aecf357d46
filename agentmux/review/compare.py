"""`agentmux review --compare NAME`: which panes are the attempts of one fanned-out task.

It works on the review's records (review.report): the attempts of NAME are the panes whose
`attempt_of` (as run.json records it for `count = N`) is NAME, else the panes named NAME-1,
NAME-2, ..., else the pane NAME itself. Conflicts between attempts are expected (they do the
same task) and are left out, so the conflicts kept are those with the rest of the run.
`cli.render` draws the result side by side: outcome, check, duration, files, lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentmux.errors import BadInput
from agentmux.records.outcome import FileChange
from agentmux.review.report import PaneReport, Review


@dataclass(frozen=True)
class Attempt:
    pane: PaneReport                       # the pane as `review` reports it
    conflicts: tuple[str, ...]             # panes outside the attempts it conflicts with

    @property
    def name(self) -> str:
        return self.pane.name

    @property
    def files(self) -> tuple[FileChange, ...]:
        return self.pane.files


def attempts(review: Review, name: str) -> list[PaneReport]:
    panes = review.panes
    pattern = re.compile(re.escape(name) + r"-([0-9]+)")
    found = [p for p in panes if p.attempt_of == name]
    if not found:
        found = [p for p in panes if pattern.fullmatch(p.name)]
    if not found:
        found = [p for p in panes if p.name == name]
    if not found:
        raise BadInput(f"compare: no attempts of {name!r} in this run; panes: "
                       + ", ".join(p.name for p in panes))

    def number(p: PaneReport) -> int:
        m = pattern.fullmatch(p.name)
        return int(m[1]) if m else 0

    return sorted(found, key=number)


def compare(review: Review, name: str) -> list[Attempt]:
    found = attempts(review, name)
    siblings = {p.name for p in found}
    return [Attempt(p, tuple(c for c in p.conflicts_with if c not in siblings)) for p in found]
