"""`review`, `diff`, `conflicts`, `runs`: thin commands over `review`, and their rendering."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from agentmux import git
from agentmux.cli.options import session_option
from agentmux.units import fmt_duration


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} ({round(100 * num / den)}%)" if den else f"{num}/{den}"


def _outcome(p: dict[str, Any]) -> str:
    if p["signal"]:
        return f"{p['state']} ({p['signal']})"
    if p["exit_code"] is not None:
        return f"{p['state']} (exit {p['exit_code']})"
    return str(p["state"]) + (f" ({p['reason']})" if p.get("reason") else "")


def _lines(p: dict[str, Any]) -> str:
    return f"+{p['added']} -{p['removed']}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in the text, so output cannot close it."""
    longest = max((len(x) for line in lines for x in re.findall("`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _num(v: int | None) -> str:
    return "-" if v is None else str(v)


def metric_lines(m: dict[str, Any]) -> list[tuple[str, str]]:
    conflicts = _pct(m["conflicting_pairs"], m["pairs"]) + " pairs"
    if m["conflicting_agents"]:
        conflicts += ": " + ", ".join(m["conflicting_agents"])
    speed = "-" if m["speedup"] is None else f"{m['speedup']:.2f}x"
    return [
        ("completion", _pct(m["done"], m["agents"]) + " done"),
        ("conflicts", conflicts),
        ("overlap", _n(len(m["overlap_files"]), "file")
         + (": " + ", ".join(m["overlap_files"]) if m["overlap_files"] else "")),
        ("wall-clock", fmt_duration(m["wall_clock_s"])),
        ("agent-time", fmt_duration(m["agent_time_s"])),
        ("speed-up", speed),
        ("out of scope", _n(m.get("out_of_scope_edits") or 0, "edit")),
    ]


def render_text(data: dict[str, Any], with_metrics: bool = True) -> str:
    run = data["run"]
    out = [f"agentmux review · run {run['id']} · session {run['session']}"]
    for p in data["panes"]:
        out += ["", f"── {p['name']} · {_outcome(p)} · {fmt_duration(p['duration_s'])}"]
        where = p["branch"] or "-"
        ahead = "-" if p["commits_ahead"] is None else _n(p["commits_ahead"], "commit")
        extra = " · uncommitted changes" if p["dirty"] else ""
        live = " · live (still running)" if p["source"] == "live" else ""
        out.append(f"   branch {where} · {ahead} ahead of base{extra}{live}")
        if p["source"] == "none":
            out.append("   no snapshot and no worktree: changes unknown")
        for c in p["commits"]:
            out.append(f"   {c['sha']} {c['subject']}")
        out.append(f"   {_n(len(p['files']), 'file')} ({_lines(p)})")
        for f in p["files"]:
            counts = f"+{_num(f['added'])} -{_num(f['removed'])}"
            out.append(f"     {f['status']}  {f['path']}  {counts}")
        if p["conflicts_with"]:
            out.append("   CONFLICTS with: " + ", ".join(p["conflicts_with"]))
        if p.get("out_of_scope"):
            out.append("   OUT OF SCOPE: " + ", ".join(p["out_of_scope"]))
        if p["tail"]:
            out.append("   last output:")
            out += [f"     │ {line}" for line in p["tail"]]
    if with_metrics:
        out += ["", "metrics"]
        out += [f"   {k:<12} {v}" for k, v in metric_lines(data["metrics"])]
    return "\n".join(out)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    run = data["run"]
    out = [f"## agentmux review: run `{run['id']}` (session `{run['session']}`)", "",
           "| Agent | Outcome | Duration | Commits | Files | +/- | Conflicts with |",
           "|---|---|---|---:|---:|---:|---|"]
    for p in data["panes"]:
        out.append("| " + " | ".join(_cell(x) for x in (
            p["name"], _outcome(p), fmt_duration(p["duration_s"]), _num(p["commits_ahead"]),
            len(p["files"]), _lines(p), ", ".join(p["conflicts_with"]) or "-")) + " |")
    out += ["", "### Metrics", "", "| Metric | Value |", "|---|---|"]
    out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in metric_lines(data["metrics"])]
    for p in data["panes"]:
        out += ["", f"<details><summary><b>{p['name']}</b>: {_cell(_outcome(p))}, "
                f"{_n(len(p['files']), 'file')} ({_lines(p)})</summary>", ""]
        if p["commits"]:
            out += [f"- `{c['sha']}` {c['subject']}" for c in p["commits"]] + [""]
        if p["files"]:
            out += ["| File | Status | + | - |", "|---|---|---:|---:|"]
            out += [f"| `{_cell(f['path'])}` | {f['status']} | {_num(f['added'])} | "
                    f"{_num(f['removed'])} |" for f in p["files"]] + [""]
        if p["tail"]:
            fence = _fence(p["tail"])
            out += [fence + "text", *p["tail"], fence, ""]
        out.append("</details>")
    return "\n".join(out) + "\n"


def render_matrix(data: dict[str, Any]) -> str:
    names: list[str] = data["agents"]
    hit = {(pr["a"], pr["b"]) for pr in data["pairs"] if pr["conflict"]}
    width = max([len(n) for n in names] + [5])
    out = [" " * (width + 5) + " ".join(f"{i + 1:>2}" for i in range(len(names)))]
    for i, a in enumerate(names):
        cells = ["-" if a == b else "X" if (a, b) in hit or (b, a) in hit else "."
                 for b in names]
        out.append(f"{i + 1:>2}  {a:<{width}} " + " ".join(f"{c:>2}" for c in cells))
    conflicting = [pr for pr in data["pairs"] if pr["conflict"]]
    out.append("")
    if not conflicting:
        out.append(f"no conflicts among {len(names)} agents ({len(data['pairs'])} pairs)")
    for pr in conflicting:
        out.append(f"{pr['a']} × {pr['b']}: " + ", ".join(pr["files"]))
    return "\n".join(out)


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
    from agentmux.find import find_run
    from agentmux.review import results as rv

    if as_json and markdown:
        raise click.UsageError("--json and --markdown exclude each other")
    data = rv.collect(find_run(session), pane)
    if compare_name is not None:
        from agentmux.review.compare import compare

        click.echo(compare(data, compare_name), nl=False)
    elif as_json:
        click.echo(json.dumps(data, indent=2))
    elif markdown:
        click.echo(render_markdown(data), nl=False)
    else:
        click.echo(render_text(data, with_metrics=pane is None))


@click.command()
@click.argument("pane")
@session_option
@click.option("--stat", is_flag=True, help="Only the files and their line counts.")
def diff(pane: str, session: str | None, stat: bool) -> None:
    """The agent's change from its base: its snapshot, or its live worktree while it runs."""
    from agentmux.find import find_run
    from agentmux.review import results as rv

    repo, base, commit = rv.diff_target(find_run(session), pane)
    sys.stdout.flush()
    git.show_diff(repo, base, commit, stat)


@click.command()
@session_option
@click.option("--json", "as_json", is_flag=True, help="The machine-readable contract.")
def conflicts(session: str | None, as_json: bool) -> None:
    """Every pair of agents merged in memory (git merge-tree): which ones conflict, on what."""
    from agentmux.find import find_run
    from agentmux.review import results as rv

    data = rv.conflicts(find_run(session))
    click.echo(json.dumps(data, indent=2) if as_json else render_matrix(data))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Every run and its metrics as JSON.")
def runs(as_json: bool) -> None:
    """Every run of this repository, newest first, with its metrics."""
    from agentmux.find import all_runs
    from agentmux.review import results as rv

    repo, run_dirs = all_runs(Path.cwd())
    found = list(rv.runs(run_dirs))
    if as_json:
        click.echo(json.dumps({"version": rv.VERSION, "runs": found}, indent=2))
        return
    if not found:
        click.echo(f"no runs in {repo}")
        return
    head = ("RUN", "SESSION", "STATE", "COMPLETED", "CONFLICTS", "WALL-CLOCK", "SPEED-UP")
    body = []
    damaged = []
    for r in found:
        if "error" in r:
            damaged.append(f"{r['id']}  (damaged: {r['error']})")
            continue
        m = r["metrics"]
        body.append((r["id"], str(r["session"]), str(r["state"] or "-"),
                     _pct(m["done"], m["agents"]), _pct(m["conflicting_pairs"], m["pairs"]),
                     fmt_duration(m["wall_clock_s"]),
                     "-" if m["speedup"] is None else f"{m['speedup']:.2f}x"))
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    for row in [head, *body]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    # A damaged run must not hide the others; its whole message says which file and why.
    for line in damaged:
        click.echo(line)


__all__ = ['conflicts', 'diff', 'review', 'runs']
