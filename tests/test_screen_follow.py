"""The follower: a log read as it grows renders as the whole log does, at the cost of the
new bytes only, through capture.py's rotation and across bursts."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from agentmux import capture, screen
from agentmux.screen.follow import CATCH_UP, Follower

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_a_log_growing_in_pieces_renders_as_the_whole(tmp_path: Path) -> None:
    data = (GOLDEN / "fake-tui.raw").read_bytes() + (GOLDEN / "codex-signin-menu.raw").read_bytes()
    log = tmp_path / "out.log"
    f = Follower(str(log), 100, 30, max_lines=5000)
    assert not f.poll() and f.screen_text() == ""
    rng = random.Random(3)
    with log.open("wb") as out:
        i = 0
        while i < len(data):
            n = rng.randint(1, 500)
            out.write(data[i:i + n])
            out.flush()
            i += n
            assert f.poll()
    assert not f.poll()
    whole = screen.renderer(100, 30)
    whole.feed(data)
    assert f.last_lines(10_000) == whole.lines()
    assert f.screen_text() == "\n".join(whole.screen_lines())


def test_it_follows_capture_through_rotation(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    p = subprocess.Popen(capture.argv(str(log), 64 * 1024), stdin=subprocess.PIPE)
    assert p.stdin is not None
    f = Follower(str(log), 60, 10)
    for block in range(40):
        p.stdin.write(b"".join(b"block %03d line %03d\r\n" % (block, i) for i in range(100)))
        p.stdin.flush()
        f.poll()
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    f.poll()
    assert len(capture.segments(str(log))) == 2  # it did rotate
    assert f.screen_text().splitlines() == [f"block 039 line {i:03d}" for i in range(91, 100)]


def test_a_long_log_is_joined_at_its_end_and_a_burst_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"".join(b"old %07d\r\n" % i for i in range(1_000_000)))  # 13 MB
    f = Follower(str(log), 40, 5)
    assert f.poll()
    assert f.screen_text().splitlines() == [f"old {i:07d}" for i in range(999_996, 1_000_000)]
    # Joined at its end: the renderer saw far fewer of the million lines than there are.
    assert f.r is not None
    sb = f.r.scrollback
    assert len(sb.head) + sb.dropped + len(sb.tail) < 500_000
    with log.open("ab") as out:
        out.write(b"".join(b"new %07d\r\n" % i for i in range(CATCH_UP // 6)))
    assert f.poll()
    # The burst was joined at its end, not rendered whole (that takes about 6 s here).
    assert f.r.scrollback.skipped > 0
    n = CATCH_UP // 6
    assert f.last_lines(2) == [f"new {n - 2:07d}", f"new {n - 1:07d}"]
