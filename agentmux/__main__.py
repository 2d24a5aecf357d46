"""`main(argv) -> int`: the one place that turns exceptions into messages and exit codes;
`run()`, the `agentmux` command, exits with main's code."""

from __future__ import annotations

# Only sys at module level: a Ctrl-C while the rest is imported is caught in main() and
# printed as one line (exit 130), never as a traceback.
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import NoReturn

INTERRUPTED = 130  # = agentmux.errors.INTERRUPTED, which is not imported yet here


def crash_log() -> Path:
    import os
    from pathlib import Path

    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "agentmux" / "crash.log"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # during the imports, or from click's own handling
        print("agentmux: interrupted", file=sys.stderr)
        return INTERRUPTED


def watcher(run_dir: str) -> int:
    """`agentmux watch --run-dir DIR`, the form `up` starts, without click and the command
    modules: they cost the watcher's start ~20 ms of CPU while N runners start too."""
    from pathlib import Path

    from agentmux import ledger, status
    from agentmux.watch import loop

    return loop.watch(ledger.RunDir(Path(run_dir)),
                      lambda rd, state, last: status.render_table(rd, state, last, colour=True))


def _cli(argv: list[str] | None) -> int:
    import click

    from agentmux.cli import cli
    from agentmux.errors import BAD_INPUT

    try:
        # Without standalone mode click returns `ctx.exit(n)`'s code instead of exiting.
        rv = cli.main(args=argv, prog_name="agentmux", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return BAD_INPUT if isinstance(e, click.UsageError) else e.exit_code
    except click.Abort:
        raise KeyboardInterrupt from None
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def _main(argv: list[str] | None) -> int:
    import logging
    import traceback

    from agentmux.errors import WORK_FAILED, AgentmuxError

    logging.basicConfig(format="agentmux: %(levelname)s: %(message)s", level=logging.WARNING)
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 3 and args[:2] == ["watch", "--run-dir"] and args[2][:1] not in ("", "-"):
            return watcher(args[2])
        return _cli(argv)
    except AgentmuxError as e:
        print(f"agentmux: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("agentmux: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as e:
        path = crash_log()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(f"--- agentmux {sys.argv}\n{traceback.format_exc()}\n")
            where = f"; traceback in {path}"
        except OSError:
            where = ""
        print(f"agentmux: internal error: {type(e).__name__}: {e}{where}", file=sys.stderr)
        return WORK_FAILED


def run() -> NoReturn:
    """The `agentmux` command (and `python -m agentmux`): main, then exit without tearing the
    interpreter down.

    Freeing every module and object at exit costs 20-40 ms of CPU here, and 100 ms or more of
    wall time while `up`'s runners start on the same cores (docs/performance.md). It writes
    nothing: the exit handlers still run (logging's flush, weakref finalizers) and both
    streams are flushed first. With another thread still alive, the normal exit joins it.
    """
    code = main()
    import atexit
    import contextlib
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing reaches it
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
