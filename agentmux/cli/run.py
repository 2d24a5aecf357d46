"""The run's life: up, status, attach, logs, watch, down, validate, trust."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from agentmux.cli.options import LAYOUT, session_option, socket_of


@click.command()
@click.argument("layout_path", metavar="LAYOUT", type=LAYOUT)
@click.option("-d", "--detach", is_flag=True, help="Do not attach, even in a terminal.")
@click.option("--only", multiple=True, metavar="NAME", help="Start only these panes.")
@click.option("--trust", "trust_it", is_flag=True, help="Trust this layout, then run it.")
@click.pass_context
def up(ctx: click.Context, layout_path: Path, detach: bool, only: tuple[str, ...],
       trust_it: bool) -> None:
    """Create the worktrees, build the session, start the watcher, attach."""
    from agentmux.up import up as do_up

    res = do_up(layout_path, socket=socket_of(ctx), only=only, trusted=trust_it)
    if res.started:
        n = len(res.panes)
        click.echo(f"run {res.run_dir.id}: {n} agent{'' if n == 1 else 's'} in tmux session "
                   f"'{res.session}'")
    else:
        click.echo(f"session '{res.session}' is already running (run {res.run_dir.id}); "
                   "nothing was created")
    if not detach and sys.stdin.isatty() and sys.stdout.isatty():
        # Imported only to attach: `up -d` does not pay for control and the watcher loop.
        from agentmux import control
        from agentmux.errors import EnvironmentProblem

        try:
            control.attach(res.run_dir, None, False)
        except EnvironmentProblem as e:
            # The agents are up; only attaching from here is not possible (another server).
            click.echo(f"not attaching: {e}")
    else:
        sock = f" --socket {res.socket}" if res.socket else ""
        click.echo(f"attach with: agentmux{sock} attach [PANE]")


@click.command()
@session_option
@click.option("--json", "as_json", is_flag=True, help="The machine-readable contract.")
@click.option("--watch", "watch_", is_flag=True, help="Redraw every second until Ctrl-C.")
def status(session: str | None, as_json: bool, watch_: bool) -> None:
    """One row per agent: state, exit code or signal, start, duration, branch."""
    from agentmux import status as st
    from agentmux.find import find_run

    run_dir = find_run(session)
    while True:
        rows = st.rows(run_dir)
        if as_json:
            click.echo(json.dumps(st.to_json(run_dir, rows), indent=2))
        else:
            if watch_:
                click.echo("\x1b[H\x1b[2J", nl=False)
            click.echo(st.format_rows(rows))
            for r in rows:
                if r.worktree and not Path(r.worktree).is_dir():
                    click.echo(f"note: {r.name}: worktree {r.worktree} is missing; "
                               "`agentmux up` checks its branch out there again")
        if not watch_:
            return
        time.sleep(1.0)  # poll: redraw interval


@click.command()
@click.argument("pane", required=False)
@session_option
@click.option("--zoom", is_flag=True, help="Zoom the pane to the whole window.")
def attach(pane: str | None, session: str | None, zoom: bool) -> None:
    """Attach to the session with PANE selected (switch-client inside tmux)."""
    from agentmux import control
    from agentmux.find import find_run

    control.attach(find_run(session), pane, zoom)


@click.command()
@click.argument("pane")
@session_option
@click.option("--raw", is_flag=True, help="The raw output stream, escape codes and all.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the agent ends.")
def logs(pane: str, session: str | None, raw: bool, follow: bool) -> None:
    """The pane's transcript (rendered screen and scrollback), or its raw output."""
    from agentmux import control
    from agentmux.find import find_run

    control.logs(find_run(session), pane, raw, follow)


@click.command()
@session_option
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True)
def watch(session: str | None, run_dir: Path | None) -> None:
    """The watcher itself (`up` starts it in the session's `agentmux` window)."""
    from agentmux import ledger, status
    from agentmux.find import find_run
    from agentmux.watch import loop as watcher

    watcher.watch(ledger.RunDir(run_dir) if run_dir else find_run(session),
                  lambda rd, state: status.render_table(rd, state, colour=True))


@click.command()
@session_option
@click.option("--grace", default=5.0, show_default=True, metavar="SECONDS",
              help="Wait this long after SIGINT, then after SIGTERM.")
def down(session: str | None, grace: float) -> None:
    """Capture transcripts, stop the agents gently, end the session. Worktrees stay."""
    from agentmux import control, status
    from agentmux.find import find_run

    run_dir = find_run(session)
    state = control.down(run_dir, grace)
    click.echo(status.format_rows(status.rows(run_dir, state)))
    click.echo(f"session '{run_dir.read_run()['session']}' ended; worktrees and the ledger "
               "are kept")


@click.command()
@click.argument("layout_path", metavar="LAYOUT", type=LAYOUT)
def validate(layout_path: Path) -> None:
    """Check a layout and print the resolved plan. Creates nothing."""
    from agentmux import layout

    lay = layout.load(layout_path)
    click.echo(layout.describe(lay, layout.plan(lay)))


@click.command()
@click.argument("layout_path", metavar="LAYOUT", type=LAYOUT)
def trust(layout_path: Path) -> None:
    """Trust this exact layout file (content and path), so `up` may run its commands."""
    from agentmux import layout
    from agentmux import trust as tr

    lay = layout.load(layout_path)
    tr.trust(layout_path)
    click.echo(f"trusted {layout_path.resolve()} ({len(lay.panes)} panes)")


__all__ = ['attach', 'down', 'logs', 'status', 'trust', 'up', 'validate', 'watch']
