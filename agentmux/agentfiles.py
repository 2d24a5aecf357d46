"""Files an agent's own hook mechanism reads from its worktree, there only while it runs.

Gemini CLI reads hooks from `<worktree>/.gemini/settings.json` (agentmux/wiring.py). The
runner places such files just before the agent starts and removes them once it ended, so no
worktree keeps them: `clean` would otherwise find ignored files and refuse. A file that is
already there is never overwritten, and one the agent changed is left as it is.

Only `os` (and the runner's own `suppress`): the runner imports it at a pane's start, when
the spec has such files.
"""

from __future__ import annotations

import os

from agentmux.runproc import suppress

Placed = list[tuple[str, str, bool]]  # (path, content, made its folder)


def place(files: dict[str, str]) -> Placed:
    """All of them, or none where any is there already (the project's own settings stand)."""
    placed: Placed = []
    if any(os.path.lexists(path) for path in files):
        return placed
    for path, text in files.items():
        folder = os.path.dirname(path)
        made = not os.path.isdir(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError:
            continue  # there already, or not writable: the agent runs without it
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        placed.append((path, text, made))
    return placed


def remove(placed: Placed) -> None:
    for path, text, _ in reversed(placed):
        with suppress(OSError):
            with open(path, "rb") as f:
                same = f.read() == text.encode()
            if same:
                os.unlink(path)
    for path, _, made in reversed(placed):
        if made:
            with suppress(OSError):
                os.rmdir(os.path.dirname(path))  # only when empty
