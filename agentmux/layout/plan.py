"""A parsed layout resolved into what `up` will create, and the text `validate` prints."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from agentmux.layout.model import Layout, fill

TASK_FILE_PREVIEW = "<run>/panes/{pane}/TASK.md"
BRIEF_LINE = "Read your task brief at {path} and follow it."


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
    agent: str | None = None
    timeout: float | None = None
    check: str | None = None
    idle_after: float = 20.0
    waiting_patterns: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    attempt_of: str | None = None


def _windows(layout: Layout) -> list[str]:
    names, auto = [], 0
    for pane in layout.panes:
        if pane.window is not None:
            names.append(pane.window)
            continue
        n = auto // layout.panes_per_window + 1
        names.append("agents" if n == 1 else f"agents-{n}")
        auto += 1
    return names


def plan(layout: Layout, task_file: Mapping[str, Path] | None = None) -> tuple[PanePlan, ...]:
    plans = []
    root = fill(layout.worktree_root, {"session": layout.session})
    for pane, window in zip(layout.panes, _windows(layout), strict=True):
        branch: str | None = None
        worktree: Path | None = None
        if layout.isolation == "worktree":
            branch = layout.branch_of(pane)
            worktree = layout.repo / root / pane.name
            cwd = worktree / pane.dir
        else:
            cwd = layout.repo / pane.dir
        tf = (str(task_file[pane.name]) if task_file is not None
              else TASK_FILE_PREVIEW.replace("{pane}", pane.name))
        task = BRIEF_LINE.format(path=tf) if pane.brief else pane.task
        values = {"task": task, "task_file": tf, "pane": pane.name,
                  "worktree": str(worktree or cwd), "branch": branch or "",
                  "session": layout.session}
        plans.append(PanePlan(
            name=pane.name, window=window, branch=branch, worktree=worktree, cwd=cwd,
            command=fill(pane.command, values, shlex.quote),
            env=MappingProxyType({**layout.env, **pane.env}), agent=pane.agent,
            timeout=pane.timeout, check=pane.check, idle_after=pane.idle_after,
            waiting_patterns=pane.waiting_patterns, scope=pane.scope, context=pane.context,
            attempt_of=pane.attempt_of,
        ))
    return tuple(plans)


def describe(layout: Layout, plans: tuple[PanePlan, ...]) -> str:
    lines = [
        f"session:   {layout.session}",
        f"repo:      {layout.repo}",
        f"base:      {layout.base}",
        f"isolation: {layout.isolation}",
    ]
    if layout.setup is not None:
        lines.append(f"setup:     {layout.setup}")
    if layout.copy:
        lines.append("copy:      " + " ".join(layout.copy))
    windows = len(dict.fromkeys(p.window for p in plans))
    lines.append(f"panes:     {len(plans)} in {windows} window{'s' if windows != 1 else ''}")
    for p in plans:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in p.env.items()) or "(none)"
        lines += [
            "",
            f"pane {p.name}",
            f"  command:  {p.command}",
            f"  folder:   {p.cwd}",
            f"  branch:   {p.branch if p.branch is not None else '(none)'}",
            f"  worktree: {p.worktree if p.worktree is not None else '(none)'}",
            f"  window:   {p.window}",
            f"  env:      {env}",
        ]
        spec = next(pn for pn in layout.panes if pn.name == p.name)
        if spec.brief_auto:
            lines.append(f"  task:     {len(spec.task.encode('utf-8', 'surrogateescape'))} "
                         "bytes, too long for the command line: it goes through the brief "
                         "file, and {task} reads \"" + BRIEF_LINE.format(path="<path>") + "\"")
        network = "" if spec.network else " · no network"
        lines.append(f"  runs:     {spec.mode} · sandbox {spec.sandbox}{network} · approve "
                     f"{spec.approve} · host {spec.host or '(this machine)'}")
        if p.scope:
            lines.append("  scope:    " + " ".join(p.scope))
        if p.context:
            lines.append("  context:  " + " ".join(p.context))
    return "\n".join(lines) + "\n"


def command_preview(layout: Layout) -> list[tuple[str, str]]:
    """Every command the layout would run, for the trust prompt."""
    out = []
    for p in plan(layout):
        out.append((p.name, p.command))
        if p.check is not None:
            out.append((f"{p.name} (check)", p.check))
    if layout.setup is not None:
        out.append(("setup", layout.setup))
    if layout.on_event is not None:
        out.append(("on_event", layout.on_event))
    return out
