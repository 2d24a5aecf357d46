"""Is an agent still running, and how to stop it: read from its runner's status file and /proc.

The runner's status.json (written whole, by rename) names the runner's pid and the agent's, and
says whether the end was recorded. These readers cost a stat and a /proc read, no tmux call,
except when a pane has no status file at all.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TypeVar

from agentmux import ledger, sweep
from agentmux.records import Record, RunRecord, StatusRecord
from agentmux.tmux import Tmux

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
R = TypeVar("R", bound=Record)


def pid_alive(pid: object, since: object = None) -> bool:
    """True while the process exists and is not a zombie.

    since: the ISO time its runner recorded as its start. A process that began more than
    a few seconds after it is another one that got the same pid (after a reboot, pids start
    over), so the recorded one is gone.
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if not fields or fields[0] == b"Z":
        return False
    if isinstance(since, str) and len(fields) > 19:
        with contextlib.suppress(ValueError, OSError):
            began = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
            if began > ledger.parse_iso(since) + PID_REUSE_SLACK:
                return False
    return True


PID_REUSE_SLACK = 5.0  # seconds; clock ticks and ISO seconds round differently
_boot: list[float] = []


def _boot_time() -> float:
    if not _boot:
        with open("/proc/stat", "rb") as f:
            _boot.append(float(next(ln for ln in f if ln.startswith(b"btime ")).split()[1]))
    return _boot[0]


# Status files are only ever replaced whole (rename), so inode, mtime and size name one version.
# A running pane's file then costs one stat per tick, not an open, a read and a JSON parse: with
# 50 panes at 1 s ticks that parsing was most of the watcher's CPU.
_status_cache: dict[str, tuple[tuple[int, int, int], Record | None]] = {}


def read_status(path: Path) -> StatusRecord | None:
    """A runner's status.json; None when it is missing, and a damaged file is no status at all."""
    return read_cached(StatusRecord, path)


def read_cached(cls: type[R], path: Path) -> R | None:
    """The record at path through the stat cache; None when missing or damaged."""
    key = str(path)
    try:
        st = os.stat(key)
    except OSError:
        _status_cache.pop(key, None)
        return None
    version = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _status_cache.get(key)
    if hit is not None and hit[0] == version:
        found = hit[1]
        if found is None or isinstance(found, cls):
            return found
    try:
        data: R | None = ledger.read_record(cls, path)
    except Exception:
        data = None
    _status_cache[key] = (version, data)
    return data


def is_running(run_dir: ledger.RunDir, pane: str) -> bool:
    """Is this pane's agent still running? The one answer for "may I touch its work?".

    - Its status file records an end: no.
    - Its status file records no end: yes while the runner or the agent lives (an agent that
      outlived a dead runner still writes into its worktree); a runner that died with its
      agent left no end, and that pane is not running (the watcher calls it `lost`).
    - No status file: the runner has not started yet, or never will. The pane in tmux
      decides: alive and tagged with this run means it is starting, so yes. This is the
      only case that costs a tmux call.
    """
    st = read_status(run_dir.status(pane))
    if st is not None:
        if st.ended_at:
            return False
        since = st.started_at
        return pid_alive(st.pid, since) or pid_alive(st.agent_pid, since)
    run: RunRecord = run_dir.run()
    entry = run.pane(pane)
    pane_id = entry.pane_id if entry is not None else None
    if not pane_id:
        return False
    got = Tmux(run.socket).run("display-message", "-p", "-t", str(pane_id),
                                     "#{@agentmux_run} #{pane_dead}", check=False)
    return got.returncode == 0 and got.stdout.split() == [run_dir.id, "0"]


def paused(pid: object) -> bool:
    """Is this process stopped (SIGSTOP, or Ctrl-Z typed in its pane)? One /proc read."""
    return sweep.state_of(pid) == "T"


def send_stop(status: StatusRecord | None, sig: int) -> None:
    """One step of INT, TERM, KILL: INT and TERM go to the runner, which forwards them to the
    agent's group; KILL cannot be forwarded, so it goes to the agent's group directly and the
    runner still records it. A paused agent is continued after the signal: a stopped process
    only holds INT and TERM pending, and `down` then waited for KILL."""
    if status is None:
        return
    target = status.agent_pid if sig == signal.SIGKILL else status.pid
    if not isinstance(target, int) or target <= 0:
        return
    with contextlib.suppress(OSError):
        if sig == signal.SIGKILL:
            os.killpg(target, sig)
        else:
            os.kill(target, sig)
    agent = status.agent_pid
    if sig != signal.SIGKILL and isinstance(agent, int) and paused(agent):
        with contextlib.suppress(OSError):
            os.killpg(agent, signal.SIGCONT)
