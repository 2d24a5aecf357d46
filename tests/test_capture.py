"""capture.py, the pipe-pane program: bounded on disk, never silent about a cut, and never
losing the last bytes before the pane ends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentmux import capture, screen

from .conftest import wait_until
from .recording import record

MiB = 1024 * 1024


def run_capture(path: Path, data: bytes, max_bytes: int) -> None:
    """The real program, started as tmux starts it, fed `data` on stdin until EOF."""
    p = subprocess.run(capture.argv(str(path), max_bytes), input=data, capture_output=True,
                       check=False, timeout=60)
    assert (p.returncode, p.stderr) == (0, b"")


def on_disk(path: Path) -> int:
    return sum(os.path.getsize(p) for p in capture.parts(str(path)))


def test_ten_megabytes_through_a_tiny_max_keep_head_marker_and_exact_end(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(10 * MiB)
    log = tmp_path / "output.log"
    run_capture(log, data, 64 * 1024)
    stitched = b"".join(capture.read_raw(str(log)))
    head, mark, tail = stitched.partition(b"\r\n[agentmux: ")
    assert mark, "the marker is missing"
    assert data.startswith(head) and len(head) == 32 * 1024 - capture.SLOT
    dropped = int(tail.split(b" ", 1)[0])
    end = tail[capture.SLOT - len(mark):]
    assert data.endswith(end) and len(head) + dropped + len(end) == len(data)
    assert 16 * 1024 <= len(end) <= 32 * 1024
    assert on_disk(log) <= 64 * 1024
    assert len(capture.segments(str(log))) == 2
    assert capture.read_tail(str(log), 1000) == data[-1000:]


def test_a_second_capture_of_the_same_pane_carries_on(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    first, second = b"a" * 40_000, b"b" * 40_000 + b"THE END"
    run_capture(log, first, 16 * 1024)
    run_capture(log, second, 16 * 1024)
    stitched = b"".join(capture.read_raw(str(log)))
    head, mark, rest = stitched.partition(b"\r\n[agentmux: ")
    assert head == first[:len(head)] and stitched.endswith(b"THE END")
    dropped = int(rest.split(b" ", 1)[0])
    end = rest[capture.SLOT - len(mark):]
    assert (first + second).endswith(end)
    assert len(head) + dropped + len(end) == len(first) + len(second)
    assert on_disk(log) <= 16 * 1024


def test_unbounded_appends_everything(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_bytes(b"before;")
    run_capture(log, b"x" * 100_000, 0)
    assert log.read_bytes() == b"before;" + b"x" * 100_000
    assert capture.segments(str(log)) == []


def test_sigterm_writes_what_is_in_the_pipe_and_ends(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    p = subprocess.Popen(capture.argv(str(log), capture.DEFAULT_MAX_OUTPUT),
                         stdin=subprocess.PIPE)
    assert p.stdin is not None
    p.stdin.write(b"z" * 50_000)
    p.stdin.flush()
    # Running (its handlers set) once the first bytes are in the file.
    wait_until(lambda: log.exists() and log.stat().st_size == 50_000, 10, "the first bytes")
    p.stdin.write(b"y" * 50_000)
    p.stdin.flush()
    p.send_signal(signal.SIGTERM)  # stdin stays open: only the signal can end it
    assert p.wait(timeout=10) == 0
    p.stdin.close()
    assert log.read_bytes() == b"z" * 50_000 + b"y" * 50_000


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    p = subprocess.run([*capture.argv(str(tmp_path / "x"), 1)[:-1], "lots"],
                       capture_output=True, check=False)
    assert p.returncode == 2 and b"usage" in p.stderr


@pytest.mark.parametrize("max_bytes", [capture.DEFAULT_MAX_OUTPUT, 16 * 1024])
def test_a_burst_of_3000_lines_at_exit_is_all_there(tmp_path: Path, max_bytes: int) -> None:
    """Through a real tmux pane, pipe-pane armed in the chain that creates the pane."""
    log = tmp_path / "output.log"
    lines = [f"line {i:04d} of the burst".encode() for i in range(1, 3001)]
    raw = record([sys.executable, "-c", "for i in range(1, 3001): print(f'line {i:04d} of the "
                  "burst')"], log, "burst", max_bytes=max_bytes,
                 done=lambda d: d.endswith(b"line 3000 of the burst\r\n"))
    got = raw.split(b"\r\n")
    if max_bytes == capture.DEFAULT_MAX_OUTPUT:
        assert got == [*lines, b""]
    else:
        assert b"bytes dropped here]" in raw and on_disk(log) <= max_bytes
        cut = got.index(next(g for g in got if g.startswith(b"[agentmux: ")))
        assert got[0] == lines[0]
        end = got[cut + 1:-1]
        assert end[1:] == lines[-len(end) + 1:]  # the first one may be cut
        assert len(b"\r\n".join(end)) >= 4096  # the last segment is never less than full
    rendered = screen.render_bytes(raw, 100, 30).splitlines()
    assert rendered[-1] == "line 3000 of the burst"
