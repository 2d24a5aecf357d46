"""`logs -f`'s live tail, and the one-pass render with snapshots at marks (down's stop mark)."""

from __future__ import annotations

from pathlib import Path

from agentmux import screen
from agentmux.screen.follow import Follower
from agentmux.screen.live import LiveTail

E = "\x1b"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tail(log: Path, width: int = 40, height: int = 5) -> tuple[LiveTail, list[str], Clock]:
    out: list[str] = []
    clock = Clock()
    return LiveTail(Follower(str(log), width, height, 5000), out.append, clock), out, clock


def _append(log: Path, text: str) -> None:
    with log.open("ab") as f:
        f.write(text.encode())


def test_lines_print_once_in_order_as_they_are_written_and_scroll(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"")
    tail, out, _ = _tail(log)
    for i in range(12):  # more than the screen holds: rows printed early, then scrolled off
        _append(log, f"line {i} \x1b[1mbold\x1b[0m\r\n")
        tail.step()
    _append(log, "last, no newline")
    tail.step()
    assert "".join(out) == "".join(f"line {i} bold\n" for i in range(12))
    tail.finish()
    assert "".join(out).endswith("line 11 bold\nlast, no newline\n")


def test_a_redrawn_region_is_printed_again_once_it_keeps_still(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"")
    tail, out, clock = _tail(log, height=10)
    _append(log, "static\r\nQuick safety check\r\n> 1. Yes\r\n")
    tail.step()
    # The program rewrites its region in place (cursor up, erase below), as Ink does.
    _append(log, f"{E}[2A\r{E}[JNot logged in\r\n")
    clock.now += 0.2
    tail.step()            # changed since the last poll: not yet
    assert "Not logged in\n" not in out
    clock.now += 2
    tail.step()            # still since the last poll: printed again from the change
    assert "".join(out) == "static\nQuick safety check\n> 1. Yes\nNot logged in\n"


def test_a_full_screen_program_prints_its_screen_then_its_last_one(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"")
    tail, out, clock = _tail(log, height=6)
    _append(log, f"before\r\n{E}[?1049h{E}[H{E}[2J{E}[2;3HChoose an option{E}[4;3H> 1. Sign in")
    tail.step()
    clock.now += 2
    tail.step()
    text = "".join(out)
    assert "--- full-screen program (screen at " in text and "  > 1. Sign in\n" in text
    _append(log, f"{E}[4;3H  1. Sign in{E}[5;3H> 2. Device code{E}[?1049lafter\r\n")
    tail.finish()
    text = "".join(out)
    assert text.index("> 1. Sign in") < text.index("> 2. Device code") < text.index("after")
    assert text.rstrip().endswith("after") and E not in text


def test_render_marks_snapshots_the_transcript_at_each_mark(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    first = "answer: 42\r\nmore\r\n"
    log.write_bytes((first + f"{E}[2A\r{E}[Jbye\r\n").encode())
    at_mark, whole = screen.render_marks(str(log), [len(first)], 40, 5)
    assert at_mark == screen.render_bytes(first.encode(), 40, 5) == "answer: 42\nmore\n"
    assert whole == screen.render_file(str(log), 40, 5) == "bye\n"
    assert screen.richer(whole, at_mark) == at_mark
