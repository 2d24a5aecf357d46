"""`agentmux doctor`: registered on the main group from here, so cli.py stays one import."""

from __future__ import annotations

from pathlib import Path

import click

from agentmux.cli.options import LAYOUT, here


@click.command()
@click.argument("layout_path", metavar="[LAYOUT]", type=LAYOUT, required=False)
@click.option("--fix", is_flag=True,
              help="Repair what can be repaired without losing work (never deletes any).")
@click.pass_context
def doctor(ctx: click.Context, layout_path: Path | None, fix: bool) -> None:
    """Check tmux, git, the ledger, worktrees, branches, sessions and locks; with LAYOUT,
    also every host it declares: ssh, tmux, git, python3, the clone and its history."""
    from agentmux import doctor as doc

    findings, hosts = doc.diagnose_with_hosts(here(), layout_path, fix=fix)
    click.echo(doc.render(findings, hosts))
    code = doc.exit_code(findings, hosts)
    if code:
        ctx.exit(code)


__all__ = ['doctor']
