"""`logs -f`: a growing log's transcript, printed as it becomes final.

A terminal is not a stream of lines: rows are drawn, redrawn and erased. What is printed, in
order of arrival:
- each row that scrolls off the top of the screen, as it goes: it cannot change any more;
- the rows above the cursor once they are written (a line-oriented program's output); such
  a row is not printed again when it scrolls off, unless it changed meanwhile. A printed row
  that is redrawn (an Ink region, a progress line) is printed again from there once the rows
  keep still between two polls, and at most every REPRINT_S seconds while they do not (a
  spinner);
- a full-screen program's screen, under a header, on the same terms;
- the renderer's sections as they are made (a full-screen program's last screen as it
  leaves, a gap in the log), and a line for a burst the follower skipped;
- at the end (`finish`), the rest: the screen as the program left it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agentmux.screen.follow import Follower
from agentmux.screen.renderer import ALT_FOOTER, ALT_HEADER, Renderer, trim

REPRINT_S = 10.0
FRAME_HEADER = "--- full-screen program (screen at {}) ---"


class LiveTail:
    def __init__(self, follower: Follower, write: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.f = follower
        self.f.setup = self._hook
        self.write = write
        self.clock = clock
        self.r: Renderer | None = None
        self.shown: list[str] = []     # texts of the main screen's top rows already printed
        self.prev: list[str] = []      # the main screen's rows at the last poll
        self.scroll_buf = ""           # a scrolled row that autowrap continues
        self.sections: set[int] = set()
        self.frame: list[str] = []     # the full-screen program's screen last printed
        self.prev_frame: list[str] = []
        self.printed_at = clock()      # when rows or a frame were last printed again
        self.skipped = 0
        self.blank = True              # the last line printed was blank (or none yet)

    # --- the follower's renderer, hooked as it is made ---------------------------------------

    def _hook(self, r: Renderer) -> None:
        self.r = r
        scrolled, cleared = r.main.on_scroll, r.main.on_clear

        def on_scroll(line: str, wrapped: bool) -> None:
            self._sections()
            self._scrolled(line, wrapped)
            if scrolled is not None:
                scrolled(line, wrapped)

        def on_clear() -> None:
            self._sections()
            self._rows(final=True)  # what a clear takes away was on the screen: say it
            self.shown, self.prev = [], []
            if cleared is not None:
                cleared()

        r.main.on_scroll, r.main.on_clear = on_scroll, on_clear

    # --- printing -----------------------------------------------------------------------------

    def _emit(self, lines: list[str]) -> None:
        for line in lines:
            if not line and self.blank:
                continue
            self.blank = not line
            self.write(line + "\n")

    def _scrolled(self, line: str, wrapped: bool) -> None:
        if self.shown:
            printed = self.shown.pop(0)
            self.prev = self.prev[1:]
            if printed == line:
                return
        if wrapped:
            self.scroll_buf += line
            return
        text, self.scroll_buf = (self.scroll_buf + line).rstrip(), ""
        self._emit([text])

    def _sections(self) -> None:
        r = self.r
        if r is None:
            return
        for lines in r.sections():
            if id(lines) in self.sections:
                continue
            self.sections.add(id(lines))
            if ALT_HEADER in lines and lines[2:-2] == self.frame:
                self._emit([ALT_FOOTER])  # its last screen was printed already
            else:
                self._emit(lines)
            self.frame = []

    def _rows(self, final: bool) -> None:
        r = self.r
        if r is None:
            return
        rows = r.main.rows()
        texts = [t for t, _ in rows]
        end = len(rows) if final else r.main.cursor.y
        while end > 0 and (rows[end - 1][1] or (final and not texts[end - 1])):
            end -= 1  # a row that autowrap continues below is not whole yet
        k = next((i for i, t in enumerate(self.shown) if i >= end or texts[i] != t),
                 len(self.shown))
        if k < len(self.shown):
            now = self.clock()
            still = texts[:end] == self.prev[:end]
            if not (final or (still and now - self.printed_at >= 1.0)
                    or now - self.printed_at >= REPRINT_S):
                self.prev = texts
                return
            self.printed_at = now
            self.shown = self.shown[:k]
        out, buf = [], ""
        for i in range(len(self.shown), end):
            text, wrapped = rows[i]
            self.shown.append(text)
            if wrapped:
                buf += text
            else:
                out.append((buf + text).rstrip())
                buf = ""
        self._emit(out)
        self.prev = texts

    def _frame(self, final: bool) -> None:
        r = self.r
        if r is None or r.alt is None:
            self.prev_frame = []
            return
        frame = trim(r.alt.text_lines())
        now = self.clock()
        if frame and frame != self.frame and (
                final or (frame == self.prev_frame and now - self.printed_at >= 1.0)
                or now - self.printed_at >= REPRINT_S):
            header = ALT_HEADER if final else FRAME_HEADER.format(time.strftime("%H:%M:%S"))
            self._emit(["", header, *frame])
            self.frame, self.printed_at = frame, now
        self.prev_frame = frame

    def _skips(self) -> None:
        r = self.r
        if r is not None and r.scrollback.skipped > self.skipped:
            n, self.skipped = r.scrollback.skipped - self.skipped, r.scrollback.skipped
            self._emit(["", f"[agentmux: {n} bytes of output not shown here]", ""])
            self.shown, self.prev = [], []

    # --- the loop's side ----------------------------------------------------------------------

    def step(self) -> bool:
        """Render what the log gained since the last step and print what became final."""
        grew = self.f.poll()
        self._skips()
        self._sections()
        self._rows(final=False)
        self._frame(final=False)
        return grew

    def finish(self) -> None:
        """The agent has ended: the rest of the log, then everything still on the screens."""
        self.step()
        self._sections()
        self._rows(final=True)
        self._frame(final=True)
        if self.r is not None and self.r.alt is not None and self.frame:
            self._emit([ALT_FOOTER])
