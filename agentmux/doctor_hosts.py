"""`agentmux doctor LAYOUT`: every host the layout declares, one block per host.

Each host gets six lines, in this order: ssh (reachable without a prompt, in BatchMode),
tmux, git, python3, repo (the clone at `repo` is a git repository) and history (it holds this
repository's root commits). A line is `ok`, `problem ...; repair: ...`, or `unknown`: what
could not be looked at is never called ok (a host that is not reached leaves the other five
unknown; a host without git leaves the clone and its history unknown).

The checks are `up`'s own (`Transport.check`, one round trip, and `hosts_up.check_history`,
one more), through the same ControlMaster, so a second doctor or an `up` soon after reuses
the connection. Hosts are checked side by side: an unreachable host costs its ConnectTimeout
once, not once per host before it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from agentmux import git, layout
from agentmux.errors import AgentmuxError
from agentmux.hosts import MIN_PYTHON, MIN_TMUX, HostReport, HostUnreachable, Transport, UnknownHost
from agentmux.hosts_up import check_history, host_of, transports

OK, PROBLEM, UNKNOWN = "ok", "problem", "unknown"
TOOLS = ("tmux", "git", "python3")
_NEED = {"tmux": MIN_TMUX, "python3": MIN_PYTHON}


@dataclass(frozen=True)
class HostLine:
    check: str               # ssh, tmux, git, python3, repo, history
    status: str              # ok, problem, unknown
    detail: str
    repair: str = ""         # the command (or action) that repairs a problem

    def line(self) -> str:
        tail = f"; repair: {self.repair}" if self.status == PROBLEM else ""
        return f"  {self.status:<9}{self.check}: {self.detail}{tail}"


@dataclass(frozen=True)
class HostBlock:
    name: str
    ssh: str
    lines: tuple[HostLine, ...]

    def count(self, status: str) -> int:
        return sum(ln.status == status for ln in self.lines)

    @property
    def ok(self) -> bool:
        return all(ln.status == OK for ln in self.lines)

    def render(self) -> list[str]:
        return [f"host '{self.name}' ({self.ssh}):", *(ln.line() for ln in self.lines)]


@dataclass(frozen=True)
class Prepared:
    """A transport per host the layout declares, and what the checks compare with: made
    before doctor looks at anything, so a bad layout (exit 2) stops it before `--fix`
    repairs a thing."""

    transports: Mapping[str, Transport]
    roots: tuple[str, ...] | None        # this repository's root commits; None: no commits
    origin: str | None                   # `git remote get-url origin`, for the clone command


def prepare(path: Path) -> Prepared:
    lay = layout.load(path)   # LayoutError: exit 2, in the words `validate` uses
    hosts = {n: host_of(lay.hosts[n], n) for n in sorted(lay.hosts)}
    if not hosts:
        return Prepared({}, None, None)
    got = git.run(lay.repo, "rev-list", "--max-parents=0", "HEAD", check=False)
    roots = tuple(got.stdout.split()) if got.returncode == 0 else ()
    url = git.run(lay.repo, "remote", "get-url", "origin", check=False)
    return Prepared(transports(hosts), roots or None,
                    url.stdout.strip() if url.returncode == 0 else None)


def diagnose(prep: Prepared) -> list[HostBlock]:
    if not prep.transports:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(prep.transports))) as pool:
        return list(pool.map(lambda t: check_host(t, prep), prep.transports.values()))


def check_host(t: Transport, prep: Prepared) -> HostBlock:
    h = t.host
    try:
        report = t.check()
    except AgentmuxError as e:
        # The block names the host already: its error's own "host 'NAME' ..." is dropped.
        why = (f"unreachable: {e.reason}" if isinstance(e, HostUnreachable)
               else str(e).removeprefix(f"host '{h.name}': "))
        lines = [HostLine("ssh", PROBLEM, why, _ssh_repair(t, e))]
        lines += [HostLine(c, UNKNOWN, "not looked at: the host was not reached")
                  for c in (*TOOLS, "repo", "history")]
        return HostBlock(h.name, h.ssh, tuple(lines))
    lines = [HostLine("ssh", OK, "reachable without a prompt (BatchMode)")]
    lines += [_tool_line(t, report, tool) for tool in TOOLS]
    lines += [_repo_line(t, report, prep.origin), _history_line(t, report, prep)]
    return HostBlock(h.name, h.ssh, tuple(lines))


def _sshing(t: Transport) -> str:
    """`ssh ... DEST` as the user would type it to run something on the host."""
    return shlex.join([*t.ssh, t.host.ssh])


def _ssh_repair(t: Transport, e: AgentmuxError) -> str:
    test = f"`{shlex.join([*t.ssh, '-o', 'BatchMode=yes', t.host.ssh, 'true'])}` must succeed"
    text = str(e)
    if isinstance(e, UnknownHost):
        return (f"add a `Host {t.host.ssh}` entry to ~/.ssh/config or set hosts.{t.host.name}"
                f".ssh to a name that resolves; then {test}")
    if "not installed or not on PATH" in text:
        return ("install the OpenSSH client (Debian: `sudo apt-get install openssh-client`), "
                "or name yours in AGENTMUX_SSH")
    if "Permission denied" in text:
        return (f"install your key on the host (`ssh-copy-id {t.host.ssh}`), or load it "
                f"into ssh-agent (`ssh-add`); then {test}")
    if "Host key verification failed" in text:
        return f"check the host's key and accept it: `{_sshing(t)}` once, with no BatchMode"
    return f"check that the host is up and its sshd accepts connections: {test}"


def _problems(report: HostReport, tool: str) -> list[str]:
    # HostReport's problems each start with the tool they are about ("tmux is ...").
    return [p for p in report.problems if p.startswith(tool + " ")]


def _tool_line(t: Transport, report: HostReport, tool: str) -> HostLine:
    found = _problems(report, tool)
    if not found:
        version = report.versions.get(tool, "")
        return HostLine(tool, OK, f"{report.tools.get(tool)}"
                        + (f" ({version})" if version else ""))
    need = f" {'.'.join(map(str, _NEED[tool]))} or newer" if tool in _NEED else ""
    return HostLine(tool, PROBLEM, "; ".join(found),
                    f"install {tool}{need} on the host (Debian: `sudo apt-get install {tool}`)"
                    f" on the PATH of non-interactive ssh sessions: `{_sshing(t)} command -v "
                    f"{tool}` must find it")


def _repo_line(t: Transport, report: HostReport, origin: str | None) -> HostLine:
    repo = t.host.repo
    if report.tools.get("git") is None:
        return HostLine("repo", UNKNOWN, f"{repo} not looked at: the host has no git")
    if report.repo_top is not None:
        inside = "" if report.repo_top == repo else f" (inside {report.repo_top})"
        return HostLine("repo", OK, f"{repo} is a git repository{inside}")
    found = [p for p in report.problems if p.startswith(repo + " ")]
    detail = "; ".join(found) or f"{repo} is not a git repository"
    if "dubious ownership" in detail:
        repair = (f"it belongs to another user: run agentmux as its owner, or if you trust "
                  f"it, `{_sshing(t)} git config --global --add safe.directory {repo}`")
    else:
        repair = f"clone this repository there: {_clone_command(t, origin, repo)}"
    return HostLine("repo", PROBLEM, detail, repair)


def _clone_command(t: Transport, origin: str | None, repo: str) -> str:
    url = origin or "URL-OF-THIS-REPOSITORY"
    return f"`{_sshing(t)} {shlex.join(['git', 'clone', url, repo])}`"


def _history_line(t: Transport, report: HostReport, prep: Prepared) -> HostLine:
    if report.repo_top is None:
        why = "the host has no git" if report.tools.get("git") is None else (
            f"no git repository at {t.host.repo}")
        return HostLine("history", UNKNOWN, f"not looked at: {why}")
    if prep.roots is None:
        return HostLine("history", UNKNOWN, "not compared: this repository has no commit "
                        "yet, so it has no history to find on the host")
    try:
        problem = check_history(t, list(prep.roots))
    except AgentmuxError as e:
        return HostLine("history", UNKNOWN, f"not looked at: {e}")
    if problem is None:
        return HostLine("history", OK, "holds this repository's root commits")
    name = t.host.name
    return HostLine("history", PROBLEM, problem,
                    f"set hosts.{name}.repo to a clone of this repository, or make one: "
                    f"{_clone_command(t, prep.origin, t.host.repo + '-agentmux')}; a shallow "
                    f"clone lacks the root commits: `{_sshing(t)} git -C "
                    f"{shlex.quote(t.host.repo)} fetch --unshallow`")

