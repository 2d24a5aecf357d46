"""`review`, `diff`, `conflicts`, `runs`: thin commands over `review`; cli.render draws."""

from __future__ import annotations

import json
import sys

import click

from agentmux import git
from agentmux.cli import render
from agentmux.cli.options import here, run_of, session_option


@click.command()
@click.argument("pane", required=False)
@session_option
@click.option("--json", "as_json", is_flag=True, help="The machine-readable contract.")
@click.option("--markdown", is_flag=True, help="A report to paste into a pull request.")
@click.option("--compare", "compare_name", metavar="NAME",
              help="Put the attempts of a `count = N` pane side by side.")
def review(pane: str | None, session: str | None, as_json: bool, markdown: bool,
           compare_name: str | None) -> None:
    """Per agent: outcome, commits, files, conflicts, last output; then the run's metrics."""
    from agentmux.review import results as rv

    if as_json and markdown:
        raise click.UsageError("--json and --markdown exclude each other")
    data = rv.collect(run_of(session), pane)
    if compare_name is not None:
        from agentmux.review.compare import compare

        click.echo(render.comparison(compare_name, compare(data, compare_name)), nl=False)
    elif as_json:
        click.echo(json.dumps(data.to_json(), indent=2))
    elif markdown:
        click.echo(render.review_markdown(data), nl=False)
    else:
        click.echo(render.review_text(data, with_metrics=pane is None))


@click.command()
@click.argument("pane")
@session_option
@click.option("--stat", is_flag=True, help="Only the files and their line counts.")
def diff(pane: str, session: str | None, stat: bool) -> None:
    """The agent's change from its base: its snapshot, or its live worktree while it runs."""
    from agentmux.review import results as rv

    repo, base, commit, hidden = rv.diff_target(run_of(session), pane)
    sys.stdout.flush()
    git.show_diff(repo, base, commit, stat, exclude=hidden)


@click.command()
@session_option
@click.option("--json", "as_json", is_flag=True, help="The machine-readable contract.")
def conflicts(session: str | None, as_json: bool) -> None:
    """Every pair of agents merged in memory (git merge-tree): which ones conflict, on what."""
    from agentmux.review import results as rv

    data = rv.conflicts(run_of(session))
    click.echo(json.dumps(data.to_json(), indent=2) if as_json
               else render.conflict_matrix(data))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Every run and its metrics as JSON.")
def runs(as_json: bool) -> None:
    """Every run of this repository, newest first, with its metrics."""
    from agentmux.find import all_runs
    from agentmux.review import results as rv

    repo, run_dirs = all_runs(here())
    found = rv.runs(run_dirs)
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    click.echo(render.runs(repo, found.runs))


__all__ = ['conflicts', 'diff', 'review', 'runs']
