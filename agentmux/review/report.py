"""What `review`, `conflicts` and `runs` report, as frozen records.

`review.results` builds them from the ledger and git; `cli.render` draws them for a person and
`review.compare` reads them. Each top record's `to_json` is the only builder of its command's
`--json` contract (README: "`review --json`"), key for key in the documented order:

- `Review`: `review --json`, every agent's `PaneReport` and the run's `Metrics`;
- `Conflicts`: `conflicts --json`, every `Pair` of agents;
- `Runs`: `runs --json`, a `RunSummary` per run, or a `DamagedRun` that says why not.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentmux.records.base import JSON
from agentmux.records.outcome import FileChange, ProvisionedFile, UnseenFile

VERSION = 1


@dataclass(frozen=True)
class Check:
    """The pane's `check` as review reports it. `result`: passed, failed, skipped (no worktree
    of its own), running, or not run (the agent itself failed, or has not finished yet)."""

    command: str
    result: str
    exit_code: int | None = None

    def to_json(self) -> JSON:
        return {"command": self.command, "result": self.result, "exit_code": self.exit_code}


@dataclass(frozen=True)
class Commit:
    """One commit of an agent's branch since the base: short sha and subject."""

    sha: str
    subject: str

    def to_json(self) -> JSON:
        return {"sha": self.sha, "subject": self.subject}


@dataclass(frozen=True)
class PaneReport:
    """One agent in `review --json`: its row in `status` plus what its tree holds.

    `source` says where the tree was read (snapshot, live, none); with none, `head`,
    `snapshot`, `commits_ahead` and `dirty` are unknown (None). `usage` is a headless run's
    usage as its stream reported it (headless_result), None for any other agent.
    """

    name: str
    state: str
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    queued_s: float | None = None
    branch: str | None = None
    attempt_of: str | None = None     # with `count = N`: the name written in the layout
    check: Check | None = None
    source: str = "none"              # snapshot | live | none
    source_note: str | None = None
    head: str | None = None
    snapshot: str | None = None
    commits_ahead: int | None = None
    dirty: bool | None = None
    commits: tuple[Commit, ...] = ()
    files: tuple[FileChange, ...] = ()
    provisioned: tuple[ProvisionedFile, ...] = ()
    unseen: tuple[UnseenFile, ...] = ()
    conflicts_with: tuple[str, ...] = ()
    state_source: str | None = None   # hook | screen | process
    usage: JSON | None = None
    tail: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    def to_json(self) -> JSON:
        return {
            "name": self.name, "state": self.state, "exit_code": self.exit_code,
            "signal": self.signal, "reason": self.reason, "started_at": self.started_at,
            "ended_at": self.ended_at, "duration_s": self.duration_s, "queued_s": self.queued_s,
            "branch": self.branch, "attempt_of": self.attempt_of,
            "check": None if self.check is None else self.check.to_json(),
            "source": self.source, "source_note": self.source_note, "head": self.head,
            "snapshot": self.snapshot, "commits_ahead": self.commits_ahead, "dirty": self.dirty,
            "commits": [c.to_json() for c in self.commits],
            "files": [f.to_json() for f in self.files],
            "provisioned": [c.to_json() for c in self.provisioned],
            "unseen": [u.to_json() for u in self.unseen],
            "added": self.added, "removed": self.removed,
            "conflicts_with": list(self.conflicts_with), "state_source": self.state_source,
            "usage": self.usage, "tail": list(self.tail), "out_of_scope": list(self.out_of_scope),
        }


@dataclass(frozen=True)
class Metrics:
    """A run's numbers. `completion_rate` and `speedup` count `done` alone (speedup None when
    nothing is done); the token and cost totals are None when no agent reported usage;
    `out_of_scope_edits` is review's alone (None in `runs`, and then not in the JSON)."""

    agents: int
    done: int
    completion_rate: float | None
    pairs: int
    conflicting_pairs: int
    conflict_rate: float | None
    conflicting_agents: tuple[str, ...]
    overlap_files: tuple[str, ...]
    wall_clock_s: float | None
    agent_time_s: float | None
    speedup: float | None
    queued_s: float
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    out_of_scope_edits: int | None = None

    def to_json(self) -> JSON:
        out: JSON = {
            "agents": self.agents, "done": self.done, "completion_rate": self.completion_rate,
            "pairs": self.pairs, "conflicting_pairs": self.conflicting_pairs,
            "conflict_rate": self.conflict_rate,
            "conflicting_agents": list(self.conflicting_agents),
            "overlap_files": list(self.overlap_files), "wall_clock_s": self.wall_clock_s,
            "agent_time_s": self.agent_time_s, "speedup": self.speedup,
            "queued_s": self.queued_s, "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out, "cost_usd": self.cost_usd,
        }
        if self.out_of_scope_edits is not None:
            out["out_of_scope_edits"] = self.out_of_scope_edits
        return out


@dataclass(frozen=True)
class Review:
    """`review --json`: the run (as `status --json` gives it), its agents, its metrics."""

    run: JSON
    panes: tuple[PaneReport, ...]
    metrics: Metrics

    @property
    def run_id(self) -> str:
        return str(self.run.get("id"))

    @property
    def session(self) -> str:
        return str(self.run.get("session"))

    def to_json(self) -> JSON:
        return {"version": VERSION, "run": self.run, "panes": [p.to_json() for p in self.panes],
                "metrics": self.metrics.to_json()}


@dataclass(frozen=True)
class Pair:
    """Two agents' trees merged in memory. `checked`: disjoint (no path in common: clean
    without git), merge-tree (git merged them), or missing (a snapshot is gone: unknown)."""

    a: str
    b: str
    conflict: bool = False
    files: tuple[str, ...] = ()
    checked: str = "disjoint"

    def to_json(self) -> JSON:
        return {"a": self.a, "b": self.b, "conflict": self.conflict, "files": list(self.files),
                "checked": self.checked}


@dataclass(frozen=True)
class Conflicts:
    """`conflicts --json`: every pair of the run's agents."""

    agents: tuple[str, ...]
    pairs: tuple[Pair, ...]

    def to_json(self) -> JSON:
        return {"version": VERSION, "agents": list(self.agents),
                "pairs": [p.to_json() for p in self.pairs]}


@dataclass(frozen=True)
class RunSummary:
    """One run in `runs`: its state as `status` derives it, its agents by state, its metrics."""

    id: str
    session: str | None
    created_at: str | None
    state: str
    states: tuple[tuple[str, int], ...]   # (state, agents in it), in the order first seen
    metrics: Metrics

    def to_json(self) -> JSON:
        return {"id": self.id, "session": self.session, "created_at": self.created_at,
                "state": self.state, "states": dict(self.states),
                "metrics": self.metrics.to_json()}


@dataclass(frozen=True)
class DamagedRun:
    """A run `runs` could not read: the whole message says which file and why."""

    id: str
    error: str

    def to_json(self) -> JSON:
        return {"id": self.id, "error": self.error}


@dataclass(frozen=True)
class Runs:
    """`runs --json`: every run, newest first; a damaged one hides no other."""

    runs: tuple[RunSummary | DamagedRun, ...]

    def to_json(self) -> JSON:
        return {"version": VERSION, "runs": [r.to_json() for r in self.runs]}
