"""The layout: a TOML file -> frozen dataclasses (`parse`) -> what `up` creates (`plan`).

- model.py: `Layout`, `PaneSpec` and the naming rules shared with `init`;
- checker.py: one TOML value at a time, each error naming the key path;
- parse.py: the file and its sections, in the order errors are reported;
- plan.py: `PanePlan`, `plan`, `describe` (what `validate` prints), `command_preview`.
"""

from __future__ import annotations

from agentmux.layout.model import PANE_RE, SESSION_RE, WATCHER_WINDOW, Layout, PaneSpec
from agentmux.layout.parse import load, parse, read_bytes
from agentmux.layout.plan import PanePlan, command_preview, describe, plan

__all__ = ["PANE_RE", "SESSION_RE", "WATCHER_WINDOW", "Layout", "PanePlan", "PaneSpec",
           "command_preview", "describe", "load", "parse", "plan", "read_bytes"]
