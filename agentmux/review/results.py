"""Reviewing a run: each agent's result, the conflicts between agents, and the run's metrics.

Everything comes from the ledger and the snapshot commits, so a review still works after the
session, the worktrees and even the branches are gone. An agent still at work (no result.json
yet) is looked at live, through a temporary index and an unreferenced commit: no ref is taken.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agentmux import git, ledger, screen, snapshot, status
from agentmux.errors import AgentmuxError, BadInput, CommandFailed
from agentmux.find import pane_entry
from agentmux.review.labels import run_state, source_note
from agentmux.scope import out_of_scope
from agentmux.watch.state import TERMINAL

VERSION = 1
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
    """One agent as review sees it: its row in `status` plus what its tree holds."""

    row: status.Row
    attempt_of: str | None = None    # with `count = N`: the name written in the layout
    check: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    source: str = "none"             # snapshot | live | none
    commit: str | None = None        # a commit holding its whole tree, when one exists
    commits: list[dict[str, str]] = field(default_factory=list)
    conflicts_with: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("files", []))

    @property
    def provisioned(self) -> list[str]:
        """Files `copy` placed: never the agent's change, never an overlap or a conflict."""
        return [str(c["path"]) for c in (self.result or {}).get("provisioned", [])]

    def paths(self) -> set[str]:
        return {f["path"] for f in self.files}


@dataclass(frozen=True)
class Run:
    dir: ledger.RunDir
    info: dict[str, Any]
    repo: Path
    base: str
    panes: list[PaneReview]
    pairs: list[dict[str, Any]]


def repo_of(run_dir: ledger.RunDir, run: dict[str, Any]) -> Path:
    # The ledger lives at <repo>/.agentmux/runs/<id>: right even if run.json's path went stale.
    return Path(run["repo"]) if run.get("repo") and Path(run["repo"]).is_dir() \
        else run_dir.path.parents[2]


def _result(run_dir: ledger.RunDir, entry: dict[str, Any], base: str,
            allow_live: bool = True) -> tuple[dict[str, Any] | None, str]:
    name = str(entry["name"])
    try:
        res = ledger.read_json(run_dir.pane_dir(name) / "result.json")
    except AgentmuxError:
        res = None
    if res and res.get("snapshot"):
        return res, "snapshot"
    tree = entry.get("worktree")
    if allow_live and tree and Path(tree).is_dir():
        try:
            return snapshot.live(Path(tree), base, name,
                                 snapshot.ledger_root_of(run_dir)), "live"
        except CommandFailed:  # e.g. a worktree with no HEAD yet: nothing to show
            return None, "none"
    return None, "none"


def _resumed(repo: Path, run_id: str) -> bool:
    for rd in ledger.iter_runs(repo):
        if rd.id <= run_id:
            return False
        with contextlib.suppress(AgentmuxError):
            if rd.read_run().get("resumes") == run_id:
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


def check_result(command: object, row: status.Row) -> dict[str, Any] | None:
    """The pane's `check` as review reports it; None when the pane has none."""
    if not isinstance(command, str) or not command:
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
    return {"command": command, "result": result, "exit_code": code}


def commits(repo: Path, base: str, heads: Iterable[str]) -> dict[str, list[dict[str, str]]]:
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
    out: dict[str, list[dict[str, str]]] = {}
    for tip in tips:
        seen: set[str] = set()
        todo = [tip] if tip in info else []
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(x for x in info[c][0] if x in info)
        out[tip] = [{"sha": info[c][1], "subject": info[c][2]} for c in order if c in seen]
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


def pairs(repo: Path, panes: list[PaneReview]) -> list[dict[str, Any]]:
    """Every pair of agents, conflicting or not. Only pairs whose changed files (or folders
    above them) meet go to git: two merges that touch disjoint paths cannot conflict at the
    content level, so the rest are reported clean without a subprocess (190 pairs at N=20)."""
    keys = {p.row.name: _keys(p.paths()) for p in panes}
    out: list[dict[str, Any]] = []
    todo: list[tuple[dict[str, Any], str, str]] = []
    for a, b in itertools.combinations(panes, 2):
        pair: dict[str, Any] = {"a": a.row.name, "b": b.row.name, "conflict": False, "files": [],
                                "checked": "disjoint"}
        out.append(pair)
        if not keys[a.row.name] & keys[b.row.name]:
            continue
        if a.commit is None or b.commit is None:
            pair["checked"] = "missing"  # a snapshot commit is gone: unknown, not a conflict
            continue
        pair["checked"] = "merge-tree"
        todo.append((pair, a.commit, b.commit))
    copies = {p.row.name: set(p.provisioned) for p in panes}
    for (pair, _, _), files in zip(todo, _pmap(lambda t: _conflicts(repo, t[1], t[2]), todo),
                                   strict=True):
        files = [f for f in files or [] if f not in copies[pair["a"]] | copies[pair["b"]]]
        if files:
            pair["conflict"] = True
            pair["files"] = files
    return out


def analyse(run_dir: ledger.RunDir, details: bool = True) -> Run:
    """Rows, trees, conflicts of one run; with details also each agent's commit subjects."""
    run = run_dir.read_run()
    repo = repo_of(run_dir, run)
    base = str(run.get("base") or "")
    rows = {r.name: r for r in status.rows(run_dir)}
    entries = [dict(p) for p in run.get("panes", [])]
    # A later run that resumed this one reuses its worktrees: they no longer show this run's
    # work, so an ended pane with no result.json (its snapshot failed) then shows nothing.
    resumed = _resumed(repo, run_dir.id)
    found = _pmap(lambda e: _result(run_dir, e, base, not (
        resumed and rows[e["name"]].state in TERMINAL)), entries)
    panes = [PaneReview(rows[e["name"]], e.get("attempt_of"),
                        check_result(e.get("check"), rows[e["name"]]), res, src)
             for e, (res, src) in zip(entries, found, strict=True)]
    ok = _existing(repo, (str(p.result["snapshot"]) for p in panes
                          if p.result and p.result.get("snapshot")))
    for p in panes:
        sha = (p.result or {}).get("snapshot")
        p.commit = sha if sha in ok else None
    all_pairs = pairs(repo, panes)
    for pr in all_pairs:
        if pr["conflict"]:
            for x, y in ((pr["a"], pr["b"]), (pr["b"], pr["a"])):
                next(p for p in panes if p.row.name == x).conflicts_with.append(y)
    if details:
        by_head = commits(repo, base, (str((p.result or {}).get("head") or "") for p in panes))
        for p in panes:
            p.commits = by_head.get(str((p.result or {}).get("head")), [])
    return Run(run_dir, status.run_info(run_dir), repo, base, panes, all_pairs)


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


def metrics(run: Run, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    n = len(run.panes)
    done = sum(1 for p in run.panes if p.row.state == "done")
    conflicting = [pr for pr in run.pairs if pr["conflict"]]
    by_file: dict[str, list[str]] = {}
    for p in run.panes:
        for path in sorted(p.paths()):
            by_file.setdefault(path, []).append(p.row.name)
    # Wall clock counts the queue (from the first pane's queued_at); agent time does not.
    starts = [ledger.parse_iso(p.row.queued_at or p.row.started_at) for p in run.panes
              if p.row.started_at]
    ends = [ledger.parse_iso(p.row.ended_at) if p.row.ended_at else now
            for p in run.panes if p.row.started_at
            and (p.row.ended_at or p.row.state in ("queued", "starting", "running", "waiting",
                                                   "paused"))]
    wall = round(max(ends) - min(starts), 3) if starts and ends else None
    durations = [p.row.duration_s for p in run.panes if p.row.duration_s is not None]
    agent_time = round(sum(durations), 3) if durations else None
    return {
        "agents": n,
        "done": done,
        "completion_rate": round(done / n, 4) if n else None,
        "pairs": len(run.pairs),
        "conflicting_pairs": len(conflicting),
        "conflict_rate": round(len(conflicting) / len(run.pairs), 4) if run.pairs else None,
        "conflicting_agents": sorted({x for pr in conflicting for x in (pr["a"], pr["b"])}),
        "overlap_files": sorted(f for f, who in by_file.items() if len(who) > 1),
        "wall_clock_s": wall,
        "agent_time_s": agent_time,
        "speedup": round(agent_time / wall, 2) if wall and agent_time is not None else None,
        "queued_s": round(sum(p.row.queued_s or 0.0 for p in run.panes), 3),
    }


def _pane_json(run_dir: ledger.RunDir, p: PaneReview) -> dict[str, Any]:
    res = p.result or {}
    files = p.files
    r = p.row
    return {
        "name": r.name, "state": r.state, "exit_code": r.exit_code, "signal": r.signal,
        "reason": r.reason, "started_at": r.started_at, "ended_at": r.ended_at,
        "duration_s": r.duration_s, "queued_s": r.queued_s, "branch": r.branch,
        "attempt_of": p.attempt_of,
        "check": p.check, "source": p.source, "source_note": source_note(r.state, p.source),
        "head": res.get("head"), "snapshot": res.get("snapshot"),
        "commits_ahead": res.get("commits_ahead"), "dirty": res.get("dirty"),
        "commits": p.commits, "files": files,
        "provisioned": res.get("provisioned", []), "unseen": res.get("unseen", []),
        "added": sum(f.get("added") or 0 for f in files),
        "removed": sum(f.get("removed") or 0 for f in files),
        "conflicts_with": sorted(p.conflicts_with),
        "tail": tail(run_dir, r.name),
    }


def collect(run_dir: ledger.RunDir, pane: str | None = None) -> dict[str, Any]:
    """The `review --json` contract. With pane, only that agent is listed (metrics stay
    run-wide: its conflicts need every other agent's tree anyway)."""
    if pane is not None:
        pane_entry(run_dir, pane)
    run = analyse(run_dir)
    scopes = {p["name"]: p.get("scope") or [] for p in run_dir.read_run().get("panes", [])}
    listed = []
    edits = 0
    for p in run.panes:
        entry = _pane_json(run_dir, p)
        # A pane without a scope may touch anything; one with a scope is held to it.
        entry["out_of_scope"] = out_of_scope(scopes.get(p.row.name, []),
                                             [f["path"] for f in p.files])
        edits += len(entry["out_of_scope"])
        if pane in (None, p.row.name):
            listed.append(entry)
    return {
        "version": VERSION,
        "run": run.info,
        "panes": listed,
        "metrics": {**metrics(run), "out_of_scope_edits": edits},
    }


def conflicts(run_dir: ledger.RunDir) -> dict[str, Any]:
    """The `conflicts --json` contract: every pair of agents."""
    run = analyse(run_dir, details=False)
    return {"version": VERSION, "agents": [p.row.name for p in run.panes],
            "pairs": [{k: pr[k] for k in ("a", "b", "conflict", "files", "checked")}
                      for pr in run.pairs]}


def diff_target(run_dir: ledger.RunDir, name: str) -> tuple[Path, str, str, list[str]]:
    """(repo, base, commit, provisioned paths) to diff for an agent: its snapshot, or its live
    worktree; a provisioned file's content is never shown, even when the agent committed it."""
    entry = pane_entry(run_dir, name)
    run = run_dir.read_run()
    repo = repo_of(run_dir, run)
    base = str(run.get("base") or "")
    res, _ = _result(run_dir, entry, base)
    if res is None or not res.get("snapshot"):
        raise BadInput(f"pane '{name}' of run {run_dir.id} has no snapshot and no worktree "
                       "to diff")
    sha = str(res["snapshot"])
    if sha not in _existing(repo, [sha]):
        raise AgentmuxError(f"snapshot {sha} of pane '{name}' is no longer in {repo}")
    hidden = [str(c["path"]) for c in res.get("provisioned", [])]
    return repo, base, sha, hidden


def runs(run_dirs: Iterable[ledger.RunDir]) -> Iterator[dict[str, Any]]:
    """Every run given, with its metrics; a damaged run says so and hides no other."""
    for rd in run_dirs:
        try:
            run = analyse(rd, details=False)
        except AgentmuxError as e:  # a damaged run must not hide the others
            yield {"id": rd.id, "error": str(e)}
            continue
        info = {}
        with contextlib.suppress(AgentmuxError):
            info = rd.read_run()
        states: dict[str, int] = {}
        for p in run.panes:
            states[p.row.state] = states.get(p.row.state, 0) + 1
        yield {"id": rd.id, "session": run.info.get("session"),
               "created_at": run.info.get("created_at"),
               "state": run_state(info.get("state"), states), "states": states,
               "metrics": metrics(run)}
