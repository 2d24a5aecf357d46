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
@click.option("--continue", "resume", is_flag=True,
              help="Resume the agent's last conversation (its CLI's own resume flag).")
@session_option
def restart(pane: str, resume: bool, session: str | None) -> None:
    """Run PANE's agent again on the same worktree; earlier attempts are kept in the ledger."""
    from agentmux import paneops

    attempt = paneops.restart(run_of(session), pane, resume)
    how = " (resuming its conversation)" if resume else ""
    click.echo(f"pane '{pane}': attempt {attempt} started{how}")


@click.command("wait")
@click.argument("panes", nargs=-1, metavar="[PANE]...")
@click.option("--for", "target", required=True, type=click.Choice(["idle", "waiting", "ended"]),
              help="idle: its turn ended; waiting: it needs a person; ended: any final state.")
@click.option("--timeout", metavar="DURATION", help="Give up after this long (90s, 5m, 1h).")
@session_option
def wait_(panes: tuple[str, ...], target: str, timeout: str | None,
          session: str | None) -> None:
    """Return when every PANE (all panes, with none named) reaches a state.

    Exit 0 when they all got there; 1 when the timeout passed first, or a pane ended before
    it could get there; 2 for bad input."""
    from agentmux import waitfor
    from agentmux.errors import BadInput
    from agentmux.units import parse_duration

    seconds = None
    if timeout is not None:
        seconds = parse_duration(timeout)
        if seconds is None:
            raise BadInput(f"wait --timeout: expected a duration such as 90s, 5m or 1h; got "
                           f"{timeout!r}")
    reached = waitfor.wait_for(run_of(session), list(panes), target, seconds)
    for name, st in reached.items():
        click.echo(f"{name}: {st.state}" + (f" ({st.reason})" if st.reason else ""))


__all__ = ['restart', 'send', 'wait_']
