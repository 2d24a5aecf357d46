"""`agentmux init`: a layout from a task list, one pane per task.

Tasks come from the command line, or from a file: a Markdown checklist (`- [ ] task`; checked
items are done and skipped, other lines are ignored), else one task per line (blank lines and
`#` lines skipped, a leading `- `/`* `/`1. ` bullet removed). Pane names are slugs of each
task's first words. The file is written with tomli-w, never over an existing one, and trusted:
it was made on this machine, from the user's own words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from agentmux import presets, trust
from agentmux.errors import BadInput, Refused
from agentmux.layout import PANE_RE, SESSION_RE, WATCHER_WINDOW

CHECKBOX = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s+(.*?)\s*$")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
MAX_WORDS = 4
MAX_NAME = 40


def parse_tasks(text: str) -> list[str]:
    lines = text.splitlines()
    boxes = [CHECKBOX.match(line) for line in lines]
    if any(boxes):
        return [m[2] for m in boxes if m and m[1] == " " and m[2]]
    out = []
    for line in lines:
        task = BULLET.sub("", line).strip()
        if task and not line.lstrip().startswith("#"):
            out.append(task)
    return out


def slug(task: str, taken: Iterable[str] = ()) -> str:
    """A pane name from the task's first words, matching PANE_RE and unlike any in `taken`."""
    ascii_text = unicodedata.normalize("NFKD", task).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:MAX_WORDS]
    name = ""
    for w in words:
        longer = f"{name}-{w}" if name else w
        if len(longer) > MAX_NAME:
            break
        name = longer
    name = name or (words[0][:MAX_NAME] if words else "task")
    if name == WATCHER_WINDOW:
        name = "agentmux-task"
    used = set(taken)
    unique, n = name, 1
    while unique in used:
        n += 1
        suffix = f"-{n}"
        unique = name[:MAX_NAME - len(suffix)].rstrip("-_") + suffix
    assert PANE_RE.fullmatch(unique), unique
    return unique


@dataclass(frozen=True)
class Draft:
    """The layout `init` writes: only what was given, so the file shows the defaults apply."""

    session: str
    agent: str
    panes: tuple[tuple[str, str], ...]   # (name, task)
    base: str | None = None
    isolation: str | None = None
    max_running: int | None = None


def build(tasks: Sequence[str], *, agent: str, isolation: str | None, base: str | None,
          session: str, max_running: int | None = None) -> Draft:
    if not tasks:
        raise BadInput("init: no tasks; give them as arguments or with --from FILE")
    if agent not in presets.BUILTINS:
        raise BadInput(f"init: --agent: expected one of {', '.join(presets.names())}; "
                       f"got {agent!r}")
    if isolation == "directory":
        raise BadInput("init: --isolation directory needs a dir per pane; write the "
                       "layout with worktree or none, then set each pane's dir")
    names: list[str] = []
    for task in tasks:
        names.append(slug(task, names))
    return Draft(session, agent, tuple(zip(names, tasks, strict=True)), base, isolation,
                 max_running)


def render(draft: Draft) -> str:
    """TOML with one `[[pane]]` table per task (tomli-w would inline short ones), and hints."""
    top: dict[str, object] = {"version": 1, "session": draft.session}
    if draft.base is not None:
        top["base"] = draft.base
    if draft.isolation is not None:
        top["isolation"] = draft.isolation
    if draft.max_running is not None:
        top["max_running"] = draft.max_running
    parts = ["# Written by `agentmux init`. Give each pane a scope (globs) and its context\n"
             "# (files), so that no two agents touch the same files; `agentmux validate`\n"
             "# checks it.\n", tomli_w.dumps(top)]
    for name, task in draft.panes:
        pane = {"name": name, "agent": draft.agent, "task": task}
        parts.append("\n[[pane]]\n" + tomli_w.dumps(pane)
                     + "# scope = []      # globs of the files only this agent may change\n"
                     "# context = []    # files it must read first\n")
    return "".join(parts)


def session_for(out: Path) -> str:
    stem = out.stem
    return stem if SESSION_RE.fullmatch(stem) else "agents"


def init(tasks: Sequence[str], from_file: Path | None, *, agent: str, isolation: str | None,
         base: str | None, out: Path, max_running: int | None = None) -> Draft:
    all_tasks = [t.strip() for t in tasks if t.strip()]
    if from_file is not None:
        try:
            all_tasks += parse_tasks(from_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"init: cannot read {from_file}: {e}") from None
    if out.exists() or out.is_symlink():
        raise Refused(f"init: {out} already exists; pick another --out, or remove it first")
    draft = build(all_tasks, agent=agent, isolation=isolation, base=base,
                  session=session_for(out), max_running=max_running)
    body = render(draft)
    try:
        with open(out, "x", encoding="utf-8") as f:   # "x": never replace a file made meanwhile
            f.write(body)
    except FileExistsError:
        raise Refused(f"init: {out} already exists; pick another --out, or remove it "
                      "first") from None
    trust.trust(out, body.encode("utf-8"))  # exactly what was written
    return draft
