"""Shared by the fault matrix: a byte-exact picture of everything agentmux could leak."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import run_cli

SOCK = "amx"  # private: the autouse fixture gives every test a fresh TMUX_TMPDIR


def tmux(*args: str, sock: str = SOCK) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                          check=False)


def _git(repo: Path, *args: str) -> str:
    p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                       check=False)
    return p.stdout if p.returncode == 0 else f"(git {args[0]} failed: {p.stderr.strip()})"


@dataclass(frozen=True)
class State:
    refs: str
    worktrees: str
    sessions: str
    ledger: tuple[tuple[str, str], ...]


def snapshot_state(repo: Path, socket: str = SOCK) -> State:
    """Refs, worktree registry, the server's sessions and a hash of every ledger file."""
    ls = tmux("list-sessions", "-F", "#{session_name}", sock=socket)
    sessions = ls.stdout if ls.returncode == 0 else "no server"
    runs = repo / ".agentmux" / "runs"
    # An empty *.lock is the flock file a run's lock takes (poll.Lock); it holds no state,
    # and removing it on release would race the next locker.
    files = sorted(p for p in runs.rglob("*") if p.is_file() and not (
        p.suffix == ".lock" and p.stat().st_size == 0)) if runs.is_dir() else []
    ledger = tuple((str(p.relative_to(runs)), hashlib.sha256(p.read_bytes()).hexdigest())
                   for p in files)
    return State(_git(repo, "for-each-ref"), _git(repo, "worktree", "list", "--porcelain"),
                 sessions, ledger)


def trust(layout: Path) -> None:
    r = run_cli("trust", str(layout), cwd=layout.parent)
    assert r.code == 0, r.err


@pytest.fixture
def sock() -> str:
    return SOCK
