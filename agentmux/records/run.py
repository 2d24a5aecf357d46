"""The run's records: run.json and its panes, each pane's spec, env file, watcher.json."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentmux.records.base import JSON, VERSION, Fields, Record


@dataclass(frozen=True)
class PaneRecord(Record):
    """One agent of run.json's `panes`: what `up` (or `add`) planned and made for it."""

    KIND = "run.json pane"
    NESTED = True

    name: str
    cwd: str                          # absolute folder the agent runs in
    command: str                      # the rendered shell command
    window: str = ""
    branch: str | None = None         # None unless isolation is "worktree"
    worktree: str | None = None
    agent: str | None = None          # the preset's name, None for a `command`
    check: str | None = None
    timeout: float | None = None      # seconds
    idle_after: float = 20.0          # seconds of quiet before "quiet" shows
    waiting_patterns: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    attempt_of: str | None = None
    created_worktree: bool = False    # False: `up` reused a worktree that was there
    head_at_start: str | None = None
    pane_id: str | None = None        # tmux's %N, once the session is built
    added_at: str | None = None       # set when `agentmux add` made this pane
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    @classmethod
    def _read(cls, f: Fields) -> PaneRecord:
        idle = f.opt_number("idle_after")
        return cls(
            name=f.text("name"), cwd=f.text("cwd", ""), command=f.text("command", ""),
            window=f.text("window", ""), branch=f.opt_text("branch"),
            worktree=f.opt_text("worktree"), agent=f.opt_text("agent"), check=f.opt_text("check"),
            timeout=f.opt_number("timeout"), idle_after=20.0 if idle is None else idle,
            waiting_patterns=f.texts("waiting_patterns"), scope=f.texts("scope"),
            context=f.texts("context"), attempt_of=f.opt_text("attempt_of"),
            created_worktree=f.flag("created_worktree"), head_at_start=f.opt_text("head_at_start"),
            pane_id=f.opt_text("pane_id"), added_at=f.opt_text("added_at"), extra=f.extra())

    def to_json(self) -> JSON:
        out: JSON = {
            "name": self.name, "window": self.window, "branch": self.branch,
            "worktree": self.worktree, "cwd": self.cwd, "command": self.command,
            "agent": self.agent, "check": self.check, "timeout": self.timeout,
            "idle_after": self.idle_after, "waiting_patterns": list(self.waiting_patterns),
            "scope": list(self.scope), "context": list(self.context),
            "attempt_of": self.attempt_of, "created_worktree": self.created_worktree,
            "head_at_start": self.head_at_start, "pane_id": self.pane_id,
        }
        if self.added_at is not None:
            out["added_at"] = self.added_at
        return {**out, **self.extra}


@dataclass(frozen=True)
class AddedPane(Record):
    """A `[[pane]]` table that `agentmux add` appended to the run's layout snapshot."""

    KIND = "run.json added pane"
    NESTED = True

    name: str
    task: str
    agent: str | None = None
    command: str | None = None
    scope: tuple[str, ...] = ()

    @classmethod
    def _read(cls, f: Fields) -> AddedPane:
        return cls(f.text("name"), f.text("task", ""), f.opt_text("agent"), f.opt_text("command"),
                   f.texts("scope"))

    def to_json(self) -> JSON:
        """Also the layout table it stands for: what `layout.parse` reads."""
        out: JSON = {"name": self.name, "task": self.task}
        out.update({"agent": self.agent} if self.agent is not None else {"command": self.command})
        if self.scope:
            out["scope"] = list(self.scope)
        return out


@dataclass(frozen=True)
class RunRecord(Record):
    """run.json: the layout snapshot, base, tmux server and session, and every pane."""

    KIND = "run.json"

    id: str
    session: str
    repo: str
    base: str                         # the SHA agent branches start from
    wake: str                         # the tmux wait-for channel of this run
    socket: str | None = None         # `-L` name; None: the user's default server
    socket_path: str | None = None
    base_ref: str = "HEAD"            # what the layout asked for
    isolation: str = "worktree"
    layout: str = ""                  # the layout file's absolute path
    layout_snapshot: str = ""         # its text when `up` ran
    poll_interval: float = 1.0
    on_event: str | None = None
    disposable: tuple[str, ...] = ()
    created_at: str = ""
    resumes: str | None = None        # the previous run of this session, if any
    agentmux_version: str = ""
    state: str = "starting"           # starting, running, down
    ended_at: str | None = None       # set by `down`
    panes: tuple[PaneRecord, ...] = ()
    added_panes: tuple[AddedPane, ...] = ()
    max_running: int | None = None    # a queue: at most this many agents at once (gated specs)
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    def pane(self, name: str) -> PaneRecord | None:
        """The pane of that name, or None."""
        return next((p for p in self.panes if p.name == name), None)

    @property
    def pane_names(self) -> list[str]:
        return [p.name for p in self.panes]

    @classmethod
    def _read(cls, f: Fields) -> RunRecord:
        poll = f.opt_number("poll_interval")
        return cls(
            id=f.text("id"), session=f.text("session"), repo=f.text("repo"), base=f.text("base"),
            wake=f.text("wake", ""), socket=f.opt_text("socket"),
            socket_path=f.opt_text("socket_path"), base_ref=f.text("base_ref", "HEAD"),
            isolation=f.text("isolation", "worktree"), layout=f.text("layout", ""),
            layout_snapshot=f.text("layout_snapshot", ""),
            poll_interval=1.0 if poll is None else poll, on_event=f.opt_text("on_event"),
            disposable=f.texts("disposable"), created_at=f.text("created_at", ""),
            resumes=f.opt_text("resumes"), agentmux_version=f.text("agentmux_version", ""),
            state=f.text("state", "starting"), ended_at=f.opt_text("ended_at"),
            panes=tuple(PaneRecord._read(f.sub(p, f"panes[{i}]"))
                        for i, p in enumerate(f.objects("panes"))),
            added_panes=tuple(AddedPane._read(f.sub(p, f"added_panes[{i}]"))
                              for i, p in enumerate(f.objects("added_panes"))),
            max_running=f.opt_integer("max_running"), extra=f.extra())

    def to_json(self) -> JSON:
        out: JSON = {
            "version": VERSION, "id": self.id, "session": self.session, "socket": self.socket,
            "socket_path": self.socket_path, "repo": self.repo, "base": self.base,
            "base_ref": self.base_ref, "isolation": self.isolation, "layout": self.layout,
            "layout_snapshot": self.layout_snapshot, "poll_interval": self.poll_interval,
            "on_event": self.on_event, "disposable": list(self.disposable), "wake": self.wake,
            "created_at": self.created_at, "resumes": self.resumes,
            "agentmux_version": self.agentmux_version, "state": self.state,
            "panes": [p.to_json() for p in self.panes],
        }
        if self.ended_at is not None:
            out["ended_at"] = self.ended_at
        if self.added_panes:
            out["added_panes"] = [a.to_json() for a in self.added_panes]
        if self.max_running is not None:
            out["max_running"] = self.max_running
        return {**out, **self.extra}


@dataclass(frozen=True)
class SandboxSpec(Record):
    """spec.json's `sandbox`: what the runner needs to start the agent inside bubblewrap.

    The runner builds bwrap's argv itself (agentmux.sandbox.bwrap_argv), at each start: the
    sibling refs it pins and the tmux socket it hides are those of that moment.
    """

    KIND = "spec.json sandbox"
    NESTED = True

    kind: str                         # "bwrap"; a runner that knows no such kind refuses
    branch: str                       # the agent's own branch: the one ref it may move
    git_common_dir: str
    worktree_git_dir: str             # .git/worktrees/<name> of its worktree
    network: bool = True
    agent: str | None = None          # the preset, whose state folders stay writable
    writable: tuple[str, ...] = ()    # files made writable inside (the hooks' hooks.jsonl)

    @classmethod
    def _read(cls, f: Fields) -> SandboxSpec:
        net = f.get("network")
        return cls(kind=f.text("kind"), branch=f.text("branch"),
                   git_common_dir=f.text("git_common_dir"),
                   worktree_git_dir=f.text("worktree_git_dir"),
                   network=True if net is None else f.flag("network"),
                   agent=f.opt_text("agent"), writable=f.texts("writable"))

    def to_json(self) -> JSON:
        return {"kind": self.kind, "network": self.network, "agent": self.agent,
                "branch": self.branch, "git_common_dir": self.git_common_dir,
                "worktree_git_dir": self.worktree_git_dir, "writable": list(self.writable)}


@dataclass(frozen=True)
class SpecRecord(Record):
    """spec.json: everything the runner needs to start one pane's agent, and nothing else.

    Paths are absolute: tmux may start the runner in any folder. `env` is added on top of
    the environment in `env_file` (the one `up` was called with), or of the runner's own.
    """

    KIND = "spec.json"

    run: str
    pane: str
    command: str                      # POSIX sh; exec'd when simple (agentmux.shellcmd)
    cwd: str
    status: str                       # where the runner writes status.json
    shell: str | None = None          # recorded only: every command runs under /bin/sh
    worktree: str | None = None       # the cwd must be inside it, and have a .git
    env: dict[str, str] = field(default_factory=dict, hash=False)
    env_file: str | None = None
    setup: str | None = None          # runs first, in the worktree's root
    wake: str | None = None           # tmux wait-for channel signalled at the end
    check: str | None = None          # runs after the agent exits 0, in the worktree
    # Absolute path -> text: placed in the worktree only while the agent runs (the agent's own
    # hook settings, agentmux/wiring.py and agentfiles.py).
    files: dict[str, str] = field(default_factory=dict, hash=False)
    gate: str | None = None           # queued (max_running): start once this file exists
    resume: str | None = None         # `restart --continue` runs this instead (Preset.resume)
    sandbox: SandboxSpec | None = None  # None: the agent runs unsandboxed
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    @classmethod
    def _read(cls, f: Fields) -> SpecRecord:
        box = f.get("sandbox")
        if box is not None and not isinstance(box, dict):
            raise f.fail("sandbox", "an object or null")
        return cls(
            run=f.text("run"), pane=f.text("pane"), command=f.text("command"), cwd=f.text("cwd"),
            status=f.text("status"), shell=f.opt_text("shell"), worktree=f.opt_text("worktree"),
            env=f.text_map("env"), env_file=f.opt_text("env_file"), setup=f.opt_text("setup"),
            wake=f.opt_text("wake"), check=f.opt_text("check"), gate=f.opt_text("gate"),
            files=f.text_map("files"), resume=f.opt_text("resume"),
            sandbox=None if box is None else SandboxSpec._read(f.sub(box, "sandbox")),
            extra=f.extra())

    def to_json(self) -> JSON:
        out: JSON = {
            "version": VERSION, "run": self.run, "pane": self.pane, "command": self.command,
            "shell": self.shell, "cwd": self.cwd, "worktree": self.worktree,
            "env": dict(self.env), "env_file": self.env_file, "setup": self.setup,
            "status": self.status, "wake": self.wake, "check": self.check,
            "gate": self.gate, "resume": self.resume, "files": dict(self.files),
            **self.extra,
        }
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox.to_json()
        return out


@dataclass(frozen=True)
class EnvRecord(Record):
    """A pane's environment file (mode 0600, outside the repository): the environment `up`,
    `add` or `restart` was called with, the base of the pane's. Its runner deletes it once
    read (agentmux/panenv.py); runs before that kept one env.json in the run folder."""

    KIND = "env.json"

    env: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def _read(cls, f: Fields) -> EnvRecord:
        return cls(f.text_map("env"))

    def to_json(self) -> JSON:
        return {"version": VERSION, "env": dict(self.env)}


@dataclass(frozen=True)
class WatcherRecord(Record):
    """watcher.json: the pid of the run's watcher (its lock says whether it still runs)."""

    KIND = "watcher.json"

    pid: int

    @classmethod
    def _read(cls, f: Fields) -> WatcherRecord:
        return cls(f.integer("pid"))

    def to_json(self) -> JSON:
        return {"version": VERSION, "pid": self.pid}
