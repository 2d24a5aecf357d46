"""The commands' renderers and the one Markdown code fence, without a run."""

from __future__ import annotations

import pytest

from agentmux.cli import render
from agentmux.units import fence


@pytest.mark.parametrize(("text", "want"), [
    ("plain", "```"),
    ("one ` tick and ``two``", "```"),
    ("```python\nx\n```", "````"),
    ("a ````` run", "``````"),
])
def test_fence_is_longer_than_any_backtick_run(text: str, want: str) -> None:
    assert fence(text) == want


def test_table_pads_columns_and_strips_the_end() -> None:
    assert render.table([("NAME", "X"), ("a", "long value"), ("bbbbbb", "")]) == [
        "NAME    X", "a       long value", "bbbbbb"]


def test_markdown_tail_cannot_close_its_fence() -> None:
    pane = {"name": "a", "state": "done", "signal": None, "exit_code": 0, "duration_s": 1.0,
            "commits_ahead": 0, "files": [], "added": 0, "removed": 0, "conflicts_with": [],
            "commits": [], "tail": ["```", "done"]}
    metrics = {"conflicting_pairs": 0, "pairs": 0, "conflicting_agents": [], "speedup": None,
               "done": 1, "agents": 1, "overlap_files": [], "wall_clock_s": 1.0,
               "agent_time_s": 1.0}
    md = render.review_markdown({"run": {"id": "r", "session": "s"}, "panes": [pane],
                                 "metrics": metrics})
    assert "\n````text\n```\ndone\n````\n" in md
