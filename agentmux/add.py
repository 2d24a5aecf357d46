"""`agentmux add`: one more agent in a running session, built like `up` builds each pane."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace

from agentmux import interrupts, layout, ledger, panenv, panespec, remote, worktrees
from agentmux.errors import BadInput, Interrupted, LayoutError
from agentmux.records import AddedPane
from agentmux.shellcmd import SH
from agentmux.tmux import Tmux
from agentmux.up import _remove, _undo_worktrees, pane_record, write_brief, write_spec


def add(
    run_dir: ledger.RunDir, name: str, task: str, *, agent: str | None, command: str | None,
    scope: Sequence[str] = (), host: str | None = None,
) -> tuple[str, layout.PanePlan]:
    """One more agent in a running session: worktree, brief, spec, pane, then run.json.

    The new pane is checked as if it were the last `[[pane]]` of the run's layout snapshot
    (plus the panes added before it), against the run's base: names, branch, scope overlap.
    The watcher re-reads run.json's pane list every tick, so it follows without a restart.
    With `host`, the pane runs on that host of the layout snapshot (agentmux.remote_add).
    Returns the new pane's id (on its host's tmux server for a remote pane) and plan.
    """
    if (agent is None) == (command is None):
        raise BadInput("add: give exactly one of --agent or --command")
    # Each `add` reads, extends and replaces run.json: one at a time per run. `down` marks the
    # run under the same lock before it stops anything, so an agent is never added to a run
    # that is being stopped (it ended `lost` when its session went). Signals, as in `up`, land
    # only between steps: the pane is added whole (in run.json too) or not at all.
    from agentmux import control

    added_as: list[str] = []
    try:
        with interrupts.guarded() as guard, \
                contextlib.closing(control.lock_run(run_dir, "add")), guard.critical():
            pl = _add(run_dir, name, AddedPane(name, task, agent, command, tuple(scope)),
                      guard, added_as, host)
    except Interrupted as e:
        e.args = (f"add: {e} after pane {name!r} was added ({added_as[0]})" if added_as
                  else f"add: {e}; nothing was added",)
        raise
    return added_as[0], pl


def _add(run_dir: ledger.RunDir, name: str, added: AddedPane, guard: interrupts.Guard,
         added_as: list[str], host: str | None = None) -> layout.PanePlan:
    from agentmux import control, remote_add

    control.refuse_if_ending(run_dir, "add")
    run = run_dir.run()
    tm = Tmux(run.socket)
    if not tm.has_session(run.session):
        raise BadInput(f"add: session '{run.session}' of run {run_dir.id} is not running; "
                       "start it with `agentmux up`")
    try:
        lay = panespec.trusted_layout(run_dir, replace(
            run, added_panes=(*run.added_panes, added)), "add")
        if host is not None:
            lay = remote_add.on_host(lay, name, host, f"add {name}")
        layout.check_here(lay)
    except LayoutError as e:
        raise BadInput(f"add: cannot add pane {name!r}: {e.message}") from None
    spec = next(p for p in lay.panes if p.name == name)
    if host is not None:
        return _add_remote(run_dir, lay, name, added, guard, added_as)
    panespec.require_sandbox([spec], f"add {name}")
    task_files = {p.name: run_dir.task_file(p.name) for p in lay.panes}
    (pl,) = [p for p in layout.plan(lay, task_files) if p.name == name]
    with contextlib.ExitStack() as undo:
        prepared = None
        if pl.worktree is not None and pl.branch is not None:
            got = worktrees.prepare(lay.repo, run.base,
                                    [worktrees.Want(name, pl.branch, pl.worktree)], lay.copy)
            undo.callback(_undo_worktrees, lay.repo, got)
            prepared = got[0]
            guard.check()
        undo.callback(_remove, run_dir.pane_dir(name))
        run_dir.pane_dir(name).mkdir(parents=True, exist_ok=True)
        write_brief(task_files[name], pl, added.task, {}, run.base)
        env_dir, env_files = panenv.write([name])   # the environment of this `add`
        undo.callback(panenv.remove, env_dir)
        launch = write_spec(run_dir, lay, pl, SH, run.wake,
                            bool(prepared and prepared.created_worktree),
                            panespec.common_dir(lay, [spec]), env_files[name],
                            run.max_running is not None)
        guard.check()
        pane_id = tm.add_pane(run.session, run_dir.id, pl.window, launch, run.wake)
        undo.pop_all()
    added_as.append(pane_id)
    run = run_dir.run()   # fresh: `down` may have written meanwhile
    record = replace(pane_record(pl, prepared, ledger.now_iso()), pane_id=pane_id)
    run_dir.write_run(replace(run, panes=(*run.panes, record),
                              added_panes=(*run.added_panes, added)))
    return pl


def _add_remote(run_dir: ledger.RunDir, lay: layout.Layout, name: str, added: AddedPane,
                guard: interrupts.Guard, added_as: list[str]) -> layout.PanePlan:
    """A pane on a host: started there (agentmux.remote_add), then recorded here."""
    from agentmux import remote_add

    with contextlib.ExitStack() as undo:
        before = remote.read(run_dir)
        undo.callback(_restore, run_dir, before)
        undo.callback(_remove, run_dir.pane_dir(name))
        run_dir.pane_dir(name).mkdir(parents=True, exist_ok=True)
        pane_id, pl = remote_add.add_on_host(undo, run_dir, lay, name, added.task)
        guard.check()
        run = run_dir.run()   # fresh: `down` may have written meanwhile
        # Its worktree and pane are not on this machine: remote.json has them.
        record = pane_record(replace(pl, worktree=None), None, ledger.now_iso())
        run_dir.write_run(replace(run, panes=(*run.panes, record),
                                  added_panes=(*run.added_panes, added)))
        undo.pop_all()
    added_as.append(pane_id)
    return pl


def _restore(run_dir: ledger.RunDir, before: remote.RemoteRecord) -> None:
    if before.hosts or before.panes:
        remote.write(run_dir, before)
    else:
        (run_dir.path / remote.FILE).unlink(missing_ok=True)
