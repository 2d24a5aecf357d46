"""`add --host`: one more agent of a running run, on a host of its trusted layout snapshot.

The host is checked as `up` checks it (`hosts_up.preflight`: reachable, tools, the clone's
history). On a host where the run has agents already, ONE setup call of the host program
(agentmux.remote) adds the worktree and branch from the run's base, writes the pane's
spec.json and TASK.md into its own folder of the host's ledger, and splits (or opens) its
window in the host's session; the call is given that pane folder as its "run folder" and no
session or base ref, so a failure inside it removes only what it made. On a host the run
has not used yet, `remote_up.start` does what `up` does there (base push, ledger, session).
A later failure, or an interrupt, here kills the new pane and removes its worktree, branch
and folder there. remote.json is written before run.json: whoever sees the pane in run.json
knows it is remote.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import replace

from agentmux import brief, hosts_up, layout, ledger, queue, remote, remote_up
from agentmux.errors import BadInput, WorkFailed
from agentmux.hosts import Host, Transport
from agentmux.tmux_chain import chain_argv, fmt_escape, pane_commands
from agentmux.watch.state import replay


def on_host(lay: layout.Layout, name: str, host: str, where: str) -> layout.Layout:
    """The layout with pane `name` on `host`; BadInput naming the closest host if unknown."""
    if host not in lay.hosts:
        close = difflib.get_close_matches(host, list(lay.hosts), n=1)
        hint = (f"; did you mean {close[0]!r}?" if close else
                f"; it declares {', '.join(sorted(lay.hosts)) or 'no [hosts.NAME] at all'}")
        raise BadInput(f"{where}: unknown host {host!r}: the run's layout {lay.path} has no "
                       f"[hosts.{host}]{hint}")
    return replace(lay, panes=tuple(replace(p, host=host) if p.name == name else p
                                    for p in lay.panes))


def add_on_host(undo: contextlib.ExitStack, run_dir: ledger.RunDir, lay: layout.Layout,
                name: str, task: str) -> tuple[str, layout.PanePlan]:
    """Start pane `name` (on its host in `lay`); what it made there is undone by `undo`.

    Returns its tmux pane id on the host and its plan (paths on the host)."""
    run = run_dir.run()
    spec = next(p for p in lay.panes if p.name == name)
    assert spec.host is not None
    checked = hosts_up.preflight(lay, [spec], remote_up.cache_key())[spec.host]
    h = checked.transport.host
    rec = remote.read(run_dir)
    (pl,) = remote_up.plans_on(lay, h, run_dir.id, [name])
    rh = rec.hosts.get(h.name)
    if rh is None:   # the run's first agent on this host: as `up` starts it there
        work = remote_up.HostWork(h, checked.transport, checked.report.home, checked.cached,
                                  [pl])
        got = remote_up.start(undo, lay, run_dir, run.base, [work], run.wake, {})
        rh, pane_id = got.hosts[h.name], str(got.panes[name].pane_id)
    else:
        pane_id = _setup(undo, lay, run_dir, rh, checked.transport, pl, rec, task)
    remote.write(run_dir, remote.RemoteRecord(
        {**rec.hosts, h.name: rh},
        {**rec.panes, name: remote.RemotePane(name, h.name, pane_id, pl.branch,
                                              str(pl.worktree) if pl.worktree else None)}))
    return pane_id, pl


def _setup(undo: contextlib.ExitStack, lay: layout.Layout, run_dir: ledger.RunDir,
           rh: remote.RemoteHost, t: Transport, pl: layout.PanePlan, rec: remote.RemoteRecord,
           task: str) -> str:
    run, h = run_dir.run(), t.host
    rrun = remote_up.host_run_dir(h, run_dir.id)
    folder = str(rrun.pane_dir(pl.name))
    trees = [(pl.branch or "", str(pl.worktree))] if pl.worktree else []
    # Only this pane's folder, worktree and branch are ours there: never the session or base.
    mine = replace(rh, run_dir=folder, session="", base_ref="")
    made: list[tuple[str, str]] = []
    started: list[bool] = []
    undo.callback(remote_up.undo, t, mine, made, started)
    where = {"worktree": str(pl.worktree or ""), "branch": pl.branch or "",
             "working folder": str(pl.cwd)}
    files = remote_up.pane_files(lay, h, run_dir.id, pl, run.wake, rh.cache)
    files[str(rrun.task_file(pl.name))] = brief.render(pl.name, task, pl.scope, [], where,
                                                       run.base).encode("utf-8")
    # The host's queue: its gate opens now if a slot is free (here first, as the watcher
    # does; the local gate goes with the pane's folder here on a failure).
    names = [*(p.name for p in rec.on(h.name)), pl.name]
    if pl.name in queue.release(run_dir, names, rh.max_running, replay(run_dir.events_of())):
        files[str(queue.gate_path(rrun, pl.name))] = ledger.now_iso().encode() + b"\n"
    query: dict[str, object] = {
        "repo": rh.repo, "socket": remote.SOCKET, "session": "", "sha": run.base,
        "base_ref": "", "run_dir": folder, "trees": trees, "files": files,
        "cache": rh.cache, "cache_files": {},
        "chain": _chain(lay, rh, h, pl, rec, run_dir.id, run.wake),
    }
    ids = remote.call(t, "setup", query, timeout=120.0)["ids"]
    made += trees
    started.append(True)
    assert isinstance(ids, list)
    if len(ids) != 1:
        raise WorkFailed(f"host '{h.name}': tmux made {len(ids)} panes for 1 agent")
    pane_id = str(ids[0])
    undo.callback(_kill_pane, t, rh, pane_id)
    return pane_id


def _kill_pane(t: Transport, rh: remote.RemoteHost, pane_id: str) -> None:
    with contextlib.suppress(Exception):   # the undo after it says what was left
        remote.call(t, "tmux",
                    {"repo": rh.repo, "socket": remote.SOCKET, "args": ["kill-pane", "-t",
                                                                        pane_id]})


def _chain(lay: layout.Layout, rh: remote.RemoteHost, h: Host, pl: layout.PanePlan,
           rec: remote.RemoteRecord, run_id: str, wake: str) -> list[str]:
    """Split the pane's window in the host's session, or open it there (as `up` would)."""
    rrun = remote_up.host_run_dir(h, run_id)
    others = [p.name for p in rec.on(h.name)]
    windows = {p.window for p in remote_up.plans_on(lay, h, run_id, others)}
    argv = remote_up.runner_argv(rh.cache, str(rrun.spec(pl.name)))
    launch = remote_up.hosted(pl.name, argv, pl.cwd, rrun.output(pl.name), lay.max_output)
    if pl.window in windows:
        create = ["split-window", "-t", f"={rh.session}:={pl.window}"]
        group = pane_commands(create, launch, run_id, None)
    else:
        create = ["new-window", "-t", f"={rh.session}:", "-n", fmt_escape(pl.window)]
        group = [*pane_commands(create, launch, run_id, wake),
                 ["last-window", "-t", f"={rh.session}"]]
    return chain_argv(group)
