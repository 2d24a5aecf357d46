"""The runner's spec: what `up` wrote for one pane, read and checked by the runner.

Stdlib only, like the runner: it is imported once per pane start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from agentmux.runcheck import find_check

VERSION = 1


class SpecError(Exception):
    def __init__(self, message: str, status: Path | None = None, run: str | None = None,
                 pane: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.run = run
        self.pane = pane


# A NamedTuple, not a dataclass: importing dataclasses costs a runner start ~18 ms.
class Spec(NamedTuple):
    run: str
    pane: str
    command: str
    shell: str | None
    cwd: str
    worktree: str | None
    env: dict[str, str]
    base_env: dict[str, str] | None  # from env_file: the environment `up` was called with
    setup: str | None
    status: Path
    wake: str | None
    check: str | None = None
    files: dict[str, str] | None = None  # placed in the worktree while the agent runs


def _str_map(value: object, where: str, errors: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        errors.append(f"{where}: expected an object of strings")
        return {}
    return dict(value)


def load_spec(path: Path) -> Spec:
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from e
    except ValueError as e:
        raise SpecError(f"spec {path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SpecError(f"spec {path}: expected a JSON object")
    status_raw = data.get("status")
    status = None
    if isinstance(status_raw, str) and status_raw.startswith("/"):
        status = Path(status_raw)
    run = data.get("run") if isinstance(data.get("run"), str) else None
    pane = data.get("pane") if isinstance(data.get("pane"), str) else None

    errors: list[str] = []
    if data.get("version") != VERSION:
        errors.append(f"version: expected {VERSION}, got {data.get('version')!r}")
    if status is None:
        errors.append("status: expected an absolute path")
    for key in ("run", "pane", "command", "cwd"):
        if not isinstance(data.get(key), str) or not data[key]:
            errors.append(f"{key}: expected a non-empty string")
    for key in ("shell", "worktree", "env_file", "setup", "wake", "check"):
        if data.get(key) is not None and not isinstance(data[key], str):
            errors.append(f"{key}: expected a string or null")
    for key in ("cwd", "worktree", "env_file"):
        # Relative paths would depend on wherever tmux happened to start the pane.
        if isinstance(data.get(key), str) and not data[key].startswith("/"):
            errors.append(f"{key}: expected an absolute path, got {data[key]!r}")
    env = _str_map(data.get("env", {}), "env", errors)
    files = _str_map(data.get("files", {}), "files", errors)
    if any(not k.startswith("/") for k in files):
        errors.append("files: expected absolute paths")
    base_env = None
    if not errors and data.get("env_file"):
        base_env = _load_env_file(Path(data["env_file"]), errors)
    if errors:
        raise SpecError(f"spec {path}: " + "; ".join(errors), status, run, pane)
    assert status is not None and run is not None and pane is not None
    return Spec(run=run, pane=pane, command=data["command"], shell=data.get("shell"),
                cwd=data["cwd"], worktree=data.get("worktree"), env=env, base_env=base_env,
                setup=data.get("setup"), status=status, wake=data.get("wake"),
                check=find_check(data, status, pane), files=files)


def _load_env_file(path: Path, errors: list[str]) -> dict[str, str]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        errors.append(f"env_file: cannot read {path}: {e.strerror}")
        return {}
    except ValueError as e:
        errors.append(f"env_file: {path}: not valid JSON ({e})")
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        errors.append(f"env_file: {path}: expected an object with version {VERSION}")
        return {}
    return _str_map(data.get("env"), f"env_file: {path}: env", errors)
