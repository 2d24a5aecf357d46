"""The layout keys that make task decomposition checkable: scope, context, count, brief and
allow_overlap. `layout._Parser` calls in here, so that layout.py stays about the schema's core.

What is checked before any agent starts (by `layout.load`, so `validate` and `up` alike):
- every glob in `scope` is valid (see scope.py for the semantics);
- no two panes' scopes can claim the same path, unless `allow_overlap = true` (the attempts
  of one `count` fan-out share their scope on purpose and are not compared with each other);
- every `context` file exists at `base`, found with one `git ls-tree` call.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentmux import git, scope

if TYPE_CHECKING:
    from agentmux.layout import Layout, Pane, _Parser

MAX_COUNT = 20
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclasses.dataclass(frozen=True)
class Fields:
    scope: tuple[str, ...]
    context: tuple[str, ...]
    count: int
    brief: bool


def pane_fields(p: _Parser, at: str, t: dict[str, object]) -> Fields:
    globs = _list(p, at + ".scope", t.get("scope", []), "a list of globs")
    for k, g in enumerate(globs, 1):
        try:
            scope.validate(g)
        except scope.GlobError as e:
            p.fail(f"{at}.scope[{k}]", f"{g!r} {e}")
    files = _list(p, at + ".context", t.get("context", []), "a list of file paths")
    context = tuple(p.relative(f"{at}.context[{k}]", f) for k, f in enumerate(files, 1))
    for k, f in enumerate(context, 1):
        if not f:
            p.expected(f"{at}.context[{k}]", "a file path", files[k - 1])
    count = t.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        p.expected(at + ".count", f"an integer from 1 to {MAX_COUNT}", count)
    brief = t.get("brief", False)
    if not isinstance(brief, bool):
        p.expected(at + ".brief", "true or false", brief)
    return Fields(tuple(globs), context, count, brief)


def _list(p: _Parser, key: str, value: object, what: str) -> list[str]:
    if not isinstance(value, list):
        p.expected(key, what, value)
    return [p.string(f"{key}[{k}]", v, empty=False) for k, v in enumerate(value, 1)]


def expand(p: _Parser, at: str, pane: Pane, isolation: str) -> list[Pane]:
    """A pane with `count = N` becomes the attempts NAME-1 .. NAME-N, each its own pane."""
    if pane.count == 1:
        return [pane]
    if isolation != "worktree":
        p.fail(at + ".count", "fan-out needs isolation 'worktree' (each attempt gets its own "
               f"branch); got isolation {isolation!r}")
    from agentmux.layout import PANE_RE

    last = f"{pane.name}-{pane.count}"
    if not PANE_RE.fullmatch(last):
        p.fail(at + ".name", f"{pane.name!r} is too long for count = {pane.count}: the "
               f"attempt {last!r} must match ^{PANE_RE.pattern}$")
    return [dataclasses.replace(pane, name=f"{pane.name}-{n}", attempt_of=pane.name)
            for n in range(1, pane.count + 1)]


def glob_escape(path: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", path)


def finish(p: _Parser, lay: Layout, index: dict[str, int]) -> Layout:
    """Default scopes, then the checks against each other and against git at `base`."""
    if lay.isolation == "directory":
        panes = tuple(pn if pn.scope else dataclasses.replace(
            pn, scope=(glob_escape(pn.dir) + "/**",)) for pn in lay.panes)
        lay = dataclasses.replace(lay, panes=panes)
    needs_files = any(pn.context for pn in lay.panes)
    files: list[str] | None = tracked(p, lay) if needs_files else None
    if not lay.allow_overlap:
        check_overlaps(p, lay, index, files)
    if files is not None:
        check_context(p, lay, index, set(files))
    return lay


def tracked(p: _Parser, lay: Layout) -> list[str]:
    """Every file at base, in one `git ls-tree` call."""
    sha = git.rev(lay.repo, lay.base)
    if sha is None:
        p.fail("base", f"{lay.base!r} is not a commit in {lay.repo}")
    return git.files_at(lay.repo, sha)


def check_overlaps(p: _Parser, lay: Layout, index: dict[str, int],
                   files: list[str] | None) -> None:
    scoped = [(pn.name, pn.scope) for pn in lay.panes if pn.scope]
    groups = {pn.name: pn.attempt_of for pn in lay.panes if pn.attempt_of}
    found = scope.clashes(scoped, (), groups)
    if not found:
        return
    if files is None:
        files = tracked(p, lay)
    found = scope.clashes(scoped, files, groups)
    if not found:
        return
    by_name = {pn.name: pn for pn in lay.panes}
    first, rest = found[0], found[1:]
    a_at = _scope_key(index, by_name[first.pane_a], first.glob_a)
    b_at = _scope_key(index, by_name[first.pane_b], first.glob_b)
    msg = (f"{first.glob_b!r} (pane {first.pane_b!r}) overlaps {first.glob_a!r} "
           f"({a_at}, pane {first.pane_a!r}): {_claims(first)}")
    for c in rest[:5]:
        msg += (f"; also {c.glob_a!r} (pane {c.pane_a!r}) and {c.glob_b!r} (pane "
                f"{c.pane_b!r}): {_claims(c)}")
    if len(rest) > 5:
        msg += f"; and {len(rest) - 5} more"
    msg += ". Give each pane files of its own, or set allow_overlap = true"
    p.fail(b_at, msg)


def _claims(c: scope.Clash) -> str:
    shown = ", ".join(c.examples)
    return (f"both claim {shown} (at base)" if c.at_base
            else f"both could claim {shown} (a new file)")


def _scope_key(index: dict[str, int], pane: Pane, glob: str) -> str:
    i = index.get(pane.attempt_of or pane.name)
    if i is None or glob not in pane.scope:
        return f"pane {pane.name!r} scope"
    return f"pane[{i}].scope[{pane.scope.index(glob) + 1}]"


def check_context(p: _Parser, lay: Layout, index: dict[str, int], files: set[str]) -> None:
    folders = {f.rsplit("/", k)[0] for f in files for k in range(1, f.count("/") + 1)}
    for pn in lay.panes:
        for k, path in enumerate(pn.context, 1):
            if path in files:
                continue
            at = f"pane[{index.get(pn.attempt_of or pn.name, 0)}].context[{k}]"
            if path in folders:
                p.fail(at, f"{path!r} is a folder at base {lay.base!r}; list the files the "
                       "agent must read")
            p.fail(at, f"{path!r} does not exist at base {lay.base!r}")


def scopes_of(panes: Sequence[Pane]) -> dict[str, list[str]]:
    return {pn.name: list(pn.scope) for pn in panes}
