"""The runner as a tmux pane's own process, on a private server: kill-pane, dead status, wake,
the terminal and Ctrl-C."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, wait_until
from .test_runner import RUNNER, agent_running, make_spec, status


class Tmux:
    """One private server (`-L name` under the test's own TMUX_TMPDIR)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def start(self, spec: Path, log: Path) -> str:
        """The runner as a pane's own process, armed in the same chain that creates it."""
        return self("-f", "/dev/null", "new-session", "-d", "-P", "-F", "#{pane_id}",
                    "-x", "200", "-y", "50", "-c", str(ROOT), "-e", f"PYTHONPATH={ROOT}",
                    *RUNNER, str(spec), ";", "set", "-p", "remain-on-exit", "on", ";",
                    "pipe-pane", "-o", f"cat >> {shlex.quote(str(log))}").strip()

    def dead_state(self, pane: str) -> tuple[str, str] | None:
        """(status, signal) once the pane is dead and tmux has reaped it, else None."""
        dead, code, sig = self("list-panes", "-a", "-f", f"#{{==:#{{pane_id}},{pane}}}", "-F",
                               "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"
                               ).split("\n")[0].split(" ")
        if dead != "1":
            return None
        if not code and not sig:
            self("run-shell", "true")  # Debian's 3.3a may not reap the pane: nudge it
            return None
        return code, sig


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"runner-test-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        yield server
    finally:
        subprocess.run(["tmux", "-L", server.name, "kill-server"], capture_output=True,
                       check=False, timeout=10)


def test_kill_pane_records_sighup(tmp_path: Path, tmux: Tmux) -> None:
    marker = tmp_path / "started"
    log = tmp_path / "out.log"
    spec = make_spec(tmp_path, f"fake-agent --print agent-says-hi --write {marker}=1 --sleep 60")
    pane = tmux.start(spec, log)
    wait_until(lambda: agent_running(tmp_path, marker), 20, "the agent to start")
    wait_until(lambda: log.exists() and "agent-says-hi" in log.read_text(), 20, "output.log")
    agent = status(tmp_path)["agent_pid"]
    tmux("kill-pane", "-t", pane)
    wait_until(lambda: status(tmp_path)["phase"] == "ended", 20, "the final status")
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"], st["reason"]) == (None, "SIGHUP", None)
    with pytest.raises(ProcessLookupError):
        os.kill(agent, 0)


@pytest.mark.parametrize(("command", "dead", "recorded"), [
    ("fake-agent --exit 3", ("3", ""), (3, None)),
    ("fake-agent --signal TERM", ("", "15"), (None, "SIGTERM")),
])
def test_tmux_dead_status_agrees_and_wake_is_signalled(
        tmp_path: Path, tmux: Tmux, command: str, dead: tuple[str, str],
        recorded: tuple[int | None, str | None]) -> None:
    pane = tmux.start(make_spec(tmp_path, command, wake="agentmux-test-wake"),
                      tmp_path / "out.log")
    assert wait_until(lambda: tmux.dead_state(pane), 20, "the pane to die") == dead
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"]) == recorded
    # A wait-for signal with no waiter is remembered, so this returns at once.
    tmux("wait-for", "agentmux-test-wake")


def test_agent_owns_the_terminal_in_a_pane(tmp_path: Path, tmux: Tmux) -> None:
    log = tmp_path / "out.log"
    pane = tmux.start(make_spec(tmp_path, "fake-agent --wait-input 'name? ' --exit 0"), log)
    wait_until(lambda: log.exists() and "name? " in log.read_text(), 20, "the prompt")
    wait_until(lambda: status(tmp_path)["phase"] != "starting", 20, "the agent's pid")
    st = status(tmp_path)
    stat = Path(f"/proc/{st['agent_pid']}/stat")
    assert st["phase"] == "agent" and stat.exists(), f"the agent ended: {status(tmp_path)}"
    # /proc/<pid>/stat: field 5 is the process group, field 8 the terminal's foreground group.
    fields = stat.read_text().rsplit(")", 1)[1].split()
    assert fields[2] == fields[5] == str(st["agent_pid"])  # the runner is not in it
    tmux("send-keys", "-t", pane, "-l", "hello")
    tmux("send-keys", "-t", pane, "Enter")
    assert wait_until(lambda: tmux.dead_state(pane), 20, "the pane to die") == ("0", "")
    assert "got: hello" in log.read_text()


def test_ctrl_c_in_the_pane_stops_the_agent(tmp_path: Path, tmux: Tmux) -> None:
    marker = tmp_path / "started"
    pane = tmux.start(make_spec(tmp_path, f"fake-agent --write {marker}=1 --sleep 60"),
                      tmp_path / "out.log")
    wait_until(lambda: agent_running(tmp_path, marker), 20, "the agent to start")
    tmux("send-keys", "-t", pane, "C-c")
    assert wait_until(lambda: tmux.dead_state(pane), 20, "the pane to die") == ("", "2")
    assert status(tmp_path)["signal"] == "SIGINT"
