"""Planning commands on the `cli` group: init, add, presets. Thin: parse, call, render."""

from __future__ import annotations

from pathlib import Path

import click

from agentmux.cli import render
from agentmux.cli.options import LAYOUT, run_of, session_option


@click.command()
@click.argument("tasks", nargs=-1, metavar="[TASK]...")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path),
              help="Tasks from a file: a Markdown checklist (- [ ] ...) or one per line.")
@click.option("--agent", default="claude", show_default=True, metavar="PRESET",
              help="The built-in preset every pane runs.")
@click.option("--isolation", type=click.Choice(["worktree", "none"]),
              help="worktree (the default in layouts) or none.")
@click.option("--base", metavar="REF", help="The commit agent branches start from.")
@click.option("--out", type=LAYOUT, default=Path("agentmux.toml"), show_default=True,
              help="The layout file to write; never overwritten.")
@click.option("--max-running", type=click.IntRange(min=1), metavar="N",
              help="A queue: at most N agents at once; the others wait, queued.")
def init(tasks: tuple[str, ...], from_file: Path | None, agent: str, isolation: str | None,
         base: str | None, out: Path, max_running: int | None) -> None:
    """Write a layout with one pane per task, and trust it."""
    from agentmux import init as init_

    draft = init_.init(tasks, from_file, agent=agent, isolation=isolation, base=base, out=out,
                       max_running=max_running)
    click.echo(f"wrote {out} ({len(draft.panes)} panes: "
               + ", ".join(name for name, _ in draft.panes) + ")")
    click.echo(f"check it with `agentmux validate {out}`, run it with `agentmux up {out}`")


@click.command()
@click.argument("name")
@click.option("--task", required=True, metavar="TEXT", help="What the new agent must do.")
@click.option("--agent", metavar="PRESET", help="A preset (built-in or the layout's own).")
@click.option("--command", "command", metavar="CMD", help="A command line instead of a preset.")
@click.option("--scope", multiple=True, metavar="GLOB", help="Files it may change (repeatable).")
@click.option("--host", metavar="NAME",
              help="Run it on this host of the run's layout ([hosts.NAME]).")
@session_option
def add(name: str, task: str, agent: str | None, command: str | None, scope: tuple[str, ...],
        host: str | None, session: str | None) -> None:
    """Add one more agent to the running session: a worktree, a pane, a ledger entry."""
    from agentmux.add import add as do_add

    run_dir = run_of(session)
    pane_id, plan = do_add(run_dir, name, task, agent=agent, command=command, scope=scope,
                           host=host)
    where = f" on branch {plan.branch}" if plan.branch else ""
    on = f" on host {host}" if host else ""
    click.echo(f"added {name} ({pane_id}) in window {plan.window}{on}{where}")


@click.command()
@click.option("--layout", "layout_path", type=LAYOUT, metavar="FILE",
              help="Also list this layout's own presets.")
def presets(layout_path: Path | None) -> None:
    """The agent presets, with the exact command each runs."""
    from agentmux import layout
    from agentmux import presets as pr

    rows = [(name, "built-in", pr.get(name).command, pr.get(name).no_task)
            for name in pr.names()]
    if layout_path is not None:
        lay = layout.load(layout_path, here=False)
        rows += [(name, str(layout_path), cmd, cmd) for name, cmd in sorted(lay.agents.items())]
    click.echo(render.presets(rows))


__all__ = ['add', 'init', 'presets']
