"""TOML layout -> frozen dataclasses. Every error names the file and the key path.

Key paths count `[[pane]]` tables from 1, as a person reading the file does: the second
pane is `pane[2]`, so `five.toml: pane[2].agent: ...` points at the second `[[pane]]`.
The same holds for `copy[N]`. Every error is a `LayoutError`; nothing is created.
"""

from __future__ import annotations

import difflib
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Literal, NoReturn

from . import presets, proc
from .errors import LayoutError

Isolation = Literal["worktree", "directory", "none"]


@dataclass(frozen=True)
class Pane:
    name: str
    agent: str | None          # preset name, when the pane used `agent`
    command: str               # the command template (from the preset or `command`), unrendered
    task: str                  # "" when not given
    dir: str                   # relative folder inside the worktree/checkout; "" for its root
    env: Mapping[str, str]
    window: str | None         # explicit window name, or None for automatic tiling


@dataclass(frozen=True)
class Layout:
    path: Path                 # absolute path of the layout file
    version: int
    session: str
    repo: Path                 # absolute git top-level
    base: str                  # as written; resolved to a SHA by worktrees
    isolation: Isolation
    branch: str                # template, e.g. "agentmux/{session}/{pane}"
    worktree_root: str         # template, relative to repo (or absolute)
    copy: tuple[str, ...]
    setup: str | None
    panes_per_window: int
    poll_interval: float
    env: Mapping[str, str]
    agents: Mapping[str, str]  # the layout's own presets: name -> command template
    panes: tuple[Pane, ...]


@dataclass(frozen=True)
class PanePlan:
    """What `up` will create for one pane, fully resolved except the run folder."""

    name: str
    window: str                # window name the pane goes in
    branch: str | None         # None unless isolation == "worktree"
    worktree: Path | None      # None unless isolation == "worktree"
    cwd: Path                  # absolute folder the agent runs in
    command: str               # rendered shell command ({task} etc. substituted, shell-quoted)
    env: Mapping[str, str]     # layout env + pane env (AGENTMUX_* are added by `up`)


TOP_KEYS = ("version", "session", "repo", "base", "isolation", "branch", "worktree_root",
            "copy", "setup", "panes_per_window", "poll_interval", "env", "agents", "pane")
PANE_KEYS = ("name", "agent", "command", "task", "dir", "env", "window")
ISOLATIONS: tuple[Isolation, ...] = ("worktree", "directory", "none")
WATCHER_WINDOW = "agentmux"

SESSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PANE_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
WINDOW_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
AUTO_WINDOW_RE = re.compile(r"agents(?:-[0-9]+)?")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# git alone accepts `#{pane_id}`, `a;b` and `$(id)` (TMUX-GIT-FACTS), so branches get our own
# allowlist first and `git check-ref-format --branch` second.
BRANCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
TASK_FILE_PREVIEW = "<run>/panes/{pane}/TASK.md"


def load(path: Path) -> Layout:
    file = str(path)
    data = _read(path, file)
    return _Parser(file, path.absolute(), data).layout()


def _read(path: Path, file: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise LayoutError(file, "", "no such file") from None
    except IsADirectoryError:
        raise LayoutError(file, "", "is a folder, not a layout file") from None
    except OSError as e:
        raise LayoutError(file, "", f"cannot read the file ({e.strerror})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise LayoutError(file, "", "the file starts with a byte-order mark (BOM); "
                          "save it as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LayoutError(file, "", f"the file is not valid UTF-8 text "
                          f"(byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", msg, re.DOTALL)
        if m:
            raise LayoutError(f"{file}:{m[2]}:{m[3]}", "", m[1]) from None
        raise LayoutError(file, "", f"invalid TOML: {msg}") from None


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    return repr(value)


class _Parser:
    def __init__(self, file: str, path: Path, data: dict[str, object]) -> None:
        self.file = file
        self.path = path
        self.data = data

    def fail(self, key: str, message: str) -> NoReturn:
        raise LayoutError(self.file, key, message)

    def expected(self, key: str, what: str, got: object) -> NoReturn:
        self.fail(key, f"expected {what}; got {_show(got)}")

    def known(self, table: Mapping[str, object], allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = (f"did you mean '{close[0]}'?" if close
                    else "expected one of " + ", ".join(sorted(allowed)))
            self.fail(prefix + key, f"unknown key; {hint}")

    def string(self, key: str, value: object, *, empty: bool = True) -> str:
        if not isinstance(value, str) or (not empty and not value):
            self.expected(key, "a string" if empty else "a non-empty string", value)
        if "\0" in value:
            self.fail(key, "contains a NUL byte")
        return value

    def env(self, key: str, value: object) -> Mapping[str, str]:
        if not isinstance(value, dict):
            self.expected(key, "a table of NAME = \"value\"", value)
        out: dict[str, str] = {}
        for name, v in value.items():
            if not ENV_RE.fullmatch(name):
                self.fail(key, f"invalid variable name {name!r}; expected a name matching "
                          f"^{ENV_RE.pattern}$")
            out[name] = self.string(f"{key}.{name}", v)
        return MappingProxyType(out)

    def template(self, key: str, value: str, allowed: tuple[str, ...]) -> str:
        for m in PLACEHOLDER_RE.finditer(value):
            if m[1] not in allowed:
                only = " and ".join("{" + a + "}" for a in allowed)
                self.fail(key, f"unknown placeholder {m[0]!r}; only {only} may be used")
        return value

    def relative(self, key: str, value: str) -> str:
        p = PurePosixPath(value)
        if p.is_absolute() or "\\" in value:
            self.expected(key, "a relative path", value)
        if ".." in p.parts:
            self.fail(key, f"{value!r} must not contain a '..' component")
        return "" if str(p) == "." else str(p)

    def layout(self) -> Layout:
        d = self.data
        self.known(d, TOP_KEYS, "")
        version = d.get("version", 1)
        if version != 1 or isinstance(version, bool):
            self.expected("version", "1", version)
        session = self.session()
        repo = self.repo()
        base = self.string("base", d.get("base", "HEAD"), empty=False)
        if base.startswith("-"):
            self.expected("base", "a commit, branch or tag", base)
        isolation = d.get("isolation", "worktree")
        if isolation not in ISOLATIONS:
            self.expected("isolation", "one of " + ", ".join(ISOLATIONS), isolation)
        branch = self.template("branch", self.string(
            "branch", d.get("branch", "agentmux/{session}/{pane}"), empty=False),
            ("session", "pane"))
        root = self.template("worktree_root", self.string(
            "worktree_root", d.get("worktree_root", ".agentmux/worktrees/{session}"),
            empty=False), ("session",))
        copy = d.get("copy", [])
        if not isinstance(copy, list):
            self.expected("copy", "a list of relative globs", copy)
        globs = tuple(self.relative(f"copy[{i}]", self.string(f"copy[{i}]", g, empty=False))
                      for i, g in enumerate(copy, 1))
        setup = None if "setup" not in d else self.string("setup", d["setup"], empty=False)
        ppw = d.get("panes_per_window", 4)
        if not isinstance(ppw, int) or isinstance(ppw, bool) or ppw < 1:
            self.expected("panes_per_window", "an integer >= 1", ppw)
        poll = d.get("poll_interval", 1.0)
        if not isinstance(poll, int | float) or isinstance(poll, bool) or not 0 < poll <= 60:
            self.expected("poll_interval", "a number > 0 and <= 60", poll)
        env = self.env("env", d.get("env", {}))
        agents = self.agents(d.get("agents", {}))
        panes = self.panes(d.get("pane"), agents)
        layout = Layout(
            path=self.path, version=1, session=session, repo=repo, base=base,
            isolation=isolation, branch=branch, worktree_root=root,
            copy=globs, setup=setup, panes_per_window=ppw, poll_interval=float(poll),
            env=env, agents=agents, panes=panes,
        )
        self.check_branches(layout)
        if layout.isolation == "directory":
            self.check_dirs(layout)
        return layout

    def session(self) -> str:
        if "session" in self.data:
            session = self.string("session", self.data["session"])
            if not SESSION_RE.fullmatch(session):
                self.expected("session", "a name of letters, digits, '_' and '-' "
                              "(no '.' or ':'), at most 64 long", session)
            return session
        stem = self.path.stem
        if not SESSION_RE.fullmatch(stem):
            self.fail("session", f"the file name {stem!r} is not a valid session name "
                      "(letters, digits, '_' and '-'; no '.' or ':'); set 'session'")
        return stem

    def repo(self) -> Path:
        if "repo" in self.data:
            written = self.string("repo", self.data["repo"], empty=False)
            where = (self.path.parent / written).resolve()
            if not where.is_dir():
                self.fail("repo", f"{where} is not a folder")
            what = f"{where} is not a git repository"
        else:
            where = self.path.parent
            what = f"the layout's folder {where} is not in a git repository; set 'repo'"
        out = proc.run(["git", "rev-parse", "--show-toplevel"], cwd=where, check=False)
        if out.returncode != 0 or not out.stdout.strip():
            self.fail("repo", what)
        return Path(out.stdout.strip())

    def agents(self, value: object) -> Mapping[str, str]:
        if not isinstance(value, dict):
            self.expected("agents", "a table of presets", value)
        out: dict[str, str] = {}
        for name, entry in value.items():
            key = f"agents.{name}"
            if name in presets.BUILTINS:
                self.fail(key, f"shadows the built-in preset {name!r}; pick another name")
            if not PANE_RE.fullmatch(name):
                self.fail(key, "invalid preset name; expected a name matching "
                          f"^{PANE_RE.pattern}$")
            if not isinstance(entry, dict):
                self.expected(key, "a table with key 'command'", entry)
            self.known(entry, ("command",), key + ".")
            if "command" not in entry:
                self.fail(key, "missing required key 'command'")
            out[name] = self.string(key + ".command", entry["command"], empty=False)
        return MappingProxyType(out)

    def panes(self, value: object, agents: Mapping[str, str]) -> tuple[Pane, ...]:
        if value is None:
            self.fail("pane", "expected at least one [[pane]] table")
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            self.expected("pane", "an array of tables ([[pane]])", value)
        if not value:
            self.fail("pane", "expected at least one [[pane]] table")
        seen: dict[str, int] = {}
        panes = []
        for i, table in enumerate(value, 1):
            pane = self.pane(f"pane[{i}]", table, agents)
            if pane.name in seen:
                self.fail(f"pane[{i}].name",
                          f"duplicate name {pane.name!r} (also pane[{seen[pane.name]}])")
            seen[pane.name] = i
            panes.append(pane)
        return tuple(panes)

    def pane(self, at: str, t: dict[str, object], agents: Mapping[str, str]) -> Pane:
        self.known(t, PANE_KEYS, at + ".")
        if "name" not in t:
            self.fail(at, "missing required key 'name'")
        name = self.string(at + ".name", t["name"])
        if not PANE_RE.fullmatch(name):
            self.expected(at + ".name", f"a name matching ^{PANE_RE.pattern}$", name)
        if name == WATCHER_WINDOW:
            self.fail(at + ".name", f"{name!r} is reserved for the watcher's window")
        task = self.string(at + ".task", t.get("task", ""))
        has_agent, has_command = "agent" in t, "command" in t
        if has_agent == has_command:
            self.fail(at, "set exactly one of 'agent' or 'command'; got "
                      + ("both" if has_agent else "neither"))
        agent: str | None = None
        if has_agent:
            agent = self.string(at + ".agent", t["agent"])
            allowed = sorted({*presets.BUILTINS, *agents})
            if agent not in allowed:
                self.expected(at + ".agent", "one of " + ", ".join(allowed), agent)
            if agent in presets.BUILTINS:
                p = presets.get(agent)
                command = p.command if task else p.no_task
            else:
                command = agents[agent]
        else:
            command = self.string(at + ".command", t["command"], empty=False)
        folder = self.relative(at + ".dir", self.string(at + ".dir", t.get("dir", "")))
        window = None
        if "window" in t:
            window = self.string(at + ".window", t["window"])
            if not WINDOW_RE.fullmatch(window):
                self.expected(at + ".window", f"a name matching ^{WINDOW_RE.pattern}$", window)
            if window == WATCHER_WINDOW or AUTO_WINDOW_RE.fullmatch(window):
                self.fail(at + ".window", f"{window!r} is reserved for agentmux's own windows")
        env = self.env(at + ".env", t.get("env", {}))
        return Pane(name=name, agent=agent, command=command, task=task, dir=folder, env=env,
                    window=window)

    def check_branches(self, layout: Layout) -> None:
        owner: dict[str, str] = {}
        for pane in layout.panes:
            branch = _branch(layout, pane)
            if (not BRANCH_RE.fullmatch(branch) or ".." in branch or "//" in branch
                    or branch.endswith(("/", ".lock"))):
                self.fail("branch", f"renders to {branch!r} for pane {pane.name!r}, which is "
                          "not a safe branch name (letters, digits and . _ / -; no '..', '//', "
                          "or trailing '/' or '.lock')")
            git = proc.run(["git", "check-ref-format", "--branch", branch], check=False)
            if git.returncode != 0:
                self.fail("branch", f"renders to {branch!r} for pane {pane.name!r}, which git "
                          "rejects as a branch name")
            if branch in owner:
                self.fail("branch", f"renders to the same branch {branch!r} for panes "
                          f"{owner[branch]!r} and {pane.name!r}; use {{pane}}")
            owner[branch] = pane.name

    def check_dirs(self, layout: Layout) -> None:
        placed: list[tuple[int, Pane]] = []
        for i, pane in enumerate(layout.panes, 1):
            at = f"pane[{i}].dir"
            if not pane.dir:
                self.fail(at, "isolation 'directory' needs a non-empty dir in every pane")
            mine = PurePosixPath(pane.dir)
            for j, other in placed:
                theirs = PurePosixPath(other.dir)
                if mine == theirs or mine.is_relative_to(theirs) or theirs.is_relative_to(mine):
                    self.fail(at, f"{pane.dir!r} (pane {pane.name!r}) overlaps {other.dir!r} "
                              f"(pane[{j}], {other.name!r}); with isolation 'directory' the "
                              "dirs must not be equal or nested")
            placed.append((i, pane))


def _branch(layout: Layout, pane: Pane) -> str:
    return _fill(layout.branch, {"session": layout.session, "pane": pane.name})


def _fill(template: str, values: Mapping[str, str],
          quote: Callable[[str], str] = str) -> str:
    # One pass, so text that a value brings in (a task mentioning "{pane}") is never
    # substituted again; any other {x}, such as the shell's ${HOME}, stays as written.
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, values)) + r")\}")
    return pattern.sub(lambda m: quote(values[m[1]]), template)


def _windows(layout: Layout) -> list[str]:
    names, auto = [], 0
    for pane in layout.panes:
        if pane.window is not None:
            names.append(pane.window)
            continue
        n = auto // layout.panes_per_window + 1
        names.append("agents" if n == 1 else f"agents-{n}")
        auto += 1
    return names


def plan(layout: Layout, task_file: Mapping[str, Path] | None = None) -> tuple[PanePlan, ...]:
    plans = []
    root = _fill(layout.worktree_root, {"session": layout.session})
    for pane, window in zip(layout.panes, _windows(layout), strict=True):
        branch: str | None = None
        worktree: Path | None = None
        if layout.isolation == "worktree":
            branch = _branch(layout, pane)
            worktree = layout.repo / root / pane.name
            cwd = worktree / pane.dir
        else:
            cwd = layout.repo / pane.dir
        tf = (str(task_file[pane.name]) if task_file is not None
              else TASK_FILE_PREVIEW.replace("{pane}", pane.name))
        values = {"task": pane.task, "task_file": tf, "pane": pane.name,
                  "worktree": str(worktree or cwd), "branch": branch or "",
                  "session": layout.session}
        plans.append(PanePlan(
            name=pane.name, window=window, branch=branch, worktree=worktree, cwd=cwd,
            command=_fill(pane.command, values, shlex.quote),
            env=MappingProxyType({**layout.env, **pane.env}),
        ))
    return tuple(plans)


def describe(layout: Layout, plans: tuple[PanePlan, ...]) -> str:
    lines = [
        f"session:   {layout.session}",
        f"repo:      {layout.repo}",
        f"base:      {layout.base}",
        f"isolation: {layout.isolation}",
    ]
    if layout.setup is not None:
        lines.append(f"setup:     {layout.setup}")
    if layout.copy:
        lines.append("copy:      " + " ".join(layout.copy))
    windows = len(dict.fromkeys(p.window for p in plans))
    lines.append(f"panes:     {len(plans)} in {windows} window{'s' if windows != 1 else ''}")
    for p in plans:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in p.env.items()) or "(none)"
        lines += [
            "",
            f"pane {p.name}",
            f"  command:  {p.command}",
            f"  folder:   {p.cwd}",
            f"  branch:   {p.branch if p.branch is not None else '(none)'}",
            f"  worktree: {p.worktree if p.worktree is not None else '(none)'}",
            f"  window:   {p.window}",
            f"  env:      {env}",
        ]
    return "\n".join(lines) + "\n"


def command_preview(layout: Layout) -> list[tuple[str, str]]:
    out = [(p.name, p.command) for p in plan(layout)]
    if layout.setup is not None:
        out.append(("setup", layout.setup))
    return out
