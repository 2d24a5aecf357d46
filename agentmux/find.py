"""Which run a command acts on: `--session`, else the run whose worktree you stand in, else the
most recent run of this repository (found from the main checkout or any linked worktree, or
from the folder `--repo` names). Within a run: which panes there are. And the hints that name
a run or its work again: commands that work where they are printed, and what is left of a run
whose session has gone (worktrees, branches, snapshots).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import git, ledger, snapshot, worktrees
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
    try:
        repo = worktrees.repo_root(here)
    except BadInput:
        raise BadInput(f"{here} is not in a git repository; run this inside the repository, or "
                       "name it with `agentmux --repo PATH ...` (or AGENTMUX_REPO=PATH)") from None
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


# --- hints ------------------------------------------------------------------------------------

def home_of(run_dir: ledger.RunDir) -> Path:
    """The checkout whose ledger holds the run (<home>/.agentmux/runs/<id>)."""
    return run_dir.path.parents[2]


def reach(run_dir: ledger.RunDir, cwd: Path | None = None) -> tuple[list[str], list[str]]:
    """The options a command typed in cwd needs to act on run_dir: the group's (`--repo`) and
    the command's own (`--session`); both empty when the defaults already find that run."""
    here = (cwd or Path.cwd()).resolve()
    try:
        inside = any(rd.id == run_dir.id for rd in all_runs(here)[1])
    except AgentmuxError:
        inside = False
    group = [] if inside else ["--repo", str(home_of(run_dir))]
    try:
        found: str | None = find_run(None, here if inside else home_of(run_dir)).id
    except AgentmuxError:
        found = None
    session = str(run_dir.read_run().get("session"))
    return group, ([] if found == run_dir.id else ["--session", session])


def hint(run_dir: ledger.RunDir, command: str, tail: str = "", *, tmux: bool = False,
         locate: bool = True, cwd: Path | None = None) -> str:
    """`agentmux [--socket S] [--repo R] COMMAND [--session S] TAIL`, as it must be typed in cwd
    to act on run_dir. tail is shown as given (it may hold a placeholder such as [PANE])."""
    run = run_dir.read_run()
    words = ["agentmux"]
    if tmux and run.get("socket"):
        words += ["--socket", str(run["socket"])]
    own: list[str] = []
    if locate:
        group, own = reach(run_dir, cwd)
        words += group
    words += [command, *own]
    return " ".join(shlex.quote(w) for w in words) + (f" {tail}" if tail else "")


def up_hint(run_dir: ledger.RunDir, cwd: Path | None = None) -> str:
    """The `up` that starts this run's layout again, on the run's own tmux server."""
    layout = str(run_dir.read_run().get("layout") or "LAYOUT")
    with contextlib.suppress(ValueError):
        layout = str(Path(layout).relative_to((cwd or Path.cwd()).resolve()))
    return hint(run_dir, "up", shlex.quote(layout) if layout != "LAYOUT" else layout,
                tmux=True, locate=False)


@dataclass(frozen=True)
class Gone:
    """A pane whose worktree folder is missing, and what is left of its work."""

    pane: str
    worktree: str
    branch: str | None
    branch_left: bool         # the branch still exists: `up` checks it out there again
    snapshot: bool            # refs/agentmux/snapshots/<run>/<pane> exists: `restore` works


def gone(run_dir: ledger.RunDir) -> list[Gone]:
    """Every pane of the run whose worktree folder is missing (none without worktrees)."""
    run = run_dir.read_run()
    missing = [p for p in run.get("panes", [])
               if p.get("worktree") and not Path(str(p["worktree"])).is_dir()]
    if not missing:
        return []
    repo = Path(str(run.get("repo") or home_of(run_dir)))
    try:
        with git.Repo(repo) as r:
            heads = {p["name"]: r.rev(f"refs/heads/{p['branch']}") is not None
                     for p in missing if p.get("branch")}
            snaps = {p["name"]: r.rev(snapshot.ref_for(run_dir.id, p["name"])) is not None
                     for p in missing}
    except AgentmuxError:
        heads, snaps = {}, {}
    return [Gone(str(p["name"]), str(p["worktree"]), p.get("branch"),
                 heads.get(p["name"], False), snaps.get(p["name"], False)) for p in missing]


def gone_note(run_dir: ledger.RunDir, g: Gone, cwd: Path | None = None) -> str:
    """One pane's missing worktree, and the command that brings its work back (if any)."""
    if g.branch_left:
        return (f"worktree {g.worktree} is missing; `{up_hint(run_dir, cwd)}` checks branch "
                f"{g.branch} out there again")
    what = f"worktree {g.worktree} and branch {g.branch}" if g.branch else f"worktree {g.worktree}"
    if g.snapshot:
        back = hint(run_dir, "restore", g.pane, cwd=cwd)
        return (f"{what} were removed (`agentmux clean`); `{back}` brings them back from its "
                "snapshot")
    return (f"{what} were removed, and there is no snapshot to restore them from; "
            f"`{up_hint(run_dir, cwd)}` would start this agent anew from the base")


def restart_hint(run_dir: ledger.RunDir, cwd: Path | None = None) -> str:
    """How to bring back a run whose session is gone, true to what is left of its worktrees
    and branches: for `attach` and `send` on a run that is not running."""
    up = up_hint(run_dir, cwd)
    removed = [g for g in gone(run_dir) if not g.branch_left]
    if not removed:
        return f"`{up}` starts it again on the same branches and worktrees"
    names = ", ".join(g.pane for g in removed)
    text = (f"the worktrees and branches of {names} were removed (`agentmux clean`), so "
            f"`{up}` would start those agents anew from the base")
    back = [g for g in removed if g.snapshot]
    if back:
        text += (f"; `{hint(run_dir, 'restore', back[0].pane, cwd=cwd)}` brings "
                 f"{'one' if len(back) > 1 else 'it'} back from its snapshot first")
    return text
