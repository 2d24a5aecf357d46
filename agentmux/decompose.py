"""Task decomposition across panes: fan-out, default scopes, and the checks that two panes'
scopes cannot claim the same path and that every context file exists at base.

`layout.parse` reads the keys themselves (scope, context, count, brief, allow_overlap) and
calls in here with the parsed values and `fail(key, message)`, which raises the layout's
error for that key path. What is checked before any agent starts (so by `validate` and `up`
alike):
- every glob in `scope` is valid (see scope.py for the semantics), by `layout.parse`;
- no two panes' scopes can claim the same path, unless `allow_overlap = true` (the attempts
  of one `count` fan-out share their scope on purpose and are not compared with each other);
- every `context` file exists at `base`, found with one `git ls-tree` call.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import NoReturn

from agentmux import git, scope
from agentmux.layout.model import PANE_RE, Layout, PaneSpec

Fail = Callable[[str, str], NoReturn]

MAX_COUNT = 20
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def expand(pane: PaneSpec, at: str, isolation: str, fail: Fail) -> list[PaneSpec]:
    """A pane with `count = N` becomes the attempts NAME-1 .. NAME-N, each its own pane."""
    if pane.count == 1:
        return [pane]
    if isolation != "worktree":
        fail(at + ".count", "fan-out needs isolation 'worktree' (each attempt gets its own "
             f"branch); got isolation {isolation!r}")
    last = f"{pane.name}-{pane.count}"
    if not PANE_RE.fullmatch(last):
        fail(at + ".name", f"{pane.name!r} is too long for count = {pane.count}: the "
             f"attempt {last!r} must match ^{PANE_RE.pattern}$")
    return [dataclasses.replace(pane, name=f"{pane.name}-{n}", attempt_of=pane.name)
            for n in range(1, pane.count + 1)]


def glob_escape(path: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", path)


def finish(lay: Layout, index: Mapping[str, int], fail: Fail) -> Layout:
    """Default scopes, then the checks against each other and against git at `base`.

    `index` maps each name written in the layout to its `pane[N]`, for the key paths.
    """
    if lay.isolation == "directory":
        panes = tuple(pn if pn.scope else dataclasses.replace(
            pn, scope=(glob_escape(pn.dir) + "/**",)) for pn in lay.panes)
        lay = dataclasses.replace(lay, panes=panes)
    needs_files = any(pn.context for pn in lay.panes)
    files: list[str] | None = tracked(lay, fail) if needs_files else None
    if not lay.allow_overlap:
        check_overlaps(lay, index, files, fail)
    if files is not None:
        check_context(lay, index, set(files), fail)
    return lay


def tracked(lay: Layout, fail: Fail) -> list[str]:
    """Every file at base, in one `git ls-tree` call."""
    sha = git.rev(lay.repo, lay.base)
    if sha is None:
        fail("base", f"{lay.base!r} is not a commit in {lay.repo}")
    return git.files_at(lay.repo, sha)


def check_overlaps(lay: Layout, index: Mapping[str, int], files: list[str] | None,
                   fail: Fail) -> None:
    scoped = [(pn.name, pn.scope) for pn in lay.panes if pn.scope]
    groups = {pn.name: pn.attempt_of for pn in lay.panes if pn.attempt_of}
    found = scope.clashes(scoped, (), groups)
    if not found:
        return
    if files is None:
        files = tracked(lay, fail)
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
    fail(b_at, msg)


def _claims(c: scope.Clash) -> str:
    shown = ", ".join(c.examples)
    return (f"both claim {shown} (at base)" if c.at_base
            else f"both could claim {shown} (a new file)")


def _scope_key(index: Mapping[str, int], pane: PaneSpec, glob: str) -> str:
    i = index.get(pane.attempt_of or pane.name)
    if i is None or glob not in pane.scope:
        return f"pane {pane.name!r} scope"
    return f"pane[{i}].scope[{pane.scope.index(glob) + 1}]"


def check_context(lay: Layout, index: Mapping[str, int], files: set[str], fail: Fail) -> None:
    folders = {f.rsplit("/", k)[0] for f in files for k in range(1, f.count("/") + 1)}
    for pn in lay.panes:
        for k, path in enumerate(pn.context, 1):
            if path in files:
                continue
            at = f"pane[{index.get(pn.attempt_of or pn.name, 0)}].context[{k}]"
            if path in folders:
                fail(at, f"{path!r} is a folder at base {lay.base!r}; list the files the "
                     "agent must read")
            fail(at, f"{path!r} does not exist at base {lay.base!r}")
