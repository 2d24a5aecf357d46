"""Remote panes in `status`, `down`, `attach`, `send` and `logs`: one ssh call per host each.

`look` makes one `hosts_tick` call per host: the host's tmux panes and every status.json of
the run's ledger there, classified exactly as local panes are (`watch.state.step`, with the
local ledger's record of stops). A host that does not answer makes its panes `unknown (host
unreachable since <time>)`, never `done`: the time of the first failed look is kept in the
local run folder (`hosts/<name>.unreachable`) until a look succeeds. A host whose tmux server
is gone leaves panes without a final status `lost`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass

from agentmux import git, hosts_tick, ledger, remote, snapshot
from agentmux.errors import AgentmuxError, BadInput, WorkFailed
from agentmux.hosts import HostUnreachable, Transport
from agentmux.hosts_up import ssh_command
from agentmux.records import EventRecord, ResultRecord, StatusRecord
from agentmux.tmux_chain import FIELDS, arg_escape, parse_pane
from agentmux.watch.state import Observation, PaneState, replay, step, stops

TICK_FIELDS = (*FIELDS, "@agentmux_run")


@dataclass(frozen=True)
class Look:
    """What one look at every host saw: each remote pane's state and status record."""

    states: dict[str, PaneState]
    statuses: dict[str, StatusRecord]
    hosts: dict[str, str]                   # pane -> host


def transport(rh: remote.RemoteHost) -> Transport:
    return Transport(rh.host(), ssh=ssh_command())


def _unreachable_since(run_dir: ledger.RunDir, host: str) -> str:
    mark = run_dir.path / "hosts" / f"{host}.unreachable"
    try:
        return mark.read_text().strip()
    except OSError:
        pass
    since = ledger.now_iso()
    with contextlib.suppress(OSError):
        mark.parent.mkdir(exist_ok=True)
        mark.write_text(since + "\n")
    return since


def _reachable(run_dir: ledger.RunDir, host: str) -> None:
    with contextlib.suppress(OSError):
        (run_dir.path / "hosts" / f"{host}.unreachable").unlink()


def look(run_dir: ledger.RunDir, rec: remote.RemoteRecord | None = None) -> Look:
    rec = rec if rec is not None else remote.read(run_dir)
    states: dict[str, PaneState] = {}
    statuses: dict[str, StatusRecord] = {}
    events = run_dir.events_of() if rec.panes else []
    known = replay(events)
    for name, rh in rec.hosts.items():
        mine = rec.on(name)
        names = [p.name for p in mine]
        try:
            reply = hosts_tick.tick(transport(rh), rh.run_dir, hosts_tick.Cursor(),
                                    fields=TICK_FIELDS, socket=remote.SOCKET, follow=())
        except HostUnreachable:
            since = _unreachable_since(run_dir, name)
            for n in names:
                old = known.get(n)
                states[n] = old if old is not None and old.terminal else PaneState(
                    "unknown", reason=f"host unreachable since {since}", source="process")
            continue
        _reachable(run_dir, name)
        got = {}
        for n, raw in reply.statuses.items():
            with contextlib.suppress(ValueError, ledger.DamagedRecord, ledger.NewerRecord):
                got[n] = StatusRecord.from_json(json.loads(raw))
        statuses.update({n: s for n, s in got.items() if n in names})
        panes = None
        if reply.panes is not None:
            ours = [p for p in map(parse_pane, reply.panes) if p.extra[-1:] == (run_dir.id,)]
            # A server without any pane of this run: the session is gone.
            panes = {p.name: p for p in ours if p.name in names} if ours else None
        obs = Observation(panes, {n: got.get(n) for n in names}, {},
                          stops=stops(events))
        new, _ = step({n: known[n] for n in names if n in known}, names, obs)
        states.update({n: new[n] for n in names if n in new})
    return Look(states, statuses, {p.name: p.host for p in rec.panes.values()})


def record_end(run_dir: ledger.RunDir, rec: remote.RemoteRecord) -> dict[str, PaneState]:
    """After the host sessions ended: each remote pane's final status into the local ledger
    (its status.json) and its end as a state event, as the watcher records local ones."""
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
    return seen.states


def down(run_dir: ledger.RunDir, grace: float) -> list[str]:
    """Stop every host's agents (INT, TERM, KILL), end its session, snapshot each worktree
    there, record the ends here, and fetch the agents' branches and snapshots here, so
    review, diff and merge see them as a local agent's. Returns what could not be done."""
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
    record_end(run_dir, rec)
    for name, rh in rec.hosts.items():
        mine = [p for p in rec.on(name) if p.branch]
        refs = [f"refs/heads/{p.branch}" for p in mine]
        refs += [f"{ns}/{p.name}" for p in mine if taken.get(p.name, [""])[0]]
        problem = fetch(run_dir, rh, refs)
        if problem:
            problems.append(problem)
            continue
        for p in mine:
            problems += _result(run_dir, p, taken.get(p.name))
    return problems


def _result(run_dir: ledger.RunDir, p: remote.RemotePane, taken: list[str] | None
            ) -> list[str]:
    """result.json for a remote pane, from the snapshot taken on its host and fetched here."""
    if not taken or not taken[0]:
        why = taken[3] if taken else "the host took none"
        return [f"pane '{p.name}': no snapshot of its worktree on host '{p.host}': {why}"]
    head, commit, tree, head_tree = taken
    repo = run_dir.path.parent.parent.parent
    base = run_dir.run().base
    try:
        run_dir.write_result(ResultRecord(
            pane=p.name, base=base, head=head, snapshot=commit, taken_at=ledger.now_iso(),
            ref=f"{snapshot.SNAPSHOT_NS}/{run_dir.id}/{p.name}",
            commits_ahead=git.count_commits(repo, base, head), dirty=tree != head_tree,
            files=tuple(snapshot.changes(repo, base, commit)),
            extra={"provisioned": [], "unseen": [], "host": p.host}))
    except AgentmuxError as e:
        return [f"pane '{p.name}': its snapshot from host '{p.host}' was not recorded: {e}"]
    return []


def fetch(run_dir: ledger.RunDir, rh: remote.RemoteHost, refs: list[str]) -> str | None:
    """Refs of the host's clone into the local repository, under the same names."""
    if not refs:
        return None
    t = transport(rh)
    repo = run_dir.path.parent.parent.parent
    try:
        git.run(repo, "fetch", "-q", remote.git_url(t.host), *(f"+{r}:{r}" for r in refs),
                env={"GIT_SSH_COMMAND": remote.git_ssh_command(t)},
                step=f"fetching the agents' work from host '{rh.name}'")
    except AgentmuxError as e:
        return f"host '{rh.name}': branches not fetched: {e}"
    return None


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
