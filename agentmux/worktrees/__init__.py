"""git worktrees: find the repository, create one worktree per pane, and undo exactly that.

Every git change goes through `proc.run` (argument lists, GIT_* leaks stripped) and happens
under `RepoLock`, one flock per repository, because git's own locks make a concurrent second
agentmux fail halfway instead of waiting. The rules from TMUX-GIT-FACTS.md apply throughout:
never `-B`, never `--force`, `--no-track` for new branches, and after any failure re-read
git's real state instead of trusting the exit status.
"""

from __future__ import annotations

import contextlib
import filecmp
import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from agentmux import poll, proc
from agentmux.errors import BadInput, CommandFailed, EnvironmentProblem, Refused, WorkFailed

log = logging.getLogger(__name__)

LOCK_NAME = "agentmux.lock"
# Never copied into a worktree: git's own folder and agentmux's ledger (which holds the worktrees).
_NEVER_COPY = {".git", ".agentmux"}
# worktree add is mostly process start-up and file writes; past a handful of workers a 2-core
# machine gains nothing, and a big N should not fork-bomb the user's laptop.
_MAX_WORKERS = 8
# git 2.39 is not safe against itself here: every `worktree add` reads all of
# .git/worktrees/*/commondir, and another add may have created that file but not yet written it.
# Seen in about 1 of 3 runs of 5 concurrent adds, even with --no-track.
_RACE = re.compile(r"failed to read .*worktrees/[^/\n]+/commondir")


def _git(repo: Path, *args: str, check: bool = True, step: str = "") -> str:
    return proc.run(["git", *args], cwd=repo, check=check, step=step).stdout


def _real(path: Path | str) -> str:
    return os.path.realpath(path)


def git_common_dir(repo: Path) -> Path:
    if not repo.is_dir():
        raise BadInput(f"{repo}: not a git repository (or any parent)")
    p = proc.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                 cwd=repo, check=False)
    if p.returncode != 0:
        raise BadInput(f"{repo}: not a git repository (or any parent)")
    return Path(p.stdout.strip())


def repo_root(path: Path) -> Path:
    start = path.parent if path.is_file() else path
    common = git_common_dir(start)
    # A bare repository (or a worktree of one) has no main checkout: the repository is its folder.
    return common.parent if common.name == ".git" else common


def resolve_base(repo: Path, base: str) -> str:
    if base.startswith("-") or not base:
        raise BadInput(f"base {base!r} is not a commit in {repo}")
    p = proc.run(["git", "rev-parse", "--verify", "-q", "--end-of-options", f"{base}^{{commit}}"],
                 cwd=repo, check=False)
    if p.returncode == 0:
        return p.stdout.strip()
    branches = [line.strip() for line in _git(
        repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()]
    head = proc.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, check=False)
    if not branches and head.returncode != 0:
        raise BadInput(f"{repo}: the repository has no commits yet; make a first commit, "
                       "agent branches start from one")
    shown = ", ".join(branches) or "(none)"
    raise BadInput(f"base {base!r} is not a commit in {repo}; local branches: {shown}")


class RepoLock:
    """flock on <git-common-dir>/agentmux.lock; re-entrant within one thread.

    The fd is non-inheritable so no child (tmux server, agent) keeps the lock alive after us.
    """

    _held: ClassVar[dict[tuple[str, int], list[int]]] = {}   # (lock path, thread id) -> [fd, depth]
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, repo: Path, timeout: float = 60.0) -> None:
        self.path = git_common_dir(repo) / LOCK_NAME
        self.timeout = timeout
        self._key = (str(self.path), threading.get_ident())

    def __enter__(self) -> RepoLock:
        with self._guard:
            held = self._held.get(self._key)
            if held is not None:
                held[1] += 1
                return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.set_inheritable(fd, False)
        try:
            got = poll.flock(fd, self.timeout)
        except OSError as e:
            os.close(fd)
            raise EnvironmentProblem(f"cannot lock {self.path}: {e}") from e
        if not got:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (held by pid {holder})" if holder else ""
            raise WorkFailed(f"another agentmux is changing this repository: {self.path} "
                             f"is locked{who}; gave up after {self.timeout:g}s")
        # Only a diagnostic for the message above; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with self._guard:
            self._held[self._key] = [fd, 1]
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._guard:
            held = self._held[self._key]
            held[1] -= 1
            if held[1]:
                return
            del self._held[self._key]
        # An empty file means "released cleanly"; a pid left behind means its holder died
        # holding it, which `agentmux doctor` reports.
        with contextlib.suppress(OSError):
            os.ftruncate(held[0], 0)
        os.close(held[0])   # closing the only fd on this open file releases the flock


@dataclass(frozen=True)
class Want:
    pane: str
    branch: str
    path: Path


@dataclass(frozen=True)
class Prepared:
    pane: str
    branch: str
    path: Path
    created_worktree: bool
    created_branch: bool
    head: str
    # Files `copy` put into this new worktree (relative paths), so undo can take them out
    # again while they are unchanged instead of refusing to remove the worktree.
    copied: tuple[str, ...] = ()


def list_worktrees(repo: Path) -> list[dict[str, str]]:
    out = _git(repo, "worktree", "list", "--porcelain", "-z")
    result: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    for field in out.split("\0"):
        if not field:
            if entry:
                result.append(entry)
            entry = {}
            continue
        key, _, value = field.partition(" ")
        entry[key] = value
    if entry:
        result.append(entry)
    return result


def head_of(path: Path) -> str | None:
    if not path.is_dir():
        return None
    p = proc.run(["git", "rev-parse", "--show-toplevel", "--verify", "-q", "HEAD"],
                 cwd=path, check=False)
    lines = p.stdout.split("\n")
    if p.returncode != 0 or len(lines) < 2 or _real(lines[0]) != _real(path):
        return None
    return lines[1].strip()


def _branches(repo: Path) -> dict[str, str]:
    out = _git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads")
    pairs = (line.split(" ", 1) for line in out.splitlines() if line)
    return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}


def _by_path(worktrees: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {_real(w["worktree"]): w for w in worktrees}


@dataclass(frozen=True)
class _Plan:
    want: Want
    action: str          # "reuse" | "checkout" (existing branch) | "new" | "recreate"
    head: str


def _plan(base_sha: str, wants: Sequence[Want], worktrees: list[dict[str, str]],
          branches: dict[str, str]) -> list[_Plan]:
    problems: list[str] = []
    for attr in ("pane", "branch", "path"):
        seen: set[str] = set()
        for w in wants:
            key = _real(w.path) if attr == "path" else str(getattr(w, attr))
            if key in seen:
                problems.append(f"{attr} {key!r} is asked for twice")
            seen.add(key)
    at_path = _by_path(worktrees)
    checked_out = {w["branch"].removeprefix("refs/heads/"): w["worktree"]
                   for w in worktrees if "branch" in w}
    plans: list[_Plan] = []
    moved = False
    for w in wants:
        where = f"pane '{w.pane}': "
        if not w.path.is_absolute():
            problems.append(f"{where}worktree path {w.path} is not absolute")
            continue
        entry = at_path.get(_real(w.path))
        if entry is not None:
            if not w.path.is_dir():
                missing = _missing_registered(w, entry, checked_out)
                if missing is None:
                    # Our own worktree, deleted by hand: its branch holds the work, so check
                    # the branch out again in the same place.
                    plans.append(_Plan(w, "recreate", entry["HEAD"]))
                else:
                    moved = moved or missing.startswith("the worktree")
                    problems.append(where + missing)
            elif entry.get("branch") == f"refs/heads/{w.branch}":
                plans.append(_Plan(w, "reuse", entry["HEAD"]))
            else:
                now = entry.get("branch", "a detached HEAD").removeprefix("refs/heads/")
                problems.append(f"{where}{w.path} is already a worktree with {now} checked "
                                f"out, not branch '{w.branch}'")
            continue
        if w.branch in checked_out:
            there = checked_out[w.branch]
            problems.append(f"{where}branch '{w.branch}' is already checked out in {there}; "
                            "if that is this pane's worktree moved away, move it back with "
                            f"`git worktree move {there} {w.path}`")
        elif w.path.exists() and (not w.path.is_dir() or any(w.path.iterdir())):
            problems.append(f"{where}{w.path} already exists and is not empty")
        elif w.branch in branches:
            plans.append(_Plan(w, "checkout", branches[w.branch]))
        else:
            plans.append(_Plan(w, "new", base_sha))
    if problems and moved:
        raise Refused("cannot prepare worktrees:\n" + "\n".join(f"  {p}" for p in problems))
    if problems:
        # BadInput, not Refused: the layout asks for something impossible, nothing is at risk.
        raise BadInput("cannot prepare worktrees:\n" + "\n".join(f"  {p}" for p in problems))
    return plans


def _missing_registered(w: Want, entry: dict[str, str],
                        checked_out: dict[str, str]) -> str | None:
    """Why w's registered-but-missing worktree cannot simply be checked out again, or None."""
    if "locked" in entry:
        why = f" ({entry['locked']})" if entry["locked"] else ""
        return (f"{w.path} is registered as a worktree, locked by another tool{why}, and its "
                f"folder is missing; when it is back (or `git worktree unlock {w.path}`), "
                "run up again")
    if entry.get("branch") != f"refs/heads/{w.branch}" or _real(
            checked_out.get(w.branch, "")) != _real(w.path):
        now = entry.get("branch", "a detached HEAD").removeprefix("refs/heads/")
        return (f"{w.path} is registered as a worktree of {now}, not branch '{w.branch}', and "
                f"its folder is missing; see `git worktree list`")
    moved_to = _find_moved(w.path)
    if moved_to is not None:
        return (f"the worktree {w.path} was moved to {moved_to} by hand; move it back with "
                f"`mv {moved_to} {w.path}` (or `git -C {moved_to} worktree repair` to keep it "
                "there), then run up again")
    return None


def _admin_dir(path: Path) -> Path | None:
    """git's `.git/worktrees/<id>` folder of the worktree registered at path."""
    common = proc.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                      cwd=_existing_parent(path), check=False).stdout.strip()
    if not common:
        return None
    want = _real(path / ".git")
    for gitdir in Path(common).glob("worktrees/*/gitdir"):
        try:
            if _real(gitdir.read_text().strip()) == want:
                return gitdir.parent
        except OSError:
            continue
    return None


def _existing_parent(path: Path) -> Path:
    for p in path.parents:
        if p.is_dir():
            return p
    return Path("/")


def _find_moved(path: Path) -> Path | None:
    """A folder near path whose .git points at path's admin entry: the worktree, moved by mv.

    Only the likely places are searched (path's siblings, its parent's siblings, and the
    repository's neighbours), so a worktree moved far away looks deleted; its admin entry is
    then replaced, and `git worktree repair` can no longer attach it (its files stay).
    """
    admin = _admin_dir(path)
    if admin is None:
        return None
    want = f"gitdir: {admin}"
    common = admin.parent.parent
    top = common.parent if common.name == ".git" else common
    seen: set[str] = set()
    for folder in (path.parent, path.parent.parent, top.parent):
        if not folder.is_dir() or str(folder) in seen:
            continue
        seen.add(str(folder))
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for child in children:
            dotgit = child / ".git"
            try:
                if dotgit.is_file() and dotgit.read_text().strip() == want:
                    return child
            except OSError:
                continue
    return None


def _copy_sources(repo: Path, patterns: Sequence[str], skip: list[str]) -> list[str]:
    """Relative paths the `copy` globs match; never inside .git, .agentmux or a worktree."""
    found: dict[str, None] = {}
    root = _real(repo)
    for pattern in patterns:
        if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise BadInput(f"copy: {pattern!r} must be a glob relative to the repository")
        for match in sorted(repo.glob(pattern)):
            files = [match] if not match.is_dir() or match.is_symlink() else sorted(
                p for p in match.rglob("*") if not p.is_dir() or p.is_symlink())
            for f in files:
                rel = f.relative_to(repo)
                real = _real(f.parent)
                if _NEVER_COPY & set(rel.parts) or any(
                        real == s or real.startswith(s + os.sep) for s in skip if s != root):
                    continue
                found[rel.as_posix()] = None
    return list(found)


def _copy_into(repo: Path, dest: Path, sources: list[str]) -> tuple[str, ...]:
    copied = []
    for rel in sources:
        target = dest / rel
        if target.exists() or target.is_symlink():
            continue   # tracked at base: the checked-out version wins
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target, follow_symlinks=False)
        copied.append(rel)
    return tuple(copied)


def _create(repo: Path, plan: _Plan, sources: list[str]) -> tuple[str, ...]:
    w = plan.want
    if plan.action == "new":
        argv = ["git", "worktree", "add", "--no-track", "-b", w.branch, "--", str(w.path),
                plan.head]
    elif plan.action == "recreate":
        # -f only gets past git's "missing but already registered" refusal for this very path,
        # whose branch _plan checked is checked out nowhere else; `git worktree prune` would
        # drop every other missing worktree's registration too.
        argv = ["git", "worktree", "add", "-f", "--", str(w.path), w.branch]
    else:
        argv = ["git", "worktree", "add", "--", str(w.path), w.branch]
    proc.run(argv, cwd=repo, step=f"creating worktree for pane '{w.pane}'")
    try:
        return _copy_into(repo, w.path, sources)
    except OSError as e:
        raise WorkFailed(f"copying files into the worktree for pane '{w.pane}': {e}") from e


def _missing_top(path: Path) -> Path | None:
    """The outermost folder of path (itself included) that does not exist yet."""
    top = None
    for p in (path, *path.parents):
        if p.exists():
            break
        top = p
    return top


def prepare(repo: Path, base_sha: str, wants: Sequence[Want],
            copy: Sequence[str] = ()) -> list[Prepared]:
    with RepoLock(repo):
        before_wts = list_worktrees(repo)
        before_branches = _branches(repo)
        plans = _plan(base_sha, wants, before_wts, before_branches)
        todo = [p for p in plans if p.action != "reuse"]
        sources = _copy_sources(repo, copy, list(_by_path(before_wts))) if todo and copy else []
        tops = {p.want.pane: _missing_top(p.want.path) for p in todo}
        results: dict[str, tuple[str, ...] | BaseException] = {}
        if todo:
            with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(todo))) as pool:
                futures = {p.want.pane: pool.submit(_create, repo, p, sources) for p in todo}
                for pane, fut in futures.items():
                    exc = fut.exception()
                    results[pane] = exc if exc is not None else fut.result()
        _retry_races(repo, todo, before_branches, sources, results)
        failures = [(p, r) for p in todo if isinstance(r := results[p.want.pane], BaseException)]
        if failures:
            _fail(repo, plans, failures, before_wts, before_branches, results, tops)
        out = []
        for p in plans:
            copied = results.get(p.want.pane, ())
            assert not isinstance(copied, BaseException)
            out.append(Prepared(p.want.pane, p.want.branch, p.want.path,
                                created_worktree=p.action != "reuse",
                                created_branch=p.action == "new", head=p.head, copied=copied))
        return out


def _retry_races(repo: Path, todo: list[_Plan], before_branches: dict[str, str],
                 sources: list[str], results: dict[str, tuple[str, ...] | BaseException]) -> None:
    """Run again, one at a time, the adds that lost the commondir race before touching anything."""
    racy = [p for p in todo if isinstance(r := results[p.want.pane], CommandFailed)
            and _RACE.search(r.output)]
    if not racy:
        return
    registered = set(_by_path(list_worktrees(repo)))
    now_branches = _branches(repo)
    for p in racy:
        if _real(p.want.path) in registered or p.want.path.exists():
            continue   # it got further than the check: leave it to the rollback
        again = p
        if (p.action == "new" and p.want.branch not in before_branches
                and now_branches.get(p.want.branch) == p.head):
            # `worktree add -b` had made the branch before it died; check that one out.
            again = _Plan(p.want, "checkout", p.head)
        log.debug("pane %s lost git's worktree race; adding it again", p.want.pane)
        try:
            results[p.want.pane] = _create(repo, again, sources)
        except WorkFailed as e:
            results[p.want.pane] = e


def _fail(repo: Path, plans: list[_Plan], failures: list[tuple[_Plan, BaseException]],
          before_wts: list[dict[str, str]], before_branches: dict[str, str],
          results: dict[str, tuple[str, ...] | BaseException],
          tops: dict[str, Path | None]) -> None:
    # A non-zero exit does not mean nothing happened (a failing post-checkout hook leaves the
    # worktree; a failing `-b` leaves the branch), so undo from git's state as it is now.
    had_path = set(_by_path(before_wts))
    now_wts = _by_path(list_worktrees(repo))
    now_branches = _branches(repo)
    made = []
    for p in plans:
        if p.action == "reuse":
            continue
        w = p.want
        entry = now_wts.get(_real(w.path))
        made_wt = (entry is not None and _real(w.path) not in had_path
                   and entry.get("branch") == f"refs/heads/{w.branch}")
        made_br = (p.action == "new" and w.branch not in before_branches
                   and now_branches.get(w.branch) == p.head)
        copied = results.get(w.pane)
        made.append(Prepared(w.pane, w.branch, w.path, made_wt, made_br, p.head,
                             copied if isinstance(copied, tuple) else ()))
    problems = _undo(repo, made)
    for p in plans:   # folders git made on the way to a worktree that is gone again
        top = tops.get(p.want.pane)
        if top is None:
            continue
        for d in (p.want.path, *p.want.path.parents):
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                break
            if d == top:
                break
    first, exc = failures[0]
    msg = (f"creating worktree for pane '{first.want.pane}' (branch '{first.want.branch}', "
           f"{first.want.path}) failed")
    if isinstance(exc, CommandFailed):
        msg += f": `git {' '.join(exc.argv[1:3])}` exited {exc.returncode}"
        if exc.output.strip():
            msg += ":\n" + "\n".join("  " + ln for ln in exc.output.strip().splitlines()[-12:])
    else:
        msg += f": {exc}"
    others = [p.want.pane for p, _ in failures[1:]]
    if others:
        msg += f"\nalso failed: {', '.join(others)}"
    msg += "\nnothing this call created was kept" if not problems else (
        "\nundoing what this call created left problems:\n"
        + "\n".join(f"  {pr}" for pr in problems))
    raise WorkFailed(msg) from exc


def _unchanged_copy(repo: Path, wt: Path, rel: str) -> bool:
    src, dst = repo / rel, wt / rel
    if src.is_symlink() or dst.is_symlink():
        return src.is_symlink() and dst.is_symlink() and os.readlink(src) == os.readlink(dst)
    return src.is_file() and dst.is_file() and filecmp.cmp(src, dst, shallow=False)


def _remove_worktree(repo: Path, p: Prepared, wts: dict[str, dict[str, str]]) -> str | None:
    """Remove p's worktree unless that could lose anything; the problem, or None when gone."""
    entry = wts.get(_real(p.path))
    if entry is None:
        return None if not p.path.exists() else f"{p.path}: no longer a registered worktree; left"
    if entry.get("branch") != f"refs/heads/{p.branch}":
        # A commit on a detached HEAD is unreachable once its worktree is removed.
        return f"{p.path}: no longer on branch '{p.branch}'; left in place"
    st = proc.run(["git", "status", "--porcelain=v1", "-z", "--ignored=matching",
                   "--untracked-files=all"], cwd=p.path, check=False)
    if st.returncode != 0:
        return f"{p.path}: `git status` failed: {st.stderr.strip()}; left in place"
    entries = [e for e in st.stdout.split("\0") if e]
    ours = {e[3:] for e in entries if e[:2] in ("??", "!!") and e[3:] in p.copied
            and _unchanged_copy(repo, p.path, e[3:])}
    # `worktree remove` deletes ignored files without asking (.env, node_modules): check ourselves.
    other = [e[3:] for e in entries if e[3:] not in ours]
    if other:
        shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        return f"{p.path}: has changes or untracked/ignored files ({shown}); left in place"
    for rel in ours:
        (p.path / rel).unlink()
    # -c makes the removal's own `git status` check see untracked files whatever the user set.
    rm = proc.run(["git", "-c", "status.showUntrackedFiles=all", "worktree", "remove", "--",
                   str(p.path)], cwd=repo, check=False)
    if rm.returncode != 0:
        return f"{p.path}: `git worktree remove` exited {rm.returncode}: {rm.stderr.strip()}"
    return None


def _undo(repo: Path, prepared: Sequence[Prepared]) -> list[str]:
    problems: list[str] = []
    wts = _by_path(list_worktrees(repo))
    kept: set[str] = set()
    for p in reversed(prepared):
        if p.created_worktree:
            problem = _remove_worktree(repo, p, wts)
            if problem:
                problems.append(problem)
                kept.add(p.branch)
    if not any(p.created_branch for p in prepared):
        return problems
    checked_out = {w.get("branch", "").removeprefix("refs/heads/"): w["worktree"]
                   for w in list_worktrees(repo)}
    for p in prepared:
        if not p.created_branch:
            continue
        if p.branch in kept or p.branch in checked_out:
            where = checked_out.get(p.branch, p.path)
            problems.append(f"branch '{p.branch}': still checked out in {where}; kept")
            continue
        # Conditional on the recorded SHA, so a commit made since is never lost.
        d = proc.run(["git", "update-ref", "-d", f"refs/heads/{p.branch}", p.head],
                     cwd=repo, check=False)
        if d.returncode != 0:
            now = _branches(repo).get(p.branch)
            problems.append(f"branch '{p.branch}': kept, it moved from {p.head[:12]} to "
                            f"{now[:12]}" if now else
                            f"branch '{p.branch}': not deleted: {d.stderr.strip()}")
    return problems


def undo(repo: Path, prepared: Sequence[Prepared]) -> list[str]:
    try:
        with RepoLock(repo):
            return _undo(repo, prepared)
    except (WorkFailed, BadInput, EnvironmentProblem) as e:
        # A caller's cleanup must never hide the error that made it clean up.
        return [f"undo failed: {e}"]
