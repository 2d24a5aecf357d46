"""Acting on a live run: `down`, `attach` and `logs`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from agentmux import find, ledger, poll, queue
from agentmux.errors import BadInput, EnvironmentProblem, WorkFailed
from agentmux.find import pane_entry
from agentmux.records import StatusRecord
from agentmux.tmux import Tmux
from agentmux.watch import loop as watcher
from agentmux.watch.alive import STOP_SIGNALS, is_running, pid_alive, read_status, send_stop
from agentmux.watch.screen import ANSI
from agentmux.watch.state import PaneState, replay


def _status(run_dir: ledger.RunDir, name: str) -> StatusRecord | None:
    return read_status(run_dir.status(name))


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
        st = _status(run_dir, n)
        if st is not None and st.pid > 0:
            with contextlib.suppress(OSError):
                os.kill(st.pid, signal.SIGKILL)


def down(run_dir: ledger.RunDir, grace: float = 5.0) -> dict[str, PaneState]:
    """Capture every transcript, stop each agent (INT, TERM, KILL), then kill exactly the session.

    Worktrees, branches and the ledger stay.
    """
    run = run_dir.run()
    tm = Tmux(run.socket)
    session = run.session
    names = run.pane_names
    live = tm.panes(session)
    if live is not None:
        for p in live:
            if p.name in names:
                text = tm.capture(p.pane_id)
                if text is not None:
                    run_dir.transcript(p.name).write_text(text, errors="surrogateescape")

    queue.close(run_dir)
    stop_panes(run_dir, names, grace)
    info = run_dir.watcher()
    pid = info.pid if info is not None else None
    if isinstance(pid, int) and pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    state = watcher.final_tick(run_dir)
    tm.kill_session(session)
    run_dir.write_run(replace(run_dir.run(), state="down", ended_at=ledger.now_iso()))
    return state


def attach(run_dir: ledger.RunDir, pane: str | None, zoom: bool) -> None:
    run = run_dir.run()
    tm = Tmux(run.socket)
    session = run.session
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


def logs(run_dir: ledger.RunDir, name: str, raw: bool, follow: bool) -> None:
    entry = pane_entry(run_dir, name)
    out = sys.stdout.buffer
    if raw or follow:
        path = run_dir.output(name)
        if not path.exists():
            raise BadInput(f"pane '{name}' has no output yet ({path})")
        ended = False
        with path.open("rb") as f:
            while True:
                chunk = f.read(65536)
                if chunk:
                    out.write(chunk if raw else ANSI.sub("", chunk.decode(errors="replace"))
                              .encode())
                    out.flush()
                    continue
                if not follow or ended:
                    return
                # One more read after the end is seen, so the last bytes are not missed.
                st = _status(run_dir, name)
                ended = bool(st is not None and st.ended_at)
                if not ended:
                    time.sleep(0.2)  # poll: following a growing file
    run = run_dir.run()
    state = replay(run_dir.events_of()).get(name)
    transcript: Path = run_dir.transcript(name)
    if not (state and state.terminal and transcript.exists()):
        pane_id = entry.get("pane_id")
        text = Tmux(run.socket).capture(str(pane_id)) if pane_id else None
        if text is not None:
            out.write(text.encode(errors="surrogateescape"))
            return
    if transcript.exists():
        out.write(transcript.read_bytes())
        return
    path = run_dir.output(name)
    if path.exists():
        sys.stderr.write(f"(no rendered transcript of '{name}'; showing its raw output)\n")
        out.write(ANSI.sub("", path.read_bytes().decode(errors="replace")).encode())
        return
    raise WorkFailed(f"pane '{name}' has no transcript and no output in run {run_dir.id}")
