"""The streaming renderer: raw pane output in, a transcript and a screen out.

pyte models one screen, but full-screen programs switch to the alternate screen (CSI ?1049h,
?1047h, ?47h). The renderer finds those switches in the stream itself and plays the
alternate screen on a second pyte screen. Its last frame before the program left it (or at
the end) becomes a section of its own, placed after the line the main screen's cursor was on
when the program started: where a reader expects it.

Before pyte sees the text, the few kinds of sequence it would spill as text are taken out;
none of them changes the text on a screen (see _DROP and _SPECIAL).
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmux.screen.vt import TextScreen, TextStream

ALT_HEADER = "--- full-screen program (last screen) ---"
ALT_FOOTER = "--- end of full-screen program ---"

# Found in the stream, in order of the alternation:
#  - DCS, SOS, PM and APC strings (ESC P/X/^/_ ... ST): pyte has no parser for them and would
#    draw their payload (tmux passthrough, kitty graphics, XTGETTCAP) as text;
#  - DEC private modes, for the alternate-screen switches pyte ignores;
#  - RIS (ESC c), a full reset, which also leaves the alternate screen;
#  - capture.py's dropped-bytes marker: the stream has a gap there.
_SPECIAL = re.compile(
    r"\x1b([P^_X])"
    r"|\x1b\[\?([0-9;]*)([hl])"
    r"|\x1b(c)"
    r"|\[agentmux: (\d+) bytes dropped here\] *\r\n"
)
_ALT_MODES = {"47", "1047", "1049"}
# Sequences pyte would misparse and spill as text (or raise on), none of which changes the
# text on the screen: SGR (colour, with ':' sub-parameters too), CSI with a '<', '=' or '>'
# prefix or with intermediate bytes ('$p', ' q'), and private '?' ones other than h, l, J, K.
_DROP = re.compile(
    r"\x1b\[[0-9;:]*m"
    r"|\x1b\[\??+[0-9;]*+(?:[:<=>?][0-?]*[ -/]*|[ -/]+)[@-~]"
    r"|\x1b\[\?[0-9;]*[@-IL-Z\\\]^_`a-gi-km-~]"
)
_OPEN_ESC = re.compile(r"\x1b(?:\[[0-?]*[ -/]*)?")
_MARK_HEAD = "[agentmux: "
_MARK_TAIL = " bytes dropped here]"
_MARK_END = re.compile(r" *\r?")


def _open_marker(s: str) -> bool:
    """Whether s, the end of a chunk, may be the start of a dropped-bytes marker."""
    if len(s) <= len(_MARK_HEAD):
        return _MARK_HEAD.startswith(s)
    if not s.startswith(_MARK_HEAD):
        return False
    rest = s[len(_MARK_HEAD):]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    rest = rest[digits:]
    if len(rest) <= len(_MARK_TAIL):
        return _MARK_TAIL.startswith(rest) and (digits > 0 or not rest)
    return digits > 0 and rest.startswith(_MARK_TAIL) and bool(
        _MARK_END.fullmatch(rest[len(_MARK_TAIL):]))


def held_back(text: str, start: int) -> int:
    """Where an unfinished sequence at the end of text begins (len(text) if there is none).

    It is kept for the next chunk, so that the patterns above always see it whole.
    """
    end = len(text)
    cut = end
    i = text.rfind("\x1b", max(start, end - 64))
    if i >= 0 and _OPEN_ESC.fullmatch(text, i):
        cut = i
    j = text.rfind("[", max(start, end - 64))
    if j >= 0 and _open_marker(text[j:]):
        cut = min(cut, j)
    return cut


class Scrollback:
    """The lines that left the main screen: the first `head` kept, then a rolling last `tail`.

    A run of blank lines is collapsed to one as it arrives, so that it costs nothing.
    """

    def __init__(self, head: int, tail: int) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=max(tail, 1))
        self.head_max = head
        self.dropped = 0    # lines rendered, then left out
        self.skipped = 0    # bytes of output never rendered (render_file's budget)
        self.partial = ""   # the start of a line that autowrap continued on the screen
        self._blank = True  # no blank line at the very start

    def add(self, line: str, wrapped: bool = False) -> None:
        if wrapped:
            self.partial += line
            return
        if self.partial:
            line, self.partial = (self.partial + line).rstrip(), ""
        if not line:
            if self._blank:
                return
            self._blank = True
        else:
            self._blank = False
        if len(self.head) < self.head_max:
            self.head.append(line)
            return
        if len(self.tail) == self.tail.maxlen:
            self.dropped += 1
        self.tail.append(line)

    def extend(self, lines: Iterable[str]) -> None:
        if self.partial:
            self.add("")
        for line in lines:
            self.add(line)

    @property
    def head_full(self) -> bool:
        return len(self.head) >= self.head_max

    def lines(self) -> list[str]:
        what = [f"{self.dropped} lines"] if self.dropped else []
        what += [f"{self.skipped} bytes of output"] if self.skipped else []
        gap = [f"[agentmux: {' and '.join(what)} not shown here]"] if what else []
        return [*self.head, *gap, *self.tail]


class Renderer:
    """Feed it the raw stream in chunks of any size; ask for the transcript or the screen."""

    def __init__(self, width: int, height: int, max_lines: int, head_lines: int) -> None:
        from agentmux.screen import vt  # pyte: loaded only when something is rendered

        self._vt = vt
        self.width, self.height = max(width, 2), max(height, 2)
        self.scrollback = Scrollback(min(head_lines, max_lines), max_lines)
        self.main: TextScreen = vt.TextScreen(self.width, self.height, self._scrolled,
                                              self._flush_sections)
        self._main_stream: TextStream = vt.TextStream(self.main)
        self.alt: TextScreen | None = None
        self._alt_stream: TextStream | None = None
        self._alt_frame: list[str] = []  # the alternate screen's last frame before a clear
        self._anchor = 0                 # the main screen's row when it was left
        # Sections waiting for their place: (the main screen row they follow, their lines).
        self._sections: list[tuple[int, list[str]]] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._carry = ""
        self._in_string = False
        self.gaps = 0

    # --- input ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.feed_text(self._decoder.decode(data))

    def settle(self) -> None:
        """Play text held back for a marker that did not come: the output is read now.

        A held-back escape sequence stays: it is unfinished, and drawing it would be wrong.
        """
        if self._carry and not self._carry.startswith("\x1b"):
            self._play(self._carry)
            self._carry = ""

    def feed_text(self, text: str) -> None:
        text, self._carry = self._carry + text, ""
        pos, end = 0, len(text)
        while pos < end:
            if self._in_string:
                pos = self._skip_string(text, pos)
                continue
            m = _SPECIAL.search(text, pos)
            if m is None:
                stop = held_back(text, pos)
                self._play(text[pos:stop])
                self._carry = text[stop:]
                return
            self._play(text[pos:m.start()])
            pos = m.end()
            if m.group(1):
                self._in_string = True
            elif m.group(3):
                if _ALT_MODES & set(m.group(2).split(";")):
                    self._switch(m.group(3) == "h")
                else:
                    self._play(m.group(0))
            elif m.group(4):
                self._reset()
            else:
                self.gap(int(m.group(5)))

    def _skip_string(self, text: str, pos: int) -> int:
        """Past the string's terminator (ESC \\), or to the end, holding back a final ESC."""
        while True:
            i = text.find("\x1b", pos)
            if i < 0:
                return len(text)
            if i + 1 == len(text):
                self._carry = "\x1b"
                return len(text)
            if text[i + 1] == "\x1b":  # tmux's passthrough doubles the ESCs inside
                pos = i + 2
                continue
            self._in_string = False
            # ESC \ ends the string; any other ESC starts a new sequence, as in xterm.
            return i + 2 if text[i + 1] == "\\" else i

    def _play(self, text: str) -> None:
        if not text:
            return
        text = _DROP.sub("", text)
        if self._alt_stream is not None:
            self._alt_stream.feed(text)
        else:
            self._main_stream.feed(text)

    # --- the two screens ------------------------------------------------------------------

    def _switch(self, to_alt: bool) -> None:
        if to_alt:
            if self.alt is not None:
                self._leave_alt()
            self.alt = self._vt.TextScreen(self.width, self.height, None, self._alt_cleared)
            self._alt_stream = self._vt.TextStream(self.alt)
            self._alt_frame = []
            self._anchor = self._cursor_row()
        elif self.alt is not None:
            self._leave_alt()

    def _cursor_row(self) -> int:
        """The main screen row that a section placed now follows: the cursor's row, or the
        one above when the cursor is at the start of a row (-1: before the whole screen)."""
        cursor = self.main.cursor
        return cursor.y - 1 if cursor.x == 0 else cursor.y

    def start_on_alt(self) -> None:
        """For a stream that starts on the alternate screen (a tail cut out of a log)."""
        self._switch(True)

    def _alt_cleared(self) -> None:
        if self.alt is not None and (frame := trim(self.alt.text_lines())):
            self._alt_frame = frame

    def _alt_lines(self) -> list[str]:
        assert self.alt is not None
        return trim(self.alt.text_lines()) or self._alt_frame

    def _leave_alt(self) -> None:
        frame = self._alt_lines()
        if frame:
            self._sections.append((self._anchor, ["", ALT_HEADER, *frame, ALT_FOOTER, ""]))
        self.alt = None
        self._alt_stream = None

    def _reset(self) -> None:
        if self.alt is not None:
            self._leave_alt()
        self._flush_sections()
        self.main.reset()

    def gap(self, dropped: int | None) -> None:
        """Output was dropped here (`dropped` bytes, if known): a sequence may have been cut
        in half, so the parsers start again, and the transcript says so."""
        self.gaps += 1
        self._main_stream.restart()
        if self._alt_stream is not None:
            self._alt_stream.restart()
        what = "output" if dropped is None else f"{dropped} bytes"
        self._sections.append((self._cursor_row(), ["", f"[agentmux: {what} dropped here]", ""]))

    def skip(self, nbytes: int, on_alt: bool) -> None:
        """The next `nbytes` of the stream are not fed: what is on the screens goes with them.

        The scrollback's head stays; the gap is said where the head ends.
        """
        sb = self.scrollback
        sb.dropped += len(sb.tail) + sum(1 for t, _ in self.main.rows() if t)
        sb.dropped += sum(len(lines) for _, lines in self._sections)
        sb.tail.clear()
        sb.partial = ""
        sb.skipped += nbytes
        self._sections = []
        self.alt = self._alt_stream = None
        self.main.reset()
        self._main_stream.restart()
        if on_alt:
            self._switch(True)

    def _scrolled(self, line: str, wrapped: bool) -> None:
        """The main screen's top row scrolled off: to the scrollback, with its sections."""
        for row, lines in self._sections:
            if row < 0:
                self.scrollback.extend(lines)
        self.scrollback.add(line, wrapped)
        if self._sections:
            keep = []
            for row, lines in self._sections:
                if row == 0:
                    self.scrollback.extend(lines)
                elif row > 0:
                    keep.append((row - 1, lines))
            self._sections = keep

    def _flush_sections(self) -> None:
        """The main screen is cleared: sections lose their row, and go to the scrollback."""
        for _, lines in self._sections:
            self.scrollback.extend(lines)
        self._sections = []

    # --- output ---------------------------------------------------------------------------

    def main_lines(self) -> list[str]:
        """The main screen with the sections that wait on it, in reading order."""
        self.settle()
        rows = self.main.rows()
        out = [line for row, lines in self._sections if row < 0 for line in lines]
        pending = self.scrollback.partial
        last = len(rows) - 1
        waiting: list[str] = []  # sections wait for the end of the line their row is in
        for y, (text, wrapped) in enumerate(rows):
            pending += text
            for row, lines in self._sections:
                if row == y or (y == last and row > last):
                    waiting += lines
            if not wrapped or y == last:
                out += [pending.rstrip(), *waiting]
                pending, waiting = "", []
        return out

    def screen_lines(self) -> list[str]:
        """What the pane shows now: the alternate screen while a program is on it."""
        self.settle()
        return trim(self.alt.text_lines() if self.alt is not None else self.main.text_lines())

    def sections(self) -> list[list[str]]:
        """The sections made and not yet placed in the scrollback (each list is one section,
        the same object until it is placed)."""
        return [lines for _, lines in self._sections]

    def screen_view(self) -> tuple[list[str], int]:
        """The visible screen as it is (rows that autowrap continued joined, blank rows kept)
        and the index of the line the cursor is on: what waiting patterns read."""
        self.settle()
        scr = self.alt if self.alt is not None else self.main
        rows = scr.rows()
        return self._vt.join_wrapped(rows), sum(1 for _, w in rows[:scr.cursor.y] if not w)

    def lines(self) -> list[str]:
        self.settle()
        out = [*self.scrollback.lines(), *self.main_lines()]
        if self.alt is not None and (frame := self._alt_lines()):
            out += ["", ALT_HEADER, *frame]
        return collapse(out)

    def transcript(self) -> str:
        lines = self.lines()
        return "\n".join(lines) + "\n" if lines else ""


def trim(lines: list[str]) -> list[str]:
    """Without the blank rows at the top and the bottom of a screen."""
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return lines[start:end]


def collapse(lines: list[str]) -> list[str]:
    """Runs of blank lines made one, none at the start or the end."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out
