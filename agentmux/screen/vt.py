"""pyte, shaped for transcripts: text only, quick, and never raising on odd input.

Only the renderer imports this, and only when it renders: pyte and wcwidth take about 30 ms
to import. The changes to pyte's Screen, and why:
- colour is dropped before pyte sees it, so every cell is one of a few shared Char objects,
  and plain ASCII is drawn a run at a time: pyte's own draw() builds a Char per character
  (about 2 µs each; 0.24 MB/s on mixed output);
- its draw() stops a whole run of text at the first zero-width character that is not a
  combining mark (ZWJ, emoji variation selectors): these are skipped instead;
- erasing deletes cells (a missing cell is a blank) instead of writing each one;
- the top line that scrolls off is handed to `on_scroll` as text: that is the scrollback;
- `on_clear` is called before the whole screen is erased, so that the alternate screen's
  last frame can be kept;
- ED 3 erases saved lines only, as in xterm: the transcript keeps them;
- CSI S/T (scroll), s/u (save and restore the cursor) and b (repeat) are understood;
- DECCOLM (which would shrink the screen to 132 columns) and reverse video are ignored;
- a sequence with parameters a handler does not take changes nothing instead of raising.
"""

from __future__ import annotations

import contextlib
import functools
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import pyte
from pyte import modes as mo
from pyte.screens import Char
from wcwidth import wcwidth

# One shared cell per character that takes one column; learnt as characters are drawn.
_NARROW: dict[str, Char] = {chr(c): Char(chr(c)) for c in range(32, 127)}
_STUB = Char("")  # the right half of a two-column character, as pyte marks it
# A cell left of column 0 marks a row that autowrap continued in the next one. It is kept in
# the row itself so that it moves with the row when pyte scrolls, inserts or deletes lines.
WRAPPED = -1
_IGNORED_PRIVATE_MODES = {3, 5}  # DECCOLM, DECSCNM


class _NoDirty(set[int]):
    """pyte marks changed lines for a redraw; a transcript never redraws."""

    def add(self, element: int, /) -> None:
        pass

    def update(self, *elements: Iterable[int]) -> None:
        pass


class TextScreen(pyte.Screen):
    def __init__(self, columns: int, lines: int,
                 on_scroll: Callable[[str, bool], None] | None = None,
                 on_clear: Callable[[], None] | None = None) -> None:
        self.on_scroll = on_scroll
        self.on_clear = on_clear
        self.last = " "
        super().__init__(columns, lines)
        self.dirty = _NoDirty()

    # --- text -----------------------------------------------------------------------------

    def draw(self, data: str) -> None:
        if mo.IRM in self.mode:
            super().draw(data)  # insert mode: rare, and pyte's own way is right
            return
        try:
            cells = list(map(_NARROW.__getitem__, data))
        except KeyError:  # a character not known to take one column: one at a time
            for ch in data:
                self._draw_one(ch)
        else:
            self._draw_narrow(cells)
        if data:
            self.last = data[-1]

    def _wrap(self) -> bool:
        """At the right edge: to the next line with autowrap on, else stay on the edge."""
        if mo.DECAWM in self.mode:
            # The row goes on in the next one: a transcript joins them again (tmux's -J).
            self.buffer[self.cursor.y][WRAPPED] = _STUB
            self.carriage_return()
            self.linefeed()
            return True
        self.cursor.x = self.columns - 1
        return False

    def _draw_narrow(self, cells: list[Char]) -> None:
        cursor, columns = self.cursor, self.columns
        while cells:
            if cursor.x >= columns and not self._wrap():
                cells = cells[-1:]
            x = cursor.x
            n = min(len(cells), columns - x)
            self.buffer[cursor.y].update(zip(range(x, x + n), cells[:n], strict=True))
            cursor.x = x + n
            cells = cells[n:]

    def _draw_one(self, ch: str) -> None:
        width = wcwidth(ch)
        cursor = self.cursor
        if width <= 0:
            # A combining mark joins the character before it; other zero-width characters
            # and controls take no cell.
            if width == 0 and unicodedata.combining(ch) and 0 < cursor.x <= self.columns:
                line = self.buffer[cursor.y]
                before = line[cursor.x - 1]
                line[cursor.x - 1] = before._replace(
                    data=unicodedata.normalize("NFC", before.data + ch))
            return
        if cursor.x + width > self.columns:
            self._wrap()
            if cursor.x + width > self.columns:
                return  # a wide character in a one-column space: nowhere to put it
        line = self.buffer[cursor.y]
        if width == 1:
            line[cursor.x] = _NARROW[ch] = _NARROW.get(ch) or Char(ch)
        else:
            line[cursor.x] = Char(ch)
            line[cursor.x + 1] = _STUB
        cursor.x += width

    def repeat_last(self, count: int | None = None) -> None:
        self.draw(self.last * min(count or 1, self.columns * self.lines))

    # --- scrolling and erasing ------------------------------------------------------------

    def index(self) -> None:
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and self.on_scroll is not None:
            self.on_scroll(*self.row(0))
        super().index()

    def scroll_up(self, count: int | None = None) -> None:
        y = self.cursor.y
        for _ in range(min(count or 1, self.lines)):
            self.cursor.y = (self.margins or (0, self.lines - 1))[1]
            self.index()
        self.cursor.y = y

    def scroll_down(self, count: int | None = None) -> None:
        y = self.cursor.y
        for _ in range(min(count or 1, self.lines)):
            self.cursor.y = (self.margins or (0, self.lines - 1))[0]
            self.reverse_index()
        self.cursor.y = y

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        line = self.buffer[self.cursor.y]
        if how == 2:
            line.clear()
            return
        x = self.cursor.x
        for k in [k for k in line if (k >= x if how == 0 else k <= x)]:
            del line[k]

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 3:
            return
        whole = how == 2 or (how == 0 and self.cursor.x == 0 and self.cursor.y == 0)
        if whole and self.on_clear is not None:
            self.on_clear()
        if how == 2:
            self.buffer.clear()
            return
        y = self.cursor.y
        self.erase_in_line(how)
        for k in [k for k in self.buffer if (k > y if how == 0 else k < y)]:
            del self.buffer[k]

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m not in _IGNORED_PRIVATE_MODES)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m not in _IGNORED_PRIVATE_MODES)
        super().reset_mode(*modes, **kwargs)

    def select_graphic_rendition(self, *attrs: int, **kwargs: Any) -> None:
        pass  # colour is not text

    # --- reading --------------------------------------------------------------------------

    def row(self, y: int) -> tuple[str, bool]:
        """Row y as text, and whether autowrap continued it in the next row.

        Gaps between cells are spaces. Trailing blanks are trimmed, except on a wrapped row:
        there the last column was written, and a blank in it separates two words.
        """
        line = self.buffer.get(y)
        if not line:
            return "", False
        keys = sorted(line)
        if keys[0] == WRAPPED:
            del keys[0]
        while keys and keys[-1] >= self.columns:  # pyte's insert_characters can leave one
            keys.pop()
        chars = [line[k].data for k in keys]
        if keys and keys[-1] - keys[0] + 1 == len(keys) and "" not in chars:
            text = " " * keys[0] + "".join(chars)  # one run of cells: the common case
        else:
            text = self._spaced(keys, chars)
        wrapped = WRAPPED in line
        return (text if wrapped else text.rstrip()), wrapped

    @staticmethod
    def _spaced(keys: list[int], chars: list[str]) -> str:
        out: list[str] = []
        at = 0
        for x, ch in zip(keys, chars, strict=True):
            if x < at:
                continue
            if x > at:
                out.append(" " * (x - at))
            if not ch and not (out and out[-1] and wcwidth(out[-1][-1]) == 2):
                ch = " "  # a stub whose wide character was overwritten
            out.append(ch)
            at = x + 1
        return "".join(out)

    def rows(self) -> list[tuple[str, bool]]:
        return [self.row(y) for y in range(self.lines)]

    def text_lines(self) -> list[str]:
        """The screen's lines, a row that autowrap continued joined with the next."""
        return join_wrapped(self.rows())


def join_wrapped(rows: list[tuple[str, bool]]) -> list[str]:
    out: list[str] = []
    pending = ""
    for text, wrapped in rows:
        if wrapped:
            pending += text
        else:
            out.append((pending + text).rstrip())
            pending = ""
    if pending:
        out.append(pending.rstrip())
    return out


def _tolerant(method: Callable[..., Any]) -> Callable[..., None]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> None:
        # A form of the sequence pyte does not model (say, extra parameters): no effect.
        with contextlib.suppress(TypeError, ValueError, IndexError, KeyError, AssertionError):
            method(*args, **kwargs)
    return call


class TextStream(pyte.Stream):
    csi = {**pyte.Stream.csi, "S": "scroll_up", "T": "scroll_down",  # noqa: RUF012 - as pyte's
           "s": "save_cursor", "u": "restore_cursor", "b": "repeat_last", "`": "cursor_to_column"}

    def __init__(self, screen: TextScreen) -> None:
        super().__init__()
        handlers = {*self.basic.values(), *self.escape.values(), *self.sharp.values(),
                    *self.csi.values(), "define_charset", "set_title", "set_icon_name"}
        for name in handlers:
            setattr(screen, name, _tolerant(getattr(screen, name)))
        self.attach(screen)

    def restart(self) -> None:
        """Back to the ground state: after a gap, a sequence may have been cut in half."""
        self._initialize_parser()

    def feed(self, data: str) -> None:
        # pyte's own loop, except that an exception in one sequence drops that sequence
        # instead of the rest of the chunk.
        draw = self._draw
        match_text = self._text_pattern.match
        taking = self._taking_plain_text
        offset, length = 0, len(data)
        while offset < length:
            if taking:
                match = match_text(data, offset)
                if match:
                    start, offset = match.span()
                    draw(data[start:offset])
                else:
                    taking = False
            else:
                try:
                    taking = self._send_to_parser(data[offset])
                except Exception:
                    taking = True  # pyte restarted its parser in the ground state
                offset += 1
        self._taking_plain_text = taking

    def attach(self, screen: pyte.Screen) -> None:
        super().attach(screen)
        self._draw = screen.draw
