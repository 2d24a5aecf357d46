"""The layout as frozen dataclasses, and the naming rules every layer shares.

Nothing here reads a file or runs a program: `parse` builds these, `plan` resolves them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Isolation = Literal["worktree", "directory", "none"]
ISOLATIONS: tuple[Isolation, ...] = ("worktree", "directory", "none")
Mode = Literal["interactive", "headless"]
MODES: tuple[Mode, ...] = ("interactive", "headless")
Sandbox = Literal["none", "bwrap"]
SANDBOXES: tuple[Sandbox, ...] = ("none", "bwrap")
Approve = Literal["ask", "auto"]
APPROVALS: tuple[Approve, ...] = ("ask", "auto")
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024   # bytes of raw output kept per pane (head + tail)
DEFAULT_BRANCH = "agentmux/{session}/{pane}"
# A sandboxed agent may move only refs in its branch's folder (git renames `<ref>.lock` over
# the ref there), so with the default template its branch gets a folder of its own:
# agentmux/{session}/{pane}/work (docs/sandbox.md, "Sibling branches are pinned").
SANDBOX_BRANCH_LEAF = "work"
WATCHER_WINDOW = "agentmux"

SESSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PANE_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")


@dataclass(frozen=True)
class PaneSpec:
    """One pane as the layout declares it (after fan-out: one per attempt)."""

    name: str
    agent: str | None          # preset name, when the pane used `agent`
    command: str               # the command template (from the preset or `command`), unrendered
    task: str                  # "" when not given
    dir: str                   # relative folder inside the worktree/checkout; "" for its root
    env: Mapping[str, str]
    window: str | None         # explicit window name, or None for automatic tiling
    timeout: float | None = None           # seconds; this pane's, else the layout's
    check: str | None = None               # this pane's, else the layout's
    idle_after: float = 20.0               # seconds of quiet before "quiet" is shown
    waiting_patterns: tuple[str, ...] = ()  # pane + layout + own preset (built-ins add theirs)
    scope: tuple[str, ...] = ()            # globs (scope.py); () when none was declared
    context: tuple[str, ...] = ()          # files at base the agent must read first
    brief: bool = False                    # {task} renders as "Read your task brief at ..."
    brief_auto: bool = False               # brief was set because the task is too long (limits)
    count: int = 1                         # attempts of this task (fan-out)
    attempt_of: str | None = None          # with count > 1: the name written in the layout
    mode: Mode = "interactive"             # headless: the CLI's non-interactive form
    sandbox: Sandbox = "none"              # bwrap: the agent writes only its own worktree
    network: bool = True                   # False: no network for the agent (needs a sandbox)
    approve: Approve = "ask"               # auto: the preset's own auto-approve flag
    host: str | None = None                # a [hosts.NAME] to run on, None for this machine


@dataclass(frozen=True)
class HostSpec:
    """A `[hosts.NAME]` table: another machine reached over ssh, with a clone of the repo."""

    name: str
    ssh: str                               # anything `ssh` accepts, ~/.ssh/config aliases too
    repo: str                              # absolute path of the clone on that host
    worktree_root: str | None = None       # template like the layout's; None: the layout's
    env: Mapping[str, str] = field(default_factory=dict)
    max_running: int | None = None


@dataclass(frozen=True)
class Layout:
    path: Path                 # absolute path of the layout file
    version: int
    session: str
    repo: Path                 # absolute git top-level
    base: str                  # as written; resolved to a SHA by worktrees
    isolation: Isolation
    branch: str                # template, e.g. "agentmux/{session}/{pane}"
    worktree_root: str         # template, relative to repo and inside it (limits.worktree_root)
    copy: tuple[str, ...]
    setup: str | None
    panes_per_window: int
    poll_interval: float
    env: Mapping[str, str]
    agents: Mapping[str, str]  # the layout's own presets: name -> command template
    panes: tuple[PaneSpec, ...]
    on_event: str | None = None
    disposable: tuple[str, ...] = ()
    allow_overlap: bool = False
    max_running: int | None = None         # a queue: at most this many agents at once
    max_output: int = DEFAULT_MAX_OUTPUT   # bytes of raw output kept per pane
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)
    approve_without_sandbox: bool = False  # `approve = "auto"` outside a sandbox, knowingly

    def branch_of(self, pane: PaneSpec) -> str:
        name = fill(self.branch, {"session": self.session, "pane": pane.name})
        if pane.sandbox == "bwrap" and self.branch == DEFAULT_BRANCH:
            return f"{name}/{SANDBOX_BRANCH_LEAF}"
        return name


def fill(template: str, values: Mapping[str, str], quote: Callable[[str], str] = str) -> str:
    # One pass, so text that a value brings in (a task mentioning "{pane}") is never
    # substituted again; any other {x}, such as the shell's ${HOME}, stays as written.
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, values)) + r")\}")
    return pattern.sub(lambda m: quote(values[m[1]]), template)
