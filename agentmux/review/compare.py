"""`agentmux review --compare NAME`: the attempts of one fanned-out task, side by side.

It works on the `review --json` contract only:
`{"panes": [{"name", "state", "exit_code", "signal", "duration_s", "files": [{"path",
"status", "added", "removed"}], "conflicts_with": [names], ...}], ...}`; optional per pane:
`"attempt_of"` (as run.json records it) and `"check"` (true/false, a string, or an object with
`"passed"`). The attempts of NAME are the panes with `attempt_of == NAME`, else the panes
named NAME-1, NAME-2, ...; conflicts between attempts are expected (they do the same task)
and are left out, so the conflicts shown are those with the rest of the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentmux.errors import BadInput
from agentmux.units import fmt_duration


def attempts(review: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
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


def _outcome(p: Mapping[str, Any]) -> str:
    state = str(p.get("state") or "-")
    if p.get("signal"):
        return f"{state} ({p['signal']})"
    if p.get("exit_code") is not None:
        return f"{state} ({p['exit_code']})"
    return state


def _check(p: Mapping[str, Any]) -> str:
    c = p.get("check")
    if isinstance(c, dict):
        c = c.get("passed", c.get("result"))
    if c is True:
        return "passed"
    if c is False:
        return "failed"
    return "-" if c is None else str(c)


def _lines(files: Sequence[Mapping[str, Any]]) -> str:
    added = sum(int(f.get("added") or 0) for f in files)
    removed = sum(int(f.get("removed") or 0) for f in files)
    return f"+{added} -{removed}"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def compare(review_json: dict[str, Any], name: str) -> str:
    found = attempts(review_json, name)
    names = [str(p.get("name")) for p in found]
    siblings = set(names)
    rows: list[list[str]] = [["", *names]]
    rows.append(["outcome", *(_outcome(p) for p in found)])
    rows.append(["check", *(_check(p) for p in found)])
    durations = [p.get("duration_s") for p in found]
    rows.append(["duration", *(fmt_duration(d if isinstance(d, int | float) else None)
                               for d in durations)])
    files = [[f for f in p.get("files") or [] if isinstance(f, dict)] for p in found]
    rows.append(["files", *(str(len(fs)) for fs in files)])
    rows.append(["lines", *(_lines(fs) for fs in files)])
    conflicts = [[c for c in p.get("conflicts_with") or [] if c not in siblings] for p in found]
    rows.append(["conflicts", *(", ".join(map(str, cs)) or "none" for cs in conflicts)])
    out = [f"{name}: {len(found)} attempt{'s' if len(found) != 1 else ''}", "", *_table(rows)]
    paths = sorted({str(f.get("path")) for fs in files for f in fs})
    if paths:
        grid = [["file", *names]]
        for path in paths:
            cells = []
            for fs in files:
                f = next((f for f in fs if str(f.get("path")) == path), None)
                cells.append("." if f is None else
                             f"{f.get('status') or '?'} +{f.get('added') or 0} "
                             f"-{f.get('removed') or 0}")
            grid.append([path, *cells])
        out += ["", *_table(grid)]
    out += ["", f"take one with `agentmux merge {names[0]}` (or another attempt's name)"]
    return "\n".join(out) + "\n"
