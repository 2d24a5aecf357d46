"""`send` and `restart`: acting on one agent's pane without attaching to it."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from agentmux import control, find, ledger, panenv, panespec, poll, sandbox
from agentmux.errors import BadInput, EnvironmentProblem, Refused, WorkFailed
from agentmux.find import pane_entry
from agentmux.runner import argv as runner_argv
from agentmux.tmux import PaneObs, Tmux
from agentmux.watch.state import replay
from agentmux.wiring import read_wiring

STOP_GRACE = 3.0
RECORD_WAIT = 10.0
# The key names `send --key` takes: tmux's own names (and C-, M-, S- before them), or one
# printable character. Nothing else reaches send-keys: no ';' (a command separator in a
# chain), no braces (command blocks), no spaces, no text.
_NAMED = ("Enter", "Escape", "Tab", "BTab", "Space", "BSpace", "Up", "Down", "Left", "Right",
          "Home", "End", "PageUp", "PageDown", "PgUp", "PgDn", "PPage", "NPage", "IC", "DC",
          "Insert", "Delete", *(f"F{i}" for i in range(1, 13)))
_ALIASES = {"esc": "Escape", "return": "Enter", "backspace": "BSpace"}
KEY = re.compile(r"((?:[CMS]-)*)(" + "|".join(_NAMED) + r"|[!-:<-z|~])", re.IGNORECASE)
KEY_HELP = ("tmux key names: Enter, Escape, Tab, BTab, Space, BSpace, Up, Down, Left, Right, "
            "Home, End, PageUp, PageDown, F1-F12, or one character (y, 2), each optionally "
            "after C-, M- or S- (C-c)")


def key_name(key: str) -> str:
    """The key as tmux spells it; BadInput when it is not a key name of KEY_HELP."""
    m = KEY.fullmatch(_ALIASES.get(key.lower(), key))
    if m is None:
        raise BadInput(f"send: --key {key!r} is not a key; use {KEY_HELP}")
    mods, base = m.groups()
    named = {n.lower(): n for n in _NAMED}.get(base.lower())
    # A single letter keeps its case (y and Y are different keys); names are tmux's.
    return mods.upper() + (named or base)


def _live_pane(run_dir: ledger.RunDir, name: str) -> tuple[Tmux, PaneObs]:
    pane_entry(run_dir, name)
    run = run_dir.read_run()
    tm = Tmux(run.get("socket"))
    live = tm.panes(run["session"], ("synchronize-panes",))
    if live is None:
        raise WorkFailed(f"session '{run['session']}' is not running (run {run_dir.id}); "
                         + find.restart_hint(run_dir))
    found = [p for p in live if p.name == name]
    if not found:
        raise WorkFailed(f"pane '{name}' is no longer in session '{run['session']}'")
    return tm, found[0]


def send(run_dir: ledger.RunDir, name: str, text: bytes, keys: Sequence[str] = ()) -> None:
    """Types text into the agent as one bracketed paste, then presses keys (Enter if none).

    The text goes through a uniquely named tmux buffer on stdin, so no byte of it is ever
    parsed by tmux (`;`, `#{}`, key names). `paste-buffer -p` brackets it only if the program
    asked for bracketed paste (TUIs do; a cooked terminal does not), and turns each LF into CR:
    a program reading lines from a cooked terminal gets each line as a line. Empty text is
    no paste: `send PANE ""` presses Enter alone. Keys are real key presses (a menu that
    ignores a pasted digit takes the key), checked against KEY before anything is sent.
    Text and keys reach this pane only, whatever the window's synchronize-panes says.
    """
    names = [key_name(k) for k in keys] or ["Enter"]
    away = control.remote_pane(run_dir, name)
    if away is not None:
        from agentmux import remote_live

        remote_live.send(*away, text, names)
        return
    tm, pane = _live_pane(run_dir, name)
    if pane.dead:
        raise WorkFailed(f"pane '{name}' has ended; `agentmux restart {name}` runs it again")
    tm.send(pane.pane_id, text.decode(errors="surrogateescape"), names,
            f"agentmux-send-{secrets.token_hex(6)}", synchronized=pane.extra[:1] == ("1",),
            step=f"sending to pane '{name}'")


def restart(run_dir: ledger.RunDir, name: str, resume: bool = False) -> int:
    """Runs the pane's agent again on the same worktree; returns the new attempt's number.

    With `resume`, the agent resumes its last conversation: the runner runs the spec's
    `resume` command (the CLI's documented flag, Preset.resume, checked like the rest of the
    spec); a pane with none is refused, nothing changed. The ended attempt's files (status,
    output, transcript, check log, result, hook records) move to `panes/<pane>/attempt-<n>/`
    first; a running agent is stopped (INT, TERM, KILL) and its end recorded, as `stopped`
    (reason `restart`), before anything moves. The spec must be what the run's trusted layout makes
    (panespec.verify: Refused otherwise, before anything is stopped), and the agent gets the
    environment of the shell that runs `restart`.
    """
    # Under the run's lock, as `add`: `down` marks the run before it stops anything, so a
    # restart never starts an agent in a run that is being stopped.
    with contextlib.closing(control.lock_run(run_dir, "restart")):
        control.refuse_if_ending(run_dir, "restart")
        return _restart(run_dir, name, resume)


def _restart(run_dir: ledger.RunDir, name: str, resume: bool) -> int:
    if control.remote_pane(run_dir, name) is not None:
        return _restart_remote(run_dir, name, resume)
    tm, pane = _live_pane(run_dir, name)
    spec = panespec.verify(run_dir, name)
    if resume and not spec.resume:
        raise BadInput(f"restart --continue: pane '{name}' {_no_resume(run_dir, name)}; "
                       f"nothing was changed. `agentmux restart {name}` starts it afresh")
    max_output = panespec.trusted_layout(run_dir, run_dir.run(), "restart").max_output
    if spec.sandbox is not None:
        problem = sandbox.check_available()
        if problem is not None:
            raise EnvironmentProblem(f"restart {name}: the pane has sandbox = \"bwrap\": "
                                     f"{problem}. Nothing was changed")
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
    panespec.rewire(run_dir, name)   # the agent's hook files, again from the trusted layout
    env_dir, env_files = panenv.write([name])
    try:
        tm.respawn(pane.pane_id, runner_argv(run_dir.spec(name), env_files[name], resume),
                   run_dir.output(name), max_output, step=f"restarting pane '{name}'")
    except BaseException:
        panenv.remove(env_dir)
        raise
    # After the respawn: until this event the watcher still holds the old end and skips it.
    ledger.append_event(run_dir.events, {"type": "restart", "pane": name,
                                         "attempt": attempt + 1})
    return attempt + 1


def _restart_remote(run_dir: ledger.RunDir, name: str, resume: bool) -> int:
    """`restart` of a pane on another host: the same steps as here, each one ssh call."""
    from agentmux import remote_live

    spec, resume = remote_live.restart_spec(run_dir, name, resume)
    recorded = replay(run_dir.events_of()).get(name)
    if not (recorded and recorded.terminal):
        control.intend_stop(run_dir, [name], "restart")
        remote_live.stop(run_dir, name, STOP_GRACE)
        if not _wait_recorded(run_dir, name):
            raise Refused(f"pane '{name}' was stopped, but its end was not recorded within "
                          f"{RECORD_WAIT:.0f}s (is the watcher running? `agentmux watch`)")
    pane_dir = run_dir.pane_dir(name)
    attempt = len(list(pane_dir.glob("attempt-*"))) + 1
    remote_live.respawn(run_dir, name, spec, resume, attempt)
    keep = pane_dir / f"attempt-{attempt}"   # what was copied here of the ended attempt
    keep.mkdir()
    for f in pane_dir_files(pane_dir):
        f.rename(keep / f.name)
    ledger.append_event(run_dir.events, {"type": "restart", "pane": name,
                                         "attempt": attempt + 1})
    return attempt + 1


def _no_resume(run_dir: ledger.RunDir, name: str) -> str:
    wired = read_wiring(run_dir.pane_dir(name))
    if wired.mode == "headless":
        return "runs headless: its CLI's resume form is interactive"
    if wired.agent:
        return f"runs {wired.agent}, which has no documented way to resume a conversation"
    return "runs a command of the layout's own, with no documented way to resume"


def pane_dir_files(pane_dir: Path) -> list[Path]:
    """What belongs to one attempt: everything but the spec, the task and older attempts."""
    keep = {"spec.json", "TASK.md"}
    return [p for p in pane_dir.iterdir()
            if p.name not in keep and not p.name.startswith("attempt-")]


def _wait_recorded(run_dir: ledger.RunDir, name: str) -> bool:
    def recorded() -> bool:
        st = replay(run_dir.events_of()).get(name)
        return st is not None and st.terminal

    # The watcher records the end on its next tick.
    return poll.until(recorded, RECORD_WAIT, 0.1)
