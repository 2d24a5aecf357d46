"""How each pane went: status.json (the runner), events.jsonl lines, result.json."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentmux.atomic import now_iso
from agentmux.records.base import JSON, VERSION, Fields, Record

PHASES = ("starting", "setup", "agent", "check", "ended")


@dataclass(frozen=True)
class StatusRecord(Record):
    """status.json, written by the runner: the truth about how the pane's agent ended.

    `phase` moves through PHASES; `ended_at`, `exit_code`/`signal` and `reason` are set at
    "ended" (reason None: the agent ended by itself; else cwd, setup, sandbox, check,
    check-skipped, spec, runner-error). `check_exit_code` is there only when a check ran;
    `sandbox_pid` (in `extra`) only for an agent inside bubblewrap: bwrap's own pid.
    """

    KIND = "status.json"

    pid: int                          # the runner's
    started_at: str
    run: str | None = None            # None only when the spec itself was unreadable
    pane: str | None = None
    agent_pid: int | None = None
    phase: str = "starting"
    ended_at: str | None = None
    exit_code: int | None = None
    signal: str | None = None         # e.g. "SIGTERM"
    reason: str | None = None
    message: str | None = None
    check_exit_code: int | None = None
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    @classmethod
    def _read(cls, f: Fields) -> StatusRecord:
        return cls(
            pid=f.integer("pid"), started_at=f.text("started_at"), run=f.opt_text("run"),
            pane=f.opt_text("pane"), agent_pid=f.opt_integer("agent_pid"),
            phase=f.text("phase", "starting"), ended_at=f.opt_text("ended_at"),
            exit_code=f.opt_integer("exit_code"), signal=f.opt_text("signal"),
            reason=f.opt_text("reason"), message=f.opt_text("message"),
            check_exit_code=f.opt_integer("check_exit_code"), extra=f.extra())

    def to_json(self) -> JSON:
        out: JSON = {
            "version": VERSION, "run": self.run, "pane": self.pane, "pid": self.pid,
            "agent_pid": self.agent_pid, "phase": self.phase, "started_at": self.started_at,
            "ended_at": self.ended_at, "exit_code": self.exit_code, "signal": self.signal,
            "reason": self.reason, "message": self.message,
        }
        if self.check_exit_code is not None:
            out["check_exit_code"] = self.check_exit_code
        return {**out, **self.extra}


# The keys a "state" event always carries (null when not known), in this order.
_STATE_KEYS = ("state", "exit_code", "signal", "reason")


@dataclass(frozen=True)
class EventRecord(Record):
    """One line of events.jsonl. `type` says which; the common ones:

    - state: the watcher saw `pane` reach `state` (with exit_code, signal, reason, and
      check_exit_code when a check ran; `detail` may hold snapshot_error);
    - timeout (detail: timeout_s), restart (detail: attempt);
    - merge, commit-uncommitted, clean, restore: review's acts, their facts in `detail`.
    """

    KIND = "event"

    type: str
    pane: str | None = None
    ts: str = field(default_factory=now_iso)
    state: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    check_exit_code: int | None = None
    detail: dict[str, object] = field(default_factory=dict, hash=False)

    @classmethod
    def _read(cls, f: Fields) -> EventRecord:
        return cls(
            type=f.text("type"), pane=f.opt_text("pane"), ts=f.text("ts", ""),
            state=f.opt_text("state"), exit_code=f.opt_integer("exit_code"),
            signal=f.opt_text("signal"), reason=f.opt_text("reason"),
            check_exit_code=f.opt_integer("check_exit_code"), detail=f.extra())

    def to_json(self) -> JSON:
        out: JSON = {"version": VERSION, "ts": self.ts, "type": self.type}
        if self.pane is not None:
            out["pane"] = self.pane
        for key in _STATE_KEYS:
            value = getattr(self, key)
            if self.type == "state" or value is not None:
                out[key] = value
        if self.check_exit_code is not None:
            out["check_exit_code"] = self.check_exit_code
        return {**out, **self.detail}


@dataclass(frozen=True)
class FileChange(Record):
    """One changed file of a result: `status` is git's letter (A, M, D, R...)."""

    KIND = "result.json file"
    NESTED = True

    path: str
    status: str = "M"
    added: int | None = None          # None: binary
    removed: int | None = None

    @classmethod
    def _read(cls, f: Fields) -> FileChange:
        return cls(f.text("path"), f.text("status", "M"), f.opt_integer("added"),
                   f.opt_integer("removed"))

    def to_json(self) -> JSON:
        return {"path": self.path, "status": self.status, "added": self.added,
                "removed": self.removed}


@dataclass(frozen=True)
class ProvisionedFile(Record):
    """A file `copy` placed in the worktree: whether the agent changed it (`state`: unchanged,
    changed, deleted) or committed it on its branch. Never its content: it may be a secret."""

    KIND = "result.json provisioned file"
    NESTED = True

    path: str
    state: str = "unchanged"
    committed: bool = False

    @classmethod
    def _read(cls, f: Fields) -> ProvisionedFile:
        return cls(f.text("path"), f.text("state", "unchanged"), f.flag("committed"))

    def to_json(self) -> JSON:
        return {"path": self.path, "state": self.state, "committed": self.committed}


@dataclass(frozen=True)
class UnseenFile(Record):
    """A file (or folder, ending in /) git does not list: `kind` (worktrees.unseen.KINDS), in
    words `why`, and whether the snapshot holds it."""

    KIND = "result.json unseen file"
    NESTED = True

    path: str
    kind: str
    why: str = ""
    in_snapshot: bool = False

    @classmethod
    def _read(cls, f: Fields) -> UnseenFile:
        return cls(f.text("path"), f.text("kind"), f.text("why", ""), f.flag("in_snapshot"))

    def to_json(self) -> JSON:
        return {"path": self.path, "kind": self.kind, "why": self.why,
                "in_snapshot": self.in_snapshot}


def _provisioned_and_unseen(f: Fields) -> tuple[tuple[ProvisionedFile, ...],
                                                tuple[UnseenFile, ...]]:
    return (tuple(ProvisionedFile._read(f.sub(x, f"provisioned[{i}]"))
                  for i, x in enumerate(f.objects("provisioned"))),
            tuple(UnseenFile._read(f.sub(x, f"unseen[{i}]"))
                  for i, x in enumerate(f.objects("unseen"))))


@dataclass(frozen=True)
class ResultRecord(Record):
    """result.json: a snapshot of the pane's worktree when it ended, relative to the base.

    A live view of an agent still at work has the same shape, with `ref` None. `provisioned`
    and `unseen` given in `extra` (as JSON objects) are read into their typed fields.
    """

    KIND = "result.json"

    pane: str
    base: str
    head: str
    snapshot: str                     # commit holding the worktree, untracked files included
    taken_at: str = ""
    ref: str | None = None            # refs/agentmux/snapshots/<run>/<pane>
    commits_ahead: int = 0
    dirty: bool = False
    files: tuple[FileChange, ...] = ()
    provisioned: tuple[ProvisionedFile, ...] = ()   # never in `files`
    unseen: tuple[UnseenFile, ...] = ()
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        if not {"provisioned", "unseen"} & self.extra.keys():
            return
        f = Fields(self.KIND, self.extra)
        copies, unseen = _provisioned_and_unseen(f)
        object.__setattr__(self, "provisioned", self.provisioned + copies)
        object.__setattr__(self, "unseen", self.unseen + unseen)
        object.__setattr__(self, "extra", f.extra())

    @classmethod
    def _read(cls, f: Fields) -> ResultRecord:
        files = tuple(FileChange._read(f.sub(x, f"files[{i}]"))
                      for i, x in enumerate(f.objects("files")))
        copies, unseen = _provisioned_and_unseen(f)
        return cls(
            pane=f.text("pane"), base=f.text("base"), head=f.text("head"),
            snapshot=f.text("snapshot"), taken_at=f.text("taken_at", ""), ref=f.opt_text("ref"),
            commits_ahead=f.integer("commits_ahead", 0), dirty=f.flag("dirty"), files=files,
            provisioned=copies, unseen=unseen, extra=f.extra())

    def to_json(self) -> JSON:
        return {
            "version": VERSION, "pane": self.pane, "taken_at": self.taken_at, "base": self.base,
            "head": self.head, "snapshot": self.snapshot, "ref": self.ref,
            "commits_ahead": self.commits_ahead, "dirty": self.dirty,
            "files": [x.to_json() for x in self.files],
            "provisioned": [x.to_json() for x in self.provisioned],
            "unseen": [x.to_json() for x in self.unseen], **self.extra,
        }
