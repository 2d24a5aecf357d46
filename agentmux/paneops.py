"""`send` and `restart`: acting on one agent's pane without attaching to it."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

from agentmux import control, find, ledger, poll
from agentmux.errors import BadInput, Refused, WorkFailed
from agentmux.find import pane_entry
from agentmux.runner import argv as runner_argv
from agentmux.tmux import PaneObs, Tmux
from agentmux.watch.state import replay
from agentmux.wiring import read_wiring

STOP_GRACE = 3.0
RECORD_WAIT = 10.0


def _live_pane(run_dir: ledger.RunDir, name: str) -> tuple[Tmux, PaneObs]:
    pane_entry(run_dir, name)
    run = run_dir.read_run()
    tm = Tmux(run.get("socket"))
    live = tm.panes(run["session"])
    if live is None:
        raise WorkFailed(f"session '{run['session']}' is not running (run {run_dir.id}); "
                         + find.restart_hint(run_dir))
    found = [p for p in live if p.name == name]
    if not found:
        raise WorkFailed(f"pane '{name}' is no longer in session '{run['session']}'")
    return tm, found[0]


def send(run_dir: ledger.RunDir, name: str, text: bytes) -> None:
    """Types text into the agent as one bracketed paste, then Enter.

    The text goes through a uniquely named tmux buffer on stdin, so no byte of it is ever
    parsed by tmux (`;`, `#{}`, key names). `paste-buffer -p` brackets it only if the program
    asked for bracketed paste (TUIs do; a cooked terminal does not), and turns each LF into CR:
    a program reading lines from a cooked terminal gets each line as a line.
    """
    tm, pane = _live_pane(run_dir, name)
    if pane.dead:
        raise WorkFailed(f"pane '{name}' has ended; `agentmux restart {name}` runs it again")
    tm.paste(pane.pane_id, text.decode(errors="surrogateescape"),
             f"agentmux-send-{secrets.token_hex(6)}", step=f"sending text to pane '{name}'")


def restart(run_dir: ledger.RunDir, name: str, resume: bool = False) -> int:
    """Runs the pane's agent again on the same worktree; returns the new attempt's number.

    With `resume`, the agent resumes its last conversation with its CLI's documented flag
    (Preset.resume, as wiring.json recorded it); a pane with none is refused, untouched.
    The ended attempt's files (status, output, transcript, check log, result) move to
    `panes/<pane>/attempt-<n>/` first; a running agent is stopped (INT, TERM, KILL) and its
    end recorded, as `stopped`, before anything moves.
    """
    tm, pane = _live_pane(run_dir, name)
    command = _command(run_dir, name, resume)
    recorded = replay(run_dir.events_of()).get(name)
    if not (recorded and recorded.terminal):
        control.intend_stop(run_dir, [name], "restart")
        control.stop_panes(run_dir, [name], STOP_GRACE)
        if not _wait_recorded(run_dir, name):
            raise Refused(f"pane '{name}' was stopped, but its end was not recorded within "
                          f"{RECORD_WAIT:.0f}s (is the watcher running? `agentmux watch`)")
    pane_dir = run_dir.pane_dir(name)
    attempt = len(list(pane_dir.glob("attempt-*"))) + 1
    keep = pane_dir / f"attempt-{attempt}"
    keep.mkdir()
    for f in pane_dir_files(pane_dir):
        f.rename(keep / f.name)
    spec = run_dir.spec_of(name) if command is not None else None
    if spec is not None and command is not None and spec.command != command:
        run_dir.write_spec(dataclasses.replace(spec, command=command))
    tm.respawn(pane.pane_id, runner_argv(run_dir.spec(name)), run_dir.output(name),
               step=f"restarting pane '{name}'")
    # After the respawn: until this event the watcher still holds the old end and skips it.
    ledger.append_event(run_dir.events, {"type": "restart", "pane": name,
                                         "attempt": attempt + 1})
    return attempt + 1


def _command(run_dir: ledger.RunDir, name: str, resume: bool) -> str | None:
    """The command the next attempt runs (None: the spec's as it is); checked before
    anything is stopped, so a refusal changes nothing."""
    wired = read_wiring(run_dir.pane_dir(name))
    if not resume:
        return wired.start
    if wired.resume:
        return wired.resume
    if wired.mode == "headless":
        why = "runs headless: its CLI's resume form is interactive"
    elif wired.agent:
        why = f"runs {wired.agent}, which has no documented way to resume a conversation"
    else:
        why = "runs a command of the layout's own, with no documented way to resume"
    raise BadInput(f"restart --continue: pane '{name}' {why}; nothing was changed. "
                   f"`agentmux restart {name}` starts it afresh")


def pane_dir_files(pane_dir: Path) -> list[Path]:
    """What belongs to one attempt: everything but the spec, the wiring, what the agent's own
    hook settings read, the task and older attempts."""
    keep = {"spec.json", "TASK.md", "wiring.json",
            *read_wiring(pane_dir).pane_files}
    return [p for p in pane_dir.iterdir()
            if p.name not in keep and not p.name.startswith("attempt-")]


def _wait_recorded(run_dir: ledger.RunDir, name: str) -> bool:
    def recorded() -> bool:
        st = replay(run_dir.events_of()).get(name)
        return st is not None and st.terminal

    # The watcher records the end on its next tick.
    return poll.until(recorded, RECORD_WAIT, 0.1)
