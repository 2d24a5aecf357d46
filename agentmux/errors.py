"""The one error hierarchy. Each class carries the exit code `__main__.main` returns."""

from __future__ import annotations

WORK_FAILED = 1
BAD_INPUT = 2
REFUSED = 3
ENVIRONMENT = 4
INTERRUPTED = 130


class AgentmuxError(Exception):
    """Base class: the message is shown to the user as is, on one line or a short block."""

    exit_code = WORK_FAILED


class WorkFailed(AgentmuxError):
    exit_code = WORK_FAILED


class BadInput(AgentmuxError):
    exit_code = BAD_INPUT


class LayoutError(BadInput):
    """A layout problem: names the file, the key path and what was expected."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + message)


class Refused(AgentmuxError):
    """agentmux will not do this, to protect the user's work (or an untrusted layout)."""

    exit_code = REFUSED


class EnvironmentProblem(AgentmuxError):
    """tmux or git missing or too old, or the terminal setting is wrong."""

    exit_code = ENVIRONMENT


class LedgerWriteFailed(WorkFailed, OSError):
    """A ledger file could not be written (disk full, read-only); the previous version is kept.

    Also an OSError, so the runner's `except OSError` paths keep treating it as an I/O failure.
    """

    def __init__(self, path: object, err: OSError, kept: bool = True) -> None:
        self.path = path
        self.errno = err.errno
        self.strerror = err.strerror
        tail = "; the previous version is kept" if kept else ""
        WorkFailed.__init__(self, f"cannot write {path}: {err.strerror or err}{tail}")

    def __str__(self) -> str:
        return str(self.args[0])


class CommandFailed(WorkFailed):
    """An external program failed: names the command, its exit status and its output."""

    def __init__(self, argv: list[str], returncode: int, output: str, step: str = "") -> None:
        self.argv = argv
        self.returncode = returncode
        self.output = output
        self.step = step
        shown = " ".join(argv)
        head = f"{step}: " if step else ""
        tail = output.strip()
        msg = f"{head}`{shown}` exited {returncode}"
        if tail:
            msg += ":\n" + "\n".join("  " + line for line in tail.splitlines()[-12:])
        super().__init__(msg)


class Interrupted(AgentmuxError):
    """Ctrl-C, SIGTERM or SIGHUP (agentmux.interrupts): exit 130, one line, no traceback."""

    exit_code = INTERRUPTED

    def __init__(self, signum: int, message: str = "") -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(message or f"interrupted by {self.name}")
