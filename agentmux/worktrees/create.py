"""Creating the planned worktrees, several at once, under the repository's lock.

The rules of docs/git.md apply: never `-B`, never `--force`, `--no-track` for new branches,
and after any failure re-read git's real state instead of trusting the exit status.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentmux import git
from agentmux.errors import AgentmuxError, CommandFailed, WorkFailed
from agentmux.worktrees import provisioned
from agentmux.worktrees.lock import RepoLock
from agentmux.worktrees.plan import Plan, Prepared, Want, by_path, copy_sources, plan, real
from agentmux.worktrees.rollback import Attempt, Outcome, fail

log = logging.getLogger(__name__)

# worktree add is mostly process start-up and file writes; past a handful of workers a 2-core
# machine gains nothing, and a big N should not fork-bomb the user's laptop.
_MAX_WORKERS = 8
# git 2.39 is not safe against itself here: every `worktree add` reads all of
# .git/worktrees/*/commondir, and another add may have created that file but not yet written it.
# Seen in about 1 of 3 runs of 5 concurrent adds, even with --no-track.
_RACE = re.compile(r"failed to read .*worktrees/[^/\n]+/commondir")


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


def _create(repo: Path, p: Plan, sources: list[str]) -> tuple[str, ...]:
    w = p.want
    step = f"creating worktree for pane '{w.pane}'"
    if p.action == "new":
        git.worktree_add(repo, w.path, p.head, new_branch=w.branch, step=step)
    else:
        # "recreate": -f only gets past git's "missing but already registered" refusal for this
        # very path, whose branch plan() checked is checked out nowhere else; `git worktree
        # prune` would drop every other missing worktree's registration too.
        git.worktree_add(repo, w.path, w.branch, force=p.action == "recreate", step=step)
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
        before_wts = git.worktree_list(repo)
        before_branches = git.branches(repo)
        plans = plan(base_sha, wants, before_wts, before_branches)
        todo = [p for p in plans if p.action != "reuse"]
        sources = copy_sources(repo, copy, list(by_path(before_wts))) if todo and copy else []
        attempt = Attempt(repo, plans, before_wts, before_branches, {},
                          {p.want.pane: _missing_top(p.want.path) for p in todo})
        if todo:
            with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(todo))) as pool:
                futures = {p.want.pane: pool.submit(_create, repo, p, sources) for p in todo}
                for pane, fut in futures.items():
                    exc = fut.exception()
                    attempt.results[pane] = exc if exc is not None else fut.result()
        _retry_races(attempt, todo, sources)
        _record_copies(attempt, todo)
        if attempt.failures:
            fail(attempt)
        out = []
        for p in plans:
            copied = attempt.results.get(p.want.pane, ())
            assert not isinstance(copied, BaseException)
            out.append(Prepared(p.want.pane, p.want.branch, p.want.path,
                                created_worktree=p.action != "reuse",
                                created_branch=p.action == "new", head=p.head, copied=copied))
        return out


def _record_copies(attempt: Attempt, todo: list[Plan]) -> None:
    """Each new worktree's provisioned files into the ledger; a failure undoes the call, as a
    failed copy does: a copy nobody recorded would look like the agent's own file."""
    for p in todo:
        copied = attempt.results.get(p.want.pane)
        if isinstance(copied, tuple):
            try:
                provisioned.write(attempt.repo, p.want.path, copied)
            except (AgentmuxError, OSError) as e:
                attempt.results[p.want.pane] = e


def _retry_races(attempt: Attempt, todo: list[Plan], sources: list[str]) -> None:
    """Run again, one at a time, the adds that lost the commondir race before touching anything."""
    results: dict[str, Outcome] = attempt.results
    racy = [p for p in todo if isinstance(r := results[p.want.pane], CommandFailed)
            and _RACE.search(r.output)]
    if not racy:
        return
    registered = set(by_path(git.worktree_list(attempt.repo)))
    now_branches = git.branches(attempt.repo)
    for p in racy:
        if real(p.want.path) in registered or p.want.path.exists():
            continue   # it got further than the check: leave it to the rollback
        again = p
        if (p.action == "new" and p.want.branch not in attempt.before_branches
                and now_branches.get(p.want.branch) == p.head):
            # `worktree add -b` had made the branch before it died; check that one out.
            again = Plan(p.want, "checkout", p.head)
        log.debug("pane %s lost git's worktree race; adding it again", p.want.pane)
        try:
            results[p.want.pane] = _create(repo=attempt.repo, p=again, sources=sources)
        except WorkFailed as e:
            results[p.want.pane] = e
