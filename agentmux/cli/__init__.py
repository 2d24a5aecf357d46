"""The click group. Commands live in their own modules, so no command module imports the
group and the core never imports the CLI. The group loads a command's module only when that
command is asked for: `agentmux up` or `status` never imports review's, merge's or init's
modules and what they import (about 20 ms of `up`'s start)."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from agentmux import __version__

# Each command, by its name on the command line, and the module of agentmux.cli that holds
# it (in that module's __all__; tests/test_architecture.py checks the two agree).
COMMANDS = {
    **dict.fromkeys(("attach", "down", "logs", "status", "trust", "up", "validate", "watch"),
                    "run"),
    **dict.fromkeys(("conflicts", "diff", "review", "runs"), "review"),
    **dict.fromkeys(("clean", "merge", "restore"), "merge"),
    **dict.fromkeys(("add", "init", "presets"), "plan"),
    **dict.fromkeys(("restart", "send", "wait"), "supervise"),
    "doctor": "doctor",
}


class _Group(click.Group):
    """Commands from COMMANDS, each module imported the first time one of its commands is."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module = importlib.import_module(f"agentmux.cli.{where}")
        found = (getattr(module, attr) for attr in module.__all__)
        return next(c for c in found if isinstance(c, click.Command) and c.name == cmd_name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--socket", "-L", envvar="AGENTMUX_SOCKET", metavar="NAME",
              help="Use a private tmux server (tmux -L NAME) instead of your default one.")
@click.option("--repo", envvar="AGENTMUX_REPO", metavar="PATH",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Act on the runs of the repository holding PATH (any folder of it, a "
              "worktree too) instead of the one holding the current folder.")
@click.option("-v", "--verbose", is_flag=True, help="Log what agentmux does to stderr.")
@click.version_option(__version__, prog_name="agentmux")
@click.pass_context
def cli(ctx: click.Context, socket: str | None, repo: Path | None, verbose: bool) -> None:
    """Run several AI coding agents at once, each in its own git worktree and tmux pane."""
    obj = ctx.ensure_object(dict)
    obj["socket"] = socket or None
    obj["repo"] = repo
    if verbose:
        import logging

        logging.getLogger("agentmux").setLevel(logging.DEBUG)

