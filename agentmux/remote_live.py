"""Remote panes in `status`, `down`, `attach`, `send`, `logs` and `restart`: one ssh call per
host each.

`look` makes one `hosts_tick` call per host: the host's tmux panes and every status.json of
the run's ledger there, classified exactly as local panes are (agentmux.remote_follow). A host
that does not answer makes its panes `unknown (host unreachable since <time>)`, never `done`.
A host whose tmux server is gone leaves panes without a final status `lost`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from agentmux import hosts_tick, ledger, panespec, remote, remote_follow, remote_up, snapshot
from agentmux.errors import AgentmuxError, BadInput, WorkFailed
from agentmux.hosts import HostUnreachable
from agentmux.hosts_up import host_of
from agentmux.records import EventRecord, StatusRecord
from agentmux.remote_follow import transport
from agentmux.runner import RESUME_FLAG
from agentmux.tmux_chain import arg_escape, chain_argv, respawn_commands
from agentmux.watch.state import PaneState, replay

__all__ = ["Look", "attach", "down_finish", "down_stop", "look", "output", "respawn",
           "restart_spec", "send", "stop", "transport"]


@dataclass(frozen=True)
class Look:
    """What one look at every host saw: each remote pane's state and status record."""

    states: dict[str, PaneState]
    statuses: dict[str, StatusRecord]
    hosts: dict[str, str]                   # pane -> host


def look(run_dir: ledger.RunDir, rec: remote.RemoteRecord | None = None) -> Look:
    rec = rec if rec is not None else remote.read(run_dir)
    states: dict[str, PaneState] = {}
    statuses: dict[str, StatusRecord] = {}
    events = run_dir.events_of() if rec.panes else []
    known = replay(events)
    for name, rh in rec.hosts.items():
        names = [p.name for p in rec.on(name)]
        try:
            reply = hosts_tick.tick(transport(rh), rh.run_dir, hosts_tick.Cursor(),
                                    fields=remote_follow.TICK_FIELDS, socket=remote.SOCKET,
                                    follow=())
        except HostUnreachable:
            for n in names:
                old = known.get(n)
                states[n] = old if old is not None and old.terminal else (
                    remote_follow.unreachable(run_dir, name))
            continue
        remote_follow.reachable(run_dir, name)
        got = remote_follow.parse_statuses(reply.statuses)
        statuses.update({n: s for n, s in got.items() if n in names})
        new, _ = remote_follow.classify(run_dir.id, names, reply, got, known, events)
        states.update({n: new[n] for n in names if n in new})
    return Look(states, statuses, {p.name: p.host for p in rec.panes.values()})


def down_stop(run_dir: ledger.RunDir, grace: float) -> tuple[dict[str, list[str]], list[str]]:
    """Stop every host's agents (INT, TERM, KILL), end its session and snapshot each worktree
    there. Returns the snapshots taken (pane -> head, commit, tree, head's tree) and what
    could not be done."""
    rec = remote.read(run_dir)
    problems: list[str] = []
    taken: dict[str, list[str]] = {}
    ns = f"{snapshot.SNAPSHOT_NS}/{run_dir.id}"
    for name, rh in rec.hosts.items():
        trees = [(p.name, p.worktree) for p in rec.on(name) if p.worktree]
        try:
            got = remote.call(transport(rh), "down", {
                "repo": rh.repo, "socket": remote.SOCKET, "session": rh.session,
                "run_dir": rh.run_dir, "grace": grace, "snapshots": trees, "run": run_dir.id,
                "ns": ns}, timeout=3 * grace + 30.0)
        except AgentmuxError as e:
            problems.append(f"host '{name}': the agents were not stopped: {e}")
            continue
        snaps = got.get("snapshots")
        if isinstance(snaps, dict):
            taken.update({str(k): list(v) for k, v in snaps.items()})
    return taken, problems


def down_finish(run_dir: ledger.RunDir, taken: dict[str, list[str]]) -> list[str]:
    """Once the watcher is gone: each remote pane's end into the local ledger (status.json
    and a state event, unless the watcher recorded it), and its work fetched here."""
    rec = remote.read(run_dir)
    seen = look(run_dir, rec)
    known = replay(run_dir.events_of())
    for name, st in seen.statuses.items():
        ledger.write_json(run_dir.status(name), st.to_json())
    for name, ps in seen.states.items():
        if known.get(name) != ps and ps.state != "unknown":
            end = seen.statuses.get(name)
            run_dir.append(EventRecord(
                "state", name, state=ps.state, exit_code=ps.exit_code, signal=ps.signal,
                reason=ps.reason, ts=ledger.now_iso(),
                check_exit_code=end.check_exit_code if end is not None and ps.terminal
                else None,
                detail={"source": ps.source, "host": seen.hosts.get(name)}))
    problems: list[str] = []
    for p in rec.panes.values():
        if p.name in taken:
            problems += remote_follow.bring_home(run_dir, rec.hosts[p.host], p, taken[p.name])
    return problems


def attach(rh: remote.RemoteHost, p: remote.RemotePane) -> None:
    """This terminal, attached to the host's session with the pane selected (ssh -t)."""
    argv = transport(rh).attach_argv(rh.session, p.pane_id, socket=remote.SOCKET)
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def send(rh: remote.RemoteHost, p: remote.RemotePane, text: bytes, keys: list[str]) -> None:
    if p.pane_id is None:
        raise BadInput(f"pane '{p.name}' has no pane on host '{rh.name}'")
    cmds: list[str] = []
    if text:
        cmds += ["send-keys", "-l", "-t", p.pane_id,
                 arg_escape(text.decode(errors="surrogateescape")), ";"]
    cmds += ["send-keys", "-t", p.pane_id, *keys]
    got = remote.call(transport(rh), "tmux", {"socket": remote.SOCKET, "repo": rh.repo,
                                              "args": cmds})
    if got.get("code"):
        raise WorkFailed(f"sending to pane '{p.name}' on host '{rh.name}': {got.get('out')}")


def output(rh: remote.RemoteHost, p: remote.RemotePane) -> bytes:
    """The pane's raw output log, from the run's ledger on the host."""
    path = f"{rh.run_dir}/panes/{p.name}/output.log"
    data = remote.call(transport(rh), "read", {"path": path, "repo": rh.repo,
                                               "socket": remote.SOCKET})["data"]
    return data if isinstance(data, bytes) else b""


def restart_spec(run_dir: ledger.RunDir, name: str, resume: bool) -> tuple[bytes, bool]:
    """A remote pane's spec.json made again from the run's trusted layout (as `up` made it;
    Refused when the layout snapshot is not trusted). BadInput for `resume` without a
    resume command."""
    rec = remote.read(run_dir)
    p = rec.panes[name]
    run = run_dir.run()
    lay = panespec.trusted_layout(run_dir, run, f"restart {name}")
    if p.host not in lay.hosts:
        raise BadInput(f"restart {name}: the run's layout has no [hosts.{p.host}]; nothing "
                       "was changed")
    host = host_of(lay.hosts[p.host], p.host)
    plans = remote_up.plans_on(lay, host, run_dir.id, [name])
    if not plans:
        raise BadInput(f"restart {name}: the run's trusted layout has no pane {name!r}")
    spec = remote_up.spec_bytes(lay, host, run_dir.id, plans[0], run.wake,
                                 rec.hosts[p.host].cache)
    if resume and not json.loads(spec).get("resume"):
        raise BadInput(f"restart --continue: pane '{name}' runs a command with no documented "
                       f"way to resume; nothing was changed. `agentmux restart {name}` starts "
                       "it afresh")
    return spec, resume


def stop(run_dir: ledger.RunDir, name: str, grace: float) -> None:
    """INT, TERM, KILL to one remote pane's agent, `grace` seconds each, on its host."""
    rec = remote.read(run_dir)
    rh = rec.hosts[rec.panes[name].host]
    remote.call(transport(rh), "stop", {"repo": rh.repo, "socket": remote.SOCKET,
                                        "run_dir": rh.run_dir, "panes": [name],
                                        "grace": grace}, timeout=3 * grace + 30.0)


def respawn(run_dir: ledger.RunDir, name: str, spec: bytes, resume: bool, attempt: int) -> None:
    """On the host: the ended attempt's files into `attempt-<n>/`, the spec written again, the
    runner started again in the same pane with its output piped from its first byte."""
    rec = remote.read(run_dir)
    p = rec.panes[name]
    rh = rec.hosts[p.host]
    if p.pane_id is None:
        raise BadInput(f"pane '{name}' has no pane on host '{rh.name}'")
    spec_path = f"{rh.run_dir}/panes/{name}/spec.json"
    argv = remote_up.runner_argv(rh.cache, spec_path)
    if resume:
        argv.insert(-1, RESUME_FLAG)
    max_output = panespec.trusted_layout(run_dir, run_dir.run(), f"restart {name}").max_output
    launch = remote_up.hosted(name, argv, Path(p.worktree or rh.repo),
                              Path(f"{rh.run_dir}/panes/{name}/output.log"), max_output)
    chain = chain_argv(respawn_commands(p.pane_id, launch))
    remote.call(transport(rh), "respawn", {
        "repo": rh.repo, "socket": remote.SOCKET, "run_dir": rh.run_dir, "pane": name,
        "attempt": attempt, "spec": spec, "chain": chain})
