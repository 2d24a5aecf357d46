"""Text for the terminal and Markdown for pull requests: the commands' output, apart from the
commands, so that each command only parses, calls one core function and prints this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentmux.review.compare import Attempt
from agentmux.units import fence, fmt_duration


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} ({round(100 * num / den)}%)" if den else f"{num}/{den}"


def _outcome(p: Mapping[str, Any]) -> str:
    if p["signal"]:
        return f"{p['state']} ({p['signal']})"
    if p["exit_code"] is not None:
        return f"{p['state']} (exit {p['exit_code']})"
    return str(p["state"]) + (f" ({p['reason']})" if p.get("reason") else "")


def _lines(p: Mapping[str, Any]) -> str:
    return f"+{p['added']} -{p['removed']}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _num(v: int | None) -> str:
    return "-" if v is None else str(v)


def _speedup(m: Mapping[str, Any]) -> str:
    return "-" if m["speedup"] is None else f"{m['speedup']:.2f}x"


# --- review -----------------------------------------------------------------------------------

def metric_lines(m: Mapping[str, Any]) -> list[tuple[str, str]]:
    conflicts = _pct(m["conflicting_pairs"], m["pairs"]) + " pairs"
    if m["conflicting_agents"]:
        conflicts += ": " + ", ".join(m["conflicting_agents"])
    return [
        ("completion", _pct(m["done"], m["agents"]) + " done"),
        ("conflicts", conflicts),
        ("overlap", _n(len(m["overlap_files"]), "file")
         + (": " + ", ".join(m["overlap_files"]) if m["overlap_files"] else "")),
        ("wall-clock", fmt_duration(m["wall_clock_s"])),
        ("agent-time", fmt_duration(m["agent_time_s"])),
        ("speed-up", _speedup(m)),
        ("out of scope", _n(m.get("out_of_scope_edits") or 0, "edit")),
    ]


def review_text(data: Mapping[str, Any], with_metrics: bool = True) -> str:
    run = data["run"]
    out = [f"agentmux review · run {run['id']} · session {run['session']}"]
    for p in data["panes"]:
        out += ["", f"── {p['name']} · {_outcome(p)} · {fmt_duration(p['duration_s'])}"]
        where = p["branch"] or "-"
        ahead = "-" if p["commits_ahead"] is None else _n(p["commits_ahead"], "commit")
        extra = " · uncommitted changes" if p["dirty"] else ""
        note = p.get("source_note")
        live = f" · {note}" if note and p["source"] == "live" else ""
        out.append(f"   branch {where} · {ahead} ahead of base{extra}{live}")
        if note and p["source"] == "none":
            out.append(f"   {note}")
        for c in p["commits"]:
            out.append(f"   {c['sha']} {c['subject']}")
        unseen = p.get("unseen") or []
        out.append(f"   {_n(len(p['files']), 'file')} ({_lines(p)})" + (
            f", and {_n(len(unseen), 'file')} git does not list" if unseen else ""))
        for f in p["files"]:
            counts = f"+{_num(f['added'])} -{_num(f['removed'])}"
            out.append(f"     {f['status']}  {f['path']}  {counts}")
        out += _unseen_lines(unseen) + _provisioned_lines(p)
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


def _unseen_lines(unseen: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"     ?  {u['path']}  ({u['why']}; "
            f"{'in the snapshot' if u['in_snapshot'] else 'NOT in the snapshot'})"
            for u in unseen]


def _provisioned_lines(p: Mapping[str, Any]) -> list[str]:
    """Only whether a provisioned file changed: its content may be a secret."""
    out = []
    for c in p.get("provisioned") or []:
        if c["state"] != "unchanged":
            out.append(f"   {c['state']} provisioned file {c['path']} (placed by `copy`; "
                       "content not shown)")
        if c["committed"]:
            out.append(f"   provisioned file {c['path']} is committed on the branch; "
                       "merge refuses it")
    return out


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def review_markdown(data: Mapping[str, Any]) -> str:
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
        notes = [line.strip() for line in _unseen_lines(p.get("unseen") or [])]
        notes += [line.strip() for line in _provisioned_lines(p)]
        if notes:
            out += [f"- {_cell(n)}" for n in notes] + [""]
        if p["tail"]:
            mark = fence("\n".join(p["tail"]))
            out += [mark + "text", *p["tail"], mark, ""]
        out.append("</details>")
    return "\n".join(out) + "\n"


def conflict_matrix(data: Mapping[str, Any]) -> str:
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


def runs(repo: Path, found: Sequence[Mapping[str, Any]]) -> str:
    if not found:
        return f"no runs in {repo}"
    rows = [("RUN", "SESSION", "STATE", "COMPLETED", "CONFLICTS", "WALL-CLOCK", "SPEED-UP")]
    damaged = []
    for r in found:
        if "error" in r:
            damaged.append(f"{r['id']}  (damaged: {r['error']})")
            continue
        m = r["metrics"]
        rows.append((r["id"], str(r["session"]), str(r["state"] or "-"),
                     _pct(m["done"], m["agents"]), _pct(m["conflicting_pairs"], m["pairs"]),
                     fmt_duration(m["wall_clock_s"]), _speedup(m)))
    # A damaged run must not hide the others; its whole message says which file and why.
    return "\n".join(table(rows) + damaged)


# --- review --compare -------------------------------------------------------------------------

def _attempt_outcome(p: Mapping[str, Any]) -> str:
    state = str(p.get("state") or "-")
    if p.get("signal"):
        return f"{state} ({p['signal']})"
    if p.get("exit_code") is not None:
        return f"{state} ({p['exit_code']})"
    return state


def _check(p: Mapping[str, Any]) -> str:
    c = p.get("check")
    if isinstance(c, dict):
        c = c.get("passed", c.get("result"))
    if c is True:
        return "passed"
    if c is False:
        return "failed"
    return "-" if c is None else str(c)


def _sum_lines(files: Sequence[Mapping[str, Any]]) -> str:
    added = sum(int(f.get("added") or 0) for f in files)
    removed = sum(int(f.get("removed") or 0) for f in files)
    return f"+{added} -{removed}"


def _duration(p: Mapping[str, Any]) -> str:
    d = p.get("duration_s")
    return fmt_duration(d if isinstance(d, int | float) else None)


def comparison(name: str, found: Sequence[Attempt]) -> str:
    names = [a.name for a in found]
    rows = [
        ["", *names],
        ["outcome", *(_attempt_outcome(a.pane) for a in found)],
        ["check", *(_check(a.pane) for a in found)],
        ["duration", *(_duration(a.pane) for a in found)],
        ["files", *(str(len(a.files)) for a in found)],
        ["lines", *(_sum_lines(a.files) for a in found)],
        ["conflicts", *(", ".join(a.conflicts) or "none" for a in found)],
    ]
    out = [f"{name}: {len(found)} attempt{'s' if len(found) != 1 else ''}", "", *table(rows)]
    paths = sorted({str(f.get("path")) for a in found for f in a.files})
    if paths:
        grid = [["file", *names]]
        for path in paths:
            cells = []
            for a in found:
                f = next((f for f in a.files if str(f.get("path")) == path), None)
                cells.append("." if f is None else
                             f"{f.get('status') or '?'} +{f.get('added') or 0} "
                             f"-{f.get('removed') or 0}")
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
