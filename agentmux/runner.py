"""The pane's own process: `python -I -S -c BOOT PACKAGE_PARENT SPEC_PATH` (see `argv`).

tmux starts this in every agent pane. It checks the folder, runs the setup, starts the agent
in its own process group, forwards HUP/INT/TERM to it and records in status.json exactly how
it ended: `tmux kill-pane` keeps no status at all, so only a parent can say what happened.

It must start fast: N runners start at once on 2 cores while `up` builds the session, so
every millisecond of a runner's start is N milliseconds of `up` (docs/performance.md). From
exec to the agent's fork the budget is 20 ms. Hence stdlib only, and on its import path only
os, time, errno and the C modules `_signal` and `_json`: no pathlib, subprocess, typing,
dataclasses, contextlib, or the `signal` and `json` packages (their enums and regular
expressions cost 6 and 10 ms). The agent is started with os.fork and os.execvpe.
"""

from __future__ import annotations

import os
import sys

from agentmux.atomic import DURABLE, LIVE, now_iso, replace
from agentmux.runproc import (
    Forwarder,
    capture_ready,  # before the runner's own messages; runproc.spawn waits before a child's
    command_argv,
    exit_like,
    run_command,
    signal_name,
    start_capture,
    suppress,
    wake,
)
from agentmux.runspec import Spec, SpecError, dumps_flat, load_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal  # the C half of `signal` (see agentmux.runproc)

VERSION = 1
RESUME_FLAG = "--resume"  # run the spec's `resume` command (restart --continue)
CAPTURE_FLAG = "--capture"  # LOG TOKEN MAX_BYTES: fork capture.serve (agentmux.capture.FLAG)
EXIT_SPEC = 96  # the spec is missing or garbage
EXIT_CWD = 97  # the folder is not the expected one: the agent never started
EXIT_RUNNER_ERROR = 98  # the runner itself failed; status.json says why
ENV_FOLDER_PREFIX = "agentmux-env-"  # agentmux.panenv makes these; the runner empties them


def say(text: str) -> None:
    # After kill-pane the terminal is gone and writing to it fails: that must not stop
    # the runner from recording the status.
    capture_ready()
    try:
        sys.stderr.write(f"agentmux runner: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Status:
    """status.json (the shape of records.StatusRecord), rewritten atomically.

    Only the final version is fsynced: until then a crash kills the runner too, and a pane
    whose runner is gone without a final status is `lost` whatever the file said before.
    """

    def __init__(self, path: str, run: str | None, pane: str | None) -> None:
        self.path = path
        self.data: dict[str, object] = {
            "version": VERSION, "run": run, "pane": pane, "pid": os.getpid(),
            "agent_pid": None, "phase": "starting", "started_at": now_iso(), "ended_at": None,
            "exit_code": None, "signal": None, "reason": None, "message": None,
        }
        self.final = False

    def write(self, sync: int = LIVE, **changes: object) -> None:
        self.data.update(changes)
        replace(self.path, dumps_flat(self.data), sync=sync)

    def finish(self, exit_code: int | None, sig: int | None, reason: str | None = None,
               message: str | None = None, **extra: object) -> None:
        self.write(DURABLE, phase="ended", ended_at=now_iso(), exit_code=exit_code,
                   signal=None if sig is None else signal_name(sig), reason=reason,
                   message=message, **extra)
        self.final = True


def _owns_terminal() -> bool:
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _check_cwd(spec: Spec) -> str | None:
    """Why the agent must not run here, or None. tmux's -c silently falls back elsewhere."""
    try:
        os.chdir(spec.cwd)
    except OSError as e:
        return f"cannot enter folder {spec.cwd}: {e.strerror}; the agent was not started"
    if spec.worktree is None:
        return None
    here = os.path.realpath(os.getcwd())
    root = os.path.realpath(spec.worktree)
    if os.path.commonpath([here, root]) != root:
        return (f"folder {spec.cwd} is not inside the worktree {spec.worktree}; "
                "the agent was not started")
    if not os.path.exists(os.path.join(root, ".git")):
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


def _bell() -> None:
    # The pane's window gets tmux's bell flag: an ended pane has no terminal left for the
    # watcher to ring, so the runner rings it on its way out.
    try:
        sys.stdout.write("\a")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _wait_gate(gate: str, status: Status, fwd: Forwarder) -> int | None:
    """A queued pane (max_running): wait for the watcher to create the gate file.

    A file, not a pipe or a tmux channel: the go is durable, so a watcher that restarts, or
    a go given before the runner got here, is never missed. Returns an exit code when the
    pane was stopped while queued (its agent never started)."""
    from time import sleep

    if os.path.exists(gate):
        return None
    status.write(phase="queued", queued_at=now_iso())
    # A stop that comes with the go (down racing the watcher) still wins: checked after.
    while not fwd.received and not os.path.exists(gate):
        sleep(0.1)
    if fwd.received:
        sig = fwd.received[0]
        fwd.pending.clear()
        message = f"stopped by {signal_name(sig)} while queued; the agent never started"
        say(message)
        status.finish(None, sig, "queued", message)
        return exit_like(EXIT_RUNNER_ERROR, sig)
    # Agent time is counted from here; queued_at keeps the wait for wall-clock time.
    status.data["started_at"] = now_iso()
    return None


def _run(spec: Spec, status: Status, fwd: Forwarder) -> int:
    if spec.gate:
        stopped = _wait_gate(spec.gate, status, fwd)
        if stopped is not None:
            return stopped
    status.write(phase="starting")
    problem = _check_cwd(spec)
    if problem:
        say(problem)
        status.finish(EXIT_CWD, None, "cwd", problem)
        return EXIT_CWD
    take_tty = _owns_terminal()
    if take_tty:
        # To take the terminal back once the agent has it, the runner is a background job.
        _signal.signal(_signal.SIGTTOU, _signal.SIG_IGN)
    try:
        code, sig = _setup_then_agent(spec, status, fwd, take_tty)
        _bell()
        wake(spec.wake)
    finally:
        if take_tty:
            with suppress(OSError):
                os.tcsetpgrp(0, os.getpgrp())
    return exit_like(EXIT_RUNNER_ERROR if code is None else code, sig)


def _setup_then_agent(spec: Spec, status: Status, fwd: Forwarder,
                      take_tty: bool) -> tuple[int | None, int | None]:
    """Runs both and writes the final status; returns how the last one ended.

    Every command is POSIX sh whatever $SHELL is (spec.shell is not read): agentmux.shellcmd.
    """
    # A restart (`agentmux restart` kept an attempt-1) reuses a worktree already set up.
    if spec.setup and not os.path.exists(os.path.join(os.path.dirname(spec.status),
                                                      "attempt-1")):
        where = spec.worktree or spec.cwd
        status.write(phase="setup")
        code, sig = run_command(spec.setup, where, _build_env(spec, where), take_tty, fwd)
        if code != 0 or sig is not None:
            what = f"exit {code}" if sig is None else signal_name(sig)
            message = f"setup `{spec.setup}` failed ({what}); the agent was not started"
            say(message)
            status.finish(code, sig, "setup", message)
            return code, sig
    if fwd.received:
        # Asked to stop before the agent started (during the setup, or as the runner started:
        # an interrupted `up` kills the session): starting it now would ignore that, and an
        # agent that ignores SIGHUP would outlive the run.
        sig = fwd.received[0]
        fwd.pending.clear()
        setup = status.data["phase"] == "setup"
        message = (f"stopped by {signal_name(sig)} {'during setup' if setup else 'at start'}; "
                   "the agent was not started")
        say(message)
        status.finish(None, sig, "setup" if setup else "not-started", message)
        return None, sig

    def started(pid: int, sandbox_pid: int | None = None) -> None:
        extra = {} if sandbox_pid is None else {"sandbox_pid": sandbox_pid}
        try:
            status.write(phase="agent", agent_pid=pid, **extra)
        except OSError as e:
            # The agent runs already: losing this progress note must not orphan it.
            say(f"cannot update {status.path}: {e}")

    placed = None
    if spec.files:  # the agent's own hook settings; imported only then, to start fast
        from agentmux import agentfiles

        placed = agentfiles.place(spec.files)
    try:
        env = _build_env(spec, spec.cwd)
        if spec.sandbox is None or spec.worktree is None:
            code, sig = run_command(spec.command, spec.cwd, env, take_tty, fwd, started)
        else:
            from agentmux import runsandbox

            code, sig, problem = 1, None, runsandbox.refusal(spec.status, spec.worktree)
            if problem is None:
                code, sig, problem = runsandbox.run(spec.sandbox, command_argv(spec.command),
                                                    spec.cwd, spec.worktree, env, take_tty, fwd,
                                                    started)
            if problem is not None:
                say(problem)
                status.finish(code, sig, "sandbox", problem)
                return code, sig
    finally:
        if placed is not None:
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
    from agentmux.runcheck import run_check

    status.write(phase="check")
    tree = spec.worktree
    ccode, csig = run_check(
        spec.check, tree, os.path.join(os.path.dirname(spec.status), "check.log"),
        lambda command, cwd, out: _check_child(spec, command, cwd, out, fwd))
    check_code = ccode if csig is None else 128 + csig
    status.finish(code, sig, None if check_code == 0 else "check", check_exit_code=check_code)
    return (check_code, None) if check_code else (code, sig)


def _check_child(spec: Spec, command: str, cwd: str, out: int, fwd: Forwarder
                 ) -> tuple[int | None, int | None]:
    """The check runs the agent's work (its tests): inside the agent's sandbox, if it had one."""
    env = _build_env(spec, cwd)
    if spec.sandbox is None or spec.worktree is None:
        return run_command(command, cwd, env, False, fwd, stdout=out)
    from agentmux import runsandbox

    code, sig, problem = runsandbox.run(spec.sandbox, command_argv(command), cwd,
                                        spec.worktree, env, False, fwd, stdout=out)
    if problem is not None:
        say(f"check: {problem}")
    return code, sig


def _forget_env(path: str | None) -> None:
    """The environment (API keys included) stays on disk only until its runner has read it."""
    if not path:
        return
    with suppress(OSError):
        os.unlink(path)
    folder = os.path.dirname(path)
    if os.path.basename(folder).startswith(ENV_FOLDER_PREFIX):
        with suppress(OSError):  # the last runner of the folder removes it
            os.rmdir(folder)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # A reaped-by-the-kernel child (SIGCHLD ignored by whoever started us) has no status.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    if args[:1] == [CAPTURE_FLAG] and len(args) >= 4:
        # First of all: the pane's output, the runner's own messages included, is recorded.
        problem = start_capture(*args[1:4])
        if problem:
            say(problem)
        args = args[4:]
    fwd = Forwarder()
    fwd.install()
    resume = bool(args) and args[0] == RESUME_FLAG
    if resume:
        args = args[1:]
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].startswith("/")):
        say(f"usage: python -m agentmux.runner [{RESUME_FLAG}] SPEC_PATH [/ENV_FILE]")
        return EXIT_SPEC
    env_file = args[1] if len(args) == 2 else None
    try:
        spec = load_spec(args[0], env_file)
    except SpecError as e:
        say(str(e))
        if e.status is not None:
            try:
                Status(e.status, e.run, e.pane).finish(EXIT_SPEC, None, "spec", str(e))
            except OSError as w:
                say(f"cannot write {e.status}: {w}")
        return EXIT_SPEC
    finally:  # whatever happened while reading it (a crash included), it is gone now
        _forget_env(env_file)
    if resume:  # `restart --continue`: the CLI's resume form, checked with the rest of the spec
        spec.command = spec.resume or spec.command
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


BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from agentmux.runner import main; sys.exit(main())")


def argv(spec: str | os.PathLike[str], env_file: str | os.PathLike[str] | None = None,
         resume: bool = False) -> list[str]:
    """How tmux starts the runner for one pane; env_file (absolute) is deleted once read.

    `-S` skips site-packages (the runner is stdlib only) and with it the `.pth` hooks of
    editable installs: about 20 ms of every pane's start. The package folder is put on
    sys.path by hand instead. `-I` keeps PYTHON* variables and the pane's folder (which an
    agent may write) off the runner's imports, and lets it cache its bytecode even where
    PYTHONDONTWRITEBYTECODE is set: compiling its modules again costs every start ~15 ms.
    `-c` rather than a script path: only imported modules are cached as bytecode.
    """
    package_parent = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    tail = [] if env_file is None else [os.fspath(env_file)]
    head = [RESUME_FLAG] if resume else []
    return [sys.executable, "-I", "-S", "-c", BOOT, package_parent, *head, os.fspath(spec),
            *tail]


if __name__ == "__main__":
    raise SystemExit(main())
