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


_HISTORY = r"""
for c in "$@"; do
  git -C "$0" cat-file -e "$c^{commit}" 2>/dev/null && { echo agentmux-history=1; exit 0; }
done
echo agentmux-history=0
"""


def check_history(t: Transport, roots: Sequence[str]) -> str | None:
    """A problem when the host's clone holds none of this repository's root commits."""
    if not roots:
        return None
    p = t.run(["/bin/sh", "-c", _HISTORY, t.host.repo, *roots], timeout=30.0)
    if "agentmux-history=1" in p.stdout:
        return None
    return (f"{t.host.repo} is not a clone of this repository (it has none of its root "
            f"commits: {', '.join(r[:12] for r in roots)})")


def preflight(lay: Layout, panes: Iterable[PaneSpec]) -> dict[str, HostReport]:
    """Check every host the panes name; raise for the first host with a problem."""
    hosts = used_hosts(lay, panes)
    if not hosts:
        return {}
    roots = git.run(lay.repo, "rev-list", "--max-parents=0", "HEAD").stdout.split()
    reports: dict[str, HostReport] = {}
    for name, t in transports(hosts).items():
        report = t.check()
        report.raise_for_problems()
        problem = check_history(t, roots)
        if problem:
            raise EnvironmentProblem(f"host '{name}' ({t.host.ssh}): {problem}")
        reports[name] = report
    return reports


def refuse_remote(panes: Iterable[PaneSpec]) -> BadInput:
    """Starting agents on a host is not built yet: say so rather than run them here."""
    remote = [f"{p.name} (host {p.host})" for p in panes if p.host is not None]
    return BadInput(
        "the hosts passed their checks, but this version of agentmux cannot start agents on "
        f"other hosts yet: {', '.join(remote)}; remove `host` from these panes to run them "
        "on this machine")
