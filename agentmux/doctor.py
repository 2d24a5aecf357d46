"""`agentmux doctor [--fix] [LAYOUT]`: what is wrong with tmux, git, the ledger and agentmux's
git state; with LAYOUT, also on every host it declares (doctor_hosts: one block per host).

Every finding names the command that repairs it. Without `--fix` nothing is changed. With it,
only repairs that cannot lose work are made: recording agents whose session is gone (from
their status files, else as `lost`), ending a torn events line, and clearing a lock whose
holder died. Branches, worktrees, snapshots and damaged files are only ever reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentmux import git, ledger, poll, snapshot, worktrees
from agentmux.errors import ENVIRONMENT, WORK_FAILED, AgentmuxError
from agentmux.find import all_runs
from agentmux.tmux import Tmux, check_version
from agentmux.watch import loop as watcher
from agentmux.watch.state import replay

if TYPE_CHECKING:
    from agentmux.doctor_hosts import HostBlock

GIT_MIN = (2, 38)           # merge-tree --write-tree
SNAPSHOT_MAX_AGE = 30 * 86400


@dataclass(frozen=True)
class Finding:
    check: str
    problem: str
    repair: str              # the command (or action) that repairs it
    fixed: bool = False

    def line(self) -> str:
        if self.fixed:
            return f"fixed    {self.check}: {self.problem}"
        return f"problem  {self.check}: {self.problem}; repair: {self.repair}"


def diagnose(here: Path, fix: bool = False) -> list[Finding]:
    out = check_tools()
    if shutil.which("git") is None:
        return out   # no git: git's state cannot be checked
    try:
        repo, runs = all_runs(here)
    except AgentmuxError:
        return out   # not in a repository: only the tools can be checked
    tmux_ok = not any(f.check == "tmux" for f in out)
    out += check_ledger(runs, fix)
    out += check_worktrees(repo)
    out += check_branches(repo, runs)
    if tmux_ok:
        out += check_sessions(runs, fix)
    out += check_locks(repo, runs, fix)
    out += check_snapshots(repo)
    return out


def diagnose_with_hosts(here: Path, layout: Path | None, fix: bool = False
                        ) -> tuple[list[Finding], list[HostBlock]]:
    """diagnose, and with a layout its hosts too. The layout is loaded first: a bad one is
    bad input (exit 2) before anything is looked at or repaired."""
    if layout is None:
        return diagnose(here, fix), []
    from agentmux import doctor_hosts  # ssh and the layout only when there are hosts

    prep = doctor_hosts.prepare(layout)
    return diagnose(here, fix), doctor_hosts.diagnose(prep)


def remaining(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.fixed]


def exit_code(findings: list[Finding], hosts: Sequence[HostBlock] = ()) -> int:
    """4 when a host has a problem or could not be looked at, 1 for problems here, else 0."""
    if any(not b.ok for b in hosts):
        return ENVIRONMENT
    return WORK_FAILED if remaining(findings) else 0


def render(findings: list[Finding], hosts: Sequence[HostBlock] = ()) -> str:
    lines = [f.line() for f in findings]
    for block in hosts:
        lines += block.render()
    left = len(remaining(findings))
    problems = sum(b.count("problem") for b in hosts)
    unknown = sum(b.count("unknown") for b in hosts)
    if not left + problems + unknown:
        return "\n".join([*lines, "healthy"])
    told = [f"{n} {what}{'s' if n != 1 else ''} {how}" for n, what, how in (
        (left + problems, "problem", "found"), (unknown, "check", "unknown")) if n]
    hint = ("" if not left or any(f.fixed for f in findings) else
            "; `agentmux doctor --fix` repairs what can be repaired without losing work")
    return "\n".join([*lines, ", ".join(told) + hint])


def check_tools() -> list[Finding]:
    out = []
    try:
        check_version()
    except AgentmuxError as e:
        out.append(Finding("tmux", str(e), "install tmux 3.2 or newer"))
    try:
        text = git.version()
    except AgentmuxError as e:
        return [*out, Finding("git", str(e), "install git 2.38 or newer")]
    m = re.search(r"(\d+)\.(\d+)", text)
    if not m or (int(m.group(1)), int(m.group(2))) < GIT_MIN:
        out.append(Finding("git", f"{text!r} is older than 2.38 (merge-tree --write-tree)",
                           "install git 2.38 or newer"))
    return out


def _run_or_none(rd: ledger.RunDir, out: list[Finding]) -> dict[str, object] | None:
    try:
        return rd.read_run()
    except AgentmuxError as e:
        out.append(Finding("ledger", f"run {rd.id} is damaged: {e}",
                           f"inspect it, or set it aside: `mv {shlex.quote(str(rd.path))} "
                           f"{shlex.quote(str(rd.path) + '.damaged')}`"))
        return None


def check_ledger(runs: list[ledger.RunDir], fix: bool) -> list[Finding]:
    out: list[Finding] = []
    for rd in runs:
        run = _run_or_none(rd, out)
        out += _torn_events(rd, fix)
        if run is None:
            continue
        state = replay(rd.events_of())
        panes = run.get("panes")
        for p in panes if isinstance(panes, list) else []:
            name = p.get("name")
            if (isinstance(name, str) and p.get("pane_id") and not rd.status(name).exists()
                    and not (name in state and state[name].terminal)):
                out.append(Finding("ledger", f"run {rd.id}: pane '{name}' was started but "
                                   f"has no status file ({rd.status(name)})",
                                   "its runner never wrote one: if the session is gone, "
                                   "`agentmux doctor --fix` records it as lost"))
    return out


def _torn_events(rd: ledger.RunDir, fix: bool) -> list[Finding]:
    try:
        raw = rd.events.read_bytes()
    except FileNotFoundError:
        return []
    bad = 0
    for line in raw.split(b"\n"):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                bad += 1
    if not bad:
        return []
    problem = (f"run {rd.id}: {rd.events} has {bad} torn or garbled line"
               f"{'s' if bad != 1 else ''} (readers skip {'them' if bad != 1 else 'it'})")
    open_end = not raw.endswith(b"\n")
    if fix and open_end:
        # Only ends the torn line, so the next record is not glued to it; no byte is removed.
        with open(rd.events, "ab") as f:
            f.write(b"\n")
        return [Finding("ledger", problem + "; ended the torn line", "", fixed=True)]
    if not open_end:
        return []   # already fenced off: readers skip it and it harms nothing
    return [Finding("ledger", problem, "`agentmux doctor --fix` ends the torn line")]


def check_worktrees(repo: Path) -> list[Finding]:
    out = []
    for w in worktrees.list_worktrees(repo):
        path = w.get("worktree", "")
        if "bare" in w or not path or Path(path).is_dir():
            continue
        branch = w.get("branch", "").removeprefix("refs/heads/") or "a detached HEAD"
        repair = (f"`agentmux up LAYOUT` checks '{branch}' out there again"
                  if branch.startswith("agentmux/") else
                  "`git worktree prune` (note: it drops every missing worktree), or put "
                  "the folder back")
        if "locked" in w:
            repair = f"it is locked by another tool: `git worktree unlock {shlex.quote(path)}`"
        out.append(Finding("worktrees", f"{path} ({branch}) is registered but its folder is "
                           "missing", repair))
    return out


def check_branches(repo: Path, runs: list[ledger.RunDir]) -> list[Finding]:
    names = list(git.branches(repo, "refs/heads/agentmux/"))
    checked_out = {w.get("branch", "").removeprefix("refs/heads/")
                   for w in worktrees.list_worktrees(repo)}
    recorded: set[str] = set()
    for rd in runs:
        with contextlib.suppress(AgentmuxError):
            panes = rd.read_run().get("panes")
            recorded |= {str(p.get("branch")) for p in panes if isinstance(p, dict)} \
                if isinstance(panes, list) else set()
    return [Finding("branches", f"branch '{b}' has no worktree and no run",
                    f"review it (`git log {b}`), then merge it or delete it yourself "
                    f"(`git branch -d {b}`); doctor never deletes branches")
            for b in names if b not in checked_out and b not in recorded]


def check_sessions(runs: list[ledger.RunDir], fix: bool) -> list[Finding]:
    out: list[Finding] = []
    for rd in runs:
        try:
            run = rd.read_run()
        except AgentmuxError:
            continue
        session = str(run.get("session"))
        names = [str(p.get("name")) for p in run.get("panes", []) if isinstance(p, dict)]
        state = replay(rd.events_of())
        open_ = [n for n in names if not (n in state and state[n].terminal)]
        if not open_:
            continue
        tm = Tmux(run.get("socket") if isinstance(run.get("socket"), str) else None)
        if tm.session_has_run(session, rd.id):
            continue
        problem = (f"run {rd.id}: session '{session}' is gone, but {', '.join(open_)} never "
                   "recorded an end")
        if fix:
            try:
                # One last tick: the status files say how each ended; no status means lost.
                final = watcher.final_tick(rd, wait=0.0)
            except AgentmuxError as e:
                out.append(Finding("sessions", f"{problem} (not recorded: {e})",
                                   "stop its watcher, then `agentmux doctor --fix`"))
                continue
            got = ", ".join(f"{n} {final[n].state}" for n in open_ if n in final)
            out.append(Finding("sessions", f"{problem}; recorded: {got}", "", fixed=True))
        else:
            out.append(Finding("sessions", problem,
                               "`agentmux doctor --fix` records them from their status files "
                               "(as `lost` where there is none)"))
    return out


def _holder_gone(path: Path) -> bool | None:
    """True when nobody holds path's flock, None when it cannot be told."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return poll.flock(fd, 0)
    except OSError:
        return None
    finally:
        os.close(fd)   # releases it again


def check_locks(repo: Path, runs: list[ledger.RunDir], fix: bool) -> list[Finding]:
    out: list[Finding] = []
    lock = worktrees.git_common_dir(repo) / worktrees.LOCK_NAME
    with contextlib.suppress(OSError):
        holder = lock.read_text().strip()
        if holder and _holder_gone(lock):
            problem = f"{lock} names pid {holder}, which died holding it"
            if fix:
                with worktrees.RepoLock(repo, timeout=0):
                    pass   # taking and releasing it leaves it empty
                out.append(Finding("locks", problem + "; cleared", "", fixed=True))
            else:
                out.append(Finding("locks", problem, "`agentmux doctor --fix` clears it (no "
                                   "process holds it, so nothing waits on it)"))
    for rd in runs:
        try:
            run = rd.read_run()
        except AgentmuxError:
            continue
        socket = run.get("socket") if isinstance(run.get("socket"), str) else None
        if not rd.watcher_lock.exists() or run.get("state") == "down":
            continue
        tm = Tmux(socket)
        with contextlib.suppress(AgentmuxError):
            if tm.session_has_run(str(run.get("session")), rd.id) and _holder_gone(
                    rd.watcher_lock):
                sock = f" --socket {socket}" if socket else ""
                out.append(Finding("locks", f"run {rd.id}: no watcher holds "
                                   f"{rd.watcher_lock} while its session runs, so agent ends "
                                   "are not being recorded",
                                   f"`agentmux{sock} watch --run-dir "
                                   f"{shlex.quote(str(rd.path))}` in the session"))
    return out


def check_snapshots(repo: Path) -> list[Finding]:
    now = time.time()
    found = []
    with git.Repo(repo) as r:
        refs = r.refs(snapshot.SNAPSHOT_NS + "/")
        dated = [(r.committed_at(sha), ref) for ref, sha in refs.items()]
    for stamp, ref in dated:
        if stamp is not None and now - stamp > SNAPSHOT_MAX_AGE:
            days = int((now - stamp) // 86400)
            found.append(Finding("snapshots", f"{ref} is {days} days old",
                                 f"if its work is not needed any more: `git update-ref -d "
                                 f"{ref}` (report only)"))
    return found
