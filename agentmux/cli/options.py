"""Options shared by the commands: kept apart so that command modules never import the group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

LAYOUT = click.Path(exists=False, dir_okay=False, path_type=Path)


def session_option(f: Any) -> Any:
    return click.option("--session", "session", envvar="AGENTMUX_SESSION", metavar="NAME",
                        help="Act on the most recent run of this session.")(f)


def socket_of(ctx: click.Context) -> str | None:
    obj: dict[str, str | None] = ctx.ensure_object(dict)
    return obj.get("socket")
