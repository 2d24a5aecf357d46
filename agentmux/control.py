"""Acting on a live run: `down`, `attach` and `logs`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from agentmux import find, ledger, poll, transcript
from agentmux.errors import EnvironmentProblem, WorkFailed
from agentmux.find import pane_entry
from agentmux.tmux import Tmux
from agentmux.watch import loop as watcher
from agentmux.watch.alive import STOP_SIGNALS, is_running, pid_alive, read_status, send_stop
from agentmux.watch.state import PaneState


def _status(run_dir: ledger.RunDir, name: str) -> Mapping[str, Any]:
    return read_status(run_dir.status(name)) or {}


def stop_panes(run_dir: ledger.RunDir, names: list[str], grace: float) -> None:
    """INT, then TERM, then KILL, with `grace` seconds for each to work; waits for the end."""
    def running() -> list[str]:
        return [n for n in names if is_running(run_dir, n)]

    for sig in STOP_SIGNALS:
        left = running()
        if not left:
            break
        for n in left:
            send_stop(_status(run_dir, n), sig)
        poll.until(lambda: not running(), grace)
    for n in running():  # a runner that survived its agent's SIGKILL
        with contextlib.suppress(OSError, TypeError):
            os.kill(int(str(_status(run_dir, n).get("pid"))), signal.SIGKILL)


def down(run_dir: ledger.RunDir, grace: float = 5.0) -> dict[str, PaneState]:
    """Mark every transcript, stop each agent (INT, TERM, KILL), then kill exactly the session.

    Worktrees, branches and the ledger stay. Each running pane's log is marked where it
    stands before the agent is signalled: its transcript then keeps what the screen showed
    at that moment when the program clears it as it exits (agentmux.transcript).
    """
    run = run_dir.read_run()
    tm = Tmux(run.get("socket"))
    session = run["session"]
    names = [p["name"] for p in run.get("panes", [])]
    for p in tm.panes(session) or []:
        if p.name in names and not p.dead:
            transcript.mark_stop(run_dir, p.name, (p.width or 0, p.height or 0))

    stop_panes(run_dir, names, grace)
    info = ledger.read_json(run_dir.path / "watcher.json") or {}
    pid = info.get("pid")
    if isinstance(pid, int) and pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    state = watcher.final_tick(run_dir)
    tm.kill_session(session)
    run = run_dir.read_run()
    run["state"] = "down"
    run["ended_at"] = ledger.now_iso()
    ledger.write_json(run_dir.run_json, run)
    return state


def attach(run_dir: ledger.RunDir, pane: str | None, zoom: bool) -> None:
    run = run_dir.read_run()
    tm = Tmux(run.get("socket"))
    session = run["session"]
    live = tm.panes(session)
    if live is None:
        raise WorkFailed(f"session '{session}' is not running (run {run_dir.id}); "
                         + find.restart_hint(run_dir))
    target = None
    if pane:
        pane_entry(run_dir, pane)
        found = [p for p in live if p.name == pane]
        if not found:
            raise WorkFailed(f"pane '{pane}' is no longer in session '{session}'; "
                             f"`agentmux logs {pane}` shows its transcript")
        target = found[0].pane_id
        cmds = [["select-window", "-t", target], ["select-pane", "-t", target]]
        zoomed = tm.run("display-message", "-p", "-t", target,
                        "#{window_zoomed_flag}").stdout.strip()
        if zoom and zoomed != "1":
            cmds.append(["resize-pane", "-Z", "-t", target])
        tm.chain(cmds, step="selecting the pane")
    inside = os.environ.get("TMUX")
    if inside:
        theirs = inside.split(",")[0]
        ours = tm.socket_path()
        if os.path.realpath(theirs) != os.path.realpath(ours):
            raise EnvironmentProblem(
                f"you are inside tmux server {theirs}, and run {run_dir.id} lives on server "
                f"{ours}. Detach first, or nest it on purpose with "
                f"`TMUX= {find.hint(run_dir, 'attach', pane or '', tmux=True)}`"
            )
        tm.switch_client(target or f"={session}", step="switching client")
        return None
    sys.stdout.flush()
    tm.exec_attach(session)


def logs(run_dir: ledger.RunDir, name: str, raw: bool, follow: bool, force: bool = False
         ) -> None:
    """`logs` (agentmux.logs): the rendered transcript, or the raw stream to a pipe."""
    from agentmux import logs as view

    out = sys.stdout.buffer
    try:
        tty = os.isatty(out.fileno())
    except (OSError, ValueError):  # not a real file (click's CliRunner): no terminal
        tty = False
    view.show(run_dir, name, out, raw=raw, follow=follow, force=force, to_terminal=tty)
