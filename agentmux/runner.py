"""The pane's own process: `python -m agentmux.runner SPEC_PATH`.

tmux starts this in every agent pane. It checks the folder, runs the setup, starts the agent
in its own process group, forwards HUP/INT/TERM to it and records in status.json exactly how
it ended: `tmux kill-pane` keeps no status at all, so only a parent can say what happened.

Stdlib only (plus agentmux.ledger): it runs once per pane, so it must import fast.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from agentmux import agentfiles
from agentmux.ledger import now_iso, write_json
from agentmux.runcheck import run_check
from agentmux.runspec import Spec, SpecError, load_spec

VERSION = 1
EXIT_SPEC = 96  # the spec is missing or garbage
EXIT_CWD = 97  # the folder is not the expected one: the agent never started
EXIT_RUNNER_ERROR = 98  # the runner itself failed; status.json says why
FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
WAKE_TIMEOUT = 2.0
FALLBACK_SHELL = "/bin/sh"


def signal_name(n: int) -> str:
    """`SIGTERM` for 15; realtime and unknown numbers get a name that still says the number."""
    try:
        return signal.Signals(n).name
    except ValueError:
        pass
    if signal.SIGRTMIN < n < signal.SIGRTMAX:
        return f"SIGRTMIN+{n - signal.SIGRTMIN}"
    return f"SIG{n}"


def say(text: str) -> None:
    # After kill-pane the terminal is gone and writing to it fails: that must not stop
    # the runner from recording the status.
    try:
        sys.stderr.write(f"agentmux runner: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Status:
    """status.json, rewritten atomically so a reader never sees half of it."""

    def __init__(self, path: Path, run: str | None, pane: str | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "version": VERSION, "run": run, "pane": pane, "pid": os.getpid(),
            "agent_pid": None, "phase": "starting", "started_at": now_iso(), "ended_at": None,
            "exit_code": None, "signal": None, "reason": None, "message": None,
        }
        self.final = False

    def write(self, **changes: Any) -> None:
        self.data.update(changes)
        write_json(self.path, self.data)

    def finish(self, exit_code: int | None, sig: int | None, reason: str | None = None,
               message: str | None = None, **extra: Any) -> None:
        self.write(phase="ended", ended_at=now_iso(), exit_code=exit_code,
                   signal=None if sig is None else signal_name(sig), reason=reason,
                   message=message, **extra)
        self.final = True


class Forwarder:
    """Passes HUP/INT/TERM on to the child's process group.

    A signal that comes while no child runs (before the agent starts, between setup and
    agent) is kept and delivered to the next child as soon as it exists.
    """

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.pending: list[int] = []
        self.received: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.pgid is None:
            self.pending.append(signum)
        else:
            _killpg(self.pgid, signum)

    def attach(self, pgid: int) -> None:
        self.pgid = pgid
        while self.pending:
            _killpg(pgid, self.pending.pop(0))

    def detach(self) -> None:
        # Once the child is reaped its pgid may be reused: never signal it again.
        self.pgid = None

    def install(self) -> None:
        for s in FORWARDED:
            signal.signal(s, self.handle)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _owns_terminal() -> bool:
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _pick_shell(shell: str | None) -> str:
    if shell and os.path.isfile(shell) and os.access(shell, os.X_OK):
        return shell
    return FALLBACK_SHELL


def _check_cwd(spec: Spec) -> str | None:
    """Why the agent must not run here, or None. tmux's -c silently falls back elsewhere."""
    try:
        os.chdir(spec.cwd)
    except OSError as e:
        return f"cannot enter folder {spec.cwd}: {e.strerror}; the agent was not started"
    if spec.worktree is None:
        return None
    here = Path(os.getcwd()).resolve()
    root = Path(spec.worktree).resolve()
    if here != root and root not in here.parents:
        return (f"folder {spec.cwd} is not inside the worktree {spec.worktree}; "
                "the agent was not started")
    if not (root / ".git").exists():
        return (f"worktree {spec.worktree} has no .git: it is not a git worktree; "
                "the agent was not started")
    return None


def _build_env(spec: Spec, pwd: str) -> dict[str, str]:
    env = dict(os.environ if spec.base_env is None else spec.base_env)
    # The environment `up` saw may hold another pane's or another server's TMUX; only the
    # runner's own values are right for this pane.
    for key in ("TMUX", "TMUX_PANE"):
        if key in os.environ:
            env[key] = os.environ[key]
        else:
            env.pop(key, None)
    env.update(spec.env)
    env["PWD"] = pwd
    return env


def _spawn(argv: list[str], cwd: str, env: dict[str, str], take_tty: bool,
           stdout: int | None = None) -> int:
    def in_child() -> None:
        # The child takes the terminal itself too, as shells do: otherwise an agent that
        # touches the tty before the parent's tcsetpgrp would be stopped by SIGTTOU/SIGTTIN.
        if take_tty:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(0, os.getpgrp())
            signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL)

    # With stdout given (the check), stdin is not the terminal either: it never reads it.
    stdin = None if stdout is None else subprocess.DEVNULL
    proc = subprocess.Popen(argv, cwd=cwd, env=env, process_group=0, preexec_fn=in_child,
                            stdin=stdin, stdout=stdout, stderr=stdout)
    if take_tty:
        # It may have exited already, or taken the terminal itself.
        with contextlib.suppress(OSError):
            os.tcsetpgrp(0, proc.pid)
    # The Popen object is only for starting: the runner reaps with waitpid itself.
    proc.returncode = 0
    return proc.pid


def _wait(pid: int) -> tuple[int | None, int | None]:
    """(exit code, None) or (None, signal number). waitpid retries EINTR itself (PEP 475)."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


def _run_child(argv: list[str], cwd: str, env: dict[str, str], take_tty: bool,
               fwd: Forwarder, started: Callable[[int], None] | None = None,
               stdout: int | None = None) -> tuple[int | None, int | None]:
    pid = _spawn(argv, cwd, env, take_tty, stdout)
    fwd.attach(pid)
    try:
        if started is not None:
            started(pid)
        return _wait(pid)
    finally:
        fwd.detach()


def _wake(channel: str | None) -> None:
    if not channel or "TMUX" not in os.environ:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["tmux", "wait-for", "-S", channel], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=WAKE_TIMEOUT, check=False)


def _bell() -> None:
    # The pane's window gets tmux's bell flag: an ended pane has no terminal left for the
    # watcher to ring, so the runner rings it on its way out.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write("\a")
        sys.stdout.flush()


def _exit_like(code: int | None, sig: int | None) -> int:
    """The runner ends the way the agent did, so tmux's pane_dead_signal agrees."""
    if sig is None:
        return code if code is not None else EXIT_RUNNER_ERROR
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    # SIGSEGV/SIGABRT would otherwise leave a core file of the runner in the worktree.
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # SIGKILL and SIGSTOP cannot be reset (OSError), yet must still be sent.
    with contextlib.suppress(OSError, ValueError):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), sig)
    return 128 + sig


def _run(spec: Spec, status: Status, fwd: Forwarder) -> int:
    status.write()
    problem = _check_cwd(spec)
    if problem:
        say(problem)
        status.finish(EXIT_CWD, None, "cwd", problem)
        return EXIT_CWD
    take_tty = _owns_terminal()
    if take_tty:
        # To take the terminal back once the agent has it, the runner is a background job.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        code, sig = _setup_then_agent(spec, status, fwd, _pick_shell(spec.shell), take_tty)
        _bell()
        _wake(spec.wake)
    finally:
        if take_tty:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(0, os.getpgrp())
    return _exit_like(code, sig)


def _setup_then_agent(spec: Spec, status: Status, fwd: Forwarder, shell: str,
                      take_tty: bool) -> tuple[int | None, int | None]:
    """Runs both and writes the final status; returns how the last one ended."""
    # A restart (`agentmux restart` kept an attempt-1) reuses a worktree already set up.
    if spec.setup and not (spec.status.parent / "attempt-1").exists():
        where = spec.worktree or spec.cwd
        status.write(phase="setup")
        code, sig = _run_child([shell, "-c", spec.setup], where, _build_env(spec, where),
                               take_tty, fwd)
        if code != 0 or sig is not None:
            what = f"exit {code}" if sig is None else signal_name(sig)
            message = f"setup `{spec.setup}` failed ({what}); the agent was not started"
            say(message)
            status.finish(code, sig, "setup", message)
            return code, sig
        if fwd.received:
            # Asked to stop while the setup ran: starting the agent now would ignore that.
            sig = fwd.received[0]
            fwd.pending.clear()
            message = f"stopped by {signal_name(sig)} during setup; the agent was not started"
            say(message)
            status.finish(None, sig, "setup", message)
            return None, sig

    def started(pid: int) -> None:
        try:
            status.write(phase="agent", agent_pid=pid)
        except OSError as e:
            # The agent runs already: losing this progress note must not orphan it.
            say(f"cannot update {status.path}: {e}")

    placed = agentfiles.place(spec.files or {})  # the agent's own hook settings (agentfiles.py)
    try:
        code, sig = _run_child([shell, "-c", spec.command], spec.cwd,
                               _build_env(spec, spec.cwd), take_tty, fwd, started)
    finally:
        agentfiles.remove(placed)
    if code != 0 or sig is not None or not spec.check:
        status.finish(code, sig)
        return code, sig
    if spec.worktree is None:
        message = "no worktree of its own (isolation none/directory): the check was not run"
        say(message)
        status.finish(code, sig, "check-skipped", message)
        return code, sig
    if fwd.received:  # stopped (e.g. by its timeout) as the agent ended: no check now
        status.finish(code, sig)
        return code, sig
    status.write(phase="check")
    tree = spec.worktree
    ccode, csig = run_check(
        spec.check, tree, spec.status.parent / "check.log", shell,
        lambda argv, cwd, out: _run_child(argv, cwd, _build_env(spec, tree), False, fwd,
                                          stdout=out))
    check_code = ccode if csig is None else 128 + csig
    status.finish(code, sig, None if check_code == 0 else "check", check_exit_code=check_code)
    return (check_code, None) if check_code else (code, sig)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # A reaped-by-the-kernel child (SIGCHLD ignored by whoever started us) has no status.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    fwd = Forwarder()
    fwd.install()
    if len(args) != 1:
        say("usage: python -m agentmux.runner SPEC_PATH")
        return EXIT_SPEC
    try:
        spec = load_spec(Path(args[0]))
    except SpecError as e:
        say(str(e))
        if e.status is not None:
            try:
                Status(e.status, e.run, e.pane).finish(EXIT_SPEC, None, "spec", str(e))
            except OSError as w:
                say(f"cannot write {e.status}: {w}")
        return EXIT_SPEC
    status = Status(spec.status, spec.run, spec.pane)
    try:
        return _run(spec, status, fwd)
    except Exception as e:
        message = f"{type(e).__name__}: {e}"
        say(f"internal error: {message}")
        if not status.final:
            try:
                status.finish(None, None, "runner-error", message)
            except Exception as w:
                say(f"cannot write {spec.status}: {w}")
        return EXIT_RUNNER_ERROR


def argv(spec: Path) -> list[str]:
    """How tmux starts the runner for one pane.

    `-S` skips site-packages (the runner is stdlib only) and with it the `.pth` hooks of
    editable installs: about 20 ms of every pane's start. The package folder is put on
    sys.path by hand instead.
    """
    package_parent = str(Path(__file__).resolve().parent.parent)
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from agentmux.runner import main; sys.exit(main())")
    return [sys.executable, "-S", "-c", boot, package_parent, str(spec)]


if __name__ == "__main__":
    raise SystemExit(main())
