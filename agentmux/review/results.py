"""Reviewing a run: each agent's result, the conflicts between agents, and the run's metrics.

Everything comes from the ledger and the snapshot commits, so a review still works after the
session, the worktrees and even the branches are gone. An agent still at work (no result.json
yet) is looked at live, through a temporary index and an unreferenced commit: no ref is taken.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from agentmux import git, ledger, screen, snapshot, status
from agentmux.errors import AgentmuxError, BadInput, CommandFailed
from agentmux.find import pane_entry
from agentmux.headless_result import read_usage, usage_totals
from agentmux.records.base import JSON
from agentmux.records.outcome import FileChange, ResultRecord
from agentmux.records.run import PaneRecord, RunRecord
from agentmux.review.labels import run_state, source_note
from agentmux.review.report import (
    VERSION,
    Check,
    Commit,
    Conflicts,
    DamagedRun,
    Metrics,
    Pair,
    PaneReport,
    Review,
    Runs,
    RunSummary,
)
from agentmux.scope import out_of_scope
from agentmux.watch.state import TERMINAL

__all__ = ["VERSION", "analyse", "collect", "conflicts", "diff_target", "runs"]
TAIL_LINES = 10
_JOBS = 8  # git subprocesses at once: they spend their time outside the GIL

T = TypeVar("T")
R = TypeVar("R")


def _pmap(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    todo = list(items)
    if len(todo) <= 1:
        return [fn(x) for x in todo]
    with ThreadPoolExecutor(max_workers=min(_JOBS, len(todo))) as pool:
        return list(pool.map(fn, todo))


@dataclass
class PaneReview:
    """One agent as review works on it: its row in `status` plus what its tree holds."""

    row: status.Row
    attempt_of: str | None = None    # with `count = N`: the name written in the layout
    scope: tuple[str, ...] = ()
    check: Check | None = None
    result: ResultRecord | None = None
    source: str = "none"             # snapshot | live | none
    commit: str | None = None        # a commit holding its whole tree, when one exists
    commits: list[Commit] = field(default_factory=list)
    conflicts_with: list[str] = field(default_factory=list)
    # A headless run's tokens, cost, turns, final message and error (its usage.json).
    usage: JSON | None = None

    @property
    def files(self) -> tuple[FileChange, ...]:
        return self.result.files if self.result else ()

    @property
    def provisioned(self) -> list[str]:
        """Files `copy` placed: never the agent's change, never an overlap or a conflict."""
        return [c.path for c in self.result.provisioned] if self.result else []

    def paths(self) -> set[str]:
        return {f.path for f in self.files}


@dataclass(frozen=True)
class Run:
    dir: ledger.RunDir
    record: RunRecord
    info: JSON
    repo: Path
    base: str
    panes: list[PaneReview]
    pairs: list[Pair]


def repo_of(run_dir: ledger.RunDir, run: RunRecord) -> Path:
    # The ledger lives at <repo>/.agentmux/runs/<id>: right even if run.json's path went stale.
    return Path(run.repo) if run.repo and Path(run.repo).is_dir() else run_dir.path.parents[2]


def _result(run_dir: ledger.RunDir, entry: PaneRecord, base: str,
            allow_live: bool = True) -> tuple[ResultRecord | None, str]:
    try:
        res = run_dir.result_of(entry.name)
    except AgentmuxError:  # damaged, or written by a newer agentmux: not a snapshot to trust
        res = None
    if res and res.snapshot:
        return res, "snapshot"
    tree = entry.worktree
    if allow_live and tree and Path(tree).is_dir():
        try:
            return ResultRecord.from_json(snapshot.live(
                Path(tree), base, entry.name, snapshot.ledger_root_of(run_dir))), "live"
        except CommandFailed:  # e.g. a worktree with no HEAD yet: nothing to show
            return None, "none"
    return None, "none"


def _resumed(repo: Path, run_id: str) -> bool:
    for rd in ledger.iter_runs(repo):
        if rd.id <= run_id:
            return False
        with contextlib.suppress(AgentmuxError):
            if rd.run().resumes == run_id:
                return True
    return False


def _existing(repo: Path, shas: Iterable[str]) -> set[str]:
    """The shas that name commits here, read in-process.

    Resolved first because on git 2.39 a bad ref makes merge-tree exit 1 with no output,
    which would read as a conflict.
    """
    wanted = set(shas)
    if not wanted:
        return set()
    with git.Repo(repo) as r:
        return r.existing_commits(wanted)


def check_result(command: str | None, row: status.Row) -> Check | None:
    """The pane's `check` as review reports it; None when the pane has none."""
    if not command:
        return None
    code = row.check_exit_code
    if code is not None:
        result = "passed" if code == 0 else "failed"
    elif row.reason == "check-skipped":
        result = "skipped"   # no worktree of its own: the check never runs in the main checkout
    elif row.state == "checking":
        result = "running"
    else:
        result = "not run"   # the agent itself failed, or has not finished yet
    return Check(command, result, code)


def commits(repo: Path, base: str, heads: Iterable[str]) -> dict[str, list[Commit]]:
    """For each head, its commits since base (newest first), from one `git log` for all heads.

    A commit reachable from a head and not from base is reached from that head through such
    commits only, so a walk of parents inside the logged set finds exactly `base..head`.
    """
    tips = sorted({h for h in heads if h and h != base})
    if not tips or not base:
        return {}
    records = git.log_records(repo, base, tips)
    if records is None:  # a head whose objects are gone: list nothing rather than fail
        return {}
    order = [sha for sha, _, _, _ in records]
    info = {sha: (parents, short, subject) for sha, parents, short, subject in records}
    out: dict[str, list[Commit]] = {}
    for tip in tips:
        seen: set[str] = set()
        todo = [tip] if tip in info else []
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(x for x in info[c][0] if x in info)
        out[tip] = [Commit(info[c][1], info[c][2]) for c in order if c in seen]
    return out


def _keys(paths: set[str]) -> set[str]:
    """Paths and every folder above them: a file `x` and a file `x/y` conflict too."""
    out = set(paths)
    for p in paths:
        parts = p.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def _conflicts(repo: Path, a: str, b: str) -> list[str] | None:
    """The conflicted files of merging commits a and b (both resolved), None when clean."""
    tree, files = git.merge_tree(repo, a, b)
    return None if tree is not None else files


def pairs(repo: Path, panes: list[PaneReview]) -> list[Pair]:
    """Every pair of agents, conflicting or not. Only pairs whose changed files (or folders
    above them) meet go to git: two merges that touch disjoint paths cannot conflict at the
    content level, so the rest are reported clean without a subprocess (190 pairs at N=20)."""
    keys = {p.row.name: _keys(p.paths()) for p in panes}
    out: list[Pair] = []
    todo: list[tuple[int, str, str]] = []   # (index in out, commit of a, commit of b)
    for a, b in itertools.combinations(panes, 2):
        pair = Pair(a.row.name, b.row.name)
        if keys[a.row.name] & keys[b.row.name]:
            if a.commit is None or b.commit is None:
                # a snapshot commit is gone: unknown, not a conflict
                pair = replace(pair, checked="missing")
            else:
                pair = replace(pair, checked="merge-tree")
                todo.append((len(out), a.commit, b.commit))
        out.append(pair)
    copies = {p.row.name: set(p.provisioned) for p in panes}
    for (i, _, _), files in zip(todo, _pmap(lambda t: _conflicts(repo, t[1], t[2]), todo),
                                strict=True):
        pair = out[i]
        files = [f for f in files or [] if f not in copies[pair.a] | copies[pair.b]]
        if files:
            out[i] = replace(pair, conflict=True, files=tuple(files))
    return out


def analyse(run_dir: ledger.RunDir, details: bool = True) -> Run:
    """Rows, trees, conflicts of one run; with details also each agent's commit subjects."""
    run = run_dir.run()
    repo = repo_of(run_dir, run)
    base = run.base
    rows = {r.name: r for r in status.rows(run_dir)}
    # A later run that resumed this one reuses its worktrees: they no longer show this run's
    # work, so an ended pane with no result.json (its snapshot failed) then shows nothing.
    resumed = _resumed(repo, run_dir.id)
    found = _pmap(lambda e: _result(run_dir, e, base, not (
        resumed and rows[e.name].state in TERMINAL)), run.panes)
    panes = [PaneReview(rows[e.name], e.attempt_of, e.scope, check_result(e.check, rows[e.name]),
                        res, src, usage=read_usage(run_dir.pane_dir(e.name)))
             for e, (res, src) in zip(run.panes, found, strict=True)]
    ok = _existing(repo, (p.result.snapshot for p in panes if p.result and p.result.snapshot))
    for p in panes:
        p.commit = p.result.snapshot if p.result and p.result.snapshot in ok else None
    all_pairs = pairs(repo, panes)
    for pr in all_pairs:
        if pr.conflict:
            for x, y in ((pr.a, pr.b), (pr.b, pr.a)):
                next(p for p in panes if p.row.name == x).conflicts_with.append(y)
    if details:
        by_head = commits(repo, base, (p.result.head for p in panes if p.result))
        for p in panes:
            p.commits = by_head.get(p.result.head, []) if p.result else []
    return Run(run_dir, run, status.run_info(run_dir), repo, base, panes, all_pairs)


def tail(run_dir: ledger.RunDir, name: str, n: int = TAIL_LINES) -> list[str]:
    """The last n non-blank lines the agent showed, rendered: its transcript once it has one
    (an ended agent), else the end of its raw log played on a screen."""
    path = run_dir.transcript(name)
    if path.exists():
        lines = path.read_text(errors="replace").splitlines()
    else:
        log = run_dir.output(name)
        if not log.exists():
            return []
        lines = screen.last_lines(str(log), n + 20)
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines[-n:]


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def metrics(run: Run, now: float | None = None, out_of_scope_edits: int | None = None
            ) -> Metrics:
    now = time.time() if now is None else now
    n = len(run.panes)
    done = sum(1 for p in run.panes if p.row.state == "done")
    conflicting = [pr for pr in run.pairs if pr.conflict]
    by_file: dict[str, list[str]] = {}
    for p in run.panes:
        for path in sorted(p.paths()):
            by_file.setdefault(path, []).append(p.row.name)
    # Wall clock counts the queue (from the first pane's queued_at); agent time does not.
    starts = [ledger.parse_iso(p.row.queued_at or p.row.started_at) for p in run.panes
              if p.row.started_at]
    ends = [ledger.parse_iso(p.row.ended_at) if p.row.ended_at else now
            for p in run.panes if p.row.started_at
            and (p.row.ended_at or p.row.state not in TERMINAL)]
    wall = round(max(ends) - min(starts), 3) if starts and ends else None
    durations = [p.row.duration_s for p in run.panes if p.row.duration_s is not None]
    agent_time = round(sum(durations), 3) if durations else None
    usage = usage_totals([p.usage for p in run.panes if p.usage is not None])
    tokens_in, tokens_out = _number(usage["tokens_in"]), _number(usage["tokens_out"])
    return Metrics(
        agents=n, done=done, completion_rate=round(done / n, 4) if n else None,
        pairs=len(run.pairs), conflicting_pairs=len(conflicting),
        conflict_rate=round(len(conflicting) / len(run.pairs), 4) if run.pairs else None,
        conflicting_agents=tuple(sorted({x for pr in conflicting for x in (pr.a, pr.b)})),
        overlap_files=tuple(sorted(f for f, who in by_file.items() if len(who) > 1)),
        wall_clock_s=wall, agent_time_s=agent_time,
        # Agent-time over wall-clock flatters a run in which nothing got done: none then.
        speedup=(round(agent_time / wall, 2) if done and wall and agent_time is not None
                 else None),
        queued_s=round(sum(p.row.queued_s or 0.0 for p in run.panes), 3),
        tokens_in=None if tokens_in is None else int(tokens_in),
        tokens_out=None if tokens_out is None else int(tokens_out),
        cost_usd=_number(usage["cost_usd"]), out_of_scope_edits=out_of_scope_edits)


def _pane_report(run_dir: ledger.RunDir, p: PaneReview) -> PaneReport:
    res, r = p.result, p.row
    return PaneReport(
        name=r.name, state=r.state, exit_code=r.exit_code, signal=r.signal, reason=r.reason,
        started_at=r.started_at, ended_at=r.ended_at, duration_s=r.duration_s,
        queued_s=r.queued_s, branch=r.branch, attempt_of=p.attempt_of, check=p.check,
        source=p.source, source_note=source_note(r.state, p.source),
        head=res.head if res else None, snapshot=res.snapshot if res else None,
        commits_ahead=res.commits_ahead if res else None, dirty=res.dirty if res else None,
        commits=tuple(p.commits), files=p.files, provisioned=res.provisioned if res else (),
        unseen=res.unseen if res else (), conflicts_with=tuple(sorted(p.conflicts_with)),
        state_source=r.source, usage=p.usage, tail=tuple(tail(run_dir, r.name)),
        # A pane without a scope may touch anything; one with a scope is held to it.
        out_of_scope=tuple(out_of_scope(p.scope, [f.path for f in p.files])))


def collect(run_dir: ledger.RunDir, pane: str | None = None) -> Review:
    """The `review --json` contract. With pane, only that agent is listed (metrics stay
    run-wide: its conflicts need every other agent's tree anyway)."""
    if pane is not None:
        pane_entry(run_dir, pane)
    run = analyse(run_dir)
    reports = [_pane_report(run_dir, p) for p in run.panes]
    edits = sum(len(r.out_of_scope) for r in reports)
    return Review(run.info, tuple(r for r in reports if pane in (None, r.name)),
                  metrics(run, out_of_scope_edits=edits))


def conflicts(run_dir: ledger.RunDir) -> Conflicts:
    """The `conflicts --json` contract: every pair of agents."""
    run = analyse(run_dir, details=False)
    return Conflicts(tuple(p.row.name for p in run.panes), tuple(run.pairs))


def diff_target(run_dir: ledger.RunDir, name: str) -> tuple[Path, str, str, list[str]]:
    """(repo, base, commit, provisioned paths) to diff for an agent: its snapshot, or its live
    worktree; a provisioned file's content is never shown, even when the agent committed it."""
    pane_entry(run_dir, name)   # BadInput naming the run's panes when there is no such pane
    run = run_dir.run()
    repo = repo_of(run_dir, run)
    res, _ = _result(run_dir, next(p for p in run.panes if p.name == name), run.base)
    if res is None or not res.snapshot:
        raise BadInput(f"pane '{name}' of run {run_dir.id} has no snapshot and no worktree "
                       "to diff")
    sha = res.snapshot
    if sha not in _existing(repo, [sha]):
        raise AgentmuxError(f"snapshot {sha} of pane '{name}' is no longer in {repo}")
    return repo, run.base, sha, [c.path for c in res.provisioned]


def runs(run_dirs: Iterable[ledger.RunDir]) -> Runs:
    """Every run given, with its metrics; a damaged run says so and hides no other."""
    found: list[RunSummary | DamagedRun] = []
    for rd in run_dirs:
        try:
            run = analyse(rd, details=False)
        except AgentmuxError as e:  # a damaged run must not hide the others
            found.append(DamagedRun(rd.id, str(e)))
            continue
        states: dict[str, int] = {}
        for p in run.panes:
            states[p.row.state] = states.get(p.row.state, 0) + 1
        found.append(RunSummary(rd.id, run.record.session, run.record.created_at,
                                run_state(run.record.state, states), tuple(states.items()),
                                metrics(run)))
    return Runs(tuple(found))
