"""`send` and `restart`: thin click commands on the main group."""

from __future__ import annotations

from pathlib import Path

import click

from agentmux.cli.options import run_of, session_option


@click.command()
@click.argument("pane")
@click.argument("text", required=False)
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Send this file's bytes instead of TEXT.")
@session_option
def send(pane: str, text: str | None, file_: Path | None, session: str | None) -> None:
    """Type a reply into PANE's agent (a bracketed paste, then Enter) without attaching."""
    from agentmux import paneops
    from agentmux.errors import BadInput

    if (text is None) == (file_ is None):
        raise BadInput("send: give either TEXT or --file PATH")
    data = file_.read_bytes() if file_ is not None else (text or "").encode(
        errors="surrogateescape")
    paneops.send(run_of(session), pane, data)


@click.command()
@click.argument("pane")
@session_option
def restart(pane: str, session: str | None) -> None:
    """Run PANE's agent again on the same worktree; earlier attempts are kept in the ledger."""
    from agentmux import paneops

    attempt = paneops.restart(run_of(session), pane)
    click.echo(f"pane '{pane}': attempt {attempt} started")


__all__ = ['restart', 'send']
