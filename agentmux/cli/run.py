"""The run's life: up, status, attach, logs, watch, down, validate, trust."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from agentmux.cli.options import LAYOUT, run_of, session_option, socket_of


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
        from agentmux.find import hint

        # Printed as it must be typed here: with --repo when this folder is outside the
        # repository, and --session when another run would be found by default.
        click.echo(f"attach with: {hint(res.run_dir, 'attach', '[PANE]', tmux=True)}")


@click.command()
@session_option
@click.option("--json", "as_json", is_flag=True, help="The machine-readable contract.")
@click.option("--watch", "watch_", is_flag=True, help="Redraw every second until Ctrl-C.")
def status(session: str | None, as_json: bool, watch_: bool) -> None:
    """One row per agent: state, exit code or signal, start, duration, branch."""
    from agentmux import status as st
    from agentmux.find import gone, gone_note

    run_dir = run_of(session)
    while True:
        rows = st.rows(run_dir, keys=True)
        if as_json:
            click.echo(json.dumps(st.to_json(run_dir, rows), indent=2))
        else:
            if watch_:
                click.echo("\x1b[H\x1b[2J", nl=False)
            click.echo(st.format_rows(rows))
            for g in gone(run_dir):
                click.echo(f"note: {g.pane}: {gone_note(run_dir, g)}")
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

    control.attach(run_of(session), pane, zoom)


@click.command()
@click.argument("pane")
@session_option
@click.option("--raw", is_flag=True, help="The raw output stream, escape codes and all "
              "(to a pipe or a file: `--raw | less -R`, `--raw > FILE`).")
@click.option("--force", is_flag=True, help="With --raw: write to a terminal anyway.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the agent ends.")
def logs(pane: str, session: str | None, raw: bool, force: bool, follow: bool) -> None:
    """The pane's transcript (the screen and scrollback, rendered), or its raw output."""
    from agentmux import control

    control.logs(run_of(session), pane, raw, follow, force)


@click.command()
@session_option
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True)
def watch(session: str | None, run_dir: Path | None) -> None:
    """The watcher itself (`up` starts it in the session's `agentmux` window)."""
    from agentmux import ledger, status
    from agentmux.watch import loop as watcher

    watcher.watch(ledger.RunDir(run_dir) if run_dir else run_of(session),
                  lambda rd, state, last: status.render_table(rd, state, last, colour=True))


@click.command()
@session_option
@click.option("--grace", default=5.0, show_default=True, metavar="SECONDS",
              help="Wait this long after SIGINT, then after SIGTERM.")
def down(session: str | None, grace: float) -> None:
    """Capture transcripts, stop the agents gently, end the session. Worktrees stay."""
    from agentmux import control, status

    run_dir = run_of(session)
    res = control.down(run_dir, grace)
    click.echo(status.format_rows(status.rows(run_dir, res.state)))
    if res.ended:
        click.echo(f"ended {len(res.ended)} process{'es' if len(res.ended) != 1 else ''} the "
                   "agents left running: " + ", ".join(p.describe() for p in res.ended))
    for problem in res.problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(f"session '{run_dir.read_run()['session']}' ended; worktrees and the ledger "
               "are kept")


@click.command()
@click.argument("layout_path", metavar="LAYOUT", type=LAYOUT)
def validate(layout_path: Path) -> None:
    """Check a layout and print the resolved plan. Creates nothing."""
    from agentmux import layout, panespec

    lay = layout.load(layout_path)
    click.echo(layout.describe(lay, layout.plan(lay)))
    panespec.require_sandbox(lay.panes, layout_path)   # after the plan: it shows which panes


@click.command()
@click.argument("layout_path", metavar="LAYOUT", type=LAYOUT)
def trust(layout_path: Path) -> None:
    """Trust this exact layout file (content and path), so `up` may run its commands."""
    from agentmux import layout
    from agentmux import trust as tr

    raw = layout.read_bytes(layout_path)   # trusted: exactly the bytes checked here
    lay = layout.load(layout_path, raw, here=False)
    tr.trust(layout_path, raw)
    click.echo(f"trusted {layout_path.resolve()} ({len(lay.panes)} panes)")


__all__ = ['attach', 'down', 'logs', 'status', 'trust', 'up', 'validate', 'watch']
