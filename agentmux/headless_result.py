"""The end of a headless run: its stream parsed into usage (usage.json, and result.json when
the pane has one) and a readable transcript.

The CLI's stream is the pane's raw output (output.log: what the program wrote to its
terminal, so lines end in CRLF and may carry escapes), plus, for aider, the local analytics
log its preset writes. `agentmux/headless.py` does the parsing; a line that is not JSON is kept
as text and never stops it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from agentmux import headless, ledger
from agentmux.errors import AgentmuxError
from agentmux.watch.screen import ANSI
from agentmux.wiring import read_wiring

CHUNK = 1 << 20
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
AIDER_LOG = "aider-analytics.jsonl"
USAGE_FILE = "usage.json"


def _lines(path: Path) -> list[str]:
    """Complete lines of a file read in chunks, escapes and carriage returns removed."""
    out: list[str] = []
    tail = ""
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                parts = (tail + chunk.decode(errors="replace")).split("\n")
                tail = parts.pop()
                out.extend(parts)
    except OSError:
        return out
    if tail:
        out.append(tail)
    # The runner's bell and other control bytes are the terminal's, not the stream's.
    return [CONTROL.sub("", ANSI.sub("", line)) for line in out]


def finish(run_dir: ledger.RunDir, name: str) -> dict[str, object] | None:
    """For a headless pane that ended: writes its usage into result.json and its rendered
    transcript into transcript.txt; returns the usage (None for any other pane)."""
    pane_dir = run_dir.pane_dir(name)
    wired = read_wiring(pane_dir)
    agent = wired.agent
    if wired.mode != "headless" or agent is None or agent not in headless.PARSERS:
        return None
    stream = headless.Stream(agent)
    rendered: list[str] = []
    if agent == "aider":  # exact tokens and cost first: they win over aider's rounded text
        for line in _lines(pane_dir / AIDER_LOG):
            stream.line(line)
    for line in _lines(run_dir.output(name)):
        rendered.extend(stream.line(line))
    rendered.extend(stream.close())
    usage: dict[str, object] = dataclasses.asdict(stream.usage)
    run_dir.transcript(name).write_text("\n".join(rendered) + "\n", errors="surrogateescape")
    # Its own file, whatever happens to result.json (a pane with no worktree has none, and
    # `clean --force` takes a new snapshot); result.json carries a copy for its readers.
    ledger.write_json(pane_dir / USAGE_FILE, {"version": 1, "usage": usage})
    try:
        result = run_dir.result_of(name)
    except AgentmuxError:
        result = None
    if result is not None:
        run_dir.write_result(dataclasses.replace(result, extra={**result.extra, "usage": usage}))
    return usage


def read_usage(pane_dir: Path) -> dict[str, object] | None:
    """A headless run's usage (usage.json), None for any other pane."""
    try:
        data = ledger.read_json(pane_dir / USAGE_FILE)
    except AgentmuxError:
        return None
    got = (data or {}).get("usage")
    return dict(got) if isinstance(got, dict) else None


def usage_totals(usages: list[dict[str, object]]) -> dict[str, object]:
    """Tokens and cost summed over the agents that reported them; None where none did."""
    def num(u: dict[str, object], key: str) -> float:
        v = u.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0

    costs = [u for u in usages if isinstance(u.get("cost_usd"), int | float)]
    return {
        "tokens_in": int(sum(num(u, "tokens_in") for u in usages)) if usages else None,
        "tokens_out": int(sum(num(u, "tokens_out") for u in usages)) if usages else None,
        "cost_usd": round(sum(num(u, "cost_usd") for u in costs), 6) if costs else None,
    }
