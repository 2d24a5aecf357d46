"""tmux: the one room that talks to tmux, through libtmux.

A `Tmux` is one tmux server: a `libtmux.Server` (socket name or path) whose every client runs
in agentmux's environment. libtmux runs one `tmux` process per `Server.cmd`, so what must be
fast is sent as one `;` chain in one call: the session build, and the watcher's one `list-panes`
a tick (parsed here, not by libtmux's objects, which read ~200 fields). libtmux is imported
lazily (about 90 ms): commands that never talk to tmux do not pay it.
The traps guarded against here (docs/tmux.md):
- user text in names, `-c` paths and `pipe-pane` commands is format-expanded: `#` is doubled;
- an argument that ends in `;` splits the chain: the `;` is escaped;
- `-t name` prefix-matches: sessions are addressed as `=name`, panes by `%id`;
- `remain-on-exit` and `pipe-pane` are armed in the same chain that creates the pane."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmux import proc
from agentmux.errors import CommandFailed, EnvironmentProblem
from agentmux.tmux_chain import (
    CHAIN_BYTES,
    FIELDS,
    SEP,
    Launch,
    PaneObs,
    Window,
    chain_argv,
    chain_bytes,
    fmt_escape,
    pane_commands,
    pane_format,
    parse_pane,
    prepare,
    probe_commands,
    respawn_commands,
    send_commands,
    session_commands,
)

if TYPE_CHECKING:
    import libtmux
    from libtmux.common import tmux_cmd

    LibServer = libtmux.Server
    LibSession = libtmux.Session
    LibPane = libtmux.Pane

# The chain-building names are part of this room's interface; they live in tmux_chain.
__all__ = [
    "FIELDS", "MIN_VERSION", "Launch", "PaneObs", "Tmux", "Waker", "Window", "check_version",
    "client_env", "fmt_escape", "lib_error", "parse_pane", "terminal_size",
]

MIN_VERSION = (3, 2)
NOT_INSTALLED = ("tmux is not installed or not on PATH; install it (Debian/Ubuntu: "
                 "sudo apt-get install tmux) — agentmux needs tmux 3.2 or newer")


def client_env(keep_tmux: bool = False) -> dict[str, str]:
    """The environment a tmux client runs in: the first client starts the server, which keeps
    it as the global environment of every pane. So git variables leaked from a hook
    (GIT_DIR ...) must not reach it, nor $TMUX of the server the user happens to be in."""
    env = proc.clean_env()
    if not keep_tmux:
        env.pop("TMUX", None)
    # The run marker of a pane this command was typed in: a server started here would carry
    # it, and that run's `down` would end the server (agentmux.sweep).
    env.pop("AGENTMUX_RUN", None)
    return env


@contextlib.contextmanager
def _scrubbed(keep_tmux: bool) -> Iterator[None]:
    # libtmux starts tmux with this process's environment and takes no other: the variables
    # client_env leaves out are taken out of os.environ for the call, then put back.
    drop = set(os.environ).difference(client_env(keep_tmux))
    saved = {k: os.environ.pop(k) for k in drop}
    try:
        yield
    finally:
        os.environ.update(saved)


@functools.cache
def _server_class(keep_tmux: bool) -> type[LibServer]:
    import libtmux

    class Server(libtmux.Server):
        """libtmux's Server, whose tmux clients all run in `client_env`: Session and Pane
        objects made from it go through this `cmd` too."""

        def cmd(self, cmd: str, *args: Any, target: str | int | None = None) -> tmux_cmd:
            from libtmux import exc

            with _scrubbed(keep_tmux):
                try:
                    return super().cmd(cmd, *args, target=target)
                except exc.TmuxCommandNotFound as e:
                    raise EnvironmentProblem(NOT_INSTALLED) from e

    return Server


def lib_error() -> type[Exception]:
    """libtmux's base exception (for `except`), without importing libtmux at module level."""
    from libtmux import exc

    return exc.LibTmuxException


class Tmux:
    """A tmux server: the user's default one, or a private one picked by socket name or path."""

    def __init__(self, socket: str | None = None) -> None:
        self.socket = socket
        # Always an explicit socket: without one a client inside tmux would aim at $TMUX's
        # server, and libtmux objects handed to a user must reach this server from anywhere.
        self.base = (["tmux", "-S", socket] if socket and "/" in socket
                     else ["tmux", "-L", socket or "default"])
        self._servers: dict[bool, LibServer] = {}

    def lib_server(self, keep_tmux: bool = False) -> LibServer:
        """The libtmux Server of this tmux server (made on first use: it imports libtmux)."""
        if keep_tmux not in self._servers:
            cls = _server_class(keep_tmux)
            flag, where = self.base[1:]
            self._servers[keep_tmux] = (cls(socket_path=where) if flag == "-S"
                                        else cls(socket_name=where))
        return self._servers[keep_tmux]

    def run(self, *args: str, check: bool = True, step: str = "") -> proc.Completed:
        """One tmux process through libtmux's `Server.cmd`; a `;` among args chains commands."""
        got = self.lib_server().cmd(*args)
        out = "".join(line + "\n" for line in got.stdout)
        err = "".join(line + "\n" for line in got.stderr)
        argv = [*self.base, *args]
        if check and got.returncode != 0:
            raise CommandFailed(argv, got.returncode, err or out, step=step)
        return subprocess.CompletedProcess(argv, got.returncode, out, err)

    def chain(self, commands: Sequence[Sequence[str]], step: str = "") -> proc.Completed:
        """Run commands in one tmux invocation; the chain stops at the first error."""
        return self.run(*chain_argv(commands), step=step)

    @property
    def private(self) -> bool:
        """A server named by `--socket`, not the user's default one: options may be pinned."""
        return self.socket is not None and self.socket != "default"

    def exit_unattached(self) -> bool:
        """Is the server option exit-unattached on? A running server answers `show`; else a
        throwaway session starts one from the user's config (tmux_chain.probe_commands)."""
        p = self.run("show", "-sv", "exit-unattached", check=False)
        if p.returncode != 0:
            p = self.run(*chain_argv(probe_commands(f"agentmux-probe-{os.getpid()}",
                                                    "exit-unattached")), check=False)
        return p.stdout.split()[:1] == ["on"]

    def socket_path(self) -> str:
        """Where this server's socket is, computed as tmux does (no server needed)."""
        if self.base[1] == "-S":
            return self.base[2]
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(tmpdir, f"tmux-{os.getuid()}", self.base[2])

    def has_session(self, session: str) -> bool:
        """Exactly this session (libtmux targets it as `=name`, never a prefix match)."""
        try:
            return self.lib_server().has_session(session, exact=True)
        except lib_error():  # a name tmux cannot hold ('.', ':') is no session of ours
            return False

    def panes(self, session: str, extra: Sequence[str] = ()) -> list[PaneObs] | None:
        """Every pane of one session in one call; None when the session or server is gone.

        `extra` names more formats (without `#{}`); each pane carries their values in order."""
        # `=name:`, not `=name`: list-panes reads its target as a window, and a bare `=name`
        # then still prefix-matches the session (3.3a listed agents-2's panes for `=agents`).
        p = self.run("list-panes", "-s", "-t", f"={session}:", "-F", pane_format(extra),
                     check=False)
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

    def screen(self, pane_id: str) -> str | None:
        """The visible screen only, as the user would see it; None when the pane is gone."""
        p = self.run("capture-pane", "-p", "-t", pane_id, check=False)
        return p.stdout if p.returncode == 0 else None

    def session_has_run(self, session: str, run_id: str) -> bool:
        """Does this session hold a pane tagged with this run (not another run's session)?"""
        p = self.run("list-panes", "-s", "-t", f"={session}:", "-F", "#{@agentmux_run}",
                     check=False)
        return p.returncode == 0 and run_id in p.stdout.split()

    def kill_session_of_run(self, session: str, run_id: str) -> bool:
        """Kill the session only if it holds this run's panes: never someone else's."""
        return self.session_has_run(session, run_id) and self.kill_session(session)

    def kill_session(self, session: str) -> bool:
        try:
            self.lib_server().kill_session(f"={session}")
        except lib_error():
            return False
        return True

    def clients(self, session: str) -> list[str]:
        """The names of the clients attached to this session (none when it is gone)."""
        p = self.run("list-clients", "-t", f"={session}", "-F", "#{client_name}", check=False)
        return p.stdout.split() if p.returncode == 0 else []

    def send(self, pane_id: str, text: str, keys: Sequence[str], buffer: str,
             synchronized: bool = False, step: str = "") -> None:
        """Paste text into one pane (none if empty), then press keys, in one chain
        (tmux_chain.send_commands). The text reaches tmux on stdin (`load-buffer -`), so no
        byte of it is parsed as a command, key name or format; libtmux's `cmd` cannot feed
        stdin, hence this one plain process."""
        cmds = send_commands(pane_id, bool(text), keys, buffer, synchronized)
        if cmds:
            proc.run([*self.base, *chain_argv(cmds)], env=client_env(), input=text, step=step)

    def switch_client(self, target: str, step: str = "") -> None:
        """Move the client this process runs inside to target; its $TMUX names that client."""
        try:
            self.lib_server(keep_tmux=True).switch_client(target)
        except lib_error() as e:
            raise CommandFailed([*self.base, "switch-client", "-t", target], 1, str(e),
                                step=step) from e

    def exec_attach(self, session: str) -> None:
        """Replace this process with a tmux client attached to the session (the terminal is
        handed over, which libtmux's captured subprocess cannot do)."""
        os.execvpe("tmux", [*self.base, "attach-session", "-t", f"={session}"], client_env())

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
        windows = [Window(w.name, [prepare(p) for p in w.panes]) for w in windows]
        head, groups, tail = session_commands(session, run_id, cwd, watcher_argv, windows, size,
                                              wake, history_limit, self.private)
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
        pane = prepare(pane)
        listed = self.run("list-windows", "-t", f"={session}", "-F",
                          "#{window_id}" + SEP + "#{window_name}", step=step)
        ids = {name: wid for wid, _, name in
               (line.partition(SEP) for line in listed.stdout.splitlines())}
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

    def respawn(self, pane_id: str, argv: Sequence[str], log: Path, max_output: int,
                step: str = "") -> None:
        """Run argv again in a pane (dead or alive) and point its pipe-pane at log, in one chain
        (tmux_chain.respawn_commands)."""
        self.chain(respawn_commands(pane_id, prepare(Launch("", argv, log.parent, log,
                                                            max_output))), step=step)


class Waker:
    """Blocks until a tmux `wait-for` channel is signalled, or a timeout.

    One `tmux wait-for` client stays pending across waits, so a wait that times out costs no
    new process. A plain Popen: libtmux's `wait_for` blocks without a timeout.
    """

    def __init__(self, tmux: Tmux, channel: str) -> None:
        self.argv = [*tmux.base, "wait-for", channel]
        self.proc: subprocess.Popen[bytes] | None = None

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=client_env(),
            )
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self.proc = None
        return True

    def close(self) -> None:
        """Stop the pending wait-for client. Safe inside a signal handler (watch()'s SIGTERM).

        The handler can interrupt wait() while Popen holds its non-reentrant waitpid lock; a
        blocking wait() here then deadlocks, and `down` reports that the watcher never
        stopped. A wait with a timeout only tries that lock, so it cannot hang: if it cannot
        reap the client, the interrupted wait() does, once the handler returns.
        """
        if self.proc is not None:
            child, self.proc = self.proc, None
            child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(1.0)


def check_version() -> tuple[int, int]:
    """tmux must exist and be 3.2 or newer (per-pane options, `-e`, window hooks)."""
    found = shutil.which("tmux")
    if found is None:
        raise EnvironmentProblem(NOT_INSTALLED)
    from libtmux.common import get_version, get_version_str, has_gte_version

    want = ".".join(map(str, MIN_VERSION))
    try:
        # One `tmux -V` (get_version caches it); the raw string costs a second, so it is
        # read only to say which tmux is refused.
        ok = has_gte_version(want, tmux_bin=found)
        got = str(get_version(tmux_bin=found))
        raw = "" if ok else get_version_str(tmux_bin=found)
    except (lib_error(), IndexError, ValueError, TypeError) as e:
        # libtmux reads `tmux -V` as "tmux X.Y"; anything else is no tmux it can use.
        raise EnvironmentProblem(f"cannot read the tmux version ({e}); agentmux needs "
                                 f"{want}+") from e
    if not ok:
        raise EnvironmentProblem(f"tmux {raw} is too old: agentmux needs tmux {want} or newer "
                                 f"(tmux {raw})")
    m = re.match(r"(\d+)\.(\d+)", got)
    return (int(m.group(1)), int(m.group(2))) if m else MIN_VERSION


def terminal_size() -> tuple[int, int]:
    """The size a detached session gets: the user's terminal, else 200x50."""
    try:
        cols, rows = os.get_terminal_size(1)
        if cols >= 80 and rows >= 24:
            return cols, rows
    except OSError:
        pass
    return 200, 50
