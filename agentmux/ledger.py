"""The run ledger: `<repo>/.agentmux/runs/<run-id>/`, atomic JSON files and an append-only log.

Everything here is written so that another process may read it at any moment: snapshots
are replaced atomically, events are appended one `os.write` per record, and a reader
skips a torn last line. How durable each write is, and why, is in `agentmux.atomic`.

Two ways in, the same files:
- typed: `RunDir.run()`, `.spec_of(pane)`, `.status_of(pane)`, `.events_of()`,
  `.result_of(pane)`, `.env()`, `.watcher()` return the records of `agentmux.records`, and
  `.write_run(...)`, `.write_spec(...)`, `.append(event)`... write them. Reading a file that
  does not exist gives None (`run()` raises: a run folder without run.json is no run); a
  file that is not its record raises DamagedRecord, one from a newer agentmux NewerRecord.
- untyped (until every caller is converted): `read_json`, `write_json`, `read_events`,
  `append_event` and `RunDir.read_run()`, with plain dicts.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from agentmux import atomic
from agentmux.atomic import DURABLE as DURABLE
from agentmux.atomic import LIVE as LIVE
from agentmux.atomic import WHOLE as WHOLE
from agentmux.atomic import now_iso as now_iso
from agentmux.errors import AgentmuxError, BadInput, LedgerWriteFailed
from agentmux.records import AddedPane as AddedPane
from agentmux.records import DamagedRecord as DamagedRecord
from agentmux.records import EnvRecord as EnvRecord
from agentmux.records import EventRecord as EventRecord
from agentmux.records import FileChange as FileChange
from agentmux.records import NewerRecord as NewerRecord
from agentmux.records import PaneRecord as PaneRecord
from agentmux.records import Record as Record
from agentmux.records import ResultRecord as ResultRecord
from agentmux.records import RunRecord as RunRecord
from agentmux.records import SpecRecord as SpecRecord
from agentmux.records import StatusRecord as StatusRecord
from agentmux.records import WatcherRecord as WatcherRecord

VERSION = 1
LEDGER_DIR = ".agentmux"
R = TypeVar("R", bound=Record)


def parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def write_json(path: Path, data: Mapping[str, object], *, mode: int = 0o644,
               sync: int = DURABLE) -> None:
    """Atomic: temp file in the same folder, then rename; `sync` as in agentmux.atomic.

    On a full disk the temp file goes and the previous version stays, whole.
    """
    body = (json.dumps(data, indent=2) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.replace(str(path), body, mode=mode, sync=sync)
    except OSError as e:
        if isinstance(e, LedgerWriteFailed):
            raise
        raise LedgerWriteFailed(path, e) from e


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at path, None when the file does not exist; garbage is an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise AgentmuxError(f"{path}: not valid JSON ({e}); the ledger file is damaged") from e
    if not isinstance(data, dict):
        raise AgentmuxError(f"{path}: expected a JSON object; the ledger file is damaged")
    return data


def read_record(cls: type[R], path: Path) -> R | None:
    """The record at path, None when the file does not exist.

    DamagedRecord when it is not JSON or not that record; NewerRecord when a newer agentmux
    wrote it. Both name the file.
    """
    try:
        data = read_json(path)
    except AgentmuxError as e:
        raise DamagedRecord(str(e)) from e
    if data is None:
        return None
    try:
        return cls.from_json(data)
    except DamagedRecord as e:
        raise DamagedRecord(f"{path}: {e}; the ledger file is damaged") from None
    except NewerRecord as e:
        raise NewerRecord(f"{path}: {e}") from None


def sync_folder(folder: Path) -> None:
    """fsync a folder, so the entries made in it (a new run folder) survive a power loss."""
    try:
        atomic.fsync_dir(str(folder))
    except OSError as e:
        raise LedgerWriteFailed(folder, e, kept=False) from e


def write_record(path: Path, record: Record, *, mode: int = 0o644, sync: int = DURABLE) -> None:
    write_json(path, record.to_json(), mode=mode, sync=sync)


def append_event(path: Path, event: Mapping[str, object]) -> None:
    """One os.write per record on an O_APPEND file, so concurrent writers never interleave.

    A writer killed mid-line leaves a torn last line; the next record starts on a line of its
    own, or it would be glued to the torn one and lost with it. Not fsynced: the watcher
    re-derives a lost state event from status.json and tmux after a crash.
    """
    record = {"version": VERSION, "ts": now_iso(), **event}
    _append_line(path, json.dumps(record, separators=(",", ":")))


def _append_line(path: Path, text: str) -> None:
    line = (text + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise LedgerWriteFailed(path, e, kept=False) from e
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        if os.write(fd, line) != len(line):
            # Half a record is a torn line that readers skip; the rest must not follow it.
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as e:
        raise LedgerWriteFailed(path, e, kept=False) from e
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every whole record; a torn or garbled line (a writer killed mid-write) is skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    events = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events


def new_run_id(session: str) -> str:
    """Ids sort by when their run began (the latest run is the greatest name): to the
    millisecond, since two `up`s in one second sorted by their random tail."""
    ms = time.time_ns() // 1_000_000
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    return f"{stamp}-{session}-{os.urandom(2).hex()}"


def ledger_root(repo: Path) -> Path:
    """`<repo>/.agentmux`, created with a .gitignore of `*` so git ignores all of it."""
    root = repo / LEDGER_DIR
    root.mkdir(exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return root


class RunDir:
    """Paths of one run's folder, and its records. It holds no state: the files are the state."""

    __slots__ = ("_files", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        # Path joins cost the watcher ~4 ms a tick at 50 panes (6 per pane): made once here.
        self._files: dict[tuple[str, str], Path] = {}

    def _file(self, pane: str, name: str) -> Path:
        key = (pane, name)
        found = self._files.get(key)
        if found is None:
            found = self._files[key] = (self.path / "panes" / pane / name if name
                                        else self.path / "panes" / pane)
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    # --- paths ---------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def env_json(self) -> Path:
        return self.path / "env.json"

    @property
    def watcher_json(self) -> Path:
        return self.path / "watcher.json"

    @property
    def watcher_lock(self) -> Path:
        return self.path / "watcher.lock"

    def pane_dir(self, pane: str) -> Path:
        return self._file(pane, "")

    def spec(self, pane: str) -> Path:
        return self._file(pane, "spec.json")

    def status(self, pane: str) -> Path:
        return self._file(pane, "status.json")

    def result(self, pane: str) -> Path:
        return self._file(pane, "result.json")

    def output(self, pane: str) -> Path:
        return self._file(pane, "output.log")

    def transcript(self, pane: str) -> Path:
        return self._file(pane, "transcript.txt")

    def task_file(self, pane: str) -> Path:
        return self._file(pane, "TASK.md")

    # --- typed records -------------------------------------------------------------------

    def run(self) -> RunRecord:
        """run.json. BadInput when it is missing: this folder is then no complete run."""
        found = read_record(RunRecord, self.run_json)
        if found is None:
            raise BadInput(f"{self.run_json}: missing; this is not a complete agentmux run")
        return found

    def write_run(self, run: RunRecord, *, sync: int = DURABLE) -> None:
        """Replace run.json (DURABLE by default: review reads it after everything is gone)."""
        write_record(self.run_json, run, sync=sync)

    def spec_of(self, pane: str) -> SpecRecord | None:
        return read_record(SpecRecord, self.spec(pane))

    def write_spec(self, spec: SpecRecord) -> None:
        """LIVE: its one reader is the runner that tmux starts after this returns; after a
        crash that runner is gone, and nothing reads the spec again."""
        write_record(self.spec(spec.pane), spec, sync=LIVE)

    def status_of(self, pane: str) -> StatusRecord | None:
        """The runner's status.json: None until the runner has written one."""
        return read_record(StatusRecord, self.status(pane))

    def write_status(self, status: StatusRecord, *, sync: int = DURABLE) -> None:
        """What the runner does itself, without this module: for tests and tools."""
        if status.pane is None:
            raise ValueError("a status of no pane has no place in a run folder")
        write_record(self.status(status.pane), status, sync=sync)

    def events_of(self) -> list[EventRecord]:
        """Every whole event, oldest first; torn lines and lines that are no event skipped."""
        out = []
        for data in read_events(self.events):
            try:
                out.append(EventRecord.from_json(data))
            except DamagedRecord:
                continue
        return out

    def append(self, event: EventRecord) -> None:
        """Append one event to events.jsonl (one write: concurrent writers never mix)."""
        _append_line(self.events, json.dumps(event.to_json(), separators=(",", ":")))

    def result_of(self, pane: str) -> ResultRecord | None:
        return read_record(ResultRecord, self.result(pane))

    def write_result(self, result: ResultRecord) -> None:
        write_record(self.result(result.pane), result)

    def env(self) -> EnvRecord | None:
        return read_record(EnvRecord, self.env_json)

    def write_env(self, env: EnvRecord) -> None:
        """Mode 0600, LIVE: read by the runners `up` starts, like the specs."""
        write_record(self.env_json, env, mode=0o600, sync=LIVE)

    def watcher(self) -> WatcherRecord | None:
        return read_record(WatcherRecord, self.watcher_json)

    def write_watcher(self, watcher: WatcherRecord) -> None:
        write_record(self.watcher_json, watcher)

    # --- untyped, until every caller uses run() ------------------------------------------

    def read_run(self) -> dict[str, Any]:
        data = read_json(self.run_json)
        if data is None:
            raise BadInput(f"{self.run_json}: missing; this is not a complete agentmux run")
        return data


def runs_dir(repo: Path) -> Path:
    return repo / LEDGER_DIR / "runs"


def iter_runs(repo: Path) -> Iterator[RunDir]:
    """Runs of this repository, newest first (run ids sort by creation time)."""
    root = runs_dir(repo)
    if not root.is_dir():
        return
    for p in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        if (p / "run.json").is_file():
            yield RunDir(p)
