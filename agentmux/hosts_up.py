"""What `up` checks on every host its panes name, before it creates anything anywhere.

One ssh round trip per host (`Transport.check`: tmux, git, python3, the clone) and one more
for the clone's history (does it hold this repository's root commits?). A host that cannot be
reached, lacks a tool, or holds another project's repository stops `up` with one message
naming the host and what is wrong, and nothing has been created, locally or on any host.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agentmux import git
from agentmux.errors import BadInput, EnvironmentProblem
from agentmux.hosts import Host, HostReport, Transport
from agentmux.layout.model import HostSpec, Layout, PaneSpec

SSH_ENV = "AGENTMUX_SSH"   # the ssh client and its options, e.g. "ssh -F ~/.ssh/agentmux"


def ssh_command() -> list[str]:
    raw = os.environ.get(SSH_ENV, "").strip()
    if not raw:
        return ["ssh"]
    try:
        words = shlex.split(raw)
    except ValueError as e:
        raise BadInput(f"{SSH_ENV}={raw!r}: {e}") from None
    return [os.path.expanduser(w) for w in words] or ["ssh"]


def host_of(spec: HostSpec, name: str) -> Host:
    return Host(name, spec.ssh, spec.repo, spec.worktree_root, dict(spec.env), spec.max_running)


def used_hosts(lay: Layout, panes: Iterable[PaneSpec]) -> dict[str, Host]:
    names = sorted({p.host for p in panes if p.host is not None})
    return {n: host_of(lay.hosts[n], n) for n in names}


def transports(hosts: Mapping[str, Host]) -> dict[str, Transport]:
    ssh = ssh_command()
    return {n: Transport(h, ssh=ssh) for n, h in hosts.items()}


# sh -c HISTORY REPO CACHE ROOT...: is a root commit there, is the runner's version installed.
_HISTORY = r"""
repo=$0 cache=$1; shift
[ -n "$cache" ] && [ -f "$HOME/.cache/agentmux/$cache/ok" ] && echo agentmux-cache=1
for c in "$@"; do
  git -C "$repo" cat-file -e "$c^{commit}" 2>/dev/null && { echo agentmux-history=1; exit 0; }
done
echo agentmux-history=0
"""


def check_history(t: Transport, roots: Sequence[str], cache: str = "") -> str | None:
    """A problem when the host's clone holds none of this repository's root commits."""
    return _history(t, roots, cache)[0]


def _history(t: Transport, roots: Sequence[str], cache: str) -> tuple[str | None, bool]:
    p = t.run(["/bin/sh", "-c", _HISTORY, t.host.repo, cache, *roots], timeout=30.0)
    cached = "agentmux-cache=1" in p.stdout
    if not roots or "agentmux-history=1" in p.stdout:
        return None, cached
    return (f"{t.host.repo} is not a clone of this repository (it has none of its root "
            f"commits: {', '.join(r[:12] for r in roots)})"), cached


@dataclass(frozen=True)
class Checked:
    """A host that passed preflight: its report, its transport, whether the runner is there."""

    report: HostReport
    transport: Transport
    cached: bool


def preflight(lay: Layout, panes: Iterable[PaneSpec], cache: str = "") -> dict[str, Checked]:
    """Check every host the panes name; raise for the first host with a problem."""
    panes = list(panes)
    boxed = [p.name for p in panes if p.host is not None and p.sandbox != "none"]
    if boxed:
        raise BadInput(f"{lay.path}: panes {', '.join(boxed)} run on another host with a "
                       "sandbox; agentmux cannot sandbox agents on other hosts yet")
    hosts = used_hosts(lay, panes)
    if not hosts:
        return {}
    roots = git.run(lay.repo, "rev-list", "--max-parents=0", "HEAD").stdout.split()
    out: dict[str, Checked] = {}
    for name, t in transports(hosts).items():
        report = t.check()
        report.raise_for_problems()
        problem, cached = _history(t, roots, cache)
        if problem:
            raise EnvironmentProblem(f"host '{name}' ({t.host.ssh}): {problem}")
        out[name] = Checked(report, t, cached)
    return out

