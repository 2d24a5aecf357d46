"""The runner's processes: start one with fork and exec, wait for it, forward signals to it.

Stdlib only, for the runner's start (see agentmux.runner): no subprocess (~12 ms to import),
no signal package (its enums, ~6 ms), no contextlib.
"""

from __future__ import annotations

import os
import sys

from agentmux.shellcmd import SH, argv_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable
    from types import FrameType, TracebackType
else:
    import _signal  # the C half of `signal`, without the enums that cost ~6 ms to build

FORWARDED = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM)
WAKE_TIMEOUT = 2.0
MAXFD = 1 << 20  # os.closerange uses close_range(2): one call, whatever the bound


class suppress:
    def __init__(self, *errors: type[BaseException]) -> None:
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> bool:
        return kind is not None and issubclass(kind, self.errors)


def _signal_names() -> dict[int, str]:
    # What signal.Signals(n).name gives: of two names for one number, the first by sort order.
    names: dict[int, str] = {}
    for name in sorted(dir(_signal)):
        if name.startswith("SIG") and not name.startswith("SIG_"):
            names.setdefault(getattr(_signal, name), name)
    return names


_NAMES = _signal_names()


def signal_name(n: int) -> str:
    """`SIGTERM` for 15; realtime and unknown numbers get a name that still says the number."""
    if n in _NAMES:
        return _NAMES[n]
    if _signal.SIGRTMIN < n < _signal.SIGRTMAX:
        return f"SIGRTMIN+{n - _signal.SIGRTMIN}"
    return f"SIG{n}"


class Forwarder:
    """Passes HUP/INT/TERM on to the child's process group.

    A signal that comes while no child runs (before the agent starts, between setup and
    agent) is kept and delivered to the next child as soon as it exists.
    """

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.pending: list[int] = []
        self.received: list[int] = []
        # How a signal reaches the child: its group, or (a sandbox) whatever runs inside it.
        self.send: Callable[[int, int], None] = killpg

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.pgid is None:
            self.pending.append(signum)
        else:
            self.send(self.pgid, signum)

    def attach(self, pgid: int, send: Callable[[int, int], None] | None = None) -> None:
        self.send = send or killpg
        self.pgid = pgid
        while self.pending:
            self.send(pgid, self.pending.pop(0))

    def detach(self) -> None:
        # Once the child is reaped its pgid may be reused: never signal it again.
        self.pgid = None
        self.send = killpg

    def install(self) -> None:
        for s in FORWARDED:
            _signal.signal(s, self.handle)


def killpg(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def spawn(argv: list[str], cwd: str, env: dict[str, str], take_tty: bool = False,
          stdout: int | None = None, parent_tty: bool = True, pass_fd: int | None = None
          ) -> int:
    """Start argv in a process group of its own; returns its pid once it has exec'd.

    With stdout given (the check's log, the wake), stdin is /dev/null and stderr goes to
    stdout too. An exec that fails raises OSError here: the child reports its errno through
    a close-on-exec pipe, as subprocess does. `parent_tty=False` leaves the terminal to the
    child alone: a sandbox's shim hands it on to the agent's own group, and a late
    tcsetpgrp from here would take it back (the agent then stops on SIGTTIN). `pass_fd`
    stays open in the child, inheritable (bwrap's --json-status-fd).
    """
    if stdout is None:
        capture_ready()  # the child writes to the pane: the capture must read the FIFO first
    r, w = os.pipe()  # both ends close on exec (PEP 446)
    pid = os.fork()
    if pid == 0:  # the child: from here on, only os._exit leaves
        try:
            os.close(r)
            os.setpgid(0, 0)
            if take_tty:
                # The child takes the terminal itself too, as shells do: otherwise an agent
                # that touches the tty before the parent's tcsetpgrp is stopped by SIGTTOU.
                with suppress(OSError):
                    os.tcsetpgrp(0, os.getpgrp())
            for s in (*FORWARDED, _signal.SIGTTOU):
                _signal.signal(s, _signal.SIG_DFL)
            if stdout is not None:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(stdout, 1)
                os.dup2(stdout, 2)
            # As subprocess's close_fds: the agent gets stdin, stdout and stderr, nothing
            # the runner's own parent left open (w closes itself at the exec).
            keep = sorted({w} if pass_fd is None else {w, pass_fd})
            for low, high in zip([3] + [k + 1 for k in keep], [*keep, MAXFD], strict=True):
                os.closerange(low, high)
            if pass_fd is not None:
                os.set_inheritable(pass_fd, True)
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        except BaseException as e:
            try:
                os.write(w, str(getattr(e, "errno", 0) or 0).encode())
            finally:
                os._exit(127)
    os.close(w)
    with open(r, "rb") as pipe:
        failed = pipe.read()
    if failed:
        os.waitpid(pid, 0)
        code = int(failed)
        raise OSError(code, os.strerror(code) if code else "the child failed to start", argv[0])
    if take_tty and parent_tty:
        with suppress(OSError):  # it may have exited already, or taken the terminal itself
            os.tcsetpgrp(0, pid)
    return pid


def wait(pid: int) -> tuple[int | None, int | None]:
    """(exit code, None) or (None, signal number). waitpid retries EINTR itself (PEP 475)."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


def run_child(argv: list[str], cwd: str, env: dict[str, str], take_tty: bool,
               fwd: Forwarder, started: Callable[[int], None] | None = None,
               stdout: int | None = None) -> tuple[int | None, int | None]:
    pid = spawn(argv, cwd, env, take_tty, stdout)
    fwd.attach(pid)
    try:
        if started is not None:
            started(pid)
        return wait(pid)
    finally:
        fwd.detach()


def command_argv(command: str) -> list[str]:
    """The argv a layout command runs as: itself when simple, else under POSIX sh."""
    argv, exact = argv_for(command)
    return argv if exact else [SH, "-c", command]


def run_command(command: str, cwd: str, env: dict[str, str], take_tty: bool, fwd: Forwarder,
                started: Callable[[int], None] | None = None,
                stdout: int | None = None) -> tuple[int | None, int | None]:
    """A layout command, as POSIX sh runs it (agentmux.shellcmd): a simple command is exec'd
    here, so its exit status and its signal are the program's own; the rest runs under sh."""
    argv, exact = argv_for(command)
    if exact:
        try:
            return run_child(argv, cwd, env, take_tty, fwd, started, stdout)
        except OSError:
            pass  # not found, not executable, no #!: sh says so in its words (127, 126) or runs it
    return run_child([SH, "-c", command], cwd, env, take_tty, fwd, started, stdout)


def wake(channel: str | None) -> None:
    """Tell the watcher now rather than at its next tick; never wait on tmux for long."""
    if not channel or "TMUX" not in os.environ:
        return
    import time

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            pid = spawn(["tmux", "wait-for", "-S", channel], "/", dict(os.environ), False, null)
        finally:
            os.close(null)
    except OSError:
        return
    deadline = time.monotonic() + WAKE_TIMEOUT
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        if time.monotonic() >= deadline:
            killpg(pid, _signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.005)  # poll, against the deadline above


_READY: list[int] = []  # the capture child's `ready` pipe, until it has the FIFO open


def start_capture(log: str, token: str, max_bytes: str) -> str | None:
    """Fork the pane's output capture (agentmux.capture.serve) and return at once; the reason
    when it could not be started. `capture_ready()` waits until it reads the FIFO.

    The child leaves the pane's session and terminal (setsid, /dev/null for 0, 1 and 2: the
    pane's end must not wait for it, nor hang it up) and keeps no descriptor of the runner's.
    It is never waited for: it ends after the runner, when pipe-pane's `cat` closes the FIFO.
    """
    try:
        limit = int(max_bytes)
        r, w = os.pipe()
        pid = os.fork()
    except (OSError, ValueError) as e:
        return f"cannot start the output capture ({e}): the pane's output is not recorded"
    if pid:
        os.close(w)
        _READY.append(r)
        return None
    code = 1
    try:  # the child: from here on, only os._exit leaves
        os.close(r)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, w)
        os.closerange(w + 1, MAXFD)
        from agentmux.capture import serve

        code = serve(log, token, limit, w)
    finally:
        os._exit(code)


def capture_ready() -> None:
    """Before the runner writes to the pane (its messages, the agent): a byte that reaches
    pipe-pane's `cat` before the capture reads the FIFO would end that `cat` (SIGPIPE)."""
    while _READY:
        r = _READY.pop()
        with suppress(OSError):
            os.read(r, 1)  # EOF: the child closed its end, or is gone
        os.close(r)


def exit_like(code: int, sig: int | None) -> int:
    """The runner ends the way the agent did, so tmux's pane_dead_signal agrees."""
    if sig is None:
        return code
    with suppress(OSError, ValueError):
        sys.stdout.flush()
    import resource

    # SIGSEGV/SIGABRT would otherwise leave a core file of the runner in the worktree.
    with suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # SIGKILL and SIGSTOP cannot be reset (OSError), yet must still be sent.
    with suppress(OSError, ValueError):
        _signal.signal(sig, _signal.SIG_DFL)
    with suppress(OSError):
        os.kill(os.getpid(), sig)
    return 128 + sig
