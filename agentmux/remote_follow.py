"""Following remote panes: the watcher's one tick per host, and an agent's end brought home.

`classify` turns one `hosts_tick` reply into pane states exactly as local panes get theirs
(`watch.state.step`, with the local ledger's record of stops): a pane with a final status is
done, failed or killed; one whose runner left no end while its pane or the host's tmux
server is gone is `lost`. `Follower` is the watcher's side: one call per host per tick, with
a `hosts_tick.Cursor` per host so only changed status files travel. A host that does not
answer makes its unended panes `unknown (host unreachable since <time>)` and is asked again
after RETRY_S; when it answers, the status files it kept meanwhile give every pane its true
state, nothing lost and nothing counted twice. At each remote agent's end its worktree is
snapshotted on the host and the snapshot and branch are fetched here (`bring_home`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agentmux import git, hosts_tick, ledger, queue, remote, snapshot
from agentmux.errors import AgentmuxError
from agentmux.hosts import HostUnreachable, Transport
from agentmux.hosts_up import ssh_command
from agentmux.records import EventRecord, ResultRecord, RunRecord, StatusRecord
from agentmux.tmux import Tmux
from agentmux.tmux_chain import FIELDS, parse_pane
from agentmux.watch import hooks, supervise
from agentmux.watch.alive import read_cached
from agentmux.watch.state import TERMINAL, Observation, PaneState, Verdict, step, stops

log = logging.getLogger(__name__)
TICK_FIELDS = (*FIELDS, "@agentmux_run")
RETRY_S = 5.0    # an unreachable host is asked again after this long, not every tick


def transport(rh: remote.RemoteHost) -> Transport:
    return Transport(rh.host(), ssh=ssh_command())


def repo_of(run_dir: ledger.RunDir) -> str:
    return str(run_dir.path.parent.parent.parent)


def unreachable(run_dir: ledger.RunDir, host: str) -> PaneState:
    """`unknown (host unreachable since T)`, T the first failed look, kept in the run folder
    (`hosts/<name>.unreachable`) until the host answers again."""
    mark = run_dir.path / "hosts" / f"{host}.unreachable"
    try:
        since = mark.read_text().strip()
    except OSError:
        since = ledger.now_iso()
        with contextlib.suppress(OSError):
            mark.parent.mkdir(exist_ok=True)
            mark.write_text(since + "\n")
    return PaneState("unknown", reason=f"host unreachable since {since}", source="process")


def reachable(run_dir: ledger.RunDir, host: str) -> None:
    with contextlib.suppress(OSError):
        (run_dir.path / "hosts" / f"{host}.unreachable").unlink()


def parse_statuses(raw: Mapping[str, bytes]) -> dict[str, StatusRecord]:
    out = {}
    for name, data in raw.items():
        with contextlib.suppress(ValueError, ledger.DamagedRecord, ledger.NewerRecord):
            out[name] = StatusRecord.from_json(json.loads(data))
    return out


def classify(run_id: str, names: Sequence[str], reply: hosts_tick.TickReply,
             statuses: Mapping[str, StatusRecord], known: Mapping[str, PaneState],
             events: Sequence[EventRecord], verdicts: Mapping[str, Verdict] | None = None
             ) -> tuple[dict[str, PaneState], list[EventRecord]]:
    """The states of one host's panes from one tick, and the events of what changed;
    `verdicts`: what the agents' own hooks said (HookMirror)."""
    panes = None
    if reply.panes is not None:
        ours = [p for p in map(parse_pane, reply.panes) if p.extra[-1:] == (run_id,)]
        # A server without any pane of this run: the session is gone.
        panes = {p.name: p for p in ours if p.name in names} if ours else None
    obs = Observation(panes, {n: statuses.get(n) for n in names}, {}, verdicts=verdicts or {},
                      timed_out=frozenset(supervise.timed_out(events)), stops=stops(events))
    old = {n: known[n] for n in names if n in known}
    return step(old, list(names), obs)


class HookMirror:
    """The remote panes' hooks.jsonl, followed by the host's tick and appended to a copy in
    the local pane folder, where watch.hooks.HookReader reads it as it reads a local pane's.
    A remote pane has no screen here: a hook's state holds until its next record."""

    FOLLOW = f"panes/*/{hooks.FILE_NAME}"

    def __init__(self, run_dir: ledger.RunDir) -> None:
        self.run_dir = run_dir
        self.readers: dict[str, hooks.HookReader] = {}

    def _copy(self, rel: str) -> Path | None:
        """The local copy of a followed log `panes/<pane>/hooks.jsonl`."""
        parts = rel.split("/")
        if len(parts) != 3 or parts[0] != "panes" or parts[2] != hooks.FILE_NAME:
            return None
        return self.run_dir.pane_dir(parts[1]) / hooks.FILE_NAME

    def rewind(self, cursor: hosts_tick.Cursor) -> hosts_tick.Cursor:
        """A copy that is gone here (`restart` moved it into attempt-N, as the host moved its
        log) is read again from the start of the host's log."""
        offsets = {rel: n for rel, n in cursor.offsets.items()
                   if (copy := self._copy(rel)) is None or copy.exists()}
        return replace(cursor, offsets=offsets)

    def record(self, logs: Mapping[str, hosts_tick.Chunk]) -> None:
        """The tick's new hook lines into the copies (before its cursor advances)."""
        for rel, chunk in logs.items():
            path = self._copy(rel)
            if path is None or not (chunk.data or chunk.reset):
                continue
            if chunk.start == 0:
                # The whole log (a new watcher, a new attempt, a log that started again): the
                # copy is replaced, never appended to twice; a new inode, read afresh.
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(chunk.data)
                tmp.replace(path)
            else:
                with open(path, "ab") as f:
                    f.write(chunk.data)

    def verdicts(self, names: Sequence[str]) -> dict[str, Verdict]:
        out = {}
        for n in names:
            reader = self.readers.get(n)
            if reader is None:
                reader = self.readers[n] = hooks.HookReader(
                    self.run_dir.pane_dir(n) / hooks.FILE_NAME)
            got = hooks.merge(reader.step(), True, None, None)
            if got is not None:
                out[n] = got
        return out


@dataclass
class _HostFollow:
    cursor: hosts_tick.Cursor
    statuses: dict[str, StatusRecord]
    retry_at: float = 0.0


class Follower:
    """The watcher's view of the run's hosts; `tick` records what changed there."""

    def __init__(self, run_dir: ledger.RunDir, sup: supervise.Supervisor | None = None
                 ) -> None:
        """`sup`: the watcher's supervisor, which tells the person of the remote panes'
        changes as of local ones (message, bell, on_event); one of its own when not given."""
        self.run_dir = run_dir
        self.rec = remote.RemoteRecord()
        self.hosts: dict[str, _HostFollow] = {}
        self._seen: tuple[int, int] | None = None
        self.hooks = HookMirror(run_dir)
        self.sup = sup
        self._own = False    # `sup` is this follower's own: it follows restarts itself
        self._told: list[EventRecord] = []   # this tick's events, for `_tell`
        self.refresh()

    def refresh(self) -> None:
        """`add --host` extends remote.json while the watcher runs: read it again on a change
        (it is replaced whole, so a new inode or mtime)."""
        try:
            st = (self.run_dir.path / remote.FILE).stat()
        except OSError:
            return
        if (st.st_ino, st.st_mtime_ns) == self._seen:
            return
        self.rec = remote.read(self.run_dir)
        for n in self.rec.hosts:
            self.hosts.setdefault(n, _HostFollow(hosts_tick.Cursor(), {}))
        self._seen = (st.st_ino, st.st_mtime_ns)

    def tick(self, state: Mapping[str, PaneState], listed: Collection[str] | None = None
             ) -> dict[str, PaneState]:
        """One call per host. With `listed` (run.json's panes), only those are followed:
        `add --host` records its pane in remote.json first, and in run.json once it is whole."""
        self.refresh()
        new = dict(state)
        self._told = []
        if self._own and self.sup is not None:
            self.sup.restarted()   # a restarted pane's timeout starts afresh
        now = time.monotonic()
        for name, rh in self.rec.hosts.items():
            f = self.hosts[name]
            names = [p.name for p in self.rec.on(name) if listed is None or p.name in listed]
            if all(n in new and new[n].terminal for n in names) or now < f.retry_at:
                continue
            try:
                self._host(name, rh, f, names, new)
            except HostUnreachable:
                f.retry_at = now + RETRY_S
                self._record(new, {n: unreachable(self.run_dir, name) for n in names
                                   if not (n in new and new[n].terminal)})
            except Exception as e:  # one host's trouble must not stop the others, or the watcher
                f.retry_at = now + RETRY_S
                log.warning("following host %s: %s", name, e)
        self._tell(state, new)
        return new

    def _supervisor(self) -> supervise.Supervisor:
        if self.sup is None:
            run = self.run_dir.run()
            self.sup = supervise.Supervisor(Tmux(run.socket), self.run_dir, run.session)
            self._own = True
        return self.sup

    def _timeouts(self, rh: remote.RemoteHost, names: Sequence[str],
                  statuses: Mapping[str, StatusRecord], state: Mapping[str, PaneState]) -> None:
        """A remote pane's `timeout`, escalated as a local one's (Supervisor.timeouts: the
        ledger here says so first), each step sent to the host program: one call per signal."""
        run = read_cached(RunRecord, self.run_dir.run_json)
        entries = {p.name: p for p in (run.panes if run is not None else ())
                   if p.name in names and p.timeout is not None
                   and not (p.name in state and state[p.name].terminal)}
        if not entries:
            return

        def send(name: str, st: StatusRecord, sig: int | None) -> None:
            kill = sig == signal.SIGKILL
            with contextlib.suppress(AgentmuxError):
                remote.call(transport(rh), "signal", {
                    "repo": rh.repo, "socket": remote.SOCKET, "run_dir": rh.run_dir,
                    "panes": [name], "sig": int(signal.SIGKILL if sig is None else sig),
                    "key": "agent_pid" if kill else "pid", "group": kill}, timeout=20.0)

        self._supervisor().timeouts({n: statuses.get(n) for n in entries}, entries,
                                    time.monotonic(), send)

    def _tell(self, old: Mapping[str, PaneState], new: Mapping[str, PaneState]) -> None:
        """The tick's changes told as the local ones are (supervise.Supervisor.notify): the
        status line, and for waiting, idle and the ends, a message to attached clients and
        the layout's `on_event` run here. A remote pane has no terminal here: no bell."""
        if self.sup is not None:
            self.sup.reap()
        told = supervise.news(old, self._told)
        if not told:
            return
        try:
            run = self.run_dir.run()
            sup = self._supervisor()
            if not sup.extra:   # its own supervisor: who is attached, one tmux call
                sup.query()
            sup.notify(told, [s.state for s in new.values()], {},
                       {p.name: p for p in run.panes}, run.on_event)
        except (AgentmuxError, OSError) as e:  # telling must not stop following
            log.warning("telling of the remote panes' changes failed: %s", e)

    def _host(self, name: str, rh: remote.RemoteHost, f: _HostFollow, names: list[str],
              new: dict[str, PaneState]) -> None:
        """One tick of one host: its reply classified, the changes recorded into `new`."""
        f.cursor = self.hooks.rewind(f.cursor)
        reply = hosts_tick.tick(transport(rh), rh.run_dir, f.cursor, fields=TICK_FIELDS,
                                socket=remote.SOCKET, follow=(HookMirror.FOLLOW,), timeout=8.0,
                                touch=self._gates(rh, names, new))
        reachable(self.run_dir, name)
        f.statuses.update(parse_statuses(reply.statuses))
        for gone in reply.gone:
            f.statuses.pop(gone, None)
        self._timeouts(rh, names, f.statuses, new)
        self.hooks.record(reply.logs)
        got, events = classify(self.run_dir.id, names, reply, f.statuses, new,
                               self.run_dir.events_of(), self.hooks.verdicts(names))
        f.cursor = reply.advance(f.cursor)
        for ev in events:
            pane = str(ev.pane)
            if ev.state in TERMINAL:
                for problem in bring_home(self.run_dir, rh, self.rec.panes[pane]):
                    log.warning("%s", problem)
                with contextlib.suppress(AgentmuxError, OSError):
                    st = f.statuses.get(pane)
                    if st is not None:
                        ledger.write_json(self.run_dir.status(pane), st.to_json())
            ev = replace(ev, ts=ledger.now_iso(), detail={**ev.detail, "host": name})
            self.run_dir.append(ev)
            self._told.append(ev)
        new.update(got)

    def _gates(self, rh: remote.RemoteHost, names: Sequence[str],
               state: Mapping[str, PaneState]) -> list[str]:
        """The host's queue: the next gates open here first (durable, the queue's own rule),
        then every open gate of a pane not ended is created there by the tick (again and
        again: harmless, and a tick lost in an outage loses no gate)."""
        if rh.max_running is None:
            return []
        queue.release(self.run_dir, names, rh.max_running, state)
        return [f"panes/{n}/{queue.GATE}" for n in names
                if queue.gate_path(self.run_dir, n).exists()
                and not (n in state and state[n].terminal)]

    def _record(self, new: dict[str, PaneState], states: Mapping[str, PaneState]) -> None:
        for pane, ps in states.items():
            if new.get(pane) != ps:
                new[pane] = ps
                ev = EventRecord("state", pane, state=ps.state, reason=ps.reason,
                                 ts=ledger.now_iso(), detail={"source": "process"})
                self.run_dir.append(ev)
                self._told.append(ev)


def bring_home(run_dir: ledger.RunDir, rh: remote.RemoteHost, p: remote.RemotePane,
               taken: list[str] | None = None) -> list[str]:
    """Snapshot the pane's worktree on its host (unless `taken` already), fetch the snapshot
    and the branch here, and write its result.json: review, diff and merge then see the
    remote agent's work as a local one's. Returns what could not be done."""
    if not p.branch or not p.worktree:
        return []
    t = transport(rh)
    ns = f"{snapshot.SNAPSHOT_NS}/{run_dir.id}"
    if taken is None:
        try:
            got = remote.call(t, "snapshot", {"repo": rh.repo, "socket": remote.SOCKET,
                                              "run_dir": rh.run_dir, "run": run_dir.id,
                                              "ns": ns, "snapshots": [(p.name, p.worktree)]})
        except AgentmuxError as e:
            return [f"pane '{p.name}': no snapshot on host '{p.host}': {e}"]
        snaps = got.get("snapshots")
        taken = list(snaps.get(p.name, [])) if isinstance(snaps, dict) else []
    # The branch only fast-forwards here: a local branch of that name with other commits is
    # never overwritten (the fetch fails and says so). The snapshot ref is agentmux's own.
    refs = [f"refs/heads/{p.branch}:refs/heads/{p.branch}"]
    if taken and taken[0]:
        refs.append(f"+{ns}/{p.name}:{ns}/{p.name}")
    try:
        git.run(repo_of(run_dir), "fetch", "-q", remote.git_url(t.host), *refs,
                env={"GIT_SSH_COMMAND": remote.git_ssh_command(t)},
                step=f"fetching the work of '{p.name}' from host '{rh.name}'")
    except AgentmuxError as e:
        return [f"host '{rh.name}': the branch of '{p.name}' was not fetched: {e}"]
    if not taken or not taken[0]:
        why = taken[3] if taken and len(taken) > 3 else "the host took none"
        return [f"pane '{p.name}': no snapshot of its worktree on host '{p.host}': {why}"]
    head, commit, tree, head_tree = taken
    base = run_dir.run().base
    repo = run_dir.path.parent.parent.parent
    try:
        run_dir.write_result(ResultRecord(
            pane=p.name, base=base, head=head, snapshot=commit, taken_at=ledger.now_iso(),
            ref=f"{ns}/{p.name}", commits_ahead=git.count_commits(repo, base, head),
            dirty=tree != head_tree, files=tuple(snapshot.changes(repo, base, commit)),
            extra={"provisioned": [], "unseen": [], "host": p.host}))
    except AgentmuxError as e:
        return [f"pane '{p.name}': its snapshot from host '{p.host}' was not recorded: {e}"]
    return []
