"""`logs`: a pane's transcript as a person reads it, its raw output stream, or either one
followed while the agent runs.

The transcript is the raw log rendered by a terminal emulator (agentmux.screen): words apart
where the screen had a gap, no escape codes, a full-screen program's last screen as a
section. The raw stream is the bytes as the program wrote them (capture.py's head, the
dropped-bytes marker, the tail), so it is never written to a terminal unasked: its escape
codes would switch that terminal's screen, turn on mouse reporting and answer queries into
the shell's prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import BinaryIO

from agentmux import capture, ledger, screen, transcript
from agentmux.errors import BadInput, Refused, WorkFailed
from agentmux.find import pane_entry
from agentmux.screen.follow import Follower
from agentmux.screen.live import LiveTail
from agentmux.tmux import Tmux
from agentmux.watch.alive import read_status
from agentmux.watch.state import replay

POLL_S = 0.2
SETTLE_POLLS = 3  # after the end: polls the log must stay the same size, the last bytes in


def raw_refusal(name: str) -> Refused:
    return Refused(
        f"not writing pane '{name}''s raw output to a terminal: its escape codes would take "
        "the terminal over (alternate screen, mouse reporting, answers typed into your "
        f"prompt). Pipe it: `agentmux logs {name} --raw | less -R`, or save it: "
        f"`agentmux logs {name} --raw > {name}.raw`; --force writes it here anyway")


def show(run_dir: ledger.RunDir, name: str, out: BinaryIO, *, raw: bool = False,
         follow: bool = False, force: bool = False, to_terminal: bool = False) -> None:
    entry = pane_entry(run_dir, name)
    if raw and to_terminal and not force:
        raise raw_refusal(name)
    path = run_dir.output(name)
    if raw:
        if not capture.snapshot(str(path)):
            raise BadInput(f"pane '{name}' has no output yet ({path})")
        if follow:
            _follow_raw(run_dir, name, out)
        else:
            for chunk in capture.read_raw(str(path)):
                out.write(chunk)
        return
    state = replay(run_dir.events_of()).get(name)
    if not (state and state.terminal):
        size, pane_id = _live_pane(run_dir, name, entry.get("pane_id"))
        if follow:
            _follow(run_dir, name, out, size)
            return
        text = transcript.live(run_dir, name, size)
        if text is None and pane_id:  # no log at all: what tmux still shows
            text = Tmux(run_dir.run().socket).capture(pane_id)
        if text is not None:
            out.write(text.encode(errors="surrogateescape"))
            return
    text = transcript.record(run_dir, name)
    if text or run_dir.transcript(name).exists():
        out.write(text.encode(errors="surrogateescape"))
        return
    raise WorkFailed(f"pane '{name}' has no transcript and no output in run {run_dir.id}")


def _live_pane(run_dir: ledger.RunDir, name: str, pane_id: object
               ) -> tuple[tuple[int, int] | None, str | None]:
    """The pane's size and id as tmux has them now (None, None when it is gone)."""
    run = run_dir.run()
    live = Tmux(run.socket).panes(run.session) or []
    for p in live:
        if p.name == name:
            size = (p.width, p.height) if p.width and p.height else None
            return size, p.pane_id
    return None, str(pane_id) if pane_id else None


def _ended(run_dir: ledger.RunDir, name: str) -> bool:
    st = read_status(run_dir.status(name))
    return st is not None and st.ended_at is not None


def _until_ended(run_dir: ledger.RunDir, name: str, grow: Callable[[], bool]) -> None:
    """Call grow() every POLL_S until the agent has ended and its log kept still."""
    still = 0
    while still < SETTLE_POLLS:
        if grow():
            still = 0
            continue
        if _ended(run_dir, name):
            still += 1
        time.sleep(POLL_S)  # poll: following a growing file


def _follow(run_dir: ledger.RunDir, name: str, out: BinaryIO,
            size: tuple[int, int] | None) -> None:
    w, h = transcript.size_of(transcript.read_meta(run_dir, name), size)

    def write(line: str) -> None:
        out.write(line.encode(errors="surrogateescape"))
        out.flush()

    tail = LiveTail(Follower(str(run_dir.output(name)), w, h, screen.MAX_LINES), write)
    _until_ended(run_dir, name, tail.step)
    tail.finish()


def _follow_raw(run_dir: ledger.RunDir, name: str, out: BinaryIO) -> None:
    """The raw stream from its start, then as it grows, across capture.py's segments."""
    path = str(run_dir.output(name))
    at: dict[str, int] = {}

    def grow() -> bool:
        grew = False
        for part, size in capture.snapshot(path):
            done = at.get(part, 0)
            if size <= done:
                continue
            try:
                with open(part, "rb") as f:
                    f.seek(done)
                    data = f.read(size - done)
            except FileNotFoundError:  # rotated away meanwhile: the marker counts it
                continue
            at[part] = done + len(data)
            out.write(data)
            grew = True
        out.flush()
        return grew

    _until_ended(run_dir, name, grow)
