"""What a parsed layout would collide with here, found before anything is created.

`load` runs these (so `validate`, and `up`, which loads first); `parse` alone does not, because
`add` parses a running run's layout, whose earlier panes own their branches already.

- The worktree folder: inside the repository once symbolic links are followed, outside git's
  folder, and ignored by git (or inside .agentmux, which agentmux keeps ignored), so that the
  worktrees never show as untracked files of the main checkout.
- Branches: an agent's branch checked out in the main checkout (git would refuse the worktree);
  a branch of the agent's name that exists and was not made by an earlier run of this session
  (`up` after `down` resumes its own branches, never someone else's): one that a run of this
  session recorded, or one checked out in the very worktree the pane would use; a branch whose
  name is a folder of the agent's, or the other way round (git cannot have both).

Panes that run on a `[hosts.NAME]` use that host's clone and environment: not checked here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from agentmux import git, ledger
from agentmux.errors import AgentmuxError
from agentmux.layout.checker import Checker
from agentmux.layout.limits import ROOT_EXAMPLE
from agentmux.layout.model import Layout, PaneSpec, fill

_OTHER_BRANCHES = ("main", "master", "trunk", "develop")


def check_here(lay: Layout) -> None:
    """The same checks for a layout built by `parse` (such as `add`'s): LayoutError naming
    lay's file."""
    check(Checker(str(lay.path)), lay)


def check(c: Checker, lay: Layout) -> None:
    local = [p for p in lay.panes if p.host is None]
    if lay.isolation == "worktree" and local:
        _worktree_root(c, lay)
        _branches(c, lay, local)


def _worktree_root(c: Checker, lay: Layout) -> None:
    rel = fill(lay.worktree_root, {"session": lay.session})
    top = Path(os.path.realpath(lay.repo))
    real = Path(os.path.realpath(top / rel))
    shown = repr(lay.worktree_root)
    if real == top or not real.is_relative_to(top):
        c.fail("worktree_root", f"{shown} leads to {real} through a symbolic link: outside the "
               f"repository {top}; use a folder inside it, such as {ROOT_EXAMPLE}")
    if real.is_relative_to(git.common_dir(top)):
        c.fail("worktree_root", f"{shown} leads into git's own folder ({real}); use a folder "
               f"such as {ROOT_EXAMPLE}")
    if real.relative_to(top).parts[0] == ledger.LEDGER_DIR:
        return   # agentmux writes .agentmux/.gitignore ("*") before it creates anything there
    ask = real.relative_to(top).as_posix() + "/"
    got = git.run(top, "check-ignore", "-q", "--", ask, check=False)
    if got.returncode != 0:
        why = "is not ignored by git" if got.returncode == 1 else (
            f"cannot be checked against git's ignore rules ({got.stderr.strip()})")
        c.fail("worktree_root", f"{shown} ({ask}) {why}, so every worktree in it would show "
               "as an untracked folder of the main checkout; put it inside .agentmux, which "
               f"agentmux keeps ignored (such as {ROOT_EXAMPLE}), or add /{ask} to .gitignore")


def _recorded(lay: Layout) -> set[str]:
    """The branches earlier runs of this session used: `up` resumes those, as its own."""
    out: set[str] = set()
    for rd in ledger.iter_runs(lay.repo):
        with contextlib.suppress(AgentmuxError):
            run = rd.read_run()
            if run.get("session") == lay.session:
                out |= {str(p.get("branch")) for p in run.get("panes", [])
                        if isinstance(p, dict) and p.get("branch")}
    return out


def _describe(repo: Path, sha: str, checked_out: str | None) -> str:
    got = git.run(repo, "show", "-s", "--format=%h %s", sha, check=False)
    short, _, subject = got.stdout.strip().partition(" ")
    where = f"at {short or sha[:12]}" + (f" ({subject!r})" if subject else "")
    return where + (f", checked out in {checked_out}" if checked_out else "")


def _branches(c: Checker, lay: Layout, panes: list[PaneSpec]) -> None:
    trees = git.worktree_list(lay.repo)
    main = trees[0].get("worktree") if trees and "bare" not in trees[0] else None
    on = {w["branch"].removeprefix("refs/heads/"): w.get("worktree", "")
          for w in trees if "branch" in w}
    heads = git.branches(lay.repo)
    wanted = {p.name: lay.branch_of(p) for p in panes}
    for name, branch in wanted.items():
        there = on.get(branch)
        if main and there and os.path.realpath(there) == os.path.realpath(main):
            other = next((b for b in _OTHER_BRANCHES if b in heads
                          and b not in wanted.values()), None)
            how = f"git -C {main} switch {other}" if other else f"git -C {main} switch --detach"
            c.fail("branch", f"pane {name!r} needs branch '{branch}' in a worktree of its "
                   f"own, but the main checkout {main} has it checked out; check out another "
                   f"branch there first: `{how}`")
    clashes = []
    own: set[str] | None = None
    root = lay.repo / fill(lay.worktree_root, {"session": lay.session})
    for name, branch in wanted.items():
        if branch in heads:
            own = _recorded(lay) if own is None else own
            # Checked out at this pane's own worktree path: agentmux's, even when the run
            # that made it can no longer be read (a damaged run.json).
            there = on.get(branch)
            if there and os.path.realpath(there) == os.path.realpath(root / name):
                own.add(branch)
            if branch not in own:
                desc = _describe(lay.repo, heads[branch], on.get(branch))
                clashes.append(f"  {branch} (pane {name!r}): {desc}")
            continue
        for other in heads:
            if other.startswith(branch + "/") or branch.startswith(other + "/"):
                c.fail("branch", f"pane {name!r} needs branch '{branch}', but branch '{other}' "
                       "exists, and git cannot have both (one would be a folder of the other); "
                       "give the agents other branches with the `branch` template, such as "
                       "\"agentmux/{session}-2/{pane}\", or rename that branch")
    if clashes:
        some = "this branch already exists" if len(clashes) == 1 else \
            "these branches already exist"
        first = next(b for b in wanted.values() if b in heads and b not in (own or set()))
        made = "it" if len(clashes) == 1 else "them"
        c.fail("branch", "\n".join([
            f"{some}, and no earlier run of session '{lay.session}' made {made}:", *clashes,
            "agentmux takes over no branch it did not make. Give the agents other branches "
            "with the `branch` template, such as \"agentmux/{session}-2/{pane}\", or delete "
            f"the branch if nobody needs it: `git branch -d {first}`"]))

