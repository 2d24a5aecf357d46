"""`up`: layout -> worktrees -> one tmux chain -> watcher. All or nothing.

Each step that creates something registers its undo on an ExitStack before the next step
runs, so a failure halfway through removes exactly what this `up` created: the run folder,
the worktrees and branches it added (never reused ones), and the session if it made it.

Crash consistency with the fewest fsyncs (each costs 3 to 5 ms here; `up` used to make
2N + 6 of them, see docs/performance.md): the panes' env files (agentmux/panenv.py, outside
the run folder), the specs and the task briefs are read only by the runners this `up`
starts, which a crash ends too, so they are written LIVE (atomic, no fsync). run.json is the
record review reads after everything else is gone: its first version is WHOLE (after a crash
it is absent or whole, never empty), its last DURABLE, and the runs folder is synced once so
the run folder itself survives. Four fsyncs, any N.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agentmux import (
    __version__,
    brief,
    git,
    hosts_up,
    interrupts,
    layout,
    ledger,
    panenv,
    panespec,
    queue,
    remote,
    remote_up,
    snapshot,
    sweep,
    trust,
    worktrees,
)
from agentmux.atomic import WHOLE
from agentmux.errors import (
    AgentmuxError,
    BadInput,
    EnvironmentProblem,
    Interrupted,
    Refused,
)
from agentmux.find import latest_of_session
from agentmux.records import PaneRecord, RunRecord
from agentmux.runner import argv as runner_argv
from agentmux.shellcmd import SH
from agentmux.tmux import Launch, Tmux, Window, check_version, terminal_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpResult:
    run_dir: ledger.RunDir
    session: str
    socket: str | None
    started: bool          # False: the session was already running, nothing was created
    panes: dict[str, str]  # pane name -> pane id


def refuse_untrusted(lay: layout.Layout, path: Path) -> Refused:
    lines = [f"{path}: this layout is not trusted yet. It would run:"]
    for name, cmd in layout.command_preview(lay):
        lines.append(f"  {name}: {cmd}")
    lines.append(f"Trust it with `agentmux trust {path}`, or run `agentmux up --trust {path}`.")
    return Refused("\n".join(lines))


def up(
    path: Path,
    *,
    socket: str | None,
    only: Collection[str] = (),
    trusted: bool = False,
) -> UpResult:
    # Read once: the bytes parsed are the bytes hashed for trust and kept as the snapshot. A
    # second read let a file swapped by rename in between run commands nobody trusted.
    raw = layout.read_bytes(path)
    lay = layout.load(path, raw)
    panes = lay.panes
    if only:
        unknown = sorted(set(only) - {p.name for p in panes})
        if unknown:
            raise BadInput(f"--only: no pane named {', '.join(unknown)} in {path}; panes: "
                           + ", ".join(p.name for p in panes))
        panes = tuple(p for p in panes if p.name in only)
    checked: dict[str, hosts_up.Checked] = {}
    if any(p.host is not None for p in panes):
        # Every host is checked before anything is created, here or there.
        checked = hosts_up.preflight(lay, panes, remote_up.cache_key())
    panespec.require_sandbox(panes, path)   # never a sandboxed pane started without one
    if trusted:
        trust.trust(path, raw)
    elif not trust.is_trusted(path, raw):
        raise refuse_untrusted(lay, path)
    check_version()
    # One `up` at a time per repository: a second one for the same session then finds it
    # running instead of racing to build it (and undoing the winner's session).
    # Signals arrive only between steps (agentmux.interrupts), so an interrupted `up` leaves
    # all of the run or nothing of it.
    with interrupts.guarded() as guard, worktrees.RepoLock(lay.repo), guard.critical():
        return _start(lay, path, raw.decode("utf-8"), panes, Tmux(socket), socket, guard,
                      checked)


def refuse_exit_unattached(tm: Tmux) -> None:
    """On the user's own server, `exit-unattached on` ends the server, and every agent, when
    the last client detaches (at once after `up -d`). It is a server option: turning it off
    would change every session of the user's, so `up` stops before it creates anything. On
    a private server (`--socket`), the build pins it off instead (docs/tmux.md)."""
    if not tm.private and tm.exit_unattached():
        raise EnvironmentProblem(
            "your tmux server has `exit-unattached on` (a server option, from your tmux "
            "config): tmux would end the server, and every agent with it, as soon as no "
            "client is attached. agentmux does not change server options on your server. "
            "Run the agents on a private server, where agentmux turns it off: "
            "`agentmux --socket agents up ...` (then `agentmux --socket agents attach`), or "
            "turn it off yourself: `tmux set -s exit-unattached off`")


def _start(lay: layout.Layout, path: Path, snapshot: str, panes: tuple[layout.PaneSpec, ...],
           tm: Tmux, socket: str | None, guard: interrupts.Guard,
           checked: Mapping[str, hosts_up.Checked]) -> UpResult:
    repo = lay.repo
    previous = latest_of_session(ledger.iter_runs(repo), lay.session)
    prev_run = None
    if previous is not None:
        try:
            prev_run = previous.run()
        except ledger.DamagedRecord as e:  # JSON, but not a run record: start afresh
            log.warning("ignoring the previous run: %s", e)
    if tm.has_session(lay.session):
        if previous is None or prev_run is None or prev_run.socket != socket:
            raise Refused(
                f"a tmux session named '{lay.session}' already exists on this server and is not "
                f"an agentmux run of {repo}; set `session` in {path} to another name"
            )
        from agentmux import control  # here only: `up -d` does not load the watcher's loop

        if prev_run.state in control.ENDING:
            raise Refused(f"session '{lay.session}' of run {previous.id} is being stopped "
                          "(`agentmux down` is running, or did not finish); nothing was "
                          "created. Run `agentmux down` again, then `agentmux up`")
        return UpResult(previous, lay.session, socket, False, {
            p.name: p.pane_id or "" for p in prev_run.panes})
    refuse_exit_unattached(tm)

    step = "resolving base"
    left: list[str] = []   # what an undo could not remove, for the message
    run_dir = None
    try:
        with contextlib.ExitStack() as undo:
            base_sha = worktrees.resolve_base(repo, lay.base)
            if prev_run is not None and prev_run.base_ref == lay.base and prev_run.base:
                # Reused worktrees started from the recorded base; diffs stay against it.
                base_sha = prev_run.base
            guard.check()
            step = "creating the run folder"
            run_dir = ledger.RunDir(ledger.runs_dir(repo) / ledger.new_run_id(lay.session))
            ledger.ledger_root(repo)
            # Each undo is registered before the step that creates: a step may be cut short
            # after it created (docs: TMUX-GIT-FACTS "Interrupts").
            undo.callback(_remove, run_dir.path)
            run_dir.path.mkdir(parents=True)
            task_files = {p.name: run_dir.task_file(p.name) for p in lay.panes}
            wanted = {p.name for p in panes}
            plans = [pl for pl in layout.plan(lay, task_files) if pl.name in wanted]
            works = _host_works(lay, panes, run_dir.id, checked)
            away = {pl.name: pl for w in works for pl in w.plans}
            here = [pl for pl in plans if pl.name not in away]
            guard.check()

            prepared: dict[str, worktrees.Prepared] = {}
            if lay.isolation == "worktree":
                step = "creating worktrees"
                wants = [worktrees.Want(pl.name, pl.branch or "", pl.worktree or repo)
                         for pl in here]
                # prepare undoes its own partial work when it fails; a signal waits for it.
                got = worktrees.prepare(repo, base_sha, wants, lay.copy)
                undo.callback(_undo_worktrees, repo, got, left)
                prepared = {p.pane: p for p in got}
                guard.check()

            step = "writing the ledger"
            wake = f"agentmux-{run_dir.id}"
            env_dir, env_files = panenv.write(pl.name for pl in here)
            undo.callback(panenv.remove, env_dir)   # on success, each runner deletes its own
            # A remote pane's worktree and pane are not on this machine: remote.json has them.
            run = run_record(lay, path, snapshot, run_dir, socket, base_sha,
                             [replace(away[pl.name], worktree=None) if pl.name in away else pl
                              for pl in plans], prepared, wake, previous)
            # The watcher, started in the chain below, reads it first thing.
            run_dir.write_run(run, sync=WHOLE)
            shell = SH  # layout commands are POSIX sh whatever $SHELL is (agentmux.shellcmd)
            by_name = {p.name: p for p in panes}
            common = panespec.common_dir(lay, panes)
            step = "writing the task briefs"
            context = brief.read_context(repo, base_sha, (f for pl in plans for f in pl.context))
            windows: dict[str, Window] = {}
            for pl in plans:
                pane_dir = run_dir.pane_dir(pl.name)
                pane_dir.mkdir(parents=True, exist_ok=True)
                if pl.name in away:
                    continue
                write_brief(task_files[pl.name], pl, by_name[pl.name].task, context, base_sha)
                new_tree = pl.name in prepared and prepared[pl.name].created_worktree
                windows.setdefault(pl.window, Window(pl.window)).panes.append(write_spec(
                    run_dir, lay, pl, shell, wake, new_tree, common, env_files[pl.name],
                    run.max_running is not None))
            # The first max_running start at once; the watcher opens the others' gates.
            queue.release(run_dir, [pl.name for pl in here], run.max_running, {})
            guard.check()
            if works:
                step = "starting the agents on other hosts"
                remote.write(run_dir, remote_up.start(undo, lay, run_dir, base_sha, works,
                                                      wake, context))
                guard.check()

            step = "building the tmux session"
            undo.callback(_end_session, tm, lay.session, run_dir, repo)
            try:
                ids = tm.build(
                    lay.session, run_dir.id, repo,
                    [sys.executable, "-m", "agentmux", "watch", "--run-dir", str(run_dir.path)],
                    list(windows.values()), terminal_size(), wake,
                )
            except AgentmuxError:
                # A Ctrl-C reaches the tmux client too, which may die after the server took
                # the whole chain: then the session is there, its agents run, and it is kept.
                built = _built_anyway(tm, lay.session, run_dir.id, here) if guard.got else None
                if built is None:
                    raise
                ids = built
            # From here on the agents run: a signal now completes the run, never undoes it
            # (an agent may have written into its worktree already).
            run = replace(run, state="running", panes=tuple(
                replace(p, pane_id=ids.get(p.name)) for p in run.panes))
            run_dir.write_run(run)
            ledger.sync_folder(run_dir.path.parent)
            undo.pop_all()
    except AgentmuxError as e:
        if guard.got is None:
            e.args = (f"up failed while {step}: {e}",)
            raise
        # The signal, or a failure it caused (a git or tmux child got the same Ctrl-C).
        guard.raised = True
        stop = Interrupted(guard.got)
        stop.args = (f"{stop} while {step}; " + (
            "nothing was created" if not left else
            "undoing what this `up` created left: " + "; ".join(left)),)
        raise stop from (None if isinstance(e, Interrupted) else e)
    if guard.got is not None:   # it came while the run was being completed: it is complete
        guard.raised = True
        stop = Interrupted(guard.got)
        stop.args = (f"{stop} after run {run_dir.id} started; `agentmux down` stops it",)
        raise stop
    return UpResult(run_dir, lay.session, socket, True, ids)


def _host_works(lay: layout.Layout, panes: Sequence[layout.PaneSpec], run_id: str,
                checked: Mapping[str, hosts_up.Checked]) -> list[remote_up.HostWork]:
    works = []
    for name, c in checked.items():
        names = [p.name for p in panes if p.host == name]
        host = c.transport.host
        works.append(remote_up.HostWork(host, c.transport, c.report.home, c.cached,
                                        remote_up.plans_on(lay, host, run_id, names)))
    return works


def write_spec(run_dir: ledger.RunDir, lay: layout.Layout, pl: layout.PanePlan, shell: str,
               wake: str, new_tree: bool, common: Path | None, env_file: Path,
               gated: bool = False) -> Launch:
    """The runner's spec.json for one pane, and how tmux launches that runner."""
    run_dir.write_spec(panespec.build_spec(run_dir, lay, pl, shell=shell, wake=wake,
                                           new_tree=new_tree, common=common, gated=gated))
    panespec.write_wiring(run_dir, lay, pl)
    return Launch(pl.name, runner_argv(run_dir.spec(pl.name), env_file),
                  pl.cwd, run_dir.output(pl.name), lay.max_output)


def write_brief(path: Path, pl: layout.PanePlan, task: str,
                context: dict[str, brief.Context], base_sha: str) -> None:
    where = {"worktree": str(pl.worktree or ""), "branch": pl.branch or "",
             "working folder": str(pl.cwd)}
    path.write_text(brief.render(pl.name, task, pl.scope, [context[f] for f in pl.context],
                                 where, base_sha), encoding="utf-8")


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _undo_worktrees(repo: Path, got: list[worktrees.Prepared],
                    left: list[str] | None = None) -> None:
    for problem in worktrees.undo(repo, got):
        log.warning("undo: %s", problem)
        if left is not None:
            left.append(problem)


def _built_anyway(tm: Tmux, session: str, run_id: str,
                  plans: Sequence[layout.PanePlan]) -> dict[str, str] | None:
    """The pane ids of a session the server built though its client failed, or None."""
    if not tm.session_has_run(session, run_id):
        return None
    ids = {p.name: p.pane_id for p in tm.panes(session) or [] if p.name}
    return ids if all(pl.name in ids for pl in plans) else None


def _end_session(tm: Tmux, session: str, run_dir: ledger.RunDir, repo: Path) -> None:
    """Undo of the build: the session, then every process of the run (its runners are
    starting, and one that already started its agent must not outlive the run folder),
    then the snapshots its watcher took of agents that ended meanwhile."""
    tm.kill_session_of_run(session, run_dir.id)
    sweep.sweep(run_dir.id, str(run_dir.path), grace=1.0)
    with git.Repo(repo) as r:
        made = r.refs(f"{snapshot.SNAPSHOT_NS}/{run_dir.id}/")
    for ref, sha in made.items():
        git.delete_ref(repo, ref, sha)


def run_record(
    lay: layout.Layout, path: Path, snapshot: str, run_dir: ledger.RunDir, socket: str | None,
    base_sha: str, plans: list[layout.PanePlan], prepared: dict[str, worktrees.Prepared],
    wake: str, previous: ledger.RunDir | None,
) -> RunRecord:
    return RunRecord(
        id=run_dir.id, session=lay.session, socket=socket,
        socket_path=Tmux(socket).socket_path(), repo=str(lay.repo), base=base_sha,
        base_ref=lay.base, isolation=lay.isolation, layout=str(path.resolve()),
        layout_snapshot=snapshot,
        poll_interval=lay.poll_interval, on_event=lay.on_event, disposable=lay.disposable,
        wake=wake, created_at=ledger.now_iso(), resumes=previous.id if previous else None,
        agentmux_version=__version__, state="starting", max_running=lay.max_running,
        panes=tuple(pane_record(pl, prepared.get(pl.name)) for pl in plans))


def pane_record(pl: layout.PanePlan, prepared: worktrees.Prepared | None,
                added_at: str | None = None) -> PaneRecord:
    return PaneRecord(
        name=pl.name, window=pl.window, branch=pl.branch,
        worktree=str(pl.worktree) if pl.worktree else None, cwd=str(pl.cwd),
        command=pl.command, agent=pl.agent, check=pl.check, timeout=pl.timeout,
        idle_after=pl.idle_after, waiting_patterns=pl.waiting_patterns, scope=pl.scope,
        context=pl.context, attempt_of=pl.attempt_of,
        created_worktree=bool(prepared and prepared.created_worktree),
        head_at_start=prepared.head if prepared else None, added_at=added_at)
