"""A pane's spec.json, built one way: by `up` and `add`, and again by `restart` to check it.

The ledger sits in the repository, where an agent without a sandbox can write. So `restart`
never runs a spec.json as it finds it: it builds the spec again from the run's layout
snapshot, checks that snapshot against the trust store (outside the repository), and refuses
(exit 3) a spec that differs, naming the keys. A sandboxed agent cannot write the ledger at
all (docs/sandbox.md).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tomllib
from collections.abc import Iterable
from pathlib import Path

from agentmux import git, layout, ledger, queue, sandbox, trust, wiring
from agentmux.errors import EnvironmentProblem, LayoutError, Refused
from agentmux.hook import FILE_NAME as HOOKS_FILE
from agentmux.records import DamagedRecord, RunRecord, SandboxSpec, SpecRecord

# Not compared by `restart`: the schema's version, and where the environment came from.
UNCHECKED = ("version", "env_file")
ETC_SHELLS = "/etc/shells"


def require_sandbox(panes: Iterable[layout.PaneSpec], where: object) -> None:
    """EnvironmentProblem (exit 4) when a pane needs bubblewrap and it cannot run here: the
    pane must not start unsandboxed, and nothing is created."""
    boxed = [p.name for p in panes if p.sandbox == "bwrap"]
    if not boxed:
        return
    problem = sandbox.check_available()
    if problem is not None:
        names = ", ".join(boxed)
        raise EnvironmentProblem(f"{where}: pane{'s' if len(boxed) > 1 else ''} {names}: "
                                 f"{problem}. Nothing was created")


def state_agent(spec: layout.PaneSpec, command: str) -> str | None:
    """Whose state folders (sandbox.AGENT_STATE) the agent needs: its preset's, else those of
    the program its command starts (a layout's own preset `claude --model opus` is claude)."""
    if spec.agent in sandbox.AGENT_STATE:
        return spec.agent
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    words = [w for w in words if w != "exec" and "=" not in w.split("/")[0]]
    prog = os.path.basename(words[0]) if words else ""
    return prog if prog in sandbox.AGENT_STATE else None


def worktree_git_dir(worktree: Path, common: Path) -> Path:
    """.git/worktrees/<name> of a worktree, from its `.git` file; it must be in common."""
    try:
        text = (worktree / ".git").read_text(encoding="utf-8")
    except OSError as e:
        raise Refused(f"{worktree}/.git: cannot read it ({e.strerror}); a sandbox needs the "
                      "worktree git made") from None
    found = Path(os.path.realpath(worktree / text.removeprefix("gitdir:").strip()))
    if not text.startswith("gitdir:") or found.parent != common / "worktrees":
        raise Refused(f"{worktree}/.git does not point into {common}/worktrees (it says "
                      f"{text.strip()!r}); it is not a worktree of this repository")
    return found


def common_dir(lay: layout.Layout, panes: Iterable[layout.PaneSpec]) -> Path | None:
    """The repository's git folder when some pane is sandboxed (one git look for all)."""
    if any(p.sandbox == "bwrap" for p in panes):
        return Path(os.path.realpath(git.common_dir(lay.repo)))
    return None


def sandbox_spec(spec: layout.PaneSpec, pl: layout.PanePlan, pane_dir: Path,
                 common: Path | None) -> SandboxSpec | None:
    if spec.sandbox != "bwrap":
        return None
    if pl.worktree is None or pl.branch is None or common is None:
        raise LayoutError(str(spec.name), "sandbox", "needs a worktree of the pane's own")
    return SandboxSpec(kind="bwrap", branch=pl.branch, git_common_dir=str(common),
                       worktree_git_dir=str(worktree_git_dir(pl.worktree, common)),
                       network=spec.network, agent=state_agent(spec, pl.command),
                       # The hook program appends the agent's own state events there.
                       writable=(str(pane_dir / HOOKS_FILE),))


def build_spec(run_dir: ledger.RunDir, lay: layout.Layout, pl: layout.PanePlan, *,
               shell: str | None, wake: str, new_tree: bool, common: Path | None,
               gated: bool = False) -> SpecRecord:
    """What the pane's runner is told; no environment (that goes in the pane's env file)."""
    spec = next(p for p in lay.panes if p.name == pl.name)
    # The agent's own hooks, headless and resume forms (agentmux/wiring.py), from the layout.
    wired = wiring.plan(run_dir.pane_dir(pl.name), spec, pl, lay.repo)
    return SpecRecord(
        run=run_dir.id, pane=pl.name, command=wired.start, shell=shell, cwd=str(pl.cwd),
        worktree=str(pl.worktree) if pl.worktree else None,
        env={**pl.env, **wired.wiring.env, "AGENTMUX_RUN": run_dir.id,
             "AGENTMUX_PANE": pl.name, "AGENTMUX_WORKTREE": str(pl.worktree or pl.cwd),
             "AGENTMUX_SESSION": lay.session},
        resume=wired.resume, files=dict(wired.wiring.tree_files),
        env_file=None, setup=lay.setup if new_tree else None,
        status=str(run_dir.status(pl.name)), wake=wake, check=pl.check,
        gate=str(queue.gate_path(run_dir, pl.name)) if gated else None,
        sandbox=sandbox_spec(spec, pl, run_dir.pane_dir(pl.name), common))


def trusted_layout(run_dir: ledger.RunDir, run: RunRecord, doing: str) -> layout.Layout:
    """The run's layout, from its snapshot in run.json, once the trust store vouches for it."""
    repo = run_dir.path.parent.parent.parent
    if os.path.realpath(run.repo) != os.path.realpath(repo):
        raise Refused(f"{doing}: run {run_dir.id}'s run.json names repository {run.repo}, "
                      f"but the run lives in {repo}: refusing a changed ledger")
    if not trust.was_trusted(Path(run.layout), run.layout_snapshot.encode("utf-8")):
        raise Refused(f"{doing}: run {run_dir.id}'s layout snapshot (run.json) is not a "
                      f"layout you trusted at {run.layout}: it was changed after `up`. "
                      f"Nothing was run; start a new run with `agentmux up {run.layout}`")
    data = tomllib.loads(run.layout_snapshot)
    data["base"] = run.base
    data["repo"] = run.repo
    data["pane"] = [*data.get("pane", []), *(a.to_json() for a in run.added_panes)]
    return layout.parse(data, Path(run.layout))


def _allowed_shell(shell: str | None) -> bool:
    """The shell runs the command: only one the system lists (root owns /etc/shells)."""
    if shell is None or shell == "/bin/sh":
        return True
    try:
        with open(ETC_SHELLS, encoding="utf-8", errors="replace") as f:
            listed = {line.strip() for line in f if line.startswith("/")}
    except OSError:
        return False
    return shell in listed


def verify(run_dir: ledger.RunDir, name: str) -> SpecRecord:
    """The pane's spec.json, if it is what the run's trusted layout makes; else Refused."""
    doing = f"restart {name}"
    try:
        found = run_dir.spec_of(name)
    except DamagedRecord as e:
        raise Refused(f"{doing}: {run_dir.spec(name)} is damaged ({e}); nothing was run") from None
    if found is None:
        raise Refused(f"{doing}: {run_dir.spec(name)} is missing; nothing was run")
    run = run_dir.run()
    lay = trusted_layout(run_dir, run, doing)
    task_files = {p.name: run_dir.task_file(p.name) for p in lay.panes}
    plans = [p for p in layout.plan(lay, task_files) if p.name == name]
    if not plans:
        raise Refused(f"{doing}: the run's trusted layout has no pane {name!r}; nothing was run")
    expected = build_spec(
        run_dir, lay, plans[0], shell=found.shell if _allowed_shell(found.shell) else "/bin/sh",
        wake=f"agentmux-{run_dir.id}", new_tree=found.setup is not None,
        common=common_dir(lay, [p for p in lay.panes if p.name == name]),
        gated=lay.max_running is not None)
    if found.setup not in (None, lay.setup):
        expected = dataclasses.replace(expected, setup=lay.setup)
    have, want = found.to_json(), expected.to_json()
    differ = sorted(k for k in {*have, *want} - set(UNCHECKED) if have.get(k) != want.get(k))
    if differ:
        shown = "; ".join(f"{k}: {have.get(k)!r}, the layout says {want.get(k)!r}"
                          for k in differ)
        raise Refused(f"{doing}: {run_dir.spec(name)} differs from the trusted layout "
                      f"snapshot of run {run_dir.id} in {', '.join(differ)} ({shown}). "
                      "Refusing to run it; nothing was changed")
    return found


def write_wiring(run_dir: ledger.RunDir, lay: layout.Layout, pl: layout.PanePlan) -> None:
    """The pane folder's wiring files (wiring.json, a trusted-folders file), from the layout."""
    spec = next(p for p in lay.panes if p.name == pl.name)
    wiring.write_pane_files(wiring.plan(run_dir.pane_dir(pl.name), spec, pl, lay.repo))


def rewire(run_dir: ledger.RunDir, name: str) -> None:
    """For `restart`: the wiring files again, from the run's trusted layout (verify ran)."""
    lay = trusted_layout(run_dir, run_dir.run(), f"restart {name}")
    task_files = {p.name: run_dir.task_file(p.name) for p in lay.panes}
    for pl in layout.plan(lay, task_files):
        if pl.name == name:
            write_wiring(run_dir, lay, pl)
