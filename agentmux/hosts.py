"""SSH transport for agents on other hosts: plain OpenSSH, one multiplexed connection per host.

Nothing of agentmux's own listens on a host. Every call is an `ssh` through a ControlMaster
(`ControlMaster=auto`, `ControlPersist`, a short `ControlPath`), so after the first call a
call costs a local unix-socket round trip plus the remote command, not a TCP and key
exchange (measured in docs/hosts.md). Traps this module guards against:
- ssh joins its arguments with spaces and hands the line to the user's *login shell*, which
  may be zsh (a bare `=x` is a path lookup), fish (bare `%self` is a pid; `\\` and `\\'` are
  escapes inside single quotes) or csh (no newline inside quotes). `remote_command` quotes
  every word that is not plainly safe, and sends anything else base64-encoded to /bin/sh;
- a destination that starts with `-` would be read as an ssh option (`-oProxyCommand=...`);
- ssh exits 255 both for its own failures and when the remote command exits 255: after a
  255 the master is asked whether the connection is alive before anything is blamed on it;
- a master whose network died hangs every call through it: a call that times out ends the
  master, so the next call connects afresh under ConnectTimeout.
"""

from __future__ import annotations

import base64
import difflib
import os
import re
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import proc
from .errors import AgentmuxError, BadInput, CommandFailed, EnvironmentProblem

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$")
MIN_PYTHON = (3, 11)
MIN_TMUX = (3, 2)
SSH_FAILED = 255  # ssh's own exit status for connection and authentication errors
# sun_path is 104 bytes on macOS and 108 on Linux, and ssh binds the master's socket first at
# ControlPath plus a 17-character random suffix before renaming it into place.
_SOCKET_PATH_MAX = 104 - 17
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./,:+-]+")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PANE_ID = re.compile(r"^%[0-9]+$")


class HostUnreachable(EnvironmentProblem):
    """ssh could not reach or log in to the host; nothing is known about its agents."""

    def __init__(self, host: Host, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"host '{host.name}' ({host.ssh}) is unreachable: {reason}")


class UnknownHost(BadInput):
    """A host name the layout does not declare, or a destination ssh cannot resolve."""


@dataclass(frozen=True)
class Host:
    """One `[hosts.NAME]` of a layout: where agents run over SSH."""

    name: str
    ssh: str                                  # anything ssh accepts: user@box, a config alias
    repo: str                                 # absolute path of the clone on the host
    worktree_root: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    max_running: int | None = None

    def __post_init__(self) -> None:
        where = f"hosts.{self.name}"
        if not NAME_RE.match(self.name):
            raise BadInput(f"{where}: host names are lowercase letters, digits, '-' and '_'")
        if not self.ssh or self.ssh.startswith("-") or any(c.isspace() or not c.isprintable()
                                                           for c in self.ssh):
            raise BadInput(f"{where}.ssh: expected a destination such as 'me@build-box' or an "
                           f"alias from ~/.ssh/config; got {self.ssh!r}")
        if not PurePosixPath(self.repo).is_absolute():
            raise BadInput(f"{where}.repo: expected an absolute path on the host; got "
                           f"{self.repo!r}")
        for key in self.env:
            if not _ENV_NAME.match(key):
                raise BadInput(f"{where}.env: {key!r} is not a variable name")
        if self.max_running is not None and self.max_running < 1:
            raise BadInput(f"{where}.max_running: expected 1 or more; got {self.max_running}")


def lookup(hosts: Mapping[str, Host], name: str) -> Host:
    """The declared host called name; bad input naming the closest declared one otherwise."""
    if name in hosts:
        return hosts[name]
    close = difflib.get_close_matches(name, list(hosts), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    known = ", ".join(sorted(hosts)) or "none"
    raise UnknownHost(f"unknown host '{name}' (declared: {known}){hint}")


def quote(word: str) -> str:
    """POSIX single quotes for anything beyond plain characters: stricter than shlex.quote,
    which leaves `=x` (zsh's path lookup) and `%self` (fish's pid) bare."""
    if _PLAIN_WORD.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def remote_command(argv: Sequence[str]) -> str:
    """One command line that sh, bash, zsh, fish and csh all turn back into exactly argv."""
    if not argv:
        raise ValueError("empty remote command")
    line = " ".join(quote(a) for a in argv)
    # Printable ASCII without backslash and `!` reads the same in every shell's single quotes.
    if all(" " <= c <= "~" and c not in "\\!" for c in line):
        return line
    payload = base64.b64encode(("exec " + line).encode("utf-8", "surrogateescape")).decode()
    return f"/bin/sh -c 'eval \"$(printf %s {payload} | base64 -d)\"'"


def control_dir() -> Path:
    """The per-user folder for master sockets: short, private, created on first use."""
    candidates = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        candidates.append(Path(runtime) / "agentmux")
    candidates.append(Path(f"/tmp/agentmux-{os.getuid()}"))
    for path in candidates:
        if len(str(path)) + 41 > _SOCKET_PATH_MAX:  # "/" + %C, 40 hex characters
            continue
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            st = path.lstat()
        except OSError:
            continue
        # In /tmp anyone may have made it first: only a real folder of ours, closed to others.
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return path
    raise EnvironmentProblem(
        "no private folder for ssh's master sockets: tried "
        + ", ".join(str(c) for c in candidates) + " (each must be ours, mode 0700, and short)")


class Transport:
    """Calls to one host through its ControlMaster; every call is one local `ssh` process."""

    def __init__(
        self,
        host: Host,
        *,
        ssh: Sequence[str] = ("ssh",),
        control: Path | None = None,
        persist: int = 600,
        connect_timeout: int = 5,
    ) -> None:
        self.host = host
        self.ssh = list(ssh)
        self.control = control if control is not None else control_dir()
        self.persist = persist
        self.connect_timeout = connect_timeout
        path = str(self.control / "%C")
        if len(path) - 2 + 40 > _SOCKET_PATH_MAX:
            raise EnvironmentProblem(f"ssh ControlPath {path} is too long for a unix socket")
        self.control_path = path

    def options(self) -> list[str]:
        return [
            "-o", "ControlMaster=auto",
            # The watcher's tick keeps the master in use; ControlPersist ends it after the last.
            "-o", f"ControlPersist={self.persist}",
            "-o", f"ControlPath={self.control_path}",
            "-o", f"ConnectTimeout={self.connect_timeout}",
            # A laptop that slept or changed networks leaves a master on a dead TCP connection.
            "-o", "ServerAliveInterval=10",
            "-o", "ServerAliveCountMax=3",
        ]

    def argv(self, remote: Sequence[str] | None, *, tty: bool = False) -> list[str]:
        """The local argv for one call. Without a tty the call runs in BatchMode: a prompt for
        a password or passphrase would hang a watcher, so it fails instead."""
        mode = ["-t"] if tty else ["-T", "-o", "BatchMode=yes"]
        tail = [remote_command(remote)] if remote else []
        return [*self.ssh, *self.options(), *mode, "--", self.host.ssh, *tail]

    def _control(self, op: str) -> proc.Completed:
        return proc.run([*self.ssh, "-o", f"ControlPath={self.control_path}", "-O", op, "--",
                         self.host.ssh], check=False)

    def master_alive(self) -> bool:
        return self._control("check").returncode == 0

    def exit_master(self) -> bool:
        """End this host's master connection (`ssh -O exit`); False when there was none."""
        return self._control("exit").returncode == 0

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 30.0,
        check: bool = False,
        step: str = "",
    ) -> proc.Completed:
        """Run argv on the host, byte for byte. Raises HostUnreachable (exit code 4) when ssh
        cannot get there, UnknownHost (2) when the destination does not resolve."""
        local = self.argv(argv)
        try:
            p = subprocess.run(
                local, input=input, stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True, text=True, errors="surrogateescape", timeout=timeout,
                env=proc.clean_env(), check=False)
        except FileNotFoundError as e:
            raise EnvironmentProblem(f"{self.ssh[0]} is not installed or not on PATH") from e
        except subprocess.TimeoutExpired as e:
            self.exit_master()
            raise HostUnreachable(self.host, f"no answer within {timeout:g} s") from e
        if p.returncode == SSH_FAILED and not self.master_alive():
            raise self._connection_error(p.stderr)
        if check and p.returncode != 0:
            raise CommandFailed([self.host.name + ":", *argv], p.returncode,
                                p.stderr or p.stdout, step=step)
        return p

    def _connection_error(self, stderr: str) -> AgentmuxError:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else "ssh exited 255 and said nothing"
        if "Could not resolve hostname" in stderr:
            return UnknownHost(
                f"host '{self.host.name}': ssh cannot resolve '{self.host.ssh}' (neither a "
                f"Host in your ssh config nor a name the resolver knows): {last}")
        if "Permission denied" in stderr:
            return HostUnreachable(self.host, f"{last} (agentmux runs ssh in BatchMode: it "
                                   "never asks for a password; use a key or ssh-agent)")
        if "Host key verification failed" in stderr:
            return HostUnreachable(self.host, f"{last} (the host's key is unknown or changed; "
                                   f"check it with a plain `ssh {self.host.ssh}` first)")
        return HostUnreachable(self.host, last)

    def is_reachable(self) -> bool:
        """True when a command runs on the host now; False for a connection failure or a
        host that does not answer within ConnectTimeout. A failing command is not this."""
        try:
            self.run(["true"], timeout=self.connect_timeout + 2.0)
        except HostUnreachable:
            return False
        return True

    def check(self) -> HostReport:
        """One round trip: which of tmux, git and python3 the host has, and whether `repo`
        is a git repository there. Raises when ssh itself fails."""
        p = self.run(["/bin/sh", "-c", _PROBE, "agentmux-probe", self.host.repo],
                     timeout=self.connect_timeout + 10.0)
        found: dict[str, str] = {}
        for line in p.stdout.splitlines():
            # Startup files on the host may print; only the probe's own lines count.
            if line.startswith("agentmux-probe "):
                key, _, value = line[len("agentmux-probe "):].partition("=")
                found[key] = value
        if "end" not in found:
            raise HostUnreachable(self.host, "the login shell did not run agentmux's probe: "
                                  + (p.stderr.strip() or f"exit {p.returncode}"))
        return HostReport.from_probe(self.host, found)

    def attach_argv(self, session: str, pane_id: str | None = None,
                    socket: str | None = None) -> list[str]:
        """The argv that attaches this terminal to a session on the host, pane selected."""
        if pane_id is not None and not _PANE_ID.match(pane_id):
            raise BadInput(f"expected a tmux pane id such as %3; got {pane_id!r}")
        tmux = ["tmux", *(["-L", socket] if socket else [])]
        select = ["select-window", "-t", pane_id, ";", "select-pane", "-t", pane_id, ";"
                  ] if pane_id else []
        return self.argv([*tmux, *select, "attach-session", "-t", f"={session}"], tty=True)


# POSIX sh, run as `sh -c PROBE agentmux-probe REPO`; values are cut to their first line.
_PROBE = r"""
say() { v=$2; printf 'agentmux-probe %s=%s\n' "$1" "${v%%
*}"; }
for t in tmux git python3; do say "$t" "$(command -v "$t" 2>/dev/null)"; done
command -v tmux >/dev/null 2>&1 && say tmux_version "$(tmux -V 2>&1)"
command -v python3 >/dev/null 2>&1 && say python_version "$(python3 -c \
  'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1)"
if command -v git >/dev/null 2>&1; then
  top=$(git -C "$1" rev-parse --show-toplevel 2>&1) && say repo_ok 1
  say repo_top "$top"
fi
say home "$HOME"
say end 1
"""


def _version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class HostReport:
    """What `Transport.check` found on a host."""

    host: Host
    tools: Mapping[str, str | None]    # tmux, git, python3 -> where on PATH, or None
    versions: Mapping[str, str]        # tmux, python3 -> the version they report
    repo_top: str | None               # the repository's top level, None when not a repository
    home: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def from_probe(cls, host: Host, found: Mapping[str, str]) -> HostReport:
        tools = {t: found.get(t) or None for t in ("tmux", "git", "python3")}
        versions = {"tmux": found.get("tmux_version", ""),
                    "python3": found.get("python_version", "")}
        problems = [f"{t} is not installed (not on the PATH of ssh sessions)"
                    for t, where in tools.items() if where is None]
        for tool, need in (("tmux", MIN_TMUX), ("python3", MIN_PYTHON)):
            have = _version(versions[tool])
            if tools[tool] and (have is None or have < need):
                problems.append(f"{tool} is {versions[tool] or 'of unknown version'}; agentmux "
                                f"needs {'.'.join(map(str, need))} or newer")
        repo_top = found.get("repo_top") if found.get("repo_ok") else None
        if tools["git"] and repo_top is None:
            why = found.get("repo_top", "").removeprefix("fatal: ")
            problems.append(f"{host.repo} is not a git repository ({why})")
        return cls(host, tools, versions, repo_top, found.get("home", ""), tuple(problems))

    def raise_for_problems(self) -> None:
        if self.problems:
            raise EnvironmentProblem(
                f"host '{self.host.name}' ({self.host.ssh}): " + "; ".join(self.problems))
