"""The agents' own hook records (`panes/<pane>/hooks.jsonl`, written by agentmux/hook.py), read
by the watcher as they grow, and merged with the screen's evidence.

Reading costs one stat per pane per tick while nothing new arrived; new bytes are read from
the last offset, and a torn last line (a hook killed mid-write) is read again once whole.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from agentmux.watch.state import LIVE, Verdict

FILE_NAME = "hooks.jsonl"       # agentmux/hook.py's FILE_NAME; that script imports nothing
# A hook that cannot report `working` (aider's notification command, Codex's notify alone)
# holds its `waiting` or `idle` only while the agent is quiet: output this long after the
# record, or this much output since the watcher saw it, means a person answered and the agent
# moved on. (Drawing the prompt that follows the hook writes far less.)
STALE_S = 2.0
STALE_BYTES = 512
BACKLOG = 32    # state changes kept for step(); past it the oldest are dropped


@dataclass(frozen=True)
class HookVerdict:
    state: str
    reason: str | None
    t: float        # when the hook ran (its own clock: time.time())
    event: str      # the CLI's raw event name
    output_size: int | None = None  # bytes of the pane's output.log when the hook ran


class HookReader:
    """One pane's hooks.jsonl, read incrementally; `latest` is its last state-bearing record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.ino: int | None = None
        self.latest: HookVerdict | None = None
        self.count = 0  # records read, state-bearing or not
        self.told: str | None = None  # the state step() returned last
        self.changes: deque[HookVerdict] = deque(maxlen=BACKLOG)  # not yet stepped through
        # What was written before the first look is history (a watcher that restarted must
        # not tell it again): only changes that arrive after it are stepped through.
        self.primed = False

    def _reset(self, ino: int | None = None) -> None:
        self.offset, self.ino, self.latest, self.count = 0, ino, None, 0
        self.told = None
        self.changes.clear()

    def step(self) -> HookVerdict | None:
        """Like poll(), but each state the agent passed through since the last step comes
        first, one per call: a `waiting` that a person answered between two of the watcher's
        ticks is still recorded (and told), one tick late, rather than lost."""
        latest = self.poll()
        got = self.changes.popleft() if len(self.changes) > 1 else latest
        if len(self.changes) <= 1:
            self.changes.clear()
        self.told = got.state if got is not None else None
        return got

    def poll(self) -> HookVerdict | None:
        first, self.primed = not self.primed, True
        try:
            st = os.stat(self.path)
        except OSError:
            # Gone: a restart moved it into attempt-N; the next attempt starts afresh.
            self._reset()
            return None
        if st.st_ino != self.ino or st.st_size < self.offset:
            self._reset(st.st_ino)
        if st.st_size == self.offset:
            return self.latest
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                raw = f.read(st.st_size - self.offset)
        except OSError:
            return self.latest
        end = raw.rfind(b"\n") + 1
        self.offset += end
        for line in raw[:end].split(b"\n"):
            rec = _record(line)
            if rec is None:
                continue
            self.count += 1
            t, reason, size = rec.get("t"), rec.get("reason"), rec.get("output_size")
            if rec.get("state") in LIVE and isinstance(t, int | float):
                self.latest = HookVerdict(
                    str(rec["state"]), reason if isinstance(reason, str) else None, float(t),
                    str(rec.get("raw_event") or ""),
                    size if isinstance(size, int) and not isinstance(size, bool) else None)
                last = self.changes[-1].state if self.changes else self.told
                if not first and self.latest.state != last:
                    self.changes.append(self.latest)
        return self.latest


def _record(line: bytes) -> dict[str, object] | None:
    if not line.strip():
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def merge(hook: HookVerdict | None, authoritative: bool, screen: Verdict | None,
          output_mtime: float | None, grown: int = 0) -> Verdict | None:
    """The agent's own hooks beat its screen.

    Hooks that can say `working` again (Claude, Codex hooks, Gemini, OpenCode) are believed
    until their next record. Hooks that cannot hold only until the agent writes output well
    after them (`grown`: bytes written since the hook ran); then the screen (or the process)
    speaks again.
    """
    if hook is None:
        return screen
    mine = Verdict(hook.state, hook.reason, "hook")
    if authoritative or hook.state == "working":
        return mine
    moved_on = grown > STALE_BYTES or (output_mtime is not None
                                       and output_mtime > hook.t + STALE_S)
    return screen if moved_on else mine
