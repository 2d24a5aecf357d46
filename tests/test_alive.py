"""watch.alive.is_running: the status file and /proc first, the tagged tmux pane when there is
no status file; real processes, a real tmux server from libtmux's `server` fixture."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libtmux
import pytest

from agentmux import ledger
from agentmux.watch.alive import is_running, pid_alive

from .conftest import wait_until


@pytest.fixture
def live() -> Iterator[int]:
    p = subprocess.Popen(["sleep", "60"])
    yield p.pid
    p.kill()
    p.wait()


@pytest.fixture
def gone() -> int:
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: its pid names no process
    return p.pid


def make_run(tmp_path: Path, socket: str | None, panes: dict[str, str | None]) -> ledger.RunDir:
    rd = ledger.RunDir(tmp_path / "run-1")
    rd.path.mkdir()
    rd.write_run(ledger.RunRecord(
        id=rd.id, session="s", repo=str(tmp_path), base="0" * 40, wake="w", socket=socket,
        panes=tuple(ledger.PaneRecord(n, str(tmp_path), "true", pane_id=pid)
                    for n, pid in panes.items())))
    return rd


def set_status(rd: ledger.RunDir, pane: str, **fields: Any) -> None:
    rd.pane_dir(pane).mkdir(parents=True, exist_ok=True)
    rd.write_status(ledger.StatusRecord(started_at=ledger.now_iso(), pane=pane, **fields))


def test_from_the_status_file(tmp_path: Path, live: int, gone: int) -> None:
    rd = make_run(tmp_path, None, {n: None for n in "abcde"})
    set_status(rd, "a", pid=live, agent_pid=live)
    set_status(rd, "b", pid=live, ended_at="2026-01-01T00:00:00Z")   # an end is recorded
    set_status(rd, "c", pid=gone, agent_pid=live)   # the agent outlived its runner
    set_status(rd, "d", pid=gone, agent_pid=gone)   # both died with no end: lost
    # e: no status file and no pane id: it never started
    got = {n: is_running(rd, n) for n in "abcde"}
    assert got == {"a": True, "b": False, "c": True, "d": False, "e": False}
    assert pid_alive(live) and not pid_alive(gone)


def test_without_a_status_file_the_tagged_pane_decides(
    server: libtmux.Server, tmp_path: Path
) -> None:
    session = server.new_session("s", window_command="sleep 60")
    ours = session.active_pane
    assert ours is not None and ours.pane_id is not None
    ours.cmd("set", "-p", "@agentmux_run", "run-1")
    other = session.active_window.split(shell="sleep 60")   # someone else's pane
    ended = session.active_window.split(shell="sleep 60")
    ended.cmd("set", "-p", "remain-on-exit", "on")
    ended.cmd("set", "-p", "@agentmux_run", "run-1")
    os.kill(int(str(ended.pane_pid)), signal.SIGTERM)
    wait_until(lambda: ended.cmd("display", "-p", "#{pane_dead}").stdout == ["1"], 10,
               "the pane to die")
    assert server.socket_name is not None
    rd = make_run(tmp_path, server.socket_name,
                  {"ours": ours.pane_id, "other": other.pane_id, "ended": ended.pane_id,
                   "missing": "%99"})
    assert is_running(rd, "ours")
    assert not is_running(rd, "other")     # not tagged with this run
    assert not is_running(rd, "missing")   # no such pane
    assert not is_running(rd, "ended")     # tagged, but dead
