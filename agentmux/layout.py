"""TOML layout -> frozen dataclasses. Every error names the file and the key path.

INTERFACE STUB: the types below are the contract; `load` and `plan` are to be implemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Isolation = Literal["worktree", "directory", "none"]


@dataclass(frozen=True)
class Pane:
    name: str
    agent: str | None          # preset name, when the pane used `agent`
    command: str               # the command template (from the preset or `command`), unrendered
    task: str                  # "" when not given
    dir: str                   # relative folder inside the worktree/checkout; "" for its root
    env: Mapping[str, str]
    window: str | None         # explicit window name, or None for automatic tiling


@dataclass(frozen=True)
class Layout:
    path: Path                 # absolute path of the layout file
    version: int
    session: str
    repo: Path                 # absolute git top-level
    base: str                  # as written; resolved to a SHA by worktrees
    isolation: Isolation
    branch: str                # template, e.g. "agentmux/{session}/{pane}"
    worktree_root: str         # template, relative to repo (or absolute)
    copy: tuple[str, ...]
    setup: str | None
    panes_per_window: int
    poll_interval: float
    env: Mapping[str, str]
    agents: Mapping[str, str]  # the layout's own presets: name -> command template
    panes: tuple[Pane, ...]


@dataclass(frozen=True)
class PanePlan:
    """What `up` will create for one pane, fully resolved except the run folder."""

    name: str
    window: str                # window name the pane goes in
    branch: str | None         # None unless isolation == "worktree"
    worktree: Path | None      # None unless isolation == "worktree"
    cwd: Path                  # absolute folder the agent runs in
    command: str               # rendered shell command ({task} etc. substituted, shell-quoted)
    env: Mapping[str, str]     # layout env + pane env (AGENTMUX_* are added by `up`)


def load(path: Path) -> Layout:
    raise NotImplementedError


def plan(layout: Layout, task_file: Mapping[str, Path] | None = None) -> tuple[PanePlan, ...]:
    raise NotImplementedError
