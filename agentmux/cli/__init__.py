"""The click group. Commands live in their own modules and are registered here with
`add_command`, so no command module imports the group and the core never imports the CLI."""

from __future__ import annotations

from pathlib import Path

import click

from agentmux import __version__
from agentmux.cli import doctor, merge, plan, review, run, supervise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for _module in (run, review, merge, plan, supervise, doctor):
    for _name in _module.__all__:
        cli.add_command(getattr(_module, _name))
