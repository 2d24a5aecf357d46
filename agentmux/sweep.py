"""Every process a run started, found by the run's marker, and ended: TERM, then KILL.

The runner starts each agent (and its setup and check) with `AGENTMUX_RUN=<run id>` in its
environment, and the watcher starts `on_event` commands with it. Every descendant inherits
it, whichever process group or session it moves to: a `setsid`, `nohup` or double-forked
child, a trap loop that ignores INT and TERM, a child left behind by an agent that already
exited. `/proc/<pid>/environ` shows a process's environment as it was exec'd, so a scan of
/proc finds them all, where a kill of the agent's process group finds only its group.

Only this user's processes are looked at, and only the exact entry `AGENTMUX_RUN=<run id>`
counts (another run's id, or the same id as a prefix, does not). The runner and the watcher
are found by their command line, which names the run's folder. The process that scans, and
its ancestors (an `agentmux down` typed in a pane of the run), are never touched.

Why not a cgroup: cgroup v2 needs systemd's user delegation (`systemd-run --user --scope`),
which a tmux pane, a container or an SSH session often lacks; the marker works wherever
/proc does, with no privilege. What it cannot see: a process that empties its environment
(`env -i`) or writes over it (setproctitle). A pid that is reused between the scan and the
signal is never hit: each signal is sent only while the pid's start time is unchanged.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from agentmux import poll

MARK = "AGENTMUX_RUN"
ROUNDS = 5  # a trap loop may fork again between a scan and its signal: scan again


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int          # /proc/<pid>/stat starttime: names this process, not a reused pid
    name: str           # its command name (comm)
    pane: str | None    # AGENTMUX_PANE from its environment, when it has one
    on_event: bool = False  # started by the layout's on_event (AGENTMUX_STATE is set)

    def describe(self) -> str:
        whose = ", ".join(x for x in (self.pane, "on_event" if self.on_event else "") if x)
        return f"{self.name} ({self.pid}{', ' + whose if whose else ''})"


def _stat(pid: int) -> tuple[str, str, int, int] | None:
    """(comm, state, ppid, starttime), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    head, _, tail = raw.rpartition(b")")
    fields = tail.split()
    try:
        return (head.partition(b"(")[2].decode(errors="replace"), fields[0].decode(),
                int(fields[1]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def state_of(pid: object) -> str | None:
    """The process state letter (R, S, T for stopped, Z ...), or None when it is gone."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    st = _stat(pid)
    return st[1] if st else None


def _ancestors() -> set[int]:
    out: set[int] = set()
    pid = os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        st = _stat(pid)
        if st is None:
            break
        pid = st[2]
    return out


def _var(env: list[bytes], name: bytes) -> str | None:
    for entry in env:
        if entry.startswith(name + b"="):
            return entry[len(name) + 1:].decode(errors="replace")
    return None


def members(run_id: str, run_path: str) -> list[Proc]:
    """The live processes of this run: the marker in their environment, or the run's folder
    as an argument (its runners and its watcher)."""
    mark = f"{MARK}={run_id}".encode()
    folder = os.fsencode(run_path)
    uid = os.getuid()
    skip = _ancestors()
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        pid = int(entry.name)
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            ours = mark in env
            if not ours:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
                ours = any(a == folder or a.startswith(folder + b"/") for a in args)
        except OSError:  # gone, or not readable: not ours to touch
            continue
        st = _stat(pid)
        if ours and st is not None and st[1] != "Z":
            out.append(Proc(pid, st[3], st[0], _var(env, b"AGENTMUX_PANE"),
                            _var(env, b"AGENTMUX_STATE") is not None))
    return out


def alive(p: Proc) -> bool:
    st = _stat(p.pid)
    return st is not None and st[3] == p.start and st[1] != "Z"


def _signal(p: Proc, sig: int) -> None:
    if alive(p):
        with contextlib.suppress(OSError):
            os.kill(p.pid, sig)


def end(procs: Iterable[Proc], grace: float) -> list[Proc]:
    """TERM (with CONT, so a stopped one gets it), then KILL after grace; waits for the end."""
    todo = [p for p in procs if alive(p)]
    for p in todo:
        _signal(p, signal.SIGTERM)
        _signal(p, signal.SIGCONT)
    poll.until(lambda: not any(alive(p) for p in todo), grace)
    for p in todo:
        _signal(p, signal.SIGKILL)
    poll.until(lambda: not any(alive(p) for p in todo), 5.0)
    return todo


def sweep(run_id: str, run_path: str, grace: float, settle: float = 0.0) -> list[Proc]:
    """End every process of the run still running; returns what was ended.

    With `settle`, what is left gets that long to end by itself first (an `on_event` command
    the watcher's last tick started is let finish its notification)."""
    found = members(run_id, run_path)
    if found and settle > 0:
        poll.until(lambda: not any(alive(p) for p in found), settle)
    ended: dict[int, Proc] = {}
    for _ in range(ROUNDS):
        found = members(run_id, run_path)
        if not found:
            break
        for p in end(found, grace):
            ended.setdefault(p.pid, p)
    return sorted(ended.values(), key=lambda p: (p.pane or "", p.pid))
