"""The house, checked from the code itself: every module under agentmux/ is parsed with `ast`
and its imports (function-level ones included) become a graph, then:

- no import cycles;
- every import points down the layers (or stays within its layer);
- libtmux only in agentmux/tmux.py, GitPython only in agentmux/git.py, and neither loaded by
  importing the CLI; the runner is stdlib-only, with no pathlib, subprocess, typing or
  dataclasses on its import path;
- every module at most 400 lines;
- no `dict[str, Any]` (nor `Mapping[str, Any]`, the same thing read-only) outside the ledger;
- every command and option has help text.

An edge goes to the module named: `from agentmux.watch import loop` is an edge to
agentmux.watch.loop, not to agentmux.watch (as import-linter counts it). Imports under
`if TYPE_CHECKING:` never run, so they make no cycle, but they still must point down.

Each check fails on any violation: none is known and tolerated any more.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "agentmux"

# Imports point down this list (or stay in their layer). A module's layer is named by the
# first part of its path under agentmux/: agentmux/watch/loop.py is in "watch", and
# agentmux/__init__.py is "__init__". HOUSE-PLAN.md's order, with the modules it does not name
# put beside their closest neighbour: scope (pure globs) with presets, decompose and trust
# (layout files) with layout, brief and find (read git and the ledger) with worktrees,
# runspec and runcheck with the runner they belong to, init (a command's core) with up,
# hosts_up (up's checks of hosts) with the git readers, queue (the watcher's gates) with watch.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "units", "proc", "poll", "atomic", "capture", "interrupts"),
    ("ledger", "records", "presets", "scope", "hosts", "hosts_tick", "sandbox", "hook", "sweep",
     "headless", "headless_parsers", "screen"),
    ("git", "tmux", "tmux_chain"),
    ("layout", "decompose", "trust", "wiring"),
    ("worktrees", "snapshot", "brief", "find", "hosts_up", "remote", "transcript"),
    ("runner", "runspec", "runcheck", "runproc", "shellcmd", "runsandbox", "agentfiles"),
    ("watch", "queue", "headless_result", "remote_follow"),
    ("review", "status", "control", "paneops", "up", "add", "doctor", "doctor_hosts", "init",
     "panespec", "panenv", "remote_up", "remote_add", "remote_live", "logs", "waitfor"),
    ("api",),
    ("cli",),
    ("__main__",),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_LINES = 400
# Readers of other programs' JSON (the agent CLIs' hook payloads and headless streams): the
# input's shape is theirs, so it is a dict at the edge; what leaves these modules is typed.
FOREIGN_JSON = {"agentmux/hook.py", "agentmux/headless.py", "agentmux/headless_parsers.py"}
ROOMS = {"libtmux": "tmux", "git": "git"}   # third-party package -> the one layer importing it
RUNNER_BANNED = ("pathlib", "subprocess", "typing", "dataclasses")


@dataclass(frozen=True)
class Import:
    source: str        # the importing module, dotted
    target: str        # an agentmux module, or the top-level name of an outside package
    internal: bool
    line: int
    lazy: bool         # inside a function: runs when it is called, not on import
    type_only: bool    # under `if TYPE_CHECKING:`: never runs


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def layer_name(self) -> str:
        return self.path.relative_to(PACKAGE).with_suffix("").parts[0]


@cache
def modules() -> dict[str, Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        text = path.read_text()
        out[name] = Module(name, path, ast.parse(text, str(path)), len(text.splitlines()))
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


class _Collector(ast.NodeVisitor):
    def __init__(self, module: Module, known: set[str]) -> None:
        self.module = module
        self.known = known
        self.depth = 0
        self.type_only = 0
        self.found: list[Import] = []

    def _record(self, name: str, line: int) -> None:
        internal = name == "agentmux" or name.startswith("agentmux.")
        if internal:
            while name not in self.known:
                name = name.rpartition(".")[0]
        else:
            name = name.partition(".")[0]
        self.found.append(Import(self.module.name, name, internal, line, self.depth > 0,
                                 self.type_only > 0))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.type_only += 1
        for child in node.body:
            self.visit(child)
        self.type_only -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._record(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.name.split(".")
            if self.module.path.name != "__init__.py":
                package = package[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            self._record(candidate if candidate in self.known else base, node.lineno)


@cache
def imports() -> tuple[Import, ...]:
    mods = modules()
    out: list[Import] = []
    for m in mods.values():
        c = _Collector(m, set(mods))
        c.visit(m.tree)
        out += c.found
    return tuple(out)


def layer(module: str) -> int | None:
    return LAYER.get(modules()[module].layer_name)


def cycles() -> dict[str, list[str]]:
    """The groups of modules that import each other (strongly connected), by their names."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for i in imports():
        if i.internal and not i.type_only and i.target != i.source:
            graph[i.source].add(i.target)
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen, todo = set(), [*graph[start]]
        while todo:
            if (m := todo.pop()) not in seen:
                seen.add(m)
                todo += graph[m]
        reach[start] = seen
    found = {}
    for m in graph:
        group = sorted({m} | {n for n in reach[m] if m in reach[n]})
        if len(group) > 1:
            found[" ".join(group)] = group
    return found


def upward() -> dict[str, list[int]]:
    """"importer -> imported": the lines, for every import into a higher layer."""
    out: dict[str, list[int]] = {}
    for i in imports():
        a, b = layer(i.source), layer(i.target) if i.internal else None
        if a is not None and b is not None and b > a:
            out.setdefault(f"{i.source} -> {i.target}", []).append(i.line)
    return out


def long_modules() -> dict[str, int]:
    return {m.rel: m.lines for m in modules().values() if m.lines > MAX_LINES}


def _any_mapping(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return False
    for sub in ast.walk(node):
        if not (isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Tuple)
                and len(sub.slice.elts) == 2):
            continue
        head = sub.value.attr if isinstance(sub.value, ast.Attribute) else getattr(
            sub.value, "id", "")
        key, value = sub.slice.elts
        if (head in ("dict", "Dict", "Mapping", "MutableMapping")
                and isinstance(key, ast.Name) and key.id == "str"
                and ast.unparse(value).rpartition(".")[2] == "Any"):
            return True
    return False


def any_dicts() -> dict[str, list[int]]:
    """Module -> lines of annotations that are `dict[str, Any]`, outside agentmux/ledger*."""
    out: dict[str, list[int]] = {}
    for m in modules().values():
        if m.rel.startswith("agentmux/ledger") or m.rel in FOREIGN_JSON:
            continue
        for node in ast.walk(m.tree):
            notes: list[ast.expr | None] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                notes += [a.annotation for a in [*args.posonlyargs, *args.args,
                                                 *args.kwonlyargs, args.vararg, args.kwarg]
                          if a is not None]
                notes.append(node.returns)
            elif isinstance(node, ast.AnnAssign):
                notes.append(node.annotation)
            for n in notes:
                if n is not None and _any_mapping(n):
                    out.setdefault(m.rel, []).append(n.lineno)
    return out


def runner_problems() -> list[str]:
    """What the runner's import closure (within agentmux) brings in that it must not.

    Anything the runner may import, even inside a function, must be stdlib; on its import
    path (module level, and the packages Python runs first) RUNNER_BANNED must not appear.
    """
    by_source: dict[str, list[Import]] = {}
    for i in imports():
        if not i.type_only:
            by_source.setdefault(i.source, []).append(i)
    problems = []
    for at_import in (False, True):
        seen: set[str] = set()
        todo = ["agentmux.runner"]
        while todo:
            name = todo.pop()
            parts = name.split(".")
            for module in [".".join(parts[:k]) for k in range(1, len(parts) + 1)]:
                if module in seen:
                    continue
                seen.add(module)
                for i in by_source.get(module, []):
                    if at_import and i.lazy:
                        continue
                    if i.internal:
                        todo.append(i.target)
                    elif not at_import and i.target not in sys.stdlib_module_names:
                        problems.append(f"{modules()[module].rel}:{i.line}: {i.target} is "
                                        "not stdlib")
                    elif at_import and i.target in RUNNER_BANNED:
                        problems.append(f"{modules()[module].rel}:{i.line}: {i.target} on "
                                        "the runner's import path")
    return sorted(problems)


# --- the tests ---------------------------------------------------------------------------------

def test_every_module_has_a_layer() -> None:
    assert [m.rel for m in modules().values() if m.layer_name not in LAYER] == []


CHECKS: dict[str, Callable[[], Mapping[str, object]]] = {
    "cycle": cycles, "upward": upward, "long": long_modules, "any-dict": any_dicts}


@pytest.mark.parametrize("check", CHECKS)
def test_no_new_violations(check: str) -> None:
    found = CHECKS[check]()
    assert found == {}


def test_libtmux_and_gitpython_stay_in_their_rooms() -> None:
    strays = [f"{modules()[i.source].rel}:{i.line}: {i.target}" for i in imports()
              if not i.internal and i.target in ROOMS
              and modules()[i.source].layer_name != ROOMS[i.target]]
    eager = [f"{modules()[i.source].rel}:{i.line}: {i.target}" for i in imports()
             if not i.internal and i.target in ROOMS and not i.lazy and not i.type_only]
    assert (strays, eager) == ([], [])


def _loaded_after(statement: str, *, site: bool = True) -> set[str]:
    """The modules a fresh interpreter holds after `statement`, with this checkout first."""
    code = f"import sys; sys.path.insert(0, sys.argv[1]); {statement}; print(*sys.modules)"
    out = subprocess.run([sys.executable, *([] if site else ["-S"]), "-c", code, str(ROOT)],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_cli_loads_neither_libtmux_nor_gitpython() -> None:
    every = ("import agentmux.__main__, agentmux.cli, click; "
             "g = agentmux.cli.cli; c = click.Context(g); "
             "[g.get_command(c, n) for n in g.list_commands(c)]")
    loaded = _loaded_after(every)
    assert {f"agentmux.cli.{m}" for m in ("run", "review", "merge", "plan", "supervise",
                                          "doctor")} <= loaded
    assert loaded & set(ROOMS) == set()


def test_each_command_is_where_the_group_looks_for_it() -> None:
    import importlib

    from agentmux.cli import COMMANDS

    found = {}   # every command of every module of agentmux/cli, listed or not
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        m = importlib.import_module(f"agentmux.cli.{path.stem}")
        found.update({getattr(m, attr).name: path.stem for attr in getattr(m, "__all__", ())
                      if isinstance(getattr(m, attr), click.Command)})
    assert found == COMMANDS


def test_up_loads_no_other_commands_module() -> None:
    loaded = _loaded_after("import agentmux.cli, click; "
                           "agentmux.cli.cli.get_command(click.Context(agentmux.cli.cli), 'up')")
    assert {m for m in loaded if m.startswith("agentmux.cli.")} == {
        "agentmux.cli.run", "agentmux.cli.options"}


def test_runner_imports_stdlib_only_and_nothing_slow() -> None:
    assert runner_problems() == []


def test_runner_loads_no_slow_module_at_run_time() -> None:
    # -S as runner.argv starts it: no site-packages, no .pth hooks.
    loaded = _loaded_after("import agentmux.runner", site=False)
    tops = {m.partition(".")[0] for m in loaded}
    outside = sorted(t for t in tops - {"__main__", "agentmux"}
                     if t not in sys.stdlib_module_names)
    assert (sorted(tops & {*RUNNER_BANNED, *ROOMS}), outside) == ([], [])


def _commands(group: click.Group) -> Iterator[tuple[str, click.Command]]:
    yield group.name or "", group
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        if isinstance(cmd, click.Group):
            yield from _commands(cmd)
        else:
            yield name, cmd


def test_every_command_and_option_has_help() -> None:
    from agentmux.cli import cli

    found = dict(_commands(cli))
    assert len(found) > 20
    missing = [name for name, cmd in found.items() if not (cmd.help or "").strip()]
    missing += [f"{name} {p.opts[0]}" for name, cmd in found.items() for p in cmd.params
                if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert missing == []
