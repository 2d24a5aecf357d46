"""The commands' renderers and the one Markdown code fence, without a run."""

from __future__ import annotations

import pytest

from agentmux.cli import render
from agentmux.review.report import Metrics, PaneReport, Review
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
    pane = PaneReport(name="a", state="done", exit_code=0, duration_s=1.0, commits_ahead=0,
                      tail=("```", "done"))
    metrics = Metrics(agents=1, done=1, completion_rate=1.0, pairs=0, conflicting_pairs=0,
                      conflict_rate=None, conflicting_agents=(), overlap_files=(),
                      wall_clock_s=1.0, agent_time_s=1.0, speedup=None, queued_s=0.0)
    md = render.review_markdown(Review({"id": "r", "session": "s"}, (pane,), metrics))
    assert "\n````text\n```\ndone\n````\n" in md
