"""The task brief, `runs/<run>/panes/<pane>/TASK.md`: everything one agent needs, up front.

It holds the objective, the pane's scope, its context files (listed, and inlined as they are
at base up to a budget) and the rules of working in parallel. It lives in the ledger, which
git ignores, so it never shows up in the agent's `git status` or in its commits.

Inlining limits: at most 32 KiB of each file and 128 KiB in all. A longer file is cut at the
last line break before the limit, with a note saying how much is shown; once the total is
spent, the remaining files are listed only. Files over 1 MiB, and files that are not UTF-8
text, are listed only. The agent can always read the whole file: it is in its worktree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import git
from agentmux.units import fence as code_fence

FILE_LIMIT = 32 * 1024
TOTAL_LIMIT = 128 * 1024
READ_LIMIT = 1024 * 1024   # larger files are not even read


@dataclass(frozen=True)
class Context:
    path: str
    size: int | None           # bytes at base; None when git does not list it
    text: str | None           # the whole text, None when not inlinable
    why_not: str = ""          # why text is None


def read_context(repo: Path, base: str, paths: Iterable[str]) -> dict[str, Context]:
    """The context files at base, read in-process from base's tree."""
    wanted = sorted(set(paths))
    if not wanted:
        return {}
    out = {}
    with git.Repo(repo) as r:
        sizes = r.blob_sizes(base, wanted)
        for path in wanted:
            size = sizes.get(path)
            if size is None:
                out[path] = Context(path, None, None, "not a file at base")
            elif size > READ_LIMIT:
                out[path] = Context(path, size, None, f"too large to inline ({_kib(size)})")
            else:
                try:
                    text: str | None = r.blob(base, path).decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                if text is None or "\0" in text:
                    out[path] = Context(path, size, None, "not UTF-8 text")
                else:
                    out[path] = Context(path, size, text)
    return out


def _kib(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.1f} KiB"


def _cut(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    head = raw[:limit]
    nl = head.rfind(b"\n")
    if nl > 0:
        head = head[:nl + 1]
    return head.decode("utf-8", "ignore")


def render(
    pane: str,
    task: str,
    scope: Sequence[str],
    context: Sequence[Context],
    where: Mapping[str, str],
    base: str,
) -> str:
    lines = [f"# Task brief: {pane}", "",
             "You are one of several agents working at the same time on this repository, each "
             "in its own place. This brief is your whole assignment: everything you need is "
             "here or in the files it names.", "", "## Objective", ""]
    lines.append(task.strip() if task.strip() else
                 "(The layout gives no task text: the person who started you will tell you.)")
    lines += ["", "## Scope", ""]
    if scope:
        lines.append("Change only files whose path (from the repository root) matches one of:")
        lines += [f"- `{g}`" for g in scope]
        lines += ["", "`*` stays within one folder, `**` spans folders, `dir/**` is everything "
                  "inside dir. Other agents own the other files: do not edit them."]
    else:
        lines.append("No scope was declared. Change only what the objective needs.")
    lines += _context(context, base)
    rules = [
        "Stay in scope. If the objective needs a change outside it, do not make it: say so "
        "in your final message.",
        "Commit your work on your branch (`git add -A && git commit -m ...`) before you "
        "finish. Uncommitted work may be missed.",
        "Do not wait for, ask for, or build on other agents' work. They cannot see your "
        "branch and you cannot see theirs; isolation replaces coordination.",
        "When the objective is met (and its checks pass), stop.",
    ]
    lines += ["", "## Rules", ""] + [f"{n}. {r}" for n, r in enumerate(rules, 1)]
    lines += ["", "## Where", ""] + [f"- {k}: `{v}`" for k, v in where.items() if v]
    return "\n".join(lines) + "\n"


def _context(context: Sequence[Context], base: str) -> list[str]:
    if not context:
        return []
    lines = ["", "## Context", "",
             f"Read these files first (paths from the repository root, as at base "
             f"{base[:12]}):", ""]
    budget = TOTAL_LIMIT
    bodies: list[str] = []
    for c in context:
        size = f"{_kib(c.size)}" if c.size is not None else "size unknown"
        if c.text is None:
            lines.append(f"- `{c.path}` ({size}; {c.why_not}: read it from the file)")
            continue
        if budget <= 0:
            lines.append(f"- `{c.path}` ({size}; not inlined: the {_kib(TOTAL_LIMIT)} budget "
                         "for inlined context is used up, read it from the file)")
            continue
        shown = _cut(c.text, min(FILE_LIMIT, budget))
        used = len(shown.encode("utf-8"))
        budget -= used
        whole = len(c.text.encode("utf-8"))
        lines.append(f"- `{c.path}` ({size}; inlined below"
                     + ("" if used == whole else ", truncated") + ")")
        fence = code_fence(shown)
        body = [f"### {c.path}", "", fence, shown.rstrip("\n"), fence]
        if used < whole:
            body += ["", f"[truncated: the first {used} of {whole} bytes are shown; read the "
                     f"rest in the file]"]
        bodies += ["", *body]
    return lines + bodies
