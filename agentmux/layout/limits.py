"""Limits a layout must fit before anything is created: where the worktrees may go, and how
big one argument of the agent's exec may be.

- `worktree_root` is a folder inside the repository, relative to it: not the repository's own
  folder (`.` left `?? a/` in the main checkout), not inside `.git`, not agentmux's ledger.
  Whether git ignores it is a question for git: `preflight` asks it.
- Linux refuses an exec whose one argument or environment entry is MAX_ARG_STRLEN (32 pages,
  128 KiB) or longer (E2BIG), and the pane's command line is one argument (`sh -c COMMAND`).
  A task too long for it goes through the pane's brief file when the pane runs a built-in
  agent preset (an agent CLI, which reads files): `{task}` then reads "Read your task brief at
  <path> and follow it." (as with `brief = true`), and `validate` says so. Any other pane (a
  `command`, the layout's own preset, the `shell` preset, whose task is a command line) is
  refused instead: its program may not read a brief, and agentmux will not guess.
- All of an exec (argv, environment, their pointers) must fit ARG_MAX (about 2 MiB).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath

from agentmux import ledger, presets
from agentmux.layout.checker import Checker
from agentmux.layout.model import Layout, PaneSpec, fill
from agentmux.layout.plan import PanePlan, plan

ROOT_EXAMPLE = '".agentmux/worktrees/{session}"'
# The runner adds AGENTMUX_* variables, and a sandbox puts bwrap's own arguments before the
# command: room kept for them in the ARG_MAX sum (an estimate, generous on purpose).
EXEC_HEADROOM = 32 * 1024
_POINTER = 8


def max_arg() -> int:
    """Bytes one argument or environment entry may hold, its terminating NUL not counted."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        page = 4096
    return 32 * page - 1


def worktree_root(c: Checker, template: str, session: str) -> str:
    root = PurePosixPath(fill(template, {"session": session}))
    key, shown = "worktree_root", repr(template)
    if root.is_absolute():
        c.fail(key, f"{shown} is an absolute path; it must be a folder inside the repository, "
               f"relative to it, such as {ROOT_EXAMPLE}")
    if ".." in root.parts:
        c.fail(key, f"{shown} leaves the repository ('..'); it must be a folder inside it, "
               f"such as {ROOT_EXAMPLE}")
    if not root.parts:
        c.fail(key, f"{shown} is the repository's own folder: the worktrees would sit among "
               f"its files; give them a folder of their own, such as {ROOT_EXAMPLE}")
    if root.parts[0] == ".git":
        c.fail(key, f"{shown} is inside .git, which belongs to git; use a folder such as "
               f"{ROOT_EXAMPLE}")
    if root.parts[0] == ledger.LEDGER_DIR and (len(root.parts) == 1 or root.parts[1] == "runs"):
        c.fail(key, f"{shown} is agentmux's ledger; use a folder beside it, such as "
               f"{ROOT_EXAMPLE}")
    return template


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _too_big(size: int, limit: int, what: str) -> str:
    return (f"{what} is {size} bytes, over the {limit}-byte limit of one argument of a "
            "program's start (Linux's MAX_ARG_STRLEN, 128 KiB): it could never start (E2BIG)")


def _env(c: Checker, key: str, env: Mapping[str, str], limit: int) -> None:
    for name, value in env.items():
        size = _size(name) + 1 + _size(value)
        if size > limit:
            c.fail(f"{key}.{name}", _too_big(size, limit, f"{name}=value") + "; put the value "
                   "in a file and pass its path instead")


def task_files(lay: Layout) -> dict[str, Path]:
    """Task brief paths as long as `up`'s will be: the run id's length never varies with time."""
    run = ledger.runs_dir(lay.repo) / ledger.new_run_id(lay.session)
    return {p.name: run / "panes" / p.name / "TASK.md" for p in lay.panes}


def arguments(c: Checker, lay: Layout, index: Mapping[str, int]) -> Layout:
    """lay, with a too-long task of an agent pane moved to its brief; fails on what cannot fit."""
    limit = max_arg()
    _env(c, "env", lay.env, limit)
    for key, text in (("setup", lay.setup), ("on_event", lay.on_event)):
        if text is not None and _size(text) > limit:
            c.fail(key, _too_big(_size(text), limit, "the command"))
    files = task_files(lay)
    panes = list(lay.panes)
    plans = plan(lay, files)
    for i, (spec, pl) in enumerate(zip(lay.panes, plans, strict=True)):
        at = f"pane[{index.get(spec.attempt_of or spec.name, i + 1)}]"
        _env(c, at + ".env", spec.env, limit)
        if spec.check is not None and _size(spec.check) > limit:
            c.fail(at + ".check", _too_big(_size(spec.check), limit, "the check command"))
        size = _size(pl.command)
        if size <= limit:
            continue
        bare = _size(fill(spec.command, {"task": "", "task_file": str(files[spec.name])},
                          shlex.quote))
        if spec.brief or bare > limit or not spec.task:
            c.fail(at + ".command", _too_big(size, limit, f"pane {spec.name!r}: its command "
                   "line") + "; shorten it, for example with a script that holds it")
        preset = presets.BUILTINS.get(spec.agent or "")
        if preset is None or preset.mode == "shell":
            c.fail(at + ".task", _too_big(size, limit, f"pane {spec.name!r}: its command line "
                   f"with the task ({_size(spec.task)} bytes) in {{task}}") + "; pass the task "
                   "through the brief file: set brief = true ({task} then reads \"Read your "
                   "task brief at <path> and follow it.\"), or give the program {task_file}")
        panes[i] = brief_instead(spec)
    if panes != list(lay.panes):
        lay = replace(lay, panes=tuple(panes))
        plans = plan(lay, files)
    _exec_size(c, lay, plans, index)
    return lay


def brief_instead(spec: PaneSpec) -> PaneSpec:
    return replace(spec, brief=True, brief_auto=True)


def _entries(env: Mapping[str, str]) -> int:
    return sum(_size(k) + _size(v) + 2 + _POINTER for k, v in env.items())


def _exec_size(c: Checker, lay: Layout, plans: tuple[PanePlan, ...],
               index: Mapping[str, int]) -> None:
    """argv and environment of each local agent's exec, pointers included, against ARG_MAX.

    The environment is this process's: `up` hands its own to the runner (agentmux/panenv.py).
    """
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        return
    base = _entries({k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")})
    shell = os.environ.get("SHELL") or "/bin/sh"
    for i, (spec, pl) in enumerate(zip(lay.panes, plans, strict=True), 1):
        if spec.host is not None or arg_max <= 0:
            continue   # another machine: its own environment and limits
        argv = sum(_size(a) + 1 + _POINTER for a in (shell, "-c", pl.command))
        total = base + _entries(pl.env) + argv + EXEC_HEADROOM
        if total > arg_max:
            c.fail(f"pane[{index.get(spec.attempt_of or spec.name, i)}]",
                   f"pane {pl.name!r}: its command line and environment come to about {total} "
                   f"bytes, over this system's limit of {arg_max} for one program start "
                   f"(ARG_MAX): it could never start (E2BIG). The layout's env adds "
                   f"{_entries(pl.env)} bytes, your environment {base}, the command {argv}; "
                   "make the large ones smaller, or pass them through files")
