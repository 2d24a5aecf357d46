"""Files `copy` placed in a worktree (`.env`...): copies of the user's, never the agent's work.

Each new worktree's copies are recorded in the ledger, one file per worktree:
`<repo>/.agentmux/provisioned/<name>-<hash of its path>.json` (version 1, mode 0600, atomic):
the worktree's path, and each copied path with the sha256 of what was copied, so a change the
agent made is told from the copy without keeping any content. The record is per worktree, not
per run, because a worktree outlives its run (`up` again reuses it) and `prepare` runs before
a run's pane folders exist. It stays after the worktree is removed, so `merge` can still refuse
a branch that commits one of these files; creating a worktree at the same path replaces it.

Readers: `snapshot` leaves these paths out of every snapshot, `clean` and `merge` do not count
them as uncommitted work, and review shows only whether one was changed, never its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agentmux import ledger

FOLDER = "provisioned"
VERSION = 1


@dataclass(frozen=True)
class Copied:
    path: str       # relative to the worktree
    sha256: str     # of the file as copied (of the link text for a symlink)


@dataclass(frozen=True)
class Provisioned:
    files: tuple[Copied, ...] = ()

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.files]

    def changes(self, tree: Path) -> dict[str, str]:
        """{path: "changed" | "deleted"} for each copy that is no longer as it was placed."""
        out = {}
        for c in self.files:
            now = digest(tree / c.path)
            if now is None:
                out[c.path] = "deleted"
            elif now != c.sha256:
                out[c.path] = "changed"
        return out


def digest(path: Path) -> str | None:
    try:
        if path.is_symlink():
            return hashlib.sha256(os.readlink(path).encode()).hexdigest()
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
        return h.hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def record_path(ledger_root: Path, worktree: Path) -> Path:
    real = os.path.realpath(worktree)
    key = hashlib.sha256(real.encode()).hexdigest()[:16]
    return ledger_root / FOLDER / f"{Path(real).name}-{key}.json"


def write(repo: Path, worktree: Path, copied: Iterable[str]) -> None:
    """Record what was just copied into worktree; no copies, no record (an old one goes)."""
    files = [{"path": rel, "sha256": digest(worktree / rel)} for rel in copied]
    path = record_path(repo / ledger.LEDGER_DIR, worktree)
    if not files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    ledger.ledger_root(repo)   # its .gitignore keeps the record out of git
    ledger.write_json(path, {"version": VERSION, "worktree": os.path.realpath(worktree),
                             "written_at": ledger.now_iso(), "files": files}, mode=0o600)


def read(ledger_root: Path, worktree: Path | str | None) -> Provisioned:
    """The copies recorded for worktree; none when there is no record. A damaged record is an
    error (AgentmuxError, naming the file): guessing could put a secret into a snapshot."""
    if not worktree:
        return Provisioned()
    data = ledger.read_json(record_path(ledger_root, Path(worktree)))
    if not data or data.get("worktree") != os.path.realpath(worktree):
        return Provisioned()
    return Provisioned(tuple(Copied(str(f["path"]), str(f["sha256"]))
                             for f in data.get("files", [])
                             if isinstance(f, dict) and f.get("path")))


def forget(repo: Path, worktree: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        record_path(repo / ledger.LEDGER_DIR, worktree).unlink()
