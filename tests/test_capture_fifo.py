"""A runner's pane records its output through `cat > FIFO` and the runner's capture child
(capture.serve): what that child must survive, and what a restart must not share with it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux import capture, runner
from agentmux.tmux import Launch, Tmux, Window

from .conftest import run_cli, wait_until
from .helpers import latest_run, up, write_layout

SOCK = "amx"

AGENT = """
import os, signal, sys, time
signal.signal(signal.SIGHUP, signal.SIG_IGN)  # it outlives its runner, as a stray agent may
go, done, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
while not os.path.exists(go):
    time.sleep(0.01)  # poll: the test starts the burst once the capture is stopped
for i in range(n):
    sys.stdout.write(f"burst line {i:06d} of the agent after the runner's death\\n")
sys.stdout.flush()
open(done, "w").close()
try:
    sys.stdin.buffer.read(1)  # an agent at its prompt, until its terminal goes
except OSError:
    pass
"""


def captures(log: Path) -> list[int]:
    """The live capture children recording into this log path (their argv names it)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry.name}/comm").read_bytes().strip()
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm == capture.COMM and os.fsencode(log) in argv and state != "Z":
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/cmdline").read_bytes()  # a zombie has none
    except FileNotFoundError:
        return True


def holds(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fds / fd) == str(path) for fd in os.listdir(fds))


@pytest.fixture
def leftovers() -> Iterator[list[tuple[int, int]]]:
    """(pid, signal) to send at the end whatever happened: a stopped capture, a stray agent."""
    todo: list[tuple[int, int]] = []
    yield todo
    for pid, sig in todo:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def test_a_sigkilled_runner_loses_none_of_the_output_tmux_still_held(
        repo: Path, tmp_path: Path, leftovers: list[tuple[int, int]]) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    go, done, n = tmp_path / "go", tmp_path / "done", 2000  # ~110 KB: fits tmux's pipes
    up(write_layout(repo, [{"name": "a", "command": f"{sys.executable} {script} {go} {done} {n}"}],
                    isolation="none"), SOCK)
    pane = latest_run(repo) / "panes" / "a"
    log = pane / "output.log"

    def started() -> dict[str, int] | None:
        try:
            st = json.loads((pane / "status.json").read_text())
        except (OSError, ValueError):
            return None
        return st if st.get("agent_pid") else None

    st = wait_until(started, 20, "the agent to start")
    assert isinstance(st, dict)
    leftovers.append((-st["agent_pid"], signal.SIGKILL))
    wait_until(lambda: captures(log), 20, "the capture child")
    child = captures(log)[0]
    assert os.getsid(child) == child and os.getsid(child) != os.getsid(st["pid"])
    # Stopped, the capture reads nothing: the whole burst waits in tmux's pipe, cat and the
    # FIFO when the runner dies, as a busy machine may leave it.
    os.kill(child, signal.SIGSTOP)
    leftovers.append((child, signal.SIGCONT))
    go.touch()
    wait_until(done.exists, 20, "the agent to write its burst")
    os.kill(st["pid"], signal.SIGKILL)
    wait_until(lambda: gone(st["pid"]), 10, "the runner to be gone")
    os.kill(child, signal.SIGCONT)
    want = [f"burst line {i:06d} of the agent after the runner's death".encode()
            for i in range(n)]
    wait_until(lambda: want[-1] in log.read_bytes(), 20, "the last line in the log")
    assert log.read_bytes().split(b"\r\n") == [*want, b""]
    # The dead pane keeps its pipe: the capture ends when the pane goes.
    assert captures(log) == [child]
    subprocess.run(["tmux", "-L", SOCK, "kill-server"], check=True, timeout=10)
    wait_until(lambda: not captures(log), 20, "the capture to end with the pane's pipe")


def test_restart_leaves_one_capture_and_the_new_output_in_the_new_log(repo: Path) -> None:
    up(write_layout(repo, [{"name": "a", "command": "echo attempt-of-$$; exec sleep 60"}],
                    isolation="none"), SOCK)
    pane = latest_run(repo) / "panes" / "a"
    log = pane / "output.log"
    wait_until(lambda: b"attempt-of-" in log.read_bytes(), 20, "the first output")
    first = log.read_bytes()
    assert len(captures(log)) == 1
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 0, r.err
    wait_until(lambda: log.exists() and b"attempt-of-" in log.read_bytes(), 20,
               "the restarted agent's output")
    second = log.read_bytes()
    assert second != first and second.startswith(b"attempt-of-")
    # The old capture ends with the old pipe; the new one alone records, into the new log.
    wait_until(lambda: len(captures(log)) == 1, 20, "one capture child")
    assert holds(captures(log)[0], log)
    old = (pane / "attempt-1" / "output.log").read_bytes()
    assert old.startswith(first) and old.count(b"attempt-of-") == 1  # + the runner's bell
    assert not list(pane.glob(".*.fifo")), "a FIFO is left in the pane's folder"


def holders(folder: Path) -> list[int]:
    """Processes that name a path under folder in their argv or hold one open."""
    mark = os.fsencode(folder)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            fds = [os.readlink(f"/proc/{entry.name}/fd/{fd}")
                   for fd in os.listdir(f"/proc/{entry.name}/fd")]
        except OSError:
            continue
        if mark in argv or any(f.startswith(str(folder)) for f in fds):
            found.append(int(entry.name))
    return found


def test_a_runner_that_dies_before_its_capture_leaves_no_pipe_behind(tmp_path: Path) -> None:
    """Its pipe-pane `cat` must not wait forever for a reader that never comes (as after
    `up` and an immediate kill: the runner killed before it forked its capture)."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    argv = runner.argv(ledger / "spec.json")
    argv[5] = str(tmp_path / "no-package-here")  # the runner's import fails: no capture
    tm = Tmux("amx-leak")
    ids = tm.build("s", "run-1", tmp_path, ["sleep", "60"],
                   [Window("w", [Launch("a", argv, tmp_path, ledger / "output.log")])],
                   (200, 50), "wake-s")
    wait_until(lambda: any(p.dead for p in tm.panes("s") or [] if p.pane_id == ids["a"]), 20,
               "the runner to fail")
    subprocess.run(["tmux", "-L", "amx-leak", "kill-server"], check=True, timeout=10)
    wait_until(lambda: not holders(ledger), 10, "no process left on the pane's FIFO")
