"""Acting on a live run: `down`, `attach` and `logs`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field, replace

from agentmux import find, ledger, poll, queue, remote, sweep, transcript
from agentmux.errors import EnvironmentProblem, Refused, WorkFailed
from agentmux.find import pane_entry
from agentmux.records import EventRecord, StatusRecord
from agentmux.tmux import Tmux
from agentmux.watch import loop as watcher
from agentmux.watch.alive import STOP_SIGNALS, is_running, pid_alive, read_status, send_stop
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


LOCK_WAIT = 60.0
# Run states in which nothing may start an agent any more (`add`, `restart`, `up`'s reuse).
ENDING = ("stopping", "down")


def lock_run(run_dir: ledger.RunDir, what: str) -> poll.Lock:
    """The run's lock: `add` and `restart` hold it while they start an agent, and `down` takes
    it to mark the run `stopping`; so no agent starts in a run that `down` is stopping."""
    lock = poll.Lock(run_dir.path / "add.lock")
    if not lock.acquire(wait=LOCK_WAIT):
        raise Refused(f"{what}: another command on run {run_dir.id} did not finish within "
                      f"{LOCK_WAIT:.0f}s")
    return lock


def refuse_if_ending(run_dir: ledger.RunDir, what: str) -> None:
    """Call under lock_run: refuses (exit 3) once `down` has begun, before anything starts."""
    state = run_dir.run().state
    if state in ENDING:
        doing = "ended" if state == "down" else "is being stopped by `agentmux down`"
        raise Refused(f"{what}: run {run_dir.id} {doing}; nothing was started. "
                      "`agentmux up LAYOUT` starts a new run")


def _mark_stopping(run_dir: ledger.RunDir) -> None:
    lock = lock_run(run_dir, "down")
    try:
        run = run_dir.run()
        if run.state != "down":
            run_dir.write_run(replace(run, state="stopping"))
    finally:
        lock.release()


@dataclass(frozen=True)
class Down:
    state: dict[str, PaneState]
    ended: list[sweep.Proc]   # processes of the run still running after its agents stopped
    problems: list[str] = field(default_factory=list)  # what `down` could not do on a host


def intend_stop(run_dir: ledger.RunDir, names: list[str], reason: str) -> None:
    """Records, before any signal, that agentmux is stopping these agents: however each one
    then exits (many exit 0 on SIGINT), the watcher records it `stopped` with this reason."""
    ended = replay(run_dir.events_of())
    for n in names:
        if not (n in ended and ended[n].terminal):
            run_dir.append(EventRecord("stop", n, reason=reason))


def down(run_dir: ledger.RunDir, grace: float = 5.0) -> Down:
    """Mark every transcript, stop each agent (INT, TERM, KILL), then kill exactly the
    session, then end whatever the agents left running (agentmux.sweep).

    Each running pane's log is marked where it stands before the agent is signalled: its
    transcript then keeps what the screen showed at that moment when the program wipes it
    as it exits (agentmux.transcript).

    The run is marked `stopping` first, under the run's lock: an `add` or `restart` that
    comes after is refused, and one already under way finishes before the stop begins.
    Worktrees, branches and the ledger stay.
    """
    _mark_stopping(run_dir)
    queue.close(run_dir)   # and no queued agent starts either
    run = run_dir.run()
    tm = Tmux(run.socket)
    session = run.session
    names = run.pane_names
    for p in tm.panes(session) or []:
        if p.name in names and not p.dead:
            transcript.mark_stop(run_dir, p.name, (p.width or 0, p.height or 0))

    intend_stop(run_dir, names, "down")
    here = remote.local_names(run_dir, names)
    stop_panes(run_dir, here, grace)
    problems: list[str] = []
    taken: dict[str, list[str]] | None = None
    if len(here) != len(names):   # agents on other hosts: stopped there, ends recorded here
        from agentmux import remote_live

        taken, problems = remote_live.down_stop(run_dir, grace)
    info = run_dir.watcher()
    pid = info.pid if info is not None else None
    if isinstance(pid, int) and pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    state = watcher.final_tick(run_dir)
    if taken is not None:   # the watcher is gone: nothing else records the remote ends now
        problems += remote_live.down_finish(run_dir, taken)
    # What the ledger holds now: the remote ends recorded after the watcher's last look.
    state = {**state, **replay(run_dir.events_of())}
    tm.kill_session(session)
    # The agents' own leftovers, and on_event commands: these get `grace` to finish by
    # themselves first (a notification of the stop), then TERM, then KILL.
    ended = sweep.sweep(run_dir.id, str(run_dir.path), grace, settle=min(grace, 2.0))
    if ended:
        ledger.append_event(run_dir.events, {
            "type": "swept", "processes": [
                {"pid": p.pid, "name": p.name, "pane": p.pane, "on_event": p.on_event}
                for p in ended]})
    run_dir.write_run(replace(run_dir.run(), state="down", ended_at=ledger.now_iso()))
    return Down(state, ended, problems)


def attach(run_dir: ledger.RunDir, pane: str | None, zoom: bool) -> None:
    if pane and (away := remote_pane(run_dir, pane)) is not None:
        from agentmux import remote_live

        remote_live.attach(*away)
        return None
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


def logs(run_dir: ledger.RunDir, name: str, raw: bool, follow: bool, force: bool = False
         ) -> None:
    """`logs` (agentmux.logs): the rendered transcript, or the raw stream to a pipe."""
    from agentmux import logs as view

    away = remote_pane(run_dir, name)
    if away is not None:   # its raw log, copied from the host's ledger, rendered here
        from agentmux import remote_live
        from agentmux.hosts import HostUnreachable

        try:
            run_dir.output(name).write_bytes(remote_live.output(*away))
        except HostUnreachable as e:
            if not run_dir.output(name).exists():
                raise
            print(f"agentmux: {e}; showing the copy taken at the last `logs`",
                  file=sys.stderr)
    out = sys.stdout.buffer
    try:
        tty = os.isatty(out.fileno())
    except (OSError, ValueError):  # not a real file (click's CliRunner): no terminal
        tty = False
    view.show(run_dir, name, out, raw=raw, follow=follow, force=force, to_terminal=tty)


def remote_pane(run_dir: ledger.RunDir, name: str
                 ) -> tuple[remote.RemoteHost, remote.RemotePane] | None:
    pane_entry(run_dir, name)
    rec = remote.read(run_dir)
    p = rec.panes.get(name)
    return None if p is None else (rec.hosts[p.host], p)
