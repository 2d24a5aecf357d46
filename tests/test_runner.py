"""The runner as tmux runs it: a real process, a real agent (scripts/fake-agent), real signals."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentmux.ledger import write_json
from agentmux.runproc import signal_name

from .conftest import ROOT, git, wait_until

RUNNER = [sys.executable, "-m", "agentmux.runner"]
# Recorded in the spec, never used: every command runs under /bin/sh (agentmux.shellcmd).
SHELL = "/usr/bin/fish"


def make_spec(tmp_path: Path, command: str, **changes: Any) -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    spec: dict[str, Any] = {
        "version": 1, "run": "20260101T000000Z-t-abcd", "pane": "webhooks",
        "command": command, "shell": SHELL, "cwd": str(work), "worktree": None,
        "env": {}, "env_file": None, "setup": None,
        "status": str(tmp_path / "status.json"), "wake": None,
    }
    spec.update(changes)
    path = tmp_path / "spec.json"
    write_json(path, spec)
    return path


def start(spec: Path, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([*RUNNER, str(spec)], cwd=ROOT, text=True, **kw)


def run(spec: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUNNER, str(spec)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def status(tmp_path: Path) -> dict[str, Any]:
    data = json.loads((tmp_path / "status.json").read_bytes())
    assert isinstance(data, dict)
    return data


def agent_running(tmp_path: Path, marker: Path) -> bool:
    """The agent has started and got past its first steps (it wrote the marker)."""
    try:
        st = status(tmp_path)
    except FileNotFoundError:
        return False
    return st["phase"] == "agent" and marker.exists()


def stop(proc: subprocess.Popen[str]) -> None:
    """Cleanup for a failed test: never leave an agent behind."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_recorded(tmp_path: Path, code: int) -> None:
    p = run(make_spec(tmp_path, f"fake-agent --print hello --exit {code}"))
    assert p.returncode == code
    assert "hello\n" in p.stdout
    st = status(tmp_path)
    assert st["exit_code"] == code
    assert (st["signal"], st["reason"], st["message"], st["phase"]) == (None, None, None, "ended")
    assert (st["version"], st["run"], st["pane"]) == (1, "20260101T000000Z-t-abcd", "webhooks")
    assert isinstance(st["pid"], int) and isinstance(st["agent_pid"], int)
    assert st["pid"] != st["agent_pid"]
    assert st["started_at"] <= st["ended_at"]
    assert set(st) == {"version", "run", "pane", "pid", "agent_pid", "phase", "started_at",
                       "ended_at", "exit_code", "signal", "reason", "message"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV])
def test_agent_killed_by_a_signal_runner_dies_of_it_too(tmp_path: Path, sig: int) -> None:
    p = run(make_spec(tmp_path, f"fake-agent --signal {int(sig)}"))
    assert p.returncode == -sig
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"], st["reason"]) == (None, signal_name(sig), None)


@pytest.mark.parametrize("command", ["fake-agent --signal TERM", "exec fake-agent --signal TERM",
                                     "/bin/sh -c 'fake-agent --signal TERM'",
                                     "true && exec fake-agent --signal TERM"])
def test_a_simple_command_is_execd_so_its_signal_is_exact(tmp_path: Path, command: str) -> None:
    # dash (/bin/sh here) would outlive the agent and exit 128+15: the runner execs a simple
    # command itself, and sh's own `exec` makes the last command of a compound one exact.
    p = run(make_spec(tmp_path, command))
    assert (p.returncode, status(tmp_path)["signal"]) == (-signal.SIGTERM, "SIGTERM")


def test_a_compound_command_reports_what_sh_did(tmp_path: Path) -> None:
    p = run(make_spec(tmp_path, "true && fake-agent --signal TERM"))
    assert (p.returncode, status(tmp_path)["exit_code"]) == (143, 143)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_signal_to_runner_is_forwarded_and_recorded(tmp_path: Path, sig: int) -> None:
    marker = tmp_path / "started"
    proc = start(make_spec(tmp_path, f"fake-agent --write {marker}=1 --sleep 60"))
    try:
        wait_until(lambda: agent_running(tmp_path, marker), 20, "the agent to start")
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == -sig
    finally:
        stop(proc)
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"], st["phase"]) == (None, signal_name(sig), "ended")


def test_sigint_ignored_by_agent_then_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    proc = start(make_spec(tmp_path, f"fake-agent --ignore-sigint --write {marker}=1 --sleep 60"))
    try:
        wait_until(lambda: agent_running(tmp_path, marker), 20, "the agent to start")
        proc.send_signal(signal.SIGINT)
        # The runner handles signals in order, so the agent sees INT (ignored) before TERM:
        # a SIGINT that killed it, or killed the runner, would show here.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        stop(proc)
    assert status(tmp_path)["signal"] == "SIGTERM"


def test_missing_cwd_refused_agent_never_ran(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    missing = tmp_path / "no" / "such"
    p = run(make_spec(tmp_path, f"fake-agent --write {ran}=1", cwd=str(missing)))
    assert p.returncode == 97
    assert str(missing) in p.stderr
    assert not ran.exists()
    st = status(tmp_path)
    assert (st["exit_code"], st["reason"], st["agent_pid"], st["phase"]) == (97, "cwd", None,
                                                                            "ended")
    assert str(missing) in st["message"]


def test_worktree_without_git_refused(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    spec = make_spec(tmp_path, f"fake-agent --write {ran}=1", cwd=str(tree / "sub"),
                     worktree=str(tree))
    p = run(spec)
    assert (p.returncode, status(tmp_path)["reason"]) == (97, "cwd")
    assert "has no .git" in status(tmp_path)["message"]
    assert not ran.exists()


def test_cwd_outside_worktree_refused(tmp_path: Path, repo: Path) -> None:
    ran = tmp_path / "ran"
    p = run(make_spec(tmp_path, f"fake-agent --write {ran}=1", worktree=str(repo)))
    assert (p.returncode, status(tmp_path)["reason"]) == (97, "cwd")
    assert "is not inside the worktree" in p.stderr
    assert not ran.exists()


def test_runs_in_a_linked_worktree(tmp_path: Path, repo: Path) -> None:
    tree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "agent", str(tree))
    spec = make_spec(tmp_path, "fake-agent --write made.txt=yes --commit 'agent work'",
                     cwd=str(tree / "src"), worktree=str(tree), setup="pwd > setup-pwd")
    p = run(spec)
    assert p.returncode == 0, p.stderr
    assert (tree / "setup-pwd").read_text() == f"{tree}\n"  # setup runs at the worktree root
    assert git(tree, "log", "-1", "--format=%s").strip() == "agent work"
    assert git(tree, "show", "--name-only", "--format=", "HEAD").split() == [
        "setup-pwd", "src/made.txt"]


def test_failing_setup_stops_before_the_agent(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    spec = make_spec(tmp_path, f"fake-agent --write {ran}=1",
                     setup="echo installing; exit 5")
    p = run(spec)
    assert p.returncode == 5
    assert "installing\n" in p.stdout
    assert not ran.exists()
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"], st["reason"], st["agent_pid"]) == (5, None, "setup",
                                                                             None)


def test_stop_during_setup_never_starts_the_agent(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    marker = tmp_path / "setup-started"
    # The setup ignores HUP and finishes anyway; the agent must still not start.
    setup = f"trap '' HUP; fake-agent --write {marker}=1 --sleep 1"
    proc = start(make_spec(tmp_path, f"fake-agent --write {ran}=1", setup=setup))
    try:
        wait_until(marker.exists, 20, "the setup to start")
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=20) == -signal.SIGHUP
    finally:
        stop(proc)
    st = status(tmp_path)
    assert (st["exit_code"], st["signal"], st["reason"]) == (None, "SIGHUP", "setup")
    assert not ran.exists()


def test_environment_reaches_the_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONLY_IN_RUNNER", "should-not-leak")
    env_file = tmp_path / "env.json"
    write_json(env_file, {"version": 1, "env": {
        "PATH": os.environ["PATH"], "FROM_UP": "yes", "FOO": "from-up",
        "TMUX": "/stale/socket,1,0", "TMUX_PANE": "%99"}})
    extra = {"FOO": "1", "AGENTMUX_RUN": "run-1", "AGENTMUX_PANE": "webhooks",
             "AGENTMUX_WORKTREE": str(tmp_path / "work")}
    out = tmp_path / "env.out"
    p = run(make_spec(tmp_path, f"env > {out}", env=extra, env_file=str(env_file)))
    assert p.returncode == 0, p.stderr
    got = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert {k: got.get(k) for k in ("FROM_UP", *extra)} == {"FROM_UP": "yes", **extra}
    assert got["PWD"] == str(tmp_path / "work")
    # Not in tmux here: the stale values from `up` would point at another server.
    assert "TMUX" not in got and "TMUX_PANE" not in got
    assert "ONLY_IN_RUNNER" not in got


def test_without_env_file_the_runner_environment_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONLY_IN_RUNNER", "inherited")
    out = tmp_path / "env.out"
    assert run(make_spec(tmp_path, f"env > {out}", env={"FOO": "1"})).returncode == 0
    assert {"ONLY_IN_RUNNER=inherited", "FOO=1"} <= set(out.read_text().splitlines())


HOSTILE = "a; touch pwned #{pane_id} $(id) `id` 'single' \"double\"\nC-c \\ é ;"


def test_hostile_task_text_arrives_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "task.out"
    command = f"fake-agent --task {shlex.quote(HOSTILE)} --echo-task {shlex.quote(str(out))}"
    p = run(make_spec(tmp_path, command))
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == HOSTILE.encode()
    assert not (tmp_path / "work" / "pwned").exists()


def test_5000_lines_and_exit_7(tmp_path: Path) -> None:
    p = run(make_spec(tmp_path, "fake-agent --lines 5000 --exit 7"))
    assert p.returncode == 7
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("fake-agent line ")]
    assert lines == [f"fake-agent line {i}" for i in range(1, 5001)]
    assert status(tmp_path)["exit_code"] == 7


def test_status_is_valid_json_at_every_moment(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    proc = start(make_spec(tmp_path, "fake-agent --sleep 0.3 --exit 4",
                           setup="fake-agent --sleep 0.2"), stdout=subprocess.DEVNULL)
    phases: list[str] = []
    samples = 0
    try:
        while proc.poll() is None:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            st = json.loads(raw)  # a torn write would fail here
            assert st["version"] == 1
            samples += 1
            if not phases or phases[-1] != st["phase"]:
                phases.append(st["phase"])
    finally:
        stop(proc)
    assert proc.returncode == 4
    assert samples > 20
    assert phases[-1] in ("agent", "ended") and "setup" in phases
    assert status(tmp_path)["exit_code"] == 4


def test_relative_cwd_is_a_spec_error(tmp_path: Path) -> None:
    p = run(make_spec(tmp_path, "fake-agent", cwd="work"))
    assert p.returncode == 96
    assert "cwd: expected an absolute path, got 'work'" in status(tmp_path)["message"]


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"version": 1}'])
def test_garbage_spec_exits_96(tmp_path: Path, body: bytes) -> None:
    spec = tmp_path / "spec.json"
    spec.write_bytes(body)
    p = run(spec)
    assert p.returncode == 96
    assert len(p.stderr.splitlines()) == 1 and str(spec) in p.stderr


def test_missing_spec_exits_96(tmp_path: Path) -> None:
    p = run(tmp_path / "nope.json")
    assert p.returncode == 96
    assert p.stderr == f"agentmux runner: cannot read spec {tmp_path / 'nope.json'}: " \
                       "No such file or directory\n"


def test_bad_spec_with_known_status_path_is_recorded(tmp_path: Path) -> None:
    p = run(make_spec(tmp_path, "fake-agent", env={"FOO": 1}, cwd=7))
    assert p.returncode == 96
    st = status(tmp_path)
    assert (st["exit_code"], st["reason"], st["phase"]) == (96, "spec", "ended")
    assert "cwd: expected a non-empty string" in st["message"]
    assert "env: expected an object of strings" in st["message"]


def test_runner_error_is_recorded_never_success(tmp_path: Path) -> None:
    # No exec can take a variable named with `=`: neither the agent nor sh can start.
    p = run(make_spec(tmp_path, "fake-agent --exit 0", env={"BAD=NAME": "1"}))
    assert p.returncode == 98
    st = status(tmp_path)
    assert (st["exit_code"], st["reason"], st["phase"]) == (None, "runner-error", "ended")
    assert "the child failed to start" in st["message"]


@pytest.mark.parametrize("shell", ["/no/shell", "/usr/bin/fish", None])
def test_the_specs_shell_is_never_used(tmp_path: Path, shell: str | None) -> None:
    assert run(make_spec(tmp_path, "fake-agent --exit 6", shell=shell)).returncode == 6


@pytest.mark.parametrize(("n", "name"), [(1, "SIGHUP"), (15, "SIGTERM"), (9, "SIGKILL"),
                                         (signal.SIGRTMIN + 2, "SIGRTMIN+2"), (200, "SIG200")])
def test_signal_name(n: int, name: str) -> None:
    assert signal_name(n) == name


def test_the_agent_inherits_no_stray_descriptor(tmp_path: Path) -> None:
    out = tmp_path / "fds"
    fd = os.open(tmp_path / "stray", os.O_RDWR | os.O_CREAT)
    stray = 100  # high, so it is no descriptor ls opens itself to read the folder
    os.dup2(fd, stray)
    os.close(fd)
    try:
        proc = subprocess.Popen([*RUNNER, str(make_spec(tmp_path, f"ls /proc/self/fd > {out}"))],
                                cwd=ROOT, pass_fds=(stray,))
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(stray)
    assert str(stray) not in out.read_text().split()
