"""Supervision for the watcher: who needs a person, runaway agents, telling the user.

Cost model (one tmux query per tick, whatever N is; docs/tmux.md):
- the one `list-panes` of the tick carries the extra fields used here (size, tty, attached
  clients), so an idle tick is still exactly one tmux call;
- screens are not captured from tmux: each pane's raw log is followed by a renderer
  (screen.follow.Follower) that plays only the bytes written since the last tick, at the
  pane's size. Its screen is what waiting patterns read and its last line is the LAST OUTPUT
  column; a quiet pane costs a look at its log's size;
- notifications cost tmux calls only on a tick that recorded a change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agentmux import ledger, proc
from agentmux.records import DamagedRecord, EventRecord, PaneRecord, StatusRecord
from agentmux.screen.follow import Follower
from agentmux.tmux import PaneObs, Tmux
from agentmux.watch import hooks
from agentmux.watch.alive import STOP_SIGNALS, send_stop
from agentmux.watch.screen import ANSI, compile_rules, screen_verdict
from agentmux.watch.state import NOTIFY, PaneState, Verdict, stops, summary_line
from agentmux.wiring import read_wiring

# ANSI stays importable from here for the readers of raw output that used it first.
__all__ = ["ANSI", "NOTIFY", "STOP_GRACE", "PaneExtra", "Send", "Supervisor", "Watch", "news",
           "send_here", "timed_out"]

log = logging.getLogger(__name__)

WORKING = Verdict("working", None, "process")  # alive, and nothing says otherwise
# A screen that looks idle counts once the agent wrote nothing for this long: OpenCode shows
# its idle input box for a moment before it submits the task (seen: 0.5 s, 15 s after start).
IDLE_SETTLE = 3.0
STOP_GRACE = 3.0  # seconds between the timeout's INT, TERM and KILL
# Read in the tick's one list-panes, after tmux_chain.FIELDS.
EXTRA = ("cursor_y", "pane_tty", "session_attached")


@dataclass(frozen=True)
class PaneExtra:
    cursor_y: int | None
    tty: str
    attached: int


# One step of a timeout's escalation to pane NAME: a signal of STOP_SIGNALS, or None for a
# runner that outlived its agent's KILL.
Send = Callable[[str, StatusRecord, "int | None"], None]


def send_here(name: str, st: StatusRecord, sig: int | None) -> None:
    """A step of the escalation to an agent of this machine."""
    if sig is not None:
        send_stop(st, sig)
    elif st.pid > 0:
        with contextlib.suppress(OSError):
            os.kill(st.pid, signal.SIGKILL)


def timed_out(events: Iterable[EventRecord]) -> set[str]:
    """Panes whose current attempt was stopped by its timeout (a restart starts afresh)."""
    out: set[str] = set()
    for ev in events:
        if ev.type == "timeout":
            out.add(str(ev.pane))
        elif ev.type == "restart":
            out.discard(str(ev.pane))
    return out


def news(old: Mapping[str, PaneState], events: Iterable[EventRecord]) -> list[EventRecord]:
    """Only what a person acts on: a new state or a new reason, not a new source of it."""
    out = []
    for ev in events:
        was = old.get(str(ev.pane))
        if was is None or (was.state, was.reason) != (ev.state, ev.reason):
            out.append(ev)
    return out


@dataclass
class Watch:
    """What the supervisor remembers about one pane's current attempt."""

    follower: Follower | None = None  # its log, rendered as it grows
    fresh: bool = False      # the screen changed since the last verdict
    screen: Verdict = WORKING    # what the screen said at its last change
    hooks: hooks.HookReader | None = None
    hook_seen: tuple[float, int] = (0.0, 0)  # the latest hook record's time, output size then
    authoritative: bool = False  # its hooks can say `working` again (wiring.json)
    stage: int = 0           # timeout signals sent so far
    next_at: float = 0.0     # monotonic time of the next timeout signal


@dataclass
class Supervisor:
    tmux: Tmux
    run_dir: ledger.RunDir
    session: str
    watches: dict[str, Watch] = field(default_factory=dict)
    timed_out: set[str] = field(default_factory=set)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra: dict[str, PaneExtra] = field(default_factory=dict)
    offset: int = 0
    last_output: dict[str, str] = field(default_factory=dict)  # pane -> its last screen line
    stops: dict[str, tuple[str, str]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # restarts read by catch_up, not yet acted on

    def __post_init__(self) -> None:
        evs = self.run_dir.events_of()
        self.timed_out = timed_out(evs)
        self.stops = stops(evs)
        with contextlib.suppress(OSError):
            self.offset = self.run_dir.events.stat().st_size

    def new_events(self) -> list[EventRecord]:
        """Events appended since the last look (restarts come from other processes)."""
        try:
            with self.run_dir.events.open("rb") as f:
                f.seek(self.offset)
                raw = f.read()
        except FileNotFoundError:
            return []
        end = raw.rfind(b"\n") + 1  # a torn last line is read again next time
        self.offset += end
        out = []
        for line in raw[:end].split(b"\n"):
            with contextlib.suppress(ValueError, DamagedRecord):
                ev = json.loads(line) if line.strip() else None
                if isinstance(ev, dict):
                    out.append(EventRecord.from_json(ev))
        return out

    def restarted(self) -> set[str]:
        """Follows what other processes appended: restarts, and intents to stop (`down`)."""
        names, self.pending = self.pending | self._follow(), set()
        return names

    def catch_up(self) -> None:
        """Called once the tick has read the status files: a stop intent appended since the
        tick began is known before the end it caused is classified (`down` records its
        intent, then signals; an agent that dies at once must be `stopped`, not `killed`).
        Restarts read here are kept for the next tick's `restarted`."""
        self.pending |= self._follow()

    def _follow(self) -> set[str]:
        names: set[str] = set()
        for e in self.new_events():
            pane = str(e.pane)
            if e.type == "restart":
                names.add(pane)
                self.watches.pop(pane, None)
                self.last_output.pop(pane, None)
                self.timed_out.discard(pane)
                self.stops.pop(pane, None)
            elif e.type == "stop":
                self.stops.update({k: v for k, v in stops([e]).items()
                                   if k not in self.stops})
        return names

    def query(self) -> list[PaneObs] | None:
        """tmux.panes plus this module's fields, in the same single list-panes call."""
        panes = self.tmux.panes(self.session, EXTRA)
        if panes is None:
            return None
        self.extra = {}
        for p in panes:
            cy, tty, att = [*p.extra, "", "", ""][:3]
            self.extra[p.pane_id] = PaneExtra(int(cy) if cy.isdigit() else None, tty,
                                              int(att) if att.isdigit() else 0)
        return panes

    def verdicts(self, panes: Mapping[str, PaneObs],
                 statuses: Mapping[str, StatusRecord | None],
                 entries: Mapping[str, PaneRecord]) -> dict[str, Verdict]:
        """Follow every agent pane's log; for running agents, what they are doing: their own
        hooks merged with their screen (hooks.merge). A screen's verdict is renewed only when
        it changed (it cannot change without output); hooks cost a stat."""
        out: dict[str, Verdict] = {}
        for name, pane in panes.items():
            w = self.watches.setdefault(name, Watch())
            size = (pane.width or 0, pane.height or 0)
            f = w.follower
            if f is None or f.size[:2] != size:
                # A new size: the program redraws for it, and the log is joined at its end.
                f = w.follower = Follower(str(self.run_dir.output(name)), *size)
            if f.poll() or name not in self.last_output:
                self.last_output[name] = f.last_line()
                w.fresh = True
            st = statuses.get(name)
            if not st or st.phase != "agent" or pane.dead:
                continue
            if w.fresh:
                text, cursor = f.screen_view()
                seen = screen_verdict(text, cursor, compile_rules(entries.get(name)))
                w.screen = WORKING if seen is None else Verdict(*seen, "screen")
                w.fresh = False
            out[name] = self._merge(name, w)
        return out

    def _merge(self, name: str, w: Watch) -> Verdict:
        if w.hooks is None:
            pane_dir = self.run_dir.pane_dir(name)
            w.hooks = hooks.HookReader(pane_dir / hooks.FILE_NAME)
            w.authoritative = read_wiring(pane_dir).authoritative
        try:
            out_st = self.run_dir.output(name).stat()
            size, mtime = out_st.st_size, out_st.st_mtime
        except OSError:
            size, mtime = 0, None
        screen = w.screen
        if screen.state == "idle" and mtime is not None and time.time() - mtime < IDLE_SETTLE:
            screen = WORKING  # not settled yet: a TUI draws its idle look while starting
        got = w.hooks.step()
        if got is not None and got.t != w.hook_seen[0]:
            # The hook's own record of the output's size, else the size when seen here.
            w.hook_seen = (got.t, size if got.output_size is None else got.output_size)
        return hooks.merge(got, w.authoritative, screen, mtime, size - w.hook_seen[1]) or screen

    def timeouts(self, statuses: Mapping[str, StatusRecord | None],
                 entries: Mapping[str, PaneRecord], now: float, send: Send = send_here) -> None:
        """Escalate INT, TERM, KILL on agents past their timeout; the ledger says so first.
        `send` delivers each step (another host's agents: remote_follow)."""
        for name, st in statuses.items():
            entry = entries.get(name)
            limit = entry.timeout if entry is not None else None
            if not st or st.ended_at or not isinstance(limit, int | float):
                continue
            w = self.watches.setdefault(name, Watch())
            if w.stage == 0:
                started = st.started_at
                if not started or time.time() - ledger.parse_iso(started) < limit:
                    continue
                # Recorded before the signal, so the classification of the end that follows
                # is `failed`/`timeout` even if the watcher dies right after. A restarted
                # watcher finds it recorded already and only goes on signalling.
                if name not in self.timed_out:
                    self.run_dir.append(EventRecord("timeout", name,
                                                    detail={"timeout_s": limit}))
                    self.timed_out.add(name)
            elif now < w.next_at:
                continue
            send(name, st, STOP_SIGNALS[w.stage] if w.stage < len(STOP_SIGNALS) else None)
            w.stage += 1
            w.next_at = now + STOP_GRACE

    def notify(self, events: Sequence[EventRecord], states: Iterable[str],
               panes: Mapping[str, PaneObs], entries: Mapping[str, PaneRecord],
               on_event: str | None) -> None:
        """Status line always; message, bell and on_event for the states a person cares about."""
        if not events:
            return
        # `=name:` and not `=name`: set-option's target is a pane, parsed session:window.pane,
        # and a bare `=name` is looked up as a window (it fails on 3.3a).
        cmds: list[list[str]] = [
            ["set", "-t", f"={self.session}:", "status-right-length", "80"],
            ["set", "-t", f"={self.session}:", "status-right", summary_line(states) + " "],
        ]
        loud = [ev for ev in events if ev.state in NOTIFY]
        if loud and any(x.attached for x in self.extra.values()):
            text = "agentmux: " + ", ".join(f"{ev.pane} {ev.state}" for ev in loud)
            for client in self.tmux.clients(self.session):
                cmds.append(["display-message", "-c", client, text.replace("#", "##")])
        with contextlib.suppress(Exception):  # the session may be ending under us
            self.tmux.chain(cmds, step="notifying")
        for ev in loud:
            pane = panes.get(str(ev.pane))
            if pane is not None and not pane.dead:
                self.bell(pane)
            if on_event:
                self.spawn(on_event, ev, entries.get(str(ev.pane)))

    def bell(self, pane: PaneObs) -> None:
        """A BEL written to the pane's own terminal sets the bell flag on its window.

        Ended panes have no terminal left: the runner rings their bell as it exits."""
        ex = self.extra.get(pane.pane_id)
        if ex is None or not ex.tty.startswith("/dev/"):
            return
        with contextlib.suppress(OSError):
            fd = os.open(ex.tty, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                os.write(fd, b"\a")
            finally:
                os.close(fd)

    def spawn(self, command: str, ev: EventRecord, entry: PaneRecord | None) -> None:
        """The layout's on_event, never waited for here: reaped on a later tick."""
        code = ev.exit_code
        env = proc.clean_env({
            "AGENTMUX_RUN": self.run_dir.id, "AGENTMUX_PANE": str(ev.pane),
            "AGENTMUX_STATE": str(ev.state),
            "AGENTMUX_EXIT_CODE": "" if code is None else str(code),
            "AGENTMUX_REASON": str(ev.reason or ""),
            "AGENTMUX_WORKTREE": str((entry and (entry.worktree or entry.cwd)) or ""),
        })
        env.pop("TMUX", None)
        logf = self.run_dir.path / "on_event.log"
        try:
            with logf.open("ab") as out:
                self.children.append(subprocess.Popen(
                    ["/bin/sh", "-c", command], env=env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=out, start_new_session=True,
                    cwd=str((entry and entry.cwd) or self.run_dir.path)))
        except OSError as e:
            log.warning("on_event failed to start: %s", e)

    def reap(self) -> None:
        self.children = [c for c in self.children if c.poll() is None]
