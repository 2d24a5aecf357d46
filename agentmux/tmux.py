"""tmux: build a session in one batched command chain, query every pane in one call, attach.

Everything here talks to tmux through plain argument lists (`proc.run`): libtmux spends one
subprocess per command plus re-queries (see TMUX-GIT-FACTS.md, "cost and batching"), which is
too slow for building and for the watcher's tick. The traps this module guards against:
- user text in names, `-c` paths and `pipe-pane` commands is format-expanded: `#` is doubled;
- an argument that ends in `;` splits the chain: the `;` is escaped;
- `-t name` prefix-matches: sessions are addressed as `=name`, panes by `%id`;
- `remain-on-exit` and `pipe-pane` are armed in the same chain that creates the pane.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import proc
from agentmux.errors import CommandFailed, EnvironmentProblem

MIN_VERSION = (3, 2)
FIELDS = (
    "pane_id", "@agentmux_pane", "pane_dead", "pane_dead_status", "pane_dead_signal",
    "pane_pid", "window_id", "pid",
)
_SEP = "\x1f"
# The tmux client sends its whole command line as one message of at most 16 KiB (MAX_IMSGSIZE);
# longer chains fail with "command too long" (50 panes with ledger paths are ~25 KiB). Stay
# well under it, counting each argument as tmux packs it: its bytes plus a NUL.
CHAIN_BYTES = 12000


def fmt_escape(text: str) -> str:
    """Make text literal where tmux expands formats (`-n`, `-c`, `-s`, pipe-pane commands)."""
    return text.replace("#", "##")


def arg_escape(text: str) -> str:
    """An argument ending in `;` would end the command in a chain; `\\;` makes it literal."""
    return text[:-1] + "\\;" if text.endswith(";") else text


@dataclass(frozen=True)
class PaneObs:
    """One pane as tmux sees it at one instant."""

    pane_id: str
    name: str              # @agentmux_pane, "" for panes that are not agents
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    pid: int | None
    window_id: str
    server_pid: int | None


@dataclass(frozen=True)
class Launch:
    """One agent pane to create: its name, the argv tmux executes, where, and its output log."""

    name: str
    argv: Sequence[str]
    cwd: Path
    log: Path


@dataclass
class Window:
    name: str
    panes: list[Launch] = field(default_factory=list)


class Tmux:
    """A tmux server: the user's default one, or a private one picked by socket name."""

    def __init__(self, socket: str | None = None) -> None:
        self.socket = socket
        self.base = ["tmux", "-L", socket] if socket else ["tmux"]

    def run(self, *args: str, check: bool = True, step: str = "") -> proc.Completed:
        env = proc.clean_env()
        # A client inside tmux would otherwise aim at $TMUX's server when no -L is given.
        env.pop("TMUX", None)
        return proc.run([*self.base, *args], env=env, check=check, step=step)

    def chain(self, commands: Sequence[Sequence[str]], step: str = "") -> proc.Completed:
        """Run commands in one tmux invocation; the chain stops at the first error."""
        return self.run(*chain_argv(commands), step=step)

    def socket_path(self) -> str:
        """Where this server's socket is, computed as tmux does (no server needed)."""
        if self.socket and "/" in self.socket:
            return self.socket
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(tmpdir, f"tmux-{os.getuid()}", self.socket or "default")

    def alive(self) -> bool:
        return self.run("list-sessions", "-F", "x", check=False).returncode == 0

    def has_session(self, session: str) -> bool:
        return self.run("has-session", "-t", f"={session}", check=False).returncode == 0

    def panes(self, session: str) -> list[PaneObs] | None:
        """Every pane of one session in one call; None when the session or server is gone."""
        fmt = _SEP.join("#{" + f + "}" for f in FIELDS)
        p = self.run("list-panes", "-s", "-t", f"={session}", "-F", fmt, check=False)
        if p.returncode != 0:
            return None
        return [parse_pane(line) for line in p.stdout.splitlines() if line]

    def capture(self, pane_id: str) -> str | None:
        """History plus visible screen, joined lines; None when the pane is gone."""
        p = self.run("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", pane_id, check=False)
        if p.returncode != 0:
            return None
        # The screen below the last output is blank rows, not part of the transcript.
        return p.stdout.rstrip("\n") + "\n"

    def kill_session_of_run(self, session: str, run_id: str) -> bool:
        """Kill the session only if it holds this run's panes: never someone else's."""
        p = self.run("list-panes", "-s", "-t", f"={session}", "-F", "#{@agentmux_run}",
                     check=False)
        if p.returncode != 0 or run_id not in p.stdout.split():
            return False
        return self.kill_session(session)

    def kill_session(self, session: str) -> bool:
        return self.run("kill-session", "-t", f"={session}", check=False).returncode == 0

    def build(
        self,
        session: str,
        run_id: str,
        cwd: Path,
        watcher_argv: Sequence[str],
        windows: Sequence[Window],
        size: tuple[int, int],
        wake: str,
        history_limit: int = 50000,
    ) -> dict[str, str]:
        """Create the session and every agent pane in one tmux invocation, or a few when the
        command line would exceed tmux's message limit (see CHAIN_BYTES).

        The watcher is window `agentmux`. Each agent pane is created, then in the same chain
        gets remain-on-exit, its tags and pipe-pane, so nothing the program does between its
        start and its exit can be missed. Returns pane name -> pane id.
        """
        head: list[list[str]] = [
            ["new-session", "-d", "-s", session, "-n", "agentmux", "-x", str(size[0]),
             "-y", str(size[1]), "-c", fmt_escape(str(cwd)), "-P", "-F", "#{pane_id}",
             *watcher_argv],
            ["set", "-p", "remain-on-exit", "on"],
            ["set", "-p", "@agentmux_run", run_id],
            ["set", "-p", "@agentmux_role", "watcher"],
            # Scrollback for transcripts; applies to panes created after it, i.e. the agents.
            ["set", "history-limit", str(history_limit)],
        ]
        # One group per pane: the command that creates it, then everything that arms it. A
        # chain may end between groups only; the next chain then names its target explicitly.
        groups: list[tuple[str, list[list[str]]]] = []
        for win in windows:
            for i, pane in enumerate(win.panes):
                create = (
                    ["new-window", "-n", fmt_escape(win.name)] if i == 0 else ["split-window"]
                )
                cmds = pane_commands(create, pane, run_id, wake if i == 0 else None)
                groups.append((pane.name, cmds))
        tail = ([["select-window", "-t", f"={session}:{fmt_escape(windows[0].name)}"]]
                if windows else [])
        step = "building the tmux session"
        ids: list[str] = []
        names: list[str] = []
        batch = head
        for name, cmds in groups:
            if chain_bytes([*batch, *cmds, *tail]) > CHAIN_BYTES:
                ids += self.chain(batch, step=step).stdout.split()
                batch = []
            if not batch:
                last = ids[-1] if ids else ""  # the pane a continued window is split from
                # A new invocation has no current pane: aim at this session, never another.
                verb = cmds[0][0]
                target = f"={session}:" if verb == "new-window" else last
                cmds = [[verb, "-t", target, *cmds[0][1:]], *cmds[1:]]
            batch += cmds
            names.append(name)
        ids += self.chain([*batch, *tail], step=step).stdout.split()
        if len(ids) != len(names) + 1:
            raise CommandFailed(self.base, 0, " ".join(ids), step=step)
        return dict(zip(names, ids[1:], strict=True))

    def add_pane(self, session: str, run_id: str, window: str, pane: Launch, wake: str) -> str:
        """One more agent pane in a running session, in one chain as `build` makes them.

        It joins the window named `window` when the session has one (split, re-tile), else
        opens that window. The window the user looks at stays the current one. Returns the
        new pane's id.
        """
        step = f"adding pane {pane.name!r} to session {session!r}"
        listed = self.run("list-windows", "-t", f"={session}", "-F",
                          "#{window_id}" + _SEP + "#{window_name}", step=step)
        ids = {name: wid for wid, _, name in
               (line.partition(_SEP) for line in listed.stdout.splitlines())}
        if window in ids:
            create = ["split-window", "-t", ids[window]]
            cmds = pane_commands(create, pane, run_id, None)
        else:
            create = ["new-window", "-t", f"={session}:", "-n", fmt_escape(window)]
            cmds = [*pane_commands(create, pane, run_id, wake), ["last-window", "-t",
                                                                 f"={session}"]]
        out = self.chain(cmds, step=step)
        new = out.stdout.split()
        if len(new) != 1:
            raise CommandFailed(self.base, 0, out.stdout, step=step)
        return new[0]


def pane_commands(create: Sequence[str], pane: Launch, run_id: str,
                  wake: str | None) -> list[list[str]]:
    """Create one agent pane and, in the same chain, arm everything that must not miss its end.

    `create` is new-window or split-window (without -d: the new pane is then the target of
    the commands after it). With `wake`, the pane opens a window and sets its pane-died hook;
    without, it joins a window that has the hook already, and the window is re-tiled.
    """
    cmds = [
        [*create, "-c", fmt_escape(str(pane.cwd)), "-P", "-F", "#{pane_id}", *pane.argv],
        ["set", "-p", "remain-on-exit", "on"],
        ["set", "-p", "remain-on-exit-format", ""],
        ["set", "-p", "@agentmux_run", run_id],
        ["set", "-p", "@agentmux_pane", pane.name],
        ["pipe-pane", "-o", "cat >> " + fmt_escape(shlex.quote(str(pane.log)))],
    ]
    if wake is not None:
        # pane-died is a window hook on 3.3a; a session-level one never fires.
        cmds.append(["set-hook", "-w", "pane-died", f"wait-for -S {wake}"])
    else:
        cmds.append(["select-layout", "tiled"])
    return cmds


def chain_argv(commands: Sequence[Sequence[str]]) -> list[str]:
    argv: list[str] = []
    for i, cmd in enumerate(commands):
        if i:
            argv.append(";")
        argv.extend(arg_escape(a) for a in cmd)
    return argv


def chain_bytes(commands: Sequence[Sequence[str]]) -> int:
    """The size of a chain as the tmux client packs it into its one message."""
    return sum(len(a.encode(errors="surrogateescape")) + 1 for a in chain_argv(commands))


def parse_pane(line: str) -> PaneObs:
    f = dict(zip(FIELDS, line.split(_SEP), strict=False))

    def num(key: str) -> int | None:
        v = f.get(key, "")
        return int(v) if v.lstrip("-").isdigit() else None

    return PaneObs(
        pane_id=f.get("pane_id", ""),
        name=f.get("@agentmux_pane", ""),
        dead=f.get("pane_dead") == "1",
        dead_status=num("pane_dead_status"),
        dead_signal=num("pane_dead_signal"),
        pid=num("pane_pid"),
        window_id=f.get("window_id", ""),
        server_pid=num("pid"),
    )


def check_version() -> tuple[int, int]:
    """tmux must exist and be 3.2 or newer (per-pane options, `-e`, window hooks)."""
    if shutil.which("tmux") is None:
        raise EnvironmentProblem(
            "tmux is not installed or not on PATH; install it (Debian/Ubuntu: "
            "sudo apt-get install tmux) — agentmux needs tmux 3.2 or newer"
        )
    out = proc.run(["tmux", "-V"], check=False).stdout.strip()
    m = re.search(r"(\d+)\.(\d+)", out)
    if not m:
        raise EnvironmentProblem(f"cannot read the tmux version from {out!r}; agentmux needs 3.2+")
    ver = (int(m.group(1)), int(m.group(2)))
    if ver < MIN_VERSION:
        raise EnvironmentProblem(
            f"tmux {ver[0]}.{ver[1]} is too old: agentmux needs tmux 3.2 or newer ({out})"
        )
    return ver


def terminal_size() -> tuple[int, int]:
    """The size a detached session gets: the user's terminal, else 200x50."""
    try:
        cols, rows = os.get_terminal_size(1)
        if cols >= 80 and rows >= 24:
            return cols, rows
    except OSError:
        pass
    return 200, 50
