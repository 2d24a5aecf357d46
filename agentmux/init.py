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
from pathlib import Path
from typing import Any

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


def build(tasks: Sequence[str], *, agent: str, isolation: str | None, base: str | None,
          session: str) -> dict[str, Any]:
    if not tasks:
        raise BadInput("init: no tasks; give them as arguments or with --from FILE")
    if agent not in presets.BUILTINS:
        raise BadInput(f"init: --agent: expected one of {', '.join(presets.names())}; "
                       f"got {agent!r}")
    data: dict[str, Any] = {"version": 1, "session": session}
    if base is not None:
        data["base"] = base
    if isolation is not None:
        if isolation == "directory":
            raise BadInput("init: --isolation directory needs a dir per pane; write the "
                           "layout with worktree or none, then set each pane's dir")
        data["isolation"] = isolation
    names: list[str] = []
    panes = []
    for task in tasks:
        names.append(slug(task, names))
        panes.append({"name": names[-1], "agent": agent, "task": task})
    data["pane"] = panes
    return data


def render(data: dict[str, Any]) -> str:
    """TOML with one `[[pane]]` table per task (tomli-w would inline short ones), and hints."""
    top = {k: v for k, v in data.items() if k != "pane"}
    parts = ["# Written by `agentmux init`. Give each pane a scope (globs) and its context\n"
             "# (files), so that no two agents touch the same files; `agentmux validate`\n"
             "# checks it.\n", tomli_w.dumps(top)]
    for pane in data["pane"]:
        parts.append("\n[[pane]]\n" + tomli_w.dumps(pane)
                     + "# scope = []      # globs of the files only this agent may change\n"
                     "# context = []    # files it must read first\n")
    return "".join(parts)


def session_for(out: Path) -> str:
    stem = out.stem
    return stem if SESSION_RE.fullmatch(stem) else "agents"


def init(tasks: Sequence[str], from_file: Path | None, *, agent: str, isolation: str | None,
         base: str | None, out: Path) -> dict[str, Any]:
    all_tasks = [t.strip() for t in tasks if t.strip()]
    if from_file is not None:
        try:
            all_tasks += parse_tasks(from_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"init: cannot read {from_file}: {e}") from None
    if out.exists() or out.is_symlink():
        raise Refused(f"init: {out} already exists; pick another --out, or remove it first")
    data = build(all_tasks, agent=agent, isolation=isolation, base=base,
                 session=session_for(out))
    body = render(data)
    try:
        with open(out, "x", encoding="utf-8") as f:   # "x": never replace a file made meanwhile
            f.write(body)
    except FileExistsError:
        raise Refused(f"init: {out} already exists; pick another --out, or remove it "
                      "first") from None
    trust.trust(out)
    return data
