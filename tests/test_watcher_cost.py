"""One watcher tick costs one tmux process for all panes, counted by a logging `tmux` on PATH."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentmux import ledger
from agentmux.tmux import Tmux, Waker
from agentmux.watch import loop as watcher
from agentmux.watch import supervise
from agentmux.watch.state import PaneState, replay

from .conftest import wait_until
from .helpers import count_tmux, latest_run, up, write_layout

SOCK = "amx-cost"


def test_one_tmux_call_per_tick_with_ten_panes(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"a{i}" for i in range(10)]
    layout = write_layout(repo, [{"name": n, "command": "sleep 600"} for n in names],
                          isolation="none")
    up(layout, SOCK)
    run_dir = ledger.RunDir(latest_run(repo))

    def all_running() -> bool:
        state = replay(run_dir.events_of())
        return all(state.get(n, PaneState()).state == "running" for n in names)

    wait_until(all_running, 30, "ten running panes")
    session = run_dir.read_run()["session"]
    state = replay(run_dir.events_of())
    calls = count_tmux(tmp_path, monkeypatch)

    new, obs = watcher.tick(Tmux(SOCK), run_dir, session, names, state)

    assert obs.panes is not None and not watcher.nudge(obs)
    assert {n: s.state for n, s in new.items()} == dict.fromkeys(names, "running")
    assert len(calls()) == 1, calls()
    # libtmux passes the socket as one argument (`-Lname`).
    assert calls()[0].startswith(f"-L{SOCK} list-panes "), calls()


def test_waker_close_cannot_deadlock_inside_a_signal_handler() -> None:
    # watch() closes the Waker from its SIGTERM handler, which may interrupt Waker.wait()
    # while Popen holds its waitpid lock. Simulate exactly that: the lock is held.
    tm = Tmux("amx-waker")
    tm.run("new-session", "-d", "-s", "w", "sleep", "600")
    waker = Waker(tm, "never-signalled")
    assert waker.wait(0.05) is False
    proc = waker.proc
    assert proc is not None
    done = threading.Event()

    def close() -> None:
        waker.close()
        done.set()

    # CPython's private lock that Popen.wait() takes around waitpid(); no public handle exists.
    lock: threading.Lock = getattr(proc, "_waitpid_lock")  # noqa: B009
    with lock:
        threading.Thread(target=close, daemon=True).start()
        assert done.wait(10), "Waker.close() blocked on the waitpid lock"
    assert proc.wait(10) is not None
    assert waker.proc is None


def test_a_busy_tick_still_costs_one_tmux_call(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every pane's output grew since the last tick: its screen is rendered from its log by
    # the supervisor's follower (no capture-pane), its waiting verdict and LAST OUTPUT anew.
    names = [f"b{i}" for i in range(5)]
    layout = write_layout(repo, [{"name": n, "command": "sleep 600"} for n in names],
                          isolation="none")
    up(layout, SOCK)
    run_dir = ledger.RunDir(latest_run(repo))
    session = run_dir.read_run()["session"]
    tm = Tmux(SOCK)
    sup = supervise.Supervisor(tm, run_dir, session)
    state = replay(run_dir.events_of())

    def running() -> bool:
        nonlocal state
        state, _ = watcher.tick(tm, run_dir, session, names, state, sup)
        return all(state.get(n, PaneState()).state == "running" for n in names)

    wait_until(running, 30, "five running panes")
    for i, n in enumerate(names):
        with run_dir.output(n).open("ab") as f:
            f.write(b"\x1b[1mWelcome\x1b[0m\x1b[3Cto\x1b[1Cpane " + str(i).encode() + b"\r\n")
    calls = count_tmux(tmp_path, monkeypatch)
    new, _ = watcher.tick(tm, run_dir, session, names, state, sup)
    assert [c.split()[1] for c in calls()] == ["list-panes"], calls()
    assert {n: s.state for n, s in new.items()} == dict.fromkeys(names, "running")
    assert sup.last_output == {n: f"Welcome   to pane {i}" for i, n in enumerate(names)}
