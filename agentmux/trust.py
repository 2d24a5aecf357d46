"""A layout runs commands, so `up` runs only layouts the user trusted, like direnv's `allow`.

Trust is for this exact content at this exact path: an edit, or the same file copied
elsewhere, must be trusted again. The record lives in the user's data folder, outside any
repository an agent could write to.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import ledger
from agentmux.records import JSON, VERSION, Record
from agentmux.records.base import Fields


@dataclass(frozen=True)
class TrustStore(Record):
    """trusted.json: the SHA-256 of each trusted layout, by its absolute path."""

    KIND = "trusted.json"

    layouts: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def _read(cls, f: Fields) -> TrustStore:
        return cls(f.text_map("layouts"))

    def to_json(self) -> JSON:
        return {"version": VERSION, "layouts": dict(self.layouts)}


def store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "agentmux" / "trusted.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load() -> TrustStore:
    return ledger.read_record(TrustStore, store()) or TrustStore()


def is_trusted(path: Path) -> bool:
    return _load().layouts.get(str(path.resolve())) == digest(path)


def trust(path: Path) -> None:
    found = _load()
    layouts = {**found.layouts, str(path.resolve()): digest(path)}
    ledger.write_record(store(), TrustStore(layouts), mode=0o600)
