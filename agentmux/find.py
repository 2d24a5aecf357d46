"""Which run a command acts on: `--session`, else the run whose worktree you stand in, else the
most recent run of this repository (found from the main checkout or any linked worktree). And
within a run: which panes there are, and whether one's agent is still running."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from agentmux import git, ledger, worktrees
from agentmux.errors import AgentmuxError, BadInput


def find_run(session: str | None = None, cwd: Path | None = None) -> ledger.RunDir:
    here = (cwd or Path.cwd()).resolve()
    repo, runs = all_runs(here)
    if not runs:
        raise BadInput(f"no agentmux run found in {repo}; start one with `agentmux up LAYOUT`")
    if session:
        found = latest_of_session(runs, session)
        if found is not None:
            return found
        raise BadInput(f"no run of session '{session}' in {repo}; sessions: "
                       + ", ".join(sorted(_sessions(runs))))
    env_run = os.environ.get("AGENTMUX_RUN")
    for rd in runs:
        if rd.id == env_run:
            return rd
    for rd in runs:
        with contextlib.suppress(AgentmuxError):
            for p in rd.read_run().get("panes", []):
                tree = p.get("worktree")
                if tree and here.is_relative_to(Path(tree).resolve()):
                    return rd
    return runs[0]


def all_runs(here: Path) -> tuple[Path, list[ledger.RunDir]]:
    """Every run of the repository that holds `here`, newest first, whichever checkout made it.

    A run's ledger lives in the checkout its layout is in: usually the main one, but a bare
    clone has none, and a layout may sit in a linked worktree. So every worktree's ledger is
    read, and the same run is found from any of them.
    """
    repo = worktrees.repo_root(here)
    homes = {repo.resolve(): None}
    with contextlib.suppress(AgentmuxError):
        for tree in git.linked_worktrees(repo):   # from git's files: no git process
            homes[tree.resolve()] = None
    found: dict[str, ledger.RunDir] = {}
    for home in homes:
        for rd in ledger.iter_runs(home):
            found.setdefault(rd.id, rd)
    return repo, [found[k] for k in sorted(found, reverse=True)]


def latest_of_session(runs: Iterable[ledger.RunDir], session: str) -> ledger.RunDir | None:
    """The first (newest) readable run of that session; a damaged run is skipped."""
    for rd in runs:
        with contextlib.suppress(AgentmuxError):
            if rd.read_run().get("session") == session:
                return rd
    return None


def _sessions(runs: list[ledger.RunDir]) -> set[str]:
    out = set()
    for rd in runs:
        with contextlib.suppress(AgentmuxError):
            out.add(str(rd.read_run().get("session")))
    return out


def check_panes(known: Sequence[str], wanted: Iterable[str], where: str) -> None:
    """BadInput naming every wanted pane that is not among known (in `where`, e.g. "run X")."""
    unknown = [n for n in dict.fromkeys(wanted) if n not in set(known)]
    if unknown:
        shown = ", ".join(f"'{n}'" for n in unknown)
        raise BadInput(f"no pane named {shown} in {where}; panes: " + ", ".join(known))


def pane_entry(run_dir: ledger.RunDir, name: str) -> dict[str, object]:
    panes = run_dir.read_run().get("panes", [])
    check_panes([str(p.get("name", "?")) for p in panes], [name], f"run {run_dir.id}")
    return dict(next(p for p in panes if p.get("name") == name))
