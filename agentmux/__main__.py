"""`main(argv) -> int`: the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

# Only sys at module level: a Ctrl-C while the rest is imported is caught in main() and
# printed as one line (exit 130), never as a traceback.
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

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


def _main(argv: list[str] | None) -> int:
    import logging
    import traceback

    import click

    from agentmux.cli import cli
    from agentmux.errors import BAD_INPUT, WORK_FAILED, AgentmuxError

    logging.basicConfig(format="agentmux: %(levelname)s: %(message)s", level=logging.WARNING)
    try:
        # Without standalone mode click returns `ctx.exit(n)`'s code instead of exiting.
        rv = cli.main(args=argv, prog_name="agentmux", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except AgentmuxError as e:
        print(f"agentmux: {e}", file=sys.stderr)
        return e.exit_code
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return BAD_INPUT if isinstance(e, click.UsageError) else e.exit_code
    except (KeyboardInterrupt, click.Abort):
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
