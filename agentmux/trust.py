"""A layout runs commands, so `up` runs only layouts the user trusted, like direnv's `allow`.

Trust is for this exact content at this exact path: an edit, or the same file copied
elsewhere, must be trusted again. The record lives in the user's data folder, outside any
repository an agent could write to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from agentmux import ledger


def store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "agentmux" / "trusted.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_trusted(path: Path) -> bool:
    data = ledger.read_json(store()) or {}
    return bool(data.get("layouts", {}).get(str(path.resolve())) == digest(path))


def trust(path: Path) -> None:
    target = store()
    data = ledger.read_json(target) or {"version": 1, "layouts": {}}
    data.setdefault("layouts", {})[str(path.resolve())] = digest(path)
    ledger.write_json(target, data, mode=0o600)
