"""`up`'s part on other hosts: the base commit, the worktrees, the runner and the agents.

Per host, after `hosts_up.preflight` checked every host (nothing created yet):
1. `git push HOST:REPO SHA:refs/agentmux/base/<run>`: the base commit reaches the host's clone
   through git's own ssh, multiplexed over the host's master connection;
2. one ssh call runs the host program (agentmux.remote, op `setup`): it installs the stdlib
   runner in `~/.cache/agentmux/<version>/` if that version is not there yet, creates the run's
   ledger folder `<repo>/.agentmux/runs/<run>/` with each pane's spec.json and TASK.md, adds
   the worktrees and branches from the base commit, and builds the session on the host's own
   tmux server (`tmux -L agentmux`), where each pane runs the same runner as here. A failure
   inside that call is undone by the program itself before it answers.
The caller registers `undo` before the first push: a failure on any host, or locally, later
removes what this `up` created on every host (session, worktrees, branches, ledger, base ref).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agentmux import (
    __version__,
    brief,
    git,
    layout,
    ledger,
    panespec,
    queue,
    remote,
    wiring,
)
from agentmux.errors import WorkFailed
from agentmux.hosts import Host, Transport
from agentmux.runner import BOOT
from agentmux.shellcmd import SH
from agentmux.tmux import terminal_size
from agentmux.tmux_chain import (
    SERVER_PINS,
    SESSION_PINS,
    Launch,
    chain_argv,
    fmt_escape,
    pane_commands,
    pins,
)

log = logging.getLogger(__name__)

# The runner and every module it imports on the way to an unsandboxed agent (stdlib only).
RUNNER_MODULES = ("__init__", "runner", "atomic", "runproc", "runspec", "shellcmd",
                  "agentfiles", "runcheck", "capture")
# What the agents' own hook mechanisms call there (agentmux.wiring, with the host's python3 -S).
HOOK_FILES = ("hook.py", "opencode_plugin.js")
_PACKAGE = Path(__file__).resolve().parent


def runner_files() -> dict[str, bytes]:
    names = [*(f"{m}.py" for m in RUNNER_MODULES), *HOOK_FILES]
    return {f"agentmux/{n}": (_PACKAGE / n).read_bytes() for n in names}


@functools.cache
def cache_key() -> str:
    """The runner's version on a host: agentmux's version and a hash of the files shipped."""
    h = hashlib.sha256()
    for rel, data in sorted(runner_files().items()):
        h.update(rel.encode() + b"\0" + data)
    return f"{__version__}-{h.hexdigest()[:12]}"


@dataclass
class HostWork:
    host: Host
    transport: Transport
    home: str
    cached: bool
    plans: list[layout.PanePlan]

    @property
    def cache(self) -> str:
        return f"{self.home.rstrip('/')}/.cache/agentmux/{cache_key()}"


def host_layout(lay: layout.Layout, host: Host) -> layout.Layout:
    """The layout as seen from the host: its clone is the repository."""
    root = host.worktree_root or lay.worktree_root
    return replace(lay, repo=Path(host.repo), worktree_root=root)


def host_run_dir(host: Host, run_id: str) -> ledger.RunDir:
    return ledger.RunDir(Path(host.repo) / ledger.LEDGER_DIR / "runs" / run_id)


def plans_on(lay: layout.Layout, host: Host, run_id: str, names: Sequence[str]
             ) -> list[layout.PanePlan]:
    rrun = host_run_dir(host, run_id)
    hlay = host_layout(lay, host)
    tasks = {p.name: rrun.task_file(p.name) for p in lay.panes}
    return [pl for pl in layout.plan(hlay, tasks) if pl.name in names]


def wired(lay: layout.Layout, host: Host, run_id: str, pl: layout.PanePlan, cache: str
          ) -> wiring.Wired:
    """The pane's hook wiring with the host's paths: its ledger's pane folder, and the hook
    program in the runner's cache there. The project's own Codex hooks are looked for in the
    clone here (the same history)."""
    spec = next(p for p in lay.panes if p.name == pl.name)
    return wiring.plan(host_run_dir(host, run_id).pane_dir(pl.name), spec, pl, lay.repo,
                       tools=f"{cache}/agentmux")


def spec_bytes(lay: layout.Layout, host: Host, run_id: str, pl: layout.PanePlan,
               wake: str, cache: str) -> bytes:
    """The spec.json of a pane on host, made from the (trusted) layout as `up` makes it."""
    spec = panespec.build_spec(host_run_dir(host, run_id), host_layout(lay, host), pl,
                               shell=SH, wake=wake, new_tree=True, common=None,
                               gated=host.max_running is not None)
    # build_spec wires a remote pane for its process alone; the same wiring with host paths.
    w = wired(lay, host, run_id, pl, cache)
    spec = replace(spec, command=w.start, resume=w.resume, files=dict(w.wiring.tree_files),
                   env={**host.env, **spec.env, **w.wiring.env})
    return (json.dumps(spec.to_json(), indent=2) + "\n").encode()


def runner_argv(cache: str, spec: str) -> list[str]:
    return ["python3", "-I", "-S", "-c", BOOT, cache, spec]


def hosted(name: str, argv: Sequence[str], cwd: Path, log: Path, max_output: int) -> Launch:
    """A runner's pane on a host, armed as a local one (tmux_chain.armed): the runner forks
    its capture child (capture.py, shipped with it), which bounds the log at `max_output`,
    reading a FIFO beside the log. Nothing can make the FIFO from here: pipe-pane's shell or
    the capture child makes it there, whichever is first (tmux_chain.fifo_pipe_command)."""
    return Launch(name, argv, cwd, log, max_output, fifo=os.urandom(6).hex())


def pane_files(lay: layout.Layout, host: Host, run_id: str, pl: layout.PanePlan, wake: str,
               cache: str) -> dict[str, bytes]:
    """A pane's spec.json on host, its wiring's own files in the host's pane folder (Gemini's
    trusted folders) and the wiring's record there, as `up` writes them for a local pane."""
    rrun = host_run_dir(host, run_id)
    w = wired(lay, host, run_id, pl, cache)
    out = {path: text.encode() for path, text in w.wiring.pane_files.items()}
    out[str(rrun.spec(pl.name))] = spec_bytes(lay, host, run_id, pl, wake, cache)
    record = wiring.record(w.pane, w.wiring, w.start, w.resume)
    out[str(rrun.pane_dir(pl.name) / wiring.WIRING_FILE)] = json.dumps(record).encode()
    return out


def _files(lay: layout.Layout, work: HostWork, run_id: str, wake: str,
           context: Mapping[str, brief.Context], base_sha: str) -> dict[str, bytes]:
    rrun = host_run_dir(work.host, run_id)
    specs = {p.name: p for p in lay.panes}
    out: dict[str, bytes] = {}
    for pl in work.plans:
        out.update(pane_files(lay, work.host, run_id, pl, wake, work.cache))
        where = {"worktree": str(pl.worktree or ""), "branch": pl.branch or "",
                 "working folder": str(pl.cwd)}
        text = brief.render(pl.name, specs[pl.name].task, pl.scope,
                            [context[f] for f in pl.context], where, base_sha)
        out[str(rrun.task_file(pl.name))] = text.encode("utf-8")
    return out


def _chain(work: HostWork, run_id: str, session: str, wake: str, max_output: int
           ) -> list[str]:
    """One tmux chain that builds the host's session, one pane per plan; prints pane ids."""
    rrun = host_run_dir(work.host, run_id)
    cols, rows = terminal_size()
    cmds: list[list[str]] = [*pins("-s", SERVER_PINS)]
    windows: list[str] = []
    for pl in work.plans:
        argv = runner_argv(work.cache, str(rrun.spec(pl.name)))
        launch = hosted(pl.name, argv, pl.cwd, rrun.output(pl.name), max_output)
        if not windows:
            create = ["new-session", "-d", "-s", session, "-n", fmt_escape(pl.window),
                      "-x", str(cols), "-y", str(rows)]
        elif pl.window not in windows:
            create = ["new-window", "-n", fmt_escape(pl.window)]
        else:
            create = ["split-window"]
        first = pl.window not in windows
        cmds += pane_commands(create, launch, run_id, wake if first else None)
        if not windows:
            cmds += pins("", SESSION_PINS)
        if first:
            windows.append(pl.window)
    return chain_argv(cmds)


def start(stack: contextlib.ExitStack, lay: layout.Layout, run_dir: ledger.RunDir,
          base_sha: str, works: Sequence[HostWork], wake: str,
          context: Mapping[str, brief.Context]) -> remote.RemoteRecord:
    """Start every host's agents; what was created is undone by `stack` on a later failure."""
    run_id = run_dir.id
    session = remote.session_name(run_id)
    base_ref = f"{remote.BASE_NS}/{run_id}"
    hosts: dict[str, remote.RemoteHost] = {}
    panes: dict[str, remote.RemotePane] = {}
    for work in works:
        h = work.host
        rrun = host_run_dir(h, run_id)
        rh = remote.RemoteHost(h.name, h.ssh, h.repo, str(rrun.path), session, base_ref,
                               work.cache, h.max_running)
        trees = [(pl.branch or "", str(pl.worktree)) for pl in work.plans if pl.worktree]
        # Until the host's setup succeeded, only the base ref is ours to remove there: the
        # setup undoes its own partial work, and never touches what it did not create.
        made: list[tuple[str, str]] = []
        started: list[bool] = []
        stack.callback(undo, work.transport, rh, made, started)
        git.run(lay.repo, "push", "-q", remote.git_url(h), f"{base_sha}:{base_ref}",
                env={"GIT_SSH_COMMAND": remote.git_ssh_command(work.transport)},
                step=f"pushing the base commit to host '{h.name}'")
        files = _files(lay, work, run_id, wake, context, base_sha)
        # The host's queue: the first max_running gates open at once (recorded here too,
        # where the watcher opens the next ones, agentmux.remote_follow).
        for name in queue.release(run_dir, [pl.name for pl in work.plans], h.max_running, {}):
            files[str(queue.gate_path(rrun, name))] = ledger.now_iso().encode() + b"\n"
        query: dict[str, object] = {
            "repo": h.repo, "socket": remote.SOCKET, "session": session, "sha": base_sha,
            "base_ref": base_ref, "run_dir": str(rrun.path), "trees": trees,
            "files": files,
            "cache": work.cache,
            "cache_files": {} if work.cached else runner_files(),
            "chain": _chain(work, run_id, session, wake, lay.max_output),
        }
        ids = remote.call(work.transport, "setup", query, timeout=120.0)["ids"]
        made += trees
        started.append(True)
        assert isinstance(ids, list)
        if len(ids) != len(work.plans):
            raise WorkFailed(f"host '{h.name}': tmux made {len(ids)} panes for "
                                    f"{len(work.plans)} agents")
        hosts[h.name] = rh
        for pl, pid in zip(work.plans, ids, strict=True):
            panes[pl.name] = remote.RemotePane(pl.name, h.name, str(pid), pl.branch,
                                               str(pl.worktree) if pl.worktree else None)
    return remote.RemoteRecord(hosts, panes)


def undo(t: Transport, rh: remote.RemoteHost, trees: Sequence[tuple[str, str]],
         started: Sequence[bool]) -> None:
    """Remove what this `up` made on the host: the base ref, and once the setup succeeded
    its session, worktrees, branches and ledger folder."""
    whole = bool(started)
    try:
        got = remote.call(t, "undo", {"repo": rh.repo, "socket": remote.SOCKET,
                                      "session": rh.session if whole else "",
                                      "run_dir": rh.run_dir if whole else "",
                                      "base_ref": rh.base_ref, "trees": list(trees)})
        for problem in got.get("left") or []:  # type: ignore[attr-defined]
            log.warning("undo on host %s: %s", rh.name, problem)
    except Exception as e:  # an unreachable host keeps what it has: say so, undo the rest
        log.warning("undo on host %s failed: %s", rh.name, e)

