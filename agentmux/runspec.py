"""The runner's files: spec.json in (what `up` wrote for one pane), status.json out.

Stdlib only and cheap to import, like the runner: from tmux's exec of the runner to the
agent's fork, the budget is 20 ms, and `python -S -I` alone takes 8 to 9 of them here. The
`json` package costs ~10 ms of CPU to import (it compiles regular expressions and builds
`re`'s enums), so the runner parses with `json`'s own C scanner from `_json` and writes its
flat status object by hand; the `json` package is the fallback where `_json` is missing or
differs. The shapes are `agentmux.records.SpecRecord` and `StatusRecord` (tests/test_records.py
checks both sides).
"""

from __future__ import annotations

VERSION = 1
_WS = " \t\n\r"


class SpecError(Exception):
    def __init__(self, message: str, status: str | None = None, run: str | None = None,
                 pane: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.run = run
        self.pane = pane


class _Context:
    """What `_json.make_scanner` reads from `json.JSONDecoder`: its defaults, strict."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None  # read by Python 3.15's scanner
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json.loads takes them


def _scanner() -> object:
    try:
        from _json import make_scanner

        return make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed, as json's own
    except Exception:  # not CPython, or a scanner that wants more: json.loads below
        return None


_SCAN = _scanner()


def loads(raw: bytes) -> object:
    """json.loads for the runner's files; ValueError for anything that is not one JSON value."""
    text = raw.decode("utf-8")
    if not callable(_SCAN):
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _SCAN(text, start)
    except StopIteration as e:  # how the scanner says "no value starts here"
        raise ValueError(f"expecting a value at offset {e.value}") from None
    except SystemError:
        # 3.11's scanner takes its error class from json.decoder only if that is imported
        # already, else it fails without one: the package's own message, on this rare path.
        import json

        json.loads(text)
        raise ValueError("not valid JSON") from None
    if text[end:].strip(_WS):
        raise ValueError(f"extra data at offset {end}")
    return value


def _quote_py(text: str) -> str:
    import json

    return json.dumps(text)


try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # not CPython
    _quote = _quote_py


def dumps_flat(obj: dict[str, object]) -> bytes:
    """JSON for an object of strings, integers, booleans and nulls, the way json.dumps would
    write it with indent=2."""
    lines = []
    for key, value in obj.items():
        if value is None:
            text = "null"
        elif value is True or value is False:
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(int(value))
        elif isinstance(value, str):
            text = _quote(value)
        else:
            raise TypeError(f"{key}: {type(value).__name__} is not a flat JSON value")
        lines.append(f"  {_quote(key)}: {text}")
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


class Spec:
    """A checked spec.json, plus the environment of its env_file."""

    __slots__ = ("base_env", "check", "command", "cwd", "env", "files", "gate", "pane",
                 "resume", "run", "sandbox", "setup", "shell", "status", "wake", "worktree")

    def __init__(self, data: dict[str, object], env: dict[str, str],
                 base_env: dict[str, str] | None, files: dict[str, str] | None = None) -> None:
        def opt(key: str) -> str | None:
            v = data.get(key)
            return v if isinstance(v, str) else None

        self.run = str(data["run"])
        self.pane = str(data["pane"])
        self.command = str(data["command"])
        self.cwd = str(data["cwd"])
        self.status = str(data["status"])
        self.shell = opt("shell")
        self.worktree = opt("worktree")
        self.setup = opt("setup")
        self.wake = opt("wake")
        self.check = opt("check") or None
        self.gate = opt("gate")  # a queued pane: its agent starts once this file exists
        self.resume = opt("resume")  # `restart --continue` runs this instead of command
        box = data.get("sandbox")
        # Checked by _sandbox: the shape of records.SandboxSpec.
        self.sandbox: dict[str, object] | None = box if isinstance(box, dict) else None
        self.env = env
        self.base_env = base_env  # from the env file: the environment of up, add or restart
        # Placed in the worktree while the agent runs (agentmux/agentfiles.py).
        self.files = files or {}


def _str_map(value: object, where: str, errors: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        errors.append(f"{where}: expected an object of strings")
        return {}
    return dict(value)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _sandbox(value: object, worktree: object, errors: list[str]) -> None:
    """A sandbox the runner cannot build is an error, never a reason to run without one."""
    if value is None:
        return
    if not isinstance(value, dict):
        errors.append("sandbox: expected an object or null")
        return
    if value.get("kind") != "bwrap":
        errors.append(f"sandbox.kind: expected 'bwrap', got {value.get('kind')!r}; "
                      "the agent was not started")
    if not isinstance(worktree, str):
        errors.append("sandbox: needs a worktree of the pane's own")
    for key in ("branch", "git_common_dir", "worktree_git_dir"):
        v = value.get(key)
        if not isinstance(v, str) or not v or (key != "branch" and not v.startswith("/")):
            errors.append(f"sandbox.{key}: expected a non-empty "
                          f"{'string' if key == 'branch' else 'absolute path'}")
    if not isinstance(value.get("network", True), bool):
        errors.append("sandbox.network: expected true or false")
    if value.get("agent") is not None and not isinstance(value.get("agent"), str):
        errors.append("sandbox.agent: expected a string or null")
    rw = value.get("writable", [])
    if not isinstance(rw, list) or not all(isinstance(p, str) and p.startswith("/")
                                           for p in rw):
        errors.append("sandbox.writable: expected a list of absolute paths")


def load_spec(path: str, env_file: str | None = None) -> Spec:
    """The spec, with the environment of env_file (given by whoever started the runner), else
    of the spec's own env_file (runs made before env files moved out of the run folder)."""
    try:
        data = loads(_read(path))
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from e
    except ValueError as e:
        raise SpecError(f"spec {path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SpecError(f"spec {path}: expected a JSON object")
    status_raw = data.get("status")
    status = status_raw if isinstance(status_raw, str) and status_raw.startswith("/") else None
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
    for key in ("shell", "worktree", "env_file", "setup", "wake", "check", "gate", "resume"):
        if data.get(key) is not None and not isinstance(data[key], str):
            errors.append(f"{key}: expected a string or null")
    for key in ("cwd", "worktree", "env_file", "gate"):
        # Relative paths would depend on wherever tmux happened to start the pane.
        if isinstance(data.get(key), str) and not data[key].startswith("/"):
            errors.append(f"{key}: expected an absolute path, got {data[key]!r}")
    env = _str_map(data.get("env", {}), "env", errors)
    files = _str_map(data.get("files", {}), "files", errors)
    if any(not k.startswith("/") for k in files):
        errors.append("files: expected absolute paths")
    _sandbox(data.get("sandbox"), data.get("worktree"), errors)
    base_env = None
    env_file = env_file or (str(data["env_file"]) if data.get("env_file") else None)
    if not errors and env_file:
        base_env = _load_env_file(env_file, errors)
    if errors:
        raise SpecError(f"spec {path}: " + "; ".join(errors), status, run, pane)
    return Spec(data, env, base_env, files)


def _load_env_file(path: str, errors: list[str]) -> dict[str, str]:
    try:
        data = loads(_read(path))
    except FileNotFoundError:
        errors.append(f"env_file: {path} is gone (a pane's environment is deleted once its "
                      "runner has read it); `agentmux restart PANE` starts the pane again with "
                      "your shell's environment")
        return {}
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
