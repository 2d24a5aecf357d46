"""Every test runs against throwaway tmux servers, a temporary HOME and real git.

The autouse fixture points HOME, TMUX_TMPDIR and XDG folders at temporary folders and
removes TMUX, so even code that uses the *default* tmux server reaches a private one. It
also kills every tmux server started under that TMUX_TMPDIR at teardown, by socket path.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE_AGENT = ROOT / "scripts" / "fake-agent"


@dataclass
class Result:
    code: int
    out: str
    err: str


# A hung test fails, with every thread's stack on stderr, instead of stalling the run: set-up,
# call and teardown together get this many seconds (the slowest test takes about 110 s here).
DEADLINE = float(os.environ.get("AGENTMUX_TEST_DEADLINE", "300"))


class Hung(Exception):
    """Raised in the main thread when a test passes its DEADLINE."""


def _hung(signum: int, frame: object) -> None:
    raise Hung(f"this test ran past its {DEADLINE:.0f} s deadline (AGENTMUX_TEST_DEADLINE); "
               "every thread's stack is on stderr")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _hung)
    faulthandler.dump_traceback_later(DEADLINE - 1, exit=False)
    signal.setitimer(signal.ITIMER_REAL, DEADLINE)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    # Unix socket paths are limited to 108 bytes, so the tmux folder lives under a short /tmp name.
    tmux_dir = Path(tempfile.mkdtemp(prefix="amx-"))
    for var in ("TMUX", "TMUX_PANE", "AGENTMUX_SOCKET", "AGENTMUX_SESSION", "AGENTMUX_REPO",
                "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmux_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # The fake agent and the venv's python come first on PATH, as for a user with a venv.
    monkeypatch.setenv(
        "PATH", f"{FAKE_AGENT.parent}{os.pathsep}{Path(sys.executable).parent}"
        f"{os.pathsep}{os.environ['PATH']}"
    )
    yield home
    for sock in tmux_dir.glob("tmux-*/*"):
        subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True, check=False,
                       timeout=30)
    shutil.rmtree(tmux_dir, ignore_errors=True)
    _reap_watchers(tmp_path)


def _reap_watchers(tmp_path: Path) -> None:
    """A watcher this test started that outlived its server is ended, by its recorded pid."""
    for record in tmp_path.glob("**/.agentmux/runs/*/watcher.json"):
        try:
            pid = int(json.loads(record.read_text())["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(record.parent).encode() in cmdline:  # the very watcher of that run, no other
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def fingerprint(p: Path) -> tuple[int, str] | None:
    """A file's mode and the sha256 of its content (of its target, for a symlink), or None
    when it is gone. A FIFO or socket is never opened: a pane's capture FIFO, listed just
    before it is unlinked, would block the reader for ever."""
    try:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            body = os.readlink(p).encode()
        elif stat.S_ISREG(st.st_mode):
            body = p.read_bytes()
        else:
            body = b""
    except FileNotFoundError:
        return None
    return st.st_mode, hashlib.sha256(body).hexdigest()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A real repository at path (any name: spaces, '#', ';' ...) with one commit on main."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in (files or {"README.md": "hello\n"}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository with one commit on main."""
    return make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "print('app')\n"})


# Commands whose run in this process proves what a process would: they read the ledger, git or
# tmux and print through click, hand no terminal over, start nothing that outlives them and
# install no signal handler. Each saves a Python start-up and the imports (~0.2 s a call, and
# the wait loops poll `status`). The rest (up, down, attach, watch, send, restart, add,
# doctor, merge, clean, diff ...) run as a process, as a user runs them.
IN_PROCESS = frozenset({"validate", "presets", "status", "runs", "review", "conflicts", "trust",
                        "init", "logs"})
_PROCESS_ONLY_FLAGS = frozenset({"--watch", "-f", "--follow"})  # they loop until interrupted
_HELP = frozenset({"--help", "-h", "--version"})


def _command(args: tuple[str, ...]) -> str | None:
    """The subcommand in args, skipping the group's own options (--socket NAME, -v)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0)
        if opt in ("--socket", "-L", "--repo") and rest:
            rest.pop(0)
    return rest[0] if rest else None


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60, process: bool | None = None) -> Result:
    """agentmux as a user runs it: a whole process, or in this process through click's
    CliRunner for the commands in IN_PROCESS (`process` forces either way)."""
    if process is None:
        process = not (_HELP & set(args)) and (
            _command(args) not in IN_PROCESS or bool(_PROCESS_ONLY_FLAGS & set(args)))
    if not process:
        return invoke(*args, cwd=cwd, env=env)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run(
        [sys.executable, "-m", "agentmux", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def invoke(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """`agentmux ARGS` in this process: the same `main` (its error messages and exit codes),
    with stdout, stderr, os.environ and the working folder isolated by click's CliRunner."""
    from click.testing import CliRunner

    from agentmux.__main__ import main

    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _), contextlib.chdir(cwd or Path.cwd()):
        # main's logging set-up is a no-op under pytest (its handler is already on the root
        # logger); warnings still reach stderr as they would in a process.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("agentmux: %(levelname)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            code = main(list(args))
        finally:
            logging.getLogger().removeHandler(handler)
            sys.stdout.flush()
            sys.stderr.flush()
        return Result(code, out.getvalue().decode(errors="replace"),
                      err.getvalue().decode(errors="replace"))


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run_cli


def wait_until(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.05) -> object:
    """Poll cond until truthy, against a monotonic deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # poll
