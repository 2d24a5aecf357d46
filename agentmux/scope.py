"""Scope globs: which files a pane may change, whether two panes could claim the same file.

Glob semantics (gitignore-like, but always anchored at the repository root):
- A path is matched whole, segment by segment (`/` separates segments).
- `*` matches any run of characters inside one segment, dotfiles included; `?` one
  character; `[abc]`, `[a-z]`, `[!abc]` one character of (not of) a set. None of these
  ever match `/`. `\\x` is a literal x.
- `**` as a whole segment crosses folders: `**/x` and `a/**/x` match zero or more folders
  in its place; a trailing `a/**` matches everything inside `a` (one or more segments).
  `**` inside a segment with other text (`a**b`) is a plain `*`, as in gitignore.
- A trailing `/` means everything inside: `api/` is `api/**`.
- A glob with no wildcard at all names a file, or a folder and everything inside it:
  `docs` is `docs` plus `docs/**`.
- `*.py` is anchored: it matches top-level .py files only; write `**/*.py` for any depth.
  There is no negation (`!`), and no leading `/`, `.` or `..` segment.

Overlap is exact for these globs: the two globs are tokenised into automata over segments
(and, inside a segment, over characters), and a breadth-first search of their product looks
for one path both accept. The search also builds that path, which the error shows as an
example. Limits: it reasons about path names only, as git records them. It does not see a
case-insensitive file system (`A.py` and `a.py` are different paths here), symlinks that
lead from one scope into another, or a pane that edits a file through its `dir`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# A token inside a segment: ("lit", c), ("one", ""), ("star", ""), or ("set", spec) where spec
# is "!" or "" followed by the member characters (ranges expanded).
Token = tuple[str, str]
STAR = "**"
# Characters tried, in order, when a witness path needs "any" character.
_PICK = "xyzabc0123456789_"


class GlobError(ValueError):
    """A glob that is not valid here; the message says why."""


@dataclass(frozen=True)
class Seg:
    any_depth: bool                # a `**` segment: zero or more segments, each matching tokens
    tokens: tuple[Token, ...]


_ONE = Seg(False, (("star", ""),))
_ANY = Seg(True, (("star", ""),))


def validate(glob: str) -> None:
    compile_glob(glob)


@lru_cache(maxsize=1024)
def compile_glob(glob: str) -> tuple[tuple[Seg, ...], ...]:
    """The glob as one or two segment lists (a literal glob also covers what is inside it)."""
    if not glob:
        raise GlobError("an empty glob matches nothing")
    if glob.startswith("/"):
        raise GlobError("must be relative to the repository (no leading '/')")
    if glob.startswith("!"):
        raise GlobError("negation ('!') is not supported in a scope")
    text = glob[:-1] + "/**" if glob.endswith("/") and glob != "/" else glob
    parts = text.split("/")
    segs: list[Seg] = []
    for part in parts:
        if part in ("", ".", ".."):
            raise GlobError(f"has an empty, '.' or '..' segment ({part!r})")
        if part == STAR:
            if segs and segs[-1].any_depth:
                continue  # `**/**` is the same as `**`
            segs.append(_ANY)
        else:
            segs.append(Seg(False, _tokens(part)))
    if segs[-1].any_depth:
        # A trailing `**` matches one or more segments: one `*` segment, then zero or more.
        segs[-1:] = [_ONE, _ANY]
    if all(not s.any_depth and all(t[0] == "lit" for t in s.tokens) for s in segs):
        return (tuple(segs), (*segs, _ONE, _ANY))
    return (tuple(segs),)


def _tokens(part: str) -> tuple[Token, ...]:
    out: list[Token] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "\\":
            if i + 1 == len(part):
                raise GlobError("ends with a lone '\\'")
            out.append(("lit", part[i + 1]))
            i += 2
        elif c == "*":
            if not (out and out[-1][0] == "star"):
                out.append(("star", ""))
            i += 1
        elif c == "?":
            out.append(("one", ""))
            i += 1
        elif c == "[":
            spec, i = _charset(part, i)
            out.append(("set", spec))
        else:
            out.append(("lit", c))
            i += 1
    return tuple(out)


def _charset(part: str, i: int) -> tuple[str, int]:
    j = i + 1
    neg = j < len(part) and part[j] in "!^"
    if neg:
        j += 1
    members: list[str] = []
    first = True
    while j < len(part) and (part[j] != "]" or first):
        first = False
        if j + 2 < len(part) and part[j + 1] == "-" and part[j + 2] != "]":
            lo, hi = part[j], part[j + 2]
            if ord(lo) > ord(hi):
                raise GlobError(f"has a reversed range {lo}-{hi}")
            if ord(hi) - ord(lo) > 1000:
                raise GlobError(f"has a range {lo}-{hi} that is too wide")
            members += [chr(k) for k in range(ord(lo), ord(hi) + 1)]
            j += 3
        else:
            members.append(part[j])
            j += 1
    if j >= len(part):
        raise GlobError("has an unclosed '['")
    return ("!" if neg else "") + "".join(sorted(set(members) - {"/"})), j + 1


def _admits(tok: Token, c: str) -> bool:
    kind, spec = tok
    if kind == "lit":
        return c == spec
    if kind in ("one", "star"):
        return True
    if spec.startswith("!"):
        return c not in spec[1:]
    return c in spec


def _common_char(a: Token, b: Token) -> str | None:
    """A character both tokens accept (`star` stands for one character it consumes)."""
    for tok in (a, b):
        if tok[0] == "lit":
            return tok[1] if _admits(a, tok[1]) and _admits(b, tok[1]) else None
    for tok in (a, b):
        if tok[0] == "set" and not tok[1].startswith("!"):
            for c in tok[1]:
                if _admits(a, c) and _admits(b, c):
                    return c
            return None
    excluded = {c for tok in (a, b) if tok[0] == "set" for c in tok[1][1:]}
    for c in _PICK:
        if c not in excluded:
            return c
    k = 0x100  # both are negated sets (or wildcards) over a finite list: something is left
    while chr(k) in excluded:
        k += 1
    return chr(k)


def segment_overlap(a: Sequence[Token], b: Sequence[Token]) -> str | None:
    """A non-empty segment name both token lists match, or None.

    A search of the product of the two token automata. A `*` may consume a character and
    stay, or be skipped; skipping a `*` that matched nothing costs 1 and everything else 0,
    so the name found gives each `*` a character where it can (`x.py`, not `.py`).
    """
    State = tuple[int, int, bool, bool, bool]   # i, j, non-empty, a[i] used, b[j] used
    start: State = (0, 0, False, False, False)
    prev: dict[State, tuple[State, str] | None] = {start: None}
    cost: dict[State, int] = {start: 0}
    queue: deque[State] = deque([start])
    done: set[State] = set()
    while queue:
        state = queue.popleft()
        if state in done:
            continue
        done.add(state)
        i, j, ne, ua, ub = state
        if i == len(a) and j == len(b) and ne:
            out = []
            cur: State | None = state
            while cur is not None and prev[cur] is not None:
                back = prev[cur]
                assert back is not None
                cur, c = back
                out.append(c)
            return "".join(reversed(out))
        moves: list[tuple[State, str, int]] = []
        if i < len(a) and a[i][0] == "star":
            moves.append(((i + 1, j, ne, False, ub), "", 0 if ua else 1))
        if j < len(b) and b[j][0] == "star":
            moves.append(((i, j + 1, ne, ua, False), "", 0 if ub else 1))
        if i < len(a) and j < len(b):
            common = _common_char(a[i], b[j])
            if common is not None:
                sa, sb = a[i][0] == "star", b[j][0] == "star"
                moves.append(((i if sa else i + 1, j if sb else j + 1, True, sa, sb), common, 0))
        for nxt, c, w in moves:
            if nxt in done or cost.get(nxt, 1 << 30) <= cost[state] + w:
                continue
            cost[nxt] = cost[state] + w
            prev[nxt] = (state, c)
            if w:
                queue.append(nxt)
            else:
                queue.appendleft(nxt)
    return None


def _one_overlap(a: Sequence[Seg], b: Sequence[Seg]) -> str | None:
    # States (p, q); a `**` segment may be skipped, or consume one path segment and stay.
    start = (0, 0)
    prev: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        p, q = state = queue.popleft()
        if p == len(a) and q == len(b):
            parts = []
            cur: tuple[int, int] | None = state
            while cur is not None and prev[cur] is not None:
                back = prev[cur]
                assert back is not None
                cur, name = back
                if name:
                    parts.append(name)
            return "/".join(reversed(parts))
        moves: list[tuple[tuple[int, int], str]] = []
        if p < len(a) and a[p].any_depth:
            moves.append(((p + 1, q), ""))
        if q < len(b) and b[q].any_depth:
            moves.append(((p, q + 1), ""))
        if p < len(a) and q < len(b):
            sa, sb = a[p], b[q]
            seg = segment_overlap(sa.tokens, sb.tokens)
            if seg is not None:
                moves.append(((p if sa.any_depth else p + 1, q if sb.any_depth else q + 1),
                              seg))
        for nxt, name in moves:
            if nxt not in prev:
                prev[nxt] = (state, name)
                queue.append(nxt)
    return None


def overlap(a: str, b: str, files: Collection[str] = ()) -> str | None:
    """A path both globs match, or None when no path can match both.

    A glob with no wildcard also covers a folder's contents, unless `files` (the files at
    base) shows it is a file: a file cannot also be a folder.
    """
    for sa in _alternatives(a, files):
        for sb in _alternatives(b, files):
            found = _one_overlap(sa, sb)
            if found is not None:
                return found
    return None


def _alternatives(glob: str, files: Collection[str]) -> tuple[tuple[Seg, ...], ...]:
    alts = compile_glob(glob)
    return alts[:1] if glob in files else alts


@lru_cache(maxsize=1024)
def _regex(glob: str) -> re.Pattern[str]:
    alts = []
    for segs in compile_glob(glob):
        out = ""
        for k, seg in enumerate(segs):
            if seg.any_depth:
                out += "(?:/[^/]+)*" if k + 1 == len(segs) else "(?:[^/]+/)*"
                continue
            out += "".join(_token_regex(t) for t in seg.tokens)
            if k + 1 < len(segs) and not (segs[k + 1].any_depth and k + 2 == len(segs)):
                out += "/"
        alts.append(out)
    return re.compile("(?:" + "|".join(alts) + ")")


def _token_regex(tok: Token) -> str:
    kind, spec = tok
    if kind == "lit":
        return re.escape(spec)
    if kind == "one":
        return "[^/]"
    if kind == "star":
        return "[^/]*"
    if spec.startswith("!"):
        return "[^/" + "".join(re.escape(c) for c in spec[1:]) + "]"
    return "[" + "".join(re.escape(c) for c in spec) + "]" if spec else "(?!)"


def matches(glob: str, path: str) -> bool:
    return _regex(glob).fullmatch(path) is not None


def in_scope(globs: Iterable[str], path: str) -> bool:
    return any(matches(g, path) for g in globs)


def out_of_scope(globs: Sequence[str], paths: Iterable[str]) -> list[str]:
    """The paths no glob matches, in the order given. No globs: no scope declared, so none."""
    if not globs:
        return []
    return [p for p in paths if not in_scope(globs, p)]


@dataclass(frozen=True)
class Clash:
    """Two panes whose scopes can claim the same file."""

    pane_a: str
    glob_a: str
    pane_b: str
    glob_b: str
    examples: tuple[str, ...]   # files at base both claim, else one path both globs accept
    at_base: bool


def clashes(scopes: Sequence[tuple[str, Sequence[str]]], files: Sequence[str] = (),
            same_task: dict[str, str] | None = None) -> list[Clash]:
    """Every pair of panes whose scopes overlap; pairs in the same task (attempts) are skipped."""
    group = same_task or {}
    tracked = set(files)
    out = []
    for x, (pa, ga) in enumerate(scopes):
        for pb, gb in scopes[x + 1:]:
            if group.get(pa, pa) == group.get(pb, pb):
                continue
            clash = _pair(pa, ga, pb, gb, tracked)
            if clash is not None:
                out.append(clash)
    return out


def _pair(pa: str, ga: Sequence[str], pb: str, gb: Sequence[str],
          files: Collection[str]) -> Clash | None:
    for a in ga:
        for b in gb:
            witness = overlap(a, b, files)
            if witness is None:
                continue
            real = tuple(sorted(f for f in files if matches(a, f) and matches(b, f)))[:3]
            return Clash(pa, a, pb, b, real or (witness,), bool(real))
    return None
