"""The agent's process through bwrap: exit codes, signals, the terminal, and what is left.

bwrap forwards no signal and dies of HUP/INT/TERM itself, SIGKILLing the sandbox; it
reports a child killed by signal N as exit 128+N. These tests hold the shim and
forward_signal to the promise that the runner sees what the agent did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agentmux.sandbox import (
    INSTALL,
    _parents,
    agent_exit,
    agent_pid,
    check_available,
    decode_status,
    forward_signal,
)

from .conftest import wait_until
from .sandboxkit import Setup, make_setup, mini_runner, needs_bwrap

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def setup(tmp_path: Path, isolated: Path) -> Setup:
    return make_setup(tmp_path, isolated)


@pytest.mark.parametrize("code, expected", [
    (0, (0, None)), (7, (7, None)), (128, (128, None)), (129, (None, 1)),
    (143, (None, 15)), (192, (None, 64)), (193, (193, None)), (255, (255, None)),
])
def test_decode_status(code: int, expected: tuple[int | None, int | None]) -> None:
    assert decode_status(code) == expected


@needs_bwrap
@pytest.mark.parametrize("script, decoded", [
    ("exit 7", (7, None)),
    ("kill -TERM $$", (None, signal.SIGTERM)),
    ("kill -SEGV $$", (None, signal.SIGSEGV)),
])
def test_exit_status_comes_back(setup: Setup, script: str,
                                decoded: tuple[int | None, int | None]) -> None:
    r = setup.run(script)
    assert decode_status(r.returncode) == decoded


@needs_bwrap
def test_agent_starts_with_no_signal_ignored(setup: Setup) -> None:
    """The shim is Python, which ignores SIGPIPE and SIGXFSZ; exec would pass that on."""
    r = setup.run("grep SigIgn /proc/$$/status")
    assert r.stdout == "SigIgn:\t0000000000000000\n", r.stderr


def _run_with_status(argv_of: Callable[[int], list[str]], cwd: Path,
                     before: Callable[[], None] = lambda: None) -> tuple[int, str]:
    r, w = os.pipe()
    argv = argv_of(w)
    before()
    p = subprocess.run(argv, cwd=cwd, pass_fds=(w,), capture_output=True, timeout=30,
                       check=False)
    os.close(w)
    with os.fdopen(r) as f:
        return p.returncode, f.read()


@needs_bwrap
def test_status_fd_tells_a_failed_sandbox_from_an_agent_exit(setup: Setup,
                                                             tmp_path: Path) -> None:
    """Both exit 1; only the JSON status says whether the agent ever ran."""
    code, status = _run_with_status(
        lambda fd: setup.argv("sh", "-c", "exit 1", status_fd=fd), setup.wt_a)
    assert (code, agent_exit(status)) == (1, 1)
    gone = tmp_path / "gone"
    gone.mkdir()
    code, status = _run_with_status(  # the folder vanishes between the argv and the start
        lambda fd: setup.argv("true", extra_rw=(str(gone),), status_fd=fd), setup.wt_a,
        gone.rmdir)
    assert (code, agent_exit(status)) == (1, None)
    assert agent_exit('{ "child-pid": 5 }\n{ "exit-code": 143 }\n') == 143


def _start(setup: Setup, script: str) -> subprocess.Popen[str]:
    """The sandbox as the runner starts it; returns once the agent is running its script."""
    p = subprocess.Popen(setup.argv("sh", "-c", f"{script}"), cwd=setup.wt_a, text=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, process_group=0)
    assert p.stdout is not None
    assert p.stdout.readline() == "ready\n"
    return p


TRAPS = "trap 'exit 40' HUP; trap 'exit 41' INT; trap 'exit 42' TERM; echo ready; "


@needs_bwrap
@pytest.mark.parametrize("sig, code", [
    (signal.SIGHUP, 40), (signal.SIGINT, 41), (signal.SIGTERM, 42)])
def test_forwarded_signal_reaches_the_agent_not_bwrap(setup: Setup, sig: int,
                                                     code: int) -> None:
    p = _start(setup, TRAPS + "while :; do sleep 0.05; done")
    forward_signal(p.pid, sig)
    assert p.wait(timeout=30) == code  # bwrap lived on and passed the agent's own exit


@needs_bwrap
def test_forwarded_signal_kills_an_agent_without_handler(setup: Setup) -> None:
    p = _start(setup, "echo ready; exec sleep 60")
    pid = agent_pid(p.pid)
    assert pid is not None and os.getpgid(pid) == pid  # its own group, not bwrap's
    forward_signal(p.pid, signal.SIGTERM)
    assert decode_status(p.wait(timeout=30)) == (None, signal.SIGTERM)


@needs_bwrap
def test_signalling_bwrap_group_loses_the_agent_exit(setup: Setup) -> None:
    """Why forward_signal exists: bwrap dies of the signal and the agent's exit is lost."""
    p = _start(setup, TRAPS + "while :; do sleep 0.05; done")
    os.killpg(p.pid, signal.SIGTERM)
    assert p.wait(timeout=30) == -signal.SIGTERM


def _marked(marker: str) -> list[int]:
    return [pid for kids in _parents().values() for pid in kids
            if marker.encode() in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@needs_bwrap
def test_nothing_outlives_the_agent(setup: Setup) -> None:
    """setsid and a double fork still die with the sandbox's pid namespace."""
    marker = f"{uuid.uuid4().int % 10**6}.123"
    r = setup.run(f"setsid sleep {marker} & (sleep {marker} &) ; sleep 0.2; exit 3")
    assert r.returncode == 3
    wait_until(lambda: not _marked(marker), 10, "escaped sleeps to end")


@needs_bwrap
def test_agent_dies_with_its_runner(setup: Setup, tmp_path: Path) -> None:
    runner = subprocess.Popen(mini_runner(tmp_path, setup.argv("sleep", "61.5")),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def the_agent() -> int | None:
        for bwrap in _parents().get(runner.pid, []):
            return agent_pid(bwrap)
        return None

    pid = wait_until(the_agent, 20, "the agent to start")
    assert isinstance(pid, int)
    runner.kill()  # SIGKILL: no chance to pass anything on
    runner.wait()
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the agent to die")


def _tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                          text=True).stdout


@needs_bwrap
def test_interactive_agent_in_a_tmux_pane(setup: Setup, tmp_path: Path) -> None:
    """Keys reach the agent through the pane's tty; Ctrl-C reaches the agent, not bwrap."""
    agent = ('[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; printf "name? "; read x; '
             'echo "got:$x"; trap "echo got-INT; exit 5" INT; while :; do sleep 0.05; done')
    cmd = mini_runner(tmp_path, setup.argv("sh", "-c", agent))
    sock = f"amx-sbx-{uuid.uuid4().hex[:8]}"
    try:
        _tmux(sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30", "-c",
              str(setup.wt_a), *cmd, ";", "set-option", "-g", "remain-on-exit", "on")

        def screen() -> str:
            # With history: a resize right after the start can push the first line there.
            return _tmux(sock, "capture-pane", "-p", "-S", "-", "-t", "=0:0.0")

        wait_until(lambda: "name?" in screen(), 20, "the prompt")
        _tmux(sock, "send-keys", "-t", "=0:0.0", "-l", "hello")
        _tmux(sock, "send-keys", "-t", "=0:0.0", "Enter")
        wait_until(lambda: "got:hello" in screen(), 20, "the answer")
        _tmux(sock, "send-keys", "-t", "=0:0.0", "C-c")
        wait_until(lambda: "RESULT" in screen(), 20, "the runner's result")
        text = screen()
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, check=False)
    # bwrap binds the pane's terminal as /dev/console: ttyname() works inside.
    assert text.startswith("tty-ok\n/dev/console\nname? hello\ngot:hello\n^Cgot-INT\n"), text
    assert "RESULT exit 5 decoded 5 None" in text, text


def test_check_available_here() -> None:
    assert check_available() is None


def test_check_available_without_bwrap() -> None:
    message = check_available("bwrap-is-not-installed")
    assert message == ('sandbox = "bwrap" needs bubblewrap, and `bwrap-is-not-installed` '
                       f"is not installed: {INSTALL}")


@needs_bwrap
def test_check_available_without_user_namespaces() -> None:
    """In a sandbox of its own that forbids user namespaces (as a kernel can), bwrap
    installed and unprivileged cannot build one."""
    probe = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
             "from agentmux.sandbox import check_available; print(check_available())")
    r = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                        "--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns",
                        "--unshare-pid", "--", sys.executable, "-S", "-c", probe],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("bubblewrap is installed but the kernel forbids it to create "
                               "user namespaces here (bwrap: "), r.stdout
    assert 'or use sandbox = "none"' in r.stdout
