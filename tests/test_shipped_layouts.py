"""The layouts the project ships stay valid, and use real presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmux import layout, presets

LAYOUTS = sorted((Path(__file__).resolve().parent.parent / "layouts").glob("*.toml"))


@pytest.mark.parametrize("path", LAYOUTS, ids=[p.stem for p in LAYOUTS])
def test_shipped_layout_validates(path: Path) -> None:
    lay = layout.load(path)
    plans = layout.plan(lay)
    assert len(plans) == 5
    if path.stem == "five-agents":
        # The day with real agents: every pane uses a built-in preset, all five different.
        assert {p.agent for p in lay.panes} == set(presets.BUILTINS) - {"shell"}


def test_the_layouts_are_there() -> None:
    assert [p.stem for p in LAYOUTS] == ["demo", "five-agents"]
