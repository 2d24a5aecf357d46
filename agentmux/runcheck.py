"""The runner's `check` step: after the agent exits 0, its check runs in the worktree.

Stdlib only, like the runner. The check runs in the runner, not the watcher: it is then
part of the pane's own life (visible in the pane, stopped by `down` and by the timeout like
the agent, recorded in status.json as `check_exit_code`), and works with no watcher at all.

A check never runs in the user's main checkout: with isolation `none` or `directory` there
is no worktree of the pane's own, so the check is skipped and the pane ends `done` with
reason `check-skipped` (review can tell it apart from a verified `done`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (argv, cwd, stdout fd or None) -> (exit code, signal)
Spawner = Callable[[list[str], str, int], "tuple[int | None, int | None]"]


def find_check(data: dict[str, Any], status: Path, pane: str) -> str | None:
    """The spec's `check`, else the pane's entry in run.json (up.py records it there)."""
    if isinstance(data.get("check"), str):
        return str(data["check"]) or None
    run_json = status.parent.parent.parent / "run.json"
    try:
        run = json.loads(run_json.read_bytes())
    except (OSError, ValueError):
        return None
    for entry in run.get("panes", []) if isinstance(run, dict) else []:
        if isinstance(entry, dict) and entry.get("name") == pane:
            check = entry.get("check")
            return check if isinstance(check, str) and check else None
    return None


def run_check(check: str, worktree: str, log: Path, shell: str, spawn: Spawner
              ) -> tuple[int | None, int | None]:
    """Output goes to `check.log`, then is shown in the pane."""
    with open(log, "wb") as out:
        out.write(f"$ {check}\n".encode())
        out.flush()
        code, sig = spawn([shell, "-c", check], worktree, out.fileno())
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write("agentmux: check `" + check + "`\n")
        sys.stdout.flush()
        os.write(1, log.read_bytes()[-8192:])
    return code, sig
