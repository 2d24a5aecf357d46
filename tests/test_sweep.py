"""agentmux.sweep on real processes: the exact marker, the run's folder, never its caller."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux import sweep

from .conftest import ROOT, wait_until

RUN = f"20260101T000000Z-sweep-{os.getpid():x}"  # unique: other checkouts run this too


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def spawn(procs: list[subprocess.Popen[bytes]], argv: list[str], **env: str
          ) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(argv, env={**os.environ, **env}, start_new_session=True)
    procs.append(p)
    return p


def test_members_are_the_exact_marker_or_the_run_folder(
        tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    folder = tmp_path / RUN
    marked = spawn(procs, ["sleep", "60"], AGENTMUX_RUN=RUN, AGENTMUX_PANE="a")
    nap = [sys.executable, "-c", "import time; time.sleep(60)"]
    runner = spawn(procs, [*nap, str(folder / "panes" / "a" / "spec.json")])
    spawn(procs, ["sleep", "60"], AGENTMUX_RUN=RUN + "0")
    spawn(procs, ["sleep", "60"], AGENTMUX_RUN="other", AGENTMUX_X=RUN)
    spawn(procs, [*nap, str(folder) + "-not-it"])
    wait_until(lambda: all(sweep.state_of(p.pid) for p in procs), 10, "processes started")
    found = {p.pid: p for p in sweep.members(RUN, str(folder))}
    assert set(found) == {marked.pid, runner.pid}
    assert (found[marked.pid].pane, found[marked.pid].name) == ("a", "sleep")


def test_sweep_ends_stopped_and_stubborn_ones_but_never_its_caller(
        tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    stubborn = spawn(procs, ["sh", "-c", "trap '' INT TERM HUP; while :; do sleep 1; done"],
                     AGENTMUX_RUN=RUN)
    stopped = spawn(procs, ["sleep", "60"], AGENTMUX_RUN=RUN)
    os.kill(stopped.pid, signal.SIGSTOP)
    wait_until(lambda: sweep.state_of(stopped.pid) == "T", 10, "stopped")
    # The sweep runs in a marked process under a marked shell: both are its caller's line.
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from agentmux import sweep; "
            f"print(len(sweep.sweep({RUN!r}, {str(tmp_path)!r}, 0.5)))")
    caller = subprocess.run(["sh", "-c", f"{sys.executable} -c \"$0\"; echo alive", code],
                            env={**os.environ, "AGENTMUX_RUN": RUN}, capture_output=True,
                            text=True, timeout=30, check=False)
    assert caller.stdout.split("\n")[1] == "alive", caller
    assert stubborn.wait(5) == -signal.SIGKILL
    assert stopped.wait(5) == -signal.SIGTERM
    assert int(caller.stdout.split()[0]) >= 3  # the loop, its sleep, the stopped one
