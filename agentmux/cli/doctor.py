"""`agentmux doctor`: registered on the main group from here, so cli.py stays one import."""

from __future__ import annotations

import click

from agentmux.cli.options import here


@click.command()
@click.option("--fix", is_flag=True,
              help="Repair what can be repaired without losing work (never deletes any).")
@click.pass_context
def doctor(ctx: click.Context, fix: bool) -> None:
    """Check tmux, git, the ledger, worktrees, branches, sessions and locks."""
    from agentmux import doctor as doc

    findings = doc.diagnose(here(), fix=fix)
    click.echo(doc.render(findings))
    if doc.remaining(findings):
        ctx.exit(1)


__all__ = ['doctor']
