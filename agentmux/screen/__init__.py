"""A pane's raw output rendered as the text a person reads, with a real terminal emulator.

The agent CLIs draw with cursor motion, colour and redraws, not lines. pyte plays the stream
onto a screen of the pane's size; what scrolls off its top is the scrollback, and the
transcript is that scrollback, then the final screen, with a full-screen program's last
frame as a section of its own (renderer.py). Everything a person or a pattern reads uses it:
`logs`, review's last lines, the watcher's LAST OUTPUT column, waiting detection.

Rendering streams: 64 KiB chunks, incremental UTF-8, scrollback capped at the first
HEAD_LINES and the last max_lines lines, with a line that says how many were left out.
pyte is imported only when something is rendered, not with this package.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentmux import capture
from agentmux.screen.renderer import ALT_FOOTER, ALT_HEADER, Renderer

__all__ = ["ALT_FOOTER", "ALT_HEADER", "Renderer", "feed", "last_lines", "render_bytes",
           "render_file", "render_marks", "renderer", "richer", "screen_text", "starts_on_alt",
           "tail_bytes", "tail_renderer"]

WIDTH = 200
HEIGHT = 50
MAX_LINES = 5000
HEAD_LINES = 200
TAIL_BYTES = 256 * 1024
# render_file renders at most this much of a log: the start, until the scrollback's head is
# full, and the end. pyte plays about 2.5 MB a second here, and the transcript keeps only the
# first HEAD_LINES and the last MAX_LINES lines anyway.
RENDER_BYTES = 4 * 1024 * 1024
# screen_text looks this far back for the last full redraw: diff-drawing programs (Codex,
# OpenCode) repaint only changed cells after it, so a plain tail may hold just a spinner.
SCREEN_BYTES = 4 * 1024 * 1024
_ALT_SWITCH = re.compile(rb"\x1b\[\?(?:[0-9;]*;)?(?:1049|1047|47)(?:;[0-9;]*)?([hl])")
_FULL_REDRAWS = (b"\x1b[?1049h", b"\x1b[?1047h", b"\x1b[2J", b"\x1b[H\x1b[J",
                 b"\x1b[1;1H\x1b[J", b"\x1bc")
_LEAVES = (b"\x1b[?1049l", b"\x1b[?1047l")


def renderer(width: int = WIDTH, height: int = HEIGHT, max_lines: int = MAX_LINES) -> Renderer:
    """A streaming renderer (feed() it chunks) for a pane of this size."""
    return Renderer(width, height, max_lines, HEAD_LINES)


def render_bytes(data: bytes, width: int = WIDTH, height: int = HEIGHT,
                 max_lines: int = MAX_LINES) -> str:
    r = renderer(width, height, max_lines)
    feed(r, data)
    return r.transcript()


def render_file(path: str, width: int = WIDTH, height: int = HEIGHT,
                max_lines: int = MAX_LINES, max_bytes: int = RENDER_BYTES) -> str:
    """The transcript of a pane's raw log (capture.py's head, marker and tail, stitched).

    A log over `max_bytes` (0: no limit) is rendered from its start until the transcript's
    head is full (at most a quarter of the budget), then from a resync point near its end;
    the transcript says how much was left out between.
    """
    return render_marks(path, (), width, height, max_lines, max_bytes)[-1]


def render_marks(path: str, marks: Sequence[int], width: int = WIDTH, height: int = HEIGHT,
                 max_lines: int = MAX_LINES, max_bytes: int = RENDER_BYTES) -> list[str]:
    """render_file, in one pass, with the transcript as it was at each of `marks` (offsets in
    the stitched stream, as capture.raw_size counts) that falls in what is rendered: those
    first, in order, then the whole.

    For `down`: the transcript when the agent was asked to stop, beside the one at its end,
    which a program that clears its screen as it exits leaves poorer.
    """
    path = str(path)
    r = renderer(width, height, max_lines)
    total = capture.raw_size(path)
    todo = sorted(m for m in marks if 0 < m < total)
    out: list[str] = []

    def play(data: bytes, at: int) -> None:
        """Feed data, which starts at offset `at`, taking a snapshot at each mark in it."""
        while todo and todo[0] <= at + len(data):
            cut = max(0, todo.pop(0) - at)
            feed(r, data[:cut])
            data, at = data[cut:], at + cut
            out.append(r.transcript())
        feed(r, data)

    fed = 0
    head_budget = max_bytes // 4 if 0 < max_bytes < total else total
    # Small reads while the head fills, so that little is rendered past its last line.
    for chunk in capture.read_raw(path, capture.CHUNK if head_budget == total else 8192):
        part = chunk[:head_budget - fed]
        play(part, fed)
        fed += len(part)
        if fed >= head_budget or (fed < total and max_bytes and r.scrollback.head_full):
            break
    if fed < total:
        tail = _resync(capture.read_tail(path, max_bytes - fed))
        start = total - len(tail)
        while todo and todo[0] < start:  # a mark in the part left out: no snapshot there
            todo.pop(0)
        r.skip(max(0, start - fed), starts_on_alt(tail))
        play(tail, start)
    return [*out, r.transcript()]


def feed(r: Renderer, data: bytes) -> None:
    for i in range(0, len(data), capture.CHUNK):
        r.feed(data[i:i + capture.CHUNK])


def _resync(data: bytes) -> bytes:
    """From the first ESC or line feed on: the bytes before may be half a sequence."""
    starts = [i for i in (data.find(b"\x1b", 1), data.find(b"\n", 1)) if i > 0]
    return data[min(starts):] if starts else b""


def starts_on_alt(data: bytes) -> bool:
    """Whether a piece cut out of a stream starts on the alternate screen: its first switch
    is a leave."""
    first = _ALT_SWITCH.search(data)
    return first is not None and first.group(1) == b"l"


def tail_bytes(path: str, nbytes: int = TAIL_BYTES, from_redraw: bool = False,
               upto: list[tuple[str, int]] | None = None) -> bytes:
    """The end of the log, cut where a renderer can start: the last `nbytes` from a point
    safe to resync, or with `from_redraw`, from the last full redraw in SCREEN_BYTES.

    The cut moves to the first ESC or line feed after it: a sequence or a UTF-8 character
    cut in half would spill as text. A full redraw (a clear, the switch to the alternate
    screen) is a better start for diff-drawing programs (Codex, OpenCode), which repaint
    only changed cells after it, so that a plain tail may hold just a spinner.
    """
    want = max(nbytes, SCREEN_BYTES) if from_redraw else nbytes
    data = capture.read_tail(str(path), want + 1, upto)
    redraw = max((data.rfind(s) for s in _FULL_REDRAWS), default=-1) if from_redraw else -1
    # A full-screen program that has left since: the main screen shows, and a tail does.
    if redraw >= 0 and max(data.rfind(s) for s in _LEAVES) < redraw:
        return data[redraw:]
    data = data[-nbytes - 1:]
    return _resync(data) if len(data) > nbytes else data


def tail_renderer(path: str, width: int = WIDTH, height: int = HEIGHT,
                  max_lines: int = MAX_LINES, nbytes: int = TAIL_BYTES,
                  from_redraw: bool = False) -> Renderer:
    """A renderer fed only the end of the log (tail_bytes). When the first alternate-screen
    switch in it is a leave, it began on the alternate screen, and is played there."""
    data = tail_bytes(path, nbytes, from_redraw)
    r = renderer(width, height, max_lines)
    if starts_on_alt(data):
        r.start_on_alt()
    feed(r, data)
    return r


def last_lines(path: str, n: int, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """The last `n` lines of the transcript, rendered from the end of the log only.

    For review's last lines and the watcher's LAST OUTPUT column.
    """
    if n <= 0:
        return []
    return tail_renderer(str(path), width, height, max(n, height)).lines()[-n:]


def screen_text(path: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The pane's visible screen at the end of its log: what waiting patterns match."""
    r = tail_renderer(str(path), width, height, 1, from_redraw=True)
    return "\n".join(r.screen_lines())


def richer(a: str, b: str) -> str:
    """Of two captures of one pane, the one with more real content (non-blank characters).

    A tie keeps `a`, the earlier: a capture at exit must not replace a richer one taken
    before, as OpenCode's logo-only screen at exit once did.
    """
    def weight(s: str) -> int:
        return sum(1 for c in s if not c.isspace())
    return b if weight(b) > weight(a) else a
