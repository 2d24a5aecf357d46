"""Text for the terminal and Markdown for pull requests: the commands' output, apart from the
commands, so that each command only parses, calls one core function and prints this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agentmux.records.outcome import FileChange, ProvisionedFile, UnseenFile
from agentmux.review.compare import Attempt
from agentmux.review.report import Conflicts, DamagedRun, Metrics, PaneReport, Review, RunSummary
from agentmux.units import fence, fmt_duration


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} ({round(100 * num / den)}%)" if den else f"{num}/{den}"


def _outcome(p: PaneReport) -> str:
    """`stopped (down, exit 0)`: the state, why, and how the process ended."""
    how = p.signal or (f"exit {p.exit_code}" if p.exit_code is not None else None)
    bits = [b for b in (p.reason, how) if b]
    return p.state + (f" ({', '.join(bits)})" if bits else "")


def _lines(p: PaneReport) -> str:
    return f"+{p.added} -{p.removed}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _num(v: int | None) -> str:
    return "-" if v is None else str(v)


def _speedup(m: Metrics) -> str:
    return "-" if m.speedup is None else f"{m.speedup:.2f}x"


# --- review -----------------------------------------------------------------------------------

def metric_lines(m: Metrics) -> list[tuple[str, str]]:
    conflicts = _pct(m.conflicting_pairs, m.pairs) + " pairs"
    if m.conflicting_agents:
        conflicts += ": " + ", ".join(m.conflicting_agents)
    return [
        ("completion", _pct(m.done, m.agents) + " done"),
        ("conflicts", conflicts),
        ("overlap", _n(len(m.overlap_files), "file")
         + (": " + ", ".join(m.overlap_files) if m.overlap_files else "")),
        ("wall-clock", fmt_duration(m.wall_clock_s)),
        ("agent-time", fmt_duration(m.agent_time_s)),
        ("speed-up", _speedup(m)),
        ("out of scope", _n(m.out_of_scope_edits or 0, "edit")),
        *([("tokens", _tokens(m.tokens_in, m.tokens_out))] if m.tokens_in is not None else []),
        *([("cost", f"${m.cost_usd:.4f}")] if m.cost_usd is not None else []),
    ]


def _tokens(tokens_in: object, tokens_out: object) -> str:
    return f"{tokens_in or 0} in, {tokens_out or 0} out"


def usage_lines(u: Mapping[str, object]) -> list[str]:
    """A headless run's usage (as its stream reported it), for the review of its agent."""
    parts = [_tokens(u.get("tokens_in"), u.get("tokens_out"))]
    cost, turns = u.get("cost_usd"), u.get("turns")
    if isinstance(cost, int | float):
        parts.append(f"${cost:.4f}")
    if isinstance(turns, int | float) and turns:
        parts.append(_n(int(turns), "turn"))
    out = ["   usage: " + " · ".join(parts)]
    if u.get("error"):
        out.append(f"   ERROR reported by the agent: {u['error']}")
    if u.get("final_message"):
        first, *rest = str(u["final_message"]).strip().splitlines() or [""]
        out.append(f"   final message: {first}" + (" …" if rest else ""))
    return out


def review_text(data: Review, with_metrics: bool = True) -> str:
    out = [f"agentmux review · run {data.run_id} · session {data.session}"]
    for p in data.panes:
        out += ["", f"── {p.name} · {_outcome(p)} · {fmt_duration(p.duration_s)}"]
        where = p.branch or "-"
        ahead = "-" if p.commits_ahead is None else _n(p.commits_ahead, "commit")
        extra = " · uncommitted changes" if p.dirty else ""
        note = p.source_note
        live = f" · {note}" if note and p.source == "live" else ""
        out.append(f"   branch {where} · {ahead} ahead of base{extra}{live}")
        if note and p.source == "none":
            out.append(f"   {note}")
        for c in p.commits:
            out.append(f"   {c.sha} {c.subject}")
        out.append(f"   {_n(len(p.files), 'file')} ({_lines(p)})" + (
            f", and {_n(len(p.unseen), 'file')} git does not list" if p.unseen else ""))
        for f in p.files:
            out.append(f"     {f.status}  {f.path}  +{_num(f.added)} -{_num(f.removed)}")
        out += _unseen_lines(p.unseen) + _provisioned_lines(p.provisioned)
        if p.conflicts_with:
            out.append("   CONFLICTS with: " + ", ".join(p.conflicts_with))
        if p.out_of_scope:
            out.append("   OUT OF SCOPE: " + ", ".join(p.out_of_scope))
        if p.usage:
            out += usage_lines(p.usage)
        if p.tail:
            out.append("   last output:")
            out += [f"     │ {line}" for line in p.tail]
    if with_metrics:
        out += ["", "metrics"]
        out += [f"   {k:<12} {v}" for k, v in metric_lines(data.metrics)]
    return "\n".join(out)


def _unseen_lines(unseen: Sequence[UnseenFile]) -> list[str]:
    return [f"     ?  {u.path}  ({u.why}; "
            f"{'in the snapshot' if u.in_snapshot else 'NOT in the snapshot'})"
            for u in unseen]


def _provisioned_lines(copies: Sequence[ProvisionedFile]) -> list[str]:
    """Only whether a provisioned file changed: its content may be a secret."""
    out = []
    for c in copies:
        if c.state != "unchanged":
            out.append(f"   {c.state} provisioned file {c.path} (placed by `copy`; "
                       "content not shown)")
        if c.committed:
            out.append(f"   provisioned file {c.path} is committed on the branch; "
                       "merge refuses it")
    return out


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def review_markdown(data: Review) -> str:
    out = [f"## agentmux review: run `{data.run_id}` (session `{data.session}`)", "",
           "| Agent | Outcome | Duration | Commits | Files | +/- | Conflicts with |",
           "|---|---|---|---:|---:|---:|---|"]
    for p in data.panes:
        out.append("| " + " | ".join(_cell(x) for x in (
            p.name, _outcome(p), fmt_duration(p.duration_s), _num(p.commits_ahead),
            len(p.files), _lines(p), ", ".join(p.conflicts_with) or "-")) + " |")
    out += ["", "### Metrics", "", "| Metric | Value |", "|---|---|"]
    out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in metric_lines(data.metrics)]
    for p in data.panes:
        out += ["", f"<details><summary><b>{p.name}</b>: {_cell(_outcome(p))}, "
                f"{_n(len(p.files), 'file')} ({_lines(p)})</summary>", ""]
        if p.commits:
            out += [f"- `{c.sha}` {c.subject}" for c in p.commits] + [""]
        if p.files:
            out += ["| File | Status | + | - |", "|---|---|---:|---:|"]
            out += [f"| `{_cell(f.path)}` | {f.status} | {_num(f.added)} | "
                    f"{_num(f.removed)} |" for f in p.files] + [""]
        notes = [line.strip() for line in _unseen_lines(p.unseen)]
        notes += [line.strip() for line in _provisioned_lines(p.provisioned)]
        if notes:
            out += [f"- {_cell(n)}" for n in notes] + [""]
        if p.tail:
            mark = fence("\n".join(p.tail))
            out += [mark + "text", *p.tail, mark, ""]
        out.append("</details>")
    return "\n".join(out) + "\n"


def conflict_matrix(data: Conflicts) -> str:
    names = data.agents
    hit = {(pr.a, pr.b) for pr in data.pairs if pr.conflict}
    width = max([len(n) for n in names] + [5])
    out = [" " * (width + 5) + " ".join(f"{i + 1:>2}" for i in range(len(names)))]
    for i, a in enumerate(names):
        cells = ["-" if a == b else "X" if (a, b) in hit or (b, a) in hit else "."
                 for b in names]
        out.append(f"{i + 1:>2}  {a:<{width}} " + " ".join(f"{c:>2}" for c in cells))
    conflicting = [pr for pr in data.pairs if pr.conflict]
    out.append("")
    if not conflicting:
        out.append(f"no conflicts among {len(names)} agents ({len(data.pairs)} pairs)")
    for pr in conflicting:
        out.append(f"{pr.a} × {pr.b}: " + ", ".join(pr.files))
    return "\n".join(out)


def runs(repo: Path, found: Sequence[RunSummary | DamagedRun]) -> str:
    if not found:
        return f"no runs in {repo}"
    rows = [("RUN", "SESSION", "STATE", "COMPLETED", "CONFLICTS", "WALL-CLOCK", "SPEED-UP")]
    damaged = []
    for r in found:
        if isinstance(r, DamagedRun):
            damaged.append(f"{r.id}  (damaged: {r.error})")
            continue
        m = r.metrics
        rows.append((r.id, str(r.session), r.state or "-",
                     _pct(m.done, m.agents), _pct(m.conflicting_pairs, m.pairs),
                     fmt_duration(m.wall_clock_s), _speedup(m)))
    # A damaged run must not hide the others; its whole message says which file and why.
    return "\n".join(table(rows) + damaged)


# --- review --compare -------------------------------------------------------------------------

def _attempt_outcome(p: PaneReport) -> str:
    if p.signal:
        return f"{p.state} ({p.signal})"
    if p.exit_code is not None:
        return f"{p.state} ({p.exit_code})"
    return p.state or "-"


def _sum_lines(files: Sequence[FileChange]) -> str:
    return f"+{sum(f.added or 0 for f in files)} -{sum(f.removed or 0 for f in files)}"


def comparison(name: str, found: Sequence[Attempt]) -> str:
    names = [a.name for a in found]
    rows = [
        ["", *names],
        ["outcome", *(_attempt_outcome(a.pane) for a in found)],
        ["check", *("-" if a.pane.check is None else a.pane.check.result for a in found)],
        ["duration", *(fmt_duration(a.pane.duration_s) for a in found)],
        ["files", *(str(len(a.files)) for a in found)],
        ["lines", *(_sum_lines(a.files) for a in found)],
        ["conflicts", *(", ".join(a.conflicts) or "none" for a in found)],
    ]
    out = [f"{name}: {len(found)} attempt{'s' if len(found) != 1 else ''}", "", *table(rows)]
    paths = sorted({f.path for a in found for f in a.files})
    if paths:
        grid = [["file", *names]]
        for path in paths:
            cells = []
            for a in found:
                f = next((f for f in a.files if f.path == path), None)
                cells.append("." if f is None else
                             f"{f.status or '?'} +{f.added or 0} -{f.removed or 0}")
            grid.append([path, *cells])
        out += ["", *table(grid)]
    out += ["", f"take one with `agentmux merge {names[0]}` (or another attempt's name)"]
    return "\n".join(out) + "\n"


# --- presets ----------------------------------------------------------------------------------

def presets(rows: Sequence[tuple[str, str, str, str]]) -> str:
    """NAME, FROM, WITH A TASK, WITHOUT A TASK: one row per preset."""
    head = ("NAME", "FROM", "WITH A TASK", "WITHOUT A TASK")
    return "\n".join([*table([head, *rows]), "", "{task} is the pane's task, quoted for the "
                      "shell; with brief = true it is \"Read your task brief at <path> and "
                      "follow it.\""])
