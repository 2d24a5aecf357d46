"""A pane's transcript: its raw log rendered as text (agentmux.screen), kept in the ledger.

`panes/<pane>/transcript.txt` is the rendered log: scrollback, the last screen, and each
full-screen program's last screen as a section of its own. It is written when the agent
ends (the watcher), and again whenever the log has grown since (`logs`: the last bytes can
reach the log just after the end is seen). `transcript.json` says what it was rendered from:
the pane's size and how much of the log.

A richer transcript is never replaced by a poorer one (screen.richer): a program that clears
its screen as it exits leaves less on it than it showed. For that, `down` marks where the log
stood when it asked the agent to stop (`mark_stop`), and the render takes a snapshot there
beside the one at the end, in the same pass; the richest of those and the one kept wins.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agentmux import atomic, capture, ledger, screen
from agentmux.atomic import WHOLE
from agentmux.errors import AgentmuxError
from agentmux.records import DamagedRecord, TranscriptRecord

log = logging.getLogger(__name__)

Size = tuple[int, int]


def meta_path(run_dir: ledger.RunDir, name: str) -> Path:
    return run_dir.pane_dir(name) / "transcript.json"


def read_meta(run_dir: ledger.RunDir, name: str) -> TranscriptRecord | None:
    try:
        return ledger.read_record(TranscriptRecord, meta_path(run_dir, name))
    except DamagedRecord as e:  # it only saves a render: render again
        log.warning("%s", e)
        return None


def size_of(meta: TranscriptRecord | None, size: Size | None = None) -> Size:
    """The size to render at: the pane's (given), else the one recorded, else the default."""
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    return (meta.width, meta.height) if meta is not None else (screen.WIDTH, screen.HEIGHT)


def mark_stop(run_dir: ledger.RunDir, name: str, size: Size | None) -> None:
    """`down`, before it signals the agent: remember where its log stands and its size."""
    m = read_meta(run_dir, name)
    w, h = size_of(m, size)
    total = capture.raw_size(str(run_dir.output(name)))
    _write(meta_path(run_dir, name), TranscriptRecord(
        w, h, m.source_bytes if m is not None else 0, total or None))


def record(run_dir: ledger.RunDir, name: str, size: Size | None = None) -> str:
    """The pane's transcript now: the log rendered again if it grew since the last render,
    written when richer than the one kept. Returns what is kept."""
    txt = run_dir.transcript(name)
    try:
        kept = txt.read_text(errors="surrogateescape")
    except FileNotFoundError:
        kept = ""
    m = read_meta(run_dir, name)
    path = str(run_dir.output(name))
    total = capture.raw_size(path)
    w, h = size_of(m, size)
    if total == 0 or (m is not None and m.source_bytes == total and txt.exists()):
        if not txt.exists():  # it showed nothing: that is its transcript
            _write_text(txt, "")
        return kept
    stop_at = m.stop_at if m is not None else None
    best = kept
    for text in screen.render_marks(path, [stop_at] if stop_at else [], w, h):
        best = screen.richer(best, text)
    # The text last: once transcript.txt is there, the render is done (what waits on it).
    _write(meta_path(run_dir, name), TranscriptRecord(w, h, total, stop_at))
    if (best != kept or not txt.exists()) and not _write_text(txt, best):
        meta_path(run_dir, name).unlink(missing_ok=True)  # not kept: render again next time
    return best


def live(run_dir: ledger.RunDir, name: str, size: Size | None = None) -> str | None:
    """A running pane's transcript, rendered now and not kept; None when it has no log."""
    path = str(run_dir.output(name))
    if not capture.raw_size(path):
        return None
    w, h = size_of(read_meta(run_dir, name), size)
    return screen.render_file(path, w, h)


def _write(path: Path, rec: TranscriptRecord) -> None:
    try:
        ledger.write_record(path, rec, sync=WHOLE)
    except AgentmuxError as e:  # a ledger that is not ours to write: the render still shows
        log.warning("%s", e)


def _write_text(path: Path, text: str) -> bool:
    try:
        atomic.replace(str(path), text.encode(errors="surrogateescape"), sync=WHOLE)
    except OSError as e:
        log.warning("cannot write %s: %s", path, e)
        return False
    return True
