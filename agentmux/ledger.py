"""The run ledger: `<repo>/.agentmux/runs/<run-id>/`, atomic JSON files and an append-only log.

Everything here is written so that another process may read it at any moment: snapshots
are replaced atomically, events are appended one `os.write` per record, and a reader
skips a torn last line.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentmux.errors import AgentmuxError, BadInput, LedgerWriteFailed

VERSION = 1
LEDGER_DIR = ".agentmux"


# Every runner imports this module, once per pane start: datetime, tempfile, secrets and
# dataclasses stay out of its import path (together about 30 ms of each start).


def now_iso(ts: float | None = None) -> str:
    """ISO 8601 in UTC, to the millisecond."""
    t = time.time() if ts is None else ts
    ms = int(t * 1000)  # truncated, as isoformat(timespec="milliseconds") does
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new, exclusive temp file in path's folder (what tempfile.mkstemp does)."""
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}")
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue


def write_json(path: Path, data: dict[str, Any], *, mode: int = 0o644) -> None:
    """Atomic: temp file in the same folder, fsync, replace, fsync the folder.

    On a full disk the temp file goes and the previous version stays, whole.
    """
    body = (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temp_beside(path)
    except OSError as e:
        raise LedgerWriteFailed(path, e) from e
    try:
        os.fchmod(fd, mode)
        _write_all(fd, body)
        os.fsync(fd)
    except BaseException as e:
        os.close(fd)
        os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, LedgerWriteFailed):
            raise LedgerWriteFailed(path, e) from e
        raise
    os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_all(fd: int, body: bytes) -> None:
    # os.write may write part of the body and return without an error when the disk fills up.
    view = memoryview(body)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


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


def append_event(path: Path, event: dict[str, Any]) -> None:
    """One os.write per record on an O_APPEND file, so concurrent writers never interleave.

    A writer killed mid-line leaves a torn last line; the next record starts on a line of its
    own, or it would be glued to the torn one and lost with it.
    """
    record = {"version": VERSION, "ts": now_iso(), **event}
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise LedgerWriteFailed(path, e, kept=False) from e
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        n = os.write(fd, line)
        if n != len(line):
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
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
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
    """Paths of one run's folder. It holds no state of its own: the files are the state."""

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
    def watcher_lock(self) -> Path:
        return self.path / "watcher.lock"

    def pane_dir(self, pane: str) -> Path:
        return self._file(pane, "")

    def spec(self, pane: str) -> Path:
        return self._file(pane, "spec.json")

    def status(self, pane: str) -> Path:
        return self._file(pane, "status.json")

    def output(self, pane: str) -> Path:
        return self._file(pane, "output.log")

    def transcript(self, pane: str) -> Path:
        return self._file(pane, "transcript.txt")

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
