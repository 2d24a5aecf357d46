"""The layout: a TOML file -> frozen dataclasses (`parse`) -> what `up` creates (`plan`).

- model.py: `Layout`, `PaneSpec` and the naming rules shared with `init`;
- checker.py: one TOML value at a time, each error naming the key path;
- parse.py: the file and its sections, in the order errors are reported;
- limits.py: the worktree folder's shape and the exec's size limits (parse runs them);
- preflight.py: against this repository: the worktree folder ignored, existing branches
  (`load` runs them; `check_here` for a layout `parse` built);
- plan.py: `PanePlan`, `plan`, `describe` (what `validate` prints), `command_preview`.
"""

from __future__ import annotations

from agentmux.layout.model import PANE_RE, SESSION_RE, WATCHER_WINDOW, Layout, PaneSpec
from agentmux.layout.parse import load, parse, read_bytes
from agentmux.layout.plan import PanePlan, command_preview, describe, plan
from agentmux.layout.preflight import check_here

__all__ = ["PANE_RE", "SESSION_RE", "WATCHER_WINDOW", "Layout", "PanePlan", "PaneSpec",
           "check_here", "command_preview", "describe", "load", "parse", "plan", "read_bytes"]
