"""A layout runs commands, so `up` runs only layouts the user trusted, like direnv's `allow`.

Trust is for this exact content at this exact path: an edit, or the same file copied
elsewhere, must be trusted again. The record lives in the user's data folder, outside any
repository an agent could write to.

Callers hash the very bytes they parse (`layout.read_bytes` once, then `load(path, raw)` and
`is_trusted(path, raw)`): reading the file twice let a process that swaps it by rename make
`up` run a layout nobody trusted. Digests trusted earlier at a path are kept too (`earlier`),
so that `restart` and `add` can check a run's layout snapshot after its file was edited and
trusted again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import ledger
from agentmux.records import JSON, VERSION, Record
from agentmux.records.base import Fields

EARLIER_KEPT = 50  # digests kept per path besides the current one


@dataclass(frozen=True)
class TrustStore(Record):
    """trusted.json: the SHA-256 of each trusted layout, by its absolute path, and the digests
    that path had trusted before (oldest first)."""

    KIND = "trusted.json"

    layouts: dict[str, str] = field(default_factory=dict, hash=False)
    earlier: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @classmethod
    def _read(cls, f: Fields) -> TrustStore:
        raw = f.get("earlier")
        earlier: dict[str, tuple[str, ...]] = {}
        if isinstance(raw, dict):
            for k, v in raw.items():
                if isinstance(v, list):
                    earlier[str(k)] = tuple(x for x in v if isinstance(x, str))
        elif raw is not None:
            raise f.fail("earlier", "an object of lists of digests")
        return cls(f.text_map("layouts"), earlier)

    def to_json(self) -> JSON:
        return {"version": VERSION, "layouts": dict(self.layouts),
                "earlier": {k: list(v) for k, v in self.earlier.items()}}


def store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "agentmux" / "trusted.json"


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _load() -> TrustStore:
    return ledger.read_record(TrustStore, store()) or TrustStore()


def _key(path: Path) -> str:
    return str(path.resolve())


def is_trusted(path: Path, raw: bytes) -> bool:
    """Is raw, read from path, the content trusted there now?"""
    return _load().layouts.get(_key(path)) == digest(raw)


def was_trusted(path: Path, raw: bytes) -> bool:
    """Was raw ever trusted at path (now, or before an edit trusted again)? For a run's
    snapshot, which was trusted when its `up` ran."""
    found = _load()
    key, want = _key(path), digest(raw)
    return found.layouts.get(key) == want or want in found.earlier.get(key, ())


def trust(path: Path, raw: bytes) -> None:
    """Trust raw, the bytes read from path (and parsed by the caller)."""
    found = _load()
    key, new = _key(path), digest(raw)
    earlier = dict(found.earlier)
    old = found.layouts.get(key)
    if old is not None and old != new:
        kept = [d for d in earlier.get(key, ()) if d != old] + [old]
        earlier[key] = tuple(kept[-EARLIER_KEPT:])
    layouts = {**found.layouts, key: new}
    ledger.write_record(store(), TrustStore(layouts, earlier), mode=0o600)
