"""Building layouts and reading results, shared by the integration tests."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from .conftest import run_cli, wait_until

TERMINAL = {"done", "failed", "stopped", "killed", "lost"}
# "alive": an agent at a prompt may be `waiting` before a poll ever sees it `working`.
ALIAS = {"alive": {"working", "waiting", "idle"}}


def fake(*args: str) -> str:
    """A fake-agent command line; every argument is quoted for the shell."""
    return "fake-agent " + " ".join(shlex.quote(a) for a in args)


def write_layout(repo: Path, panes: list[dict[str, Any]], name: str = "agents.toml",
                 **top: Any) -> Path:
    path = repo / name
    path.write_text(tomli_w.dumps({**top, "pane": panes}))
    return path


def up(layout: Path, socket: str, *extra: str) -> None:
    r = run_cli("--socket", socket, "up", "--trust", "-d", *extra, str(layout),
                cwd=layout.parent)
    assert r.code == 0, r.err


def status(repo: Path, socket: str) -> dict[str, Any]:
    r = run_cli("--socket", socket, "status", "--json", cwd=repo)
    assert r.code == 0, r.err
    data: dict[str, Any] = json.loads(r.out)
    return data


def states(repo: Path, socket: str) -> dict[str, str]:
    return {p["name"]: p["state"] for p in status(repo, socket)["panes"]}


def wait_states(repo: Path, socket: str, want: dict[str, str] | None = None,
                timeout: float = 30) -> dict[str, dict[str, Any]]:
    """Wait until every pane is terminal (or matches want); return the panes by name."""
    def ready() -> dict[str, dict[str, Any]] | None:
        panes = {p["name"]: p for p in status(repo, socket)["panes"]}
        if want is not None:
            ok = all(panes.get(n, {}).get("state") in ALIAS.get(s, {s}) for n, s in want.items())
        else:
            ok = all(p["state"] in TERMINAL for p in panes.values())
        return panes if ok else None
    result = wait_until(ready, timeout, f"pane states {want or 'terminal'}")
    assert isinstance(result, dict)
    return result


def latest_run(repo: Path) -> Path:
    runs = sorted((repo / ".agentmux" / "runs").iterdir())
    return runs[-1]


def events(repo: Path) -> list[dict[str, Any]]:
    path = latest_run(repo) / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(x) for x in lines if x.strip()]


def count_tmux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Put a `tmux` first on PATH that logs its caller's pid and arguments, then execs the real
    one; returns a reader of the argument lines of the tmux processes this process started.

    Real processes are counted, whichever way they are started (libtmux finds tmux on PATH at
    each call)."""
    real = shutil.which("tmux")
    assert real is not None
    folder, log = tmp_path / "tmux-wrapper", tmp_path / "tmux-calls.log"
    folder.mkdir()
    w = folder / "tmux"
    w.write_text("#!/bin/sh\n"
                 f"printf '%s\\t%s\\n' \"$PPID\" \"$*\" >> {shlex.quote(str(log))}\n"
                 f"exec {shlex.quote(real)} \"$@\"\n")
    w.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")

    def calls() -> list[str]:
        lines = log.read_text().splitlines() if log.exists() else []
        mine = [line.split("\t", 1) for line in lines]
        return [args for pid, args in mine if pid == str(os.getpid())]

    return calls


# OpenCode (Bun) backs off between API attempts: where DNS answers slowly or not at all, it took
# about 150 s here to give up and idle, against about 90 s when each connection is refused at
# once. A proxy nobody listens on makes every machine the second kind, whatever its resolver.
# Its TUI talks to its own server on loopback, and that must not go through the proxy (with
# no NO_PROXY it drew a blank screen for good).
_NO_PROXY = "localhost,127.0.0.1,::1,registry.npmjs.org"
REFUSED_NET = {**{k: "http://127.0.0.1:9" for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy",
                                                   "http_proxy")},
               "NO_PROXY": _NO_PROXY, "no_proxy": _NO_PROXY}
