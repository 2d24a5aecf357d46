"""One pane's log followed as it grows: each poll() renders only the bytes written since.

For the watcher: its LAST OUTPUT column and waiting detection, every tick, at the cost of
the output since the last tick instead of a re-render of the log. A log that is already
long is joined at its end (as screen_text reads it); a burst bigger than CATCH_UP between two
polls is skipped to its end the same way, with a line that says so, so that one tick never
renders megabytes. It follows capture.py's parts (the head, then the rolling segments) in
order; a segment rotated away before it was read is a gap, said as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from agentmux import capture
from agentmux.screen import (
    HEIGHT,
    WIDTH,
    Renderer,
    feed,
    renderer,
    starts_on_alt,
    tail_bytes,
)

CATCH_UP = 1024 * 1024  # more than this pending at a poll: join at the end instead


class Follower:
    def __init__(self, path: str, width: int = WIDTH, height: int = HEIGHT,
                 max_lines: int = 50, setup: Callable[[Renderer], None] | None = None) -> None:
        self.path = str(path)
        self.size = (width, height, max_lines)
        self.setup = setup  # called with the renderer as soon as it is made, before any feed
        self.r: Renderer | None = None
        self._part = ""   # the part being read, and how far
        self._offset = 0

    def poll(self) -> bool:
        """Render what was written since the last poll; whether there was anything."""
        snap = capture.snapshot(self.path)
        if not snap:
            return False
        if self.r is None and sum(size for _, size in snap) <= CATCH_UP:
            self.r = self._new()
            self._part, self._offset = snap[0][0], 0
        elif self.r is None or self._pending(snap) > CATCH_UP:
            self._join_at_end(snap)
            return True
        assert self.r is not None
        fed = False
        names = [p for p, _ in snap]
        if self._part not in names:
            # capture.py rotated it away before it was all read: go on at the oldest kept.
            self._part, self._offset = names[min(1, len(names) - 1)], 0
            self.r.gap(None)
        for part, size in snap[names.index(self._part):]:
            if part != self._part:
                self._part, self._offset = part, 0
            if size > self._offset:
                fed = self._read(size) or fed
        return fed

    def _pending(self, snap: list[tuple[str, int]]) -> int:
        names = [p for p, _ in snap]
        if self._part not in names:
            return sum(size for _, size in snap[1:])
        i = names.index(self._part)
        return snap[i][1] - self._offset + sum(size for _, size in snap[i + 1:])

    def _read(self, upto: int) -> bool:
        assert self.r is not None
        try:
            with open(self._part, "rb") as f:
                f.seek(self._offset)
                data = f.read(upto - self._offset)
        except FileNotFoundError:
            return False
        self._offset += len(data)
        feed(self.r, data)
        return bool(data)

    def _join_at_end(self, snap: list[tuple[str, int]]) -> None:
        data = tail_bytes(self.path, from_redraw=True, upto=snap)
        if self.r is None:
            self.r = self._new()
            if starts_on_alt(data):
                self.r.start_on_alt()
        else:
            self.r.skip(self._pending(snap) - len(data), starts_on_alt(data))
        feed(self.r, data)
        self._part, self._offset = snap[-1]

    def _new(self) -> Renderer:
        r = renderer(*self.size)
        if self.setup is not None:
            self.setup(r)
        return r

    # --- what the watcher reads -------------------------------------------------------------

    def screen_view(self) -> tuple[str, int | None]:
        """The visible screen, blank rows kept, and the line its cursor is on."""
        if self.r is None:
            return "", None
        lines, cursor = self.r.screen_view()
        return "\n".join(lines), cursor

    def last_line(self, width: int = 50) -> str:
        """The last non-blank line of the visible screen, cut to width: LAST OUTPUT."""
        lines = self.r.screen_lines() if self.r is not None else []
        return lines[-1].strip()[:width] if lines else ""

    def screen_text(self) -> str:
        """The visible screen now (the alternate one while a program is on it)."""
        return "\n".join(self.r.screen_lines()) if self.r is not None else ""

    def last_lines(self, n: int) -> list[str]:
        return self.r.lines()[-n:] if self.r is not None and n > 0 else []

    def exists(self) -> bool:
        return os.path.exists(self.path)
