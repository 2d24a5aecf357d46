"""Options shared by the commands: kept apart so that command modules never import the group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agentmux import ledger

LAYOUT = click.Path(exists=False, dir_okay=False, path_type=Path)


def session_option(f: Any) -> Any:
    return click.option("--session", "session", envvar="AGENTMUX_SESSION", metavar="NAME",
                        help="Act on the most recent run of this session.")(f)


def socket_of(ctx: click.Context) -> str | None:
    obj: dict[str, str | None] = ctx.ensure_object(dict)
    return obj.get("socket")


def here() -> Path:
    """Where a command looks for its repository: the group's --repo, else the current folder."""
    ctx = click.get_current_context(silent=True)
    repo = ctx.find_root().ensure_object(dict).get("repo") if ctx is not None else None
    return Path(repo) if repo else Path.cwd()


def run_of(session: str | None) -> ledger.RunDir:
    """The run a command acts on (find.find_run), found from --repo or the current folder."""
    from agentmux.find import find_run

    return find_run(session, here())
