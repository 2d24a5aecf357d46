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
@click.option("--key", "keys", multiple=True, metavar="KEY",
              help="Press this key after the text (tmux key names: Enter, Escape, Up, Down, "
                   "Tab, C-c, y, 2 ...); repeat for several, in order. Default: Enter.")
@session_option
def send(pane: str, text: str | None, file_: Path | None, keys: tuple[str, ...],
         session: str | None) -> None:
    """Type a reply into PANE's agent without attaching: TEXT as a bracketed paste, then
    Enter (or the --key presses). `send PANE ""` presses Enter; `send PANE --key 2` presses 2."""
    from agentmux import paneops
    from agentmux.errors import BadInput

    if text is not None and file_ is not None:
        raise BadInput("send: give TEXT or --file PATH, not both")
    if text is None and file_ is None and not keys:
        raise BadInput("send: give TEXT, --file PATH or --key KEY (`send PANE \"\"` "
                       "presses Enter)")
    data = file_.read_bytes() if file_ is not None else (text or "").encode(
        errors="surrogateescape")
    paneops.send(run_of(session), pane, data, keys)


@click.command()
@click.argument("pane")
@session_option
def restart(pane: str, session: str | None) -> None:
    """Run PANE's agent again on the same worktree; earlier attempts are kept in the ledger."""
    from agentmux import paneops

    attempt = paneops.restart(run_of(session), pane)
    click.echo(f"pane '{pane}': attempt {attempt} started")


__all__ = ['restart', 'send']
