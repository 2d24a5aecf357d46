"""click commands `merge`, `clean` and `restore` on the main `cli` group."""

from __future__ import annotations

import click

from agentmux.cli.options import run_of, session_option
from agentmux.errors import WorkFailed


@click.command()
@click.argument("panes", nargs=-1, required=True, metavar="PANE...")
@session_option
@click.option("--into", metavar="BRANCH",
              help="Target branch (default: the branch checked out in the main checkout).")
@click.option("--strategy", type=click.Choice(["merge", "squash", "rebase"]), default="merge",
              show_default=True, help="merge: --no-ff merge commit; squash: one commit; "
              "rebase: a copy of the agent branch rebased, then fast-forwarded.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--include-uncommitted", is_flag=True,
              help="First commit each agent's uncommitted work (its snapshot) onto its branch.")
def merge(panes: tuple[str, ...], session: str | None, into: str | None, strategy: str,
          dry_run: bool, include_uncommitted: bool) -> None:
    """Merge agent branches in order; stop cleanly at the first conflict."""
    from agentmux.review import merge as mg

    out = mg.merge(run_of(session), panes, into, strategy, dry_run, include_uncommitted)
    click.echo(out.render())
    if out.stopped and not dry_run:
        what = out.conflict[0] if out.conflict else out.failed[0] if out.failed else "?"
        raise WorkFailed(f"merge queue stopped at '{what}'")


@click.command()
@click.argument("panes", nargs=-1, metavar="[PANE]...")
@session_option
@click.option("--force", is_flag=True,
              help="Keep uncommitted, untracked and ignored files, and files git does not list, "
              "aside (snapshot ref, ledger), then remove. Never deletes an unmerged branch.")
@click.option("--keep-branches", is_flag=True, help="Remove worktrees only; keep every branch.")
def clean(panes: tuple[str, ...], session: str | None, force: bool, keep_branches: bool) -> None:
    """Remove agent worktrees and merged branches; refuse anything that would lose work."""
    from agentmux.review import clean as cl

    for d in cl.clean(run_of(session), panes, force, keep_branches):
        if d.removed is not None:
            click.echo(f"{d.name}: removed {d.removed}")
        if d.snapshot:
            click.echo(f"{d.name}: files kept in snapshot {d.snapshot[:12]}")
        if d.copied:
            click.echo(f"{d.name}: ignored files kept in the ledger: {', '.join(d.copied)}")
        if d.unseen_kept:
            click.echo(f"{d.name}: files git cannot store kept in {d.aside}/unseen: "
                       + ", ".join(d.unseen_kept))
        if d.copies_kept:
            click.echo(f"{d.name}: changed provisioned files kept in {d.aside}/provisioned: "
                       + ", ".join(d.copies_kept))
        if d.copies_removed:
            click.echo(f"{d.name}: provisioned copies removed (the originals stay in the main "
                       f"checkout): {', '.join(d.copies_removed)}")
        if d.deleted:
            click.echo(f"{d.name}: disposable files deleted: {', '.join(d.deleted)}")
        if d.branch_deleted:
            click.echo(f"{d.name}: deleted branch {d.branch}")
        elif d.branch and d.branch_kept_why:
            click.echo(f"{d.name}: kept branch {d.branch} ({d.branch_kept_why})")


@click.command()
@click.argument("pane")
@session_option
def restore(pane: str, session: str | None) -> None:
    """Rebuild a cleaned worktree and branch from its snapshot, files uncommitted."""
    from agentmux.review.restore import restore as restore_pane

    tree, snap, put_back = restore_pane(run_of(session), pane)
    click.echo(f"{pane}: restored {tree} from snapshot {snap[:12]}")
    if put_back:
        click.echo(f"{pane}: files kept in the ledger put back: {', '.join(put_back)}")


__all__ = ['clean', 'merge', 'restore']
