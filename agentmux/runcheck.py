"""The runner's `check` step: after the agent exits 0, its check runs in the worktree.

Stdlib only, like the runner, which imports it only when a check is due. The check runs in
the runner, not the watcher: it is then part of the pane's own life (visible in the pane,
stopped by `down` and by the timeout like the agent, recorded in status.json as
`check_exit_code`), and works with no watcher at all. It comes from the spec's `check`.

A check never runs in the user's main checkout: with isolation `none` or `directory` there
is no worktree of the pane's own, so the check is skipped and the pane ends `done` with
reason `check-skipped` (review can tell it apart from a verified `done`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    # (command, cwd, stdout fd) -> (exit code, signal)
    Spawner = Callable[[str, str, int], tuple[int | None, int | None]]


def run_check(check: str, worktree: str, log: str, spawn: Spawner
              ) -> tuple[int | None, int | None]:
    """Output goes to `check.log`, then its last 8 KiB are shown in the pane."""
    with open(log, "wb") as out:
        out.write(f"$ {check}\n".encode())
        out.flush()
        code, sig = spawn(check, worktree, out.fileno())
    try:
        sys.stdout.write("agentmux: check `" + check + "`\n")
        sys.stdout.flush()
        with open(log, "rb") as f:
            os.write(1, f.read()[-8192:])
    except (OSError, ValueError):
        pass
    return code, sig
