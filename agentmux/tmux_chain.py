"""tmux command lines, built and read without running anything: escaping, the chain that
creates and arms one agent pane, its size as tmux packs it, and the pane fields one
`list-panes` returns. `agentmux.tmux` runs them (docs/tmux.md has the facts behind each rule).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentmux import capture

FIELDS = (
    "pane_id", "@agentmux_pane", "pane_dead", "pane_dead_status", "pane_dead_signal",
    "pane_pid", "window_id", "pid", "pane_width", "pane_height",
)
SEP = "\x1f"  # between fields in -F formats: no name, path or number holds it
# The tmux client sends its whole command line as one message of at most 16 KiB (MAX_IMSGSIZE);
# longer chains fail with "command too long" (50 panes with ledger paths are ~25 KiB). 3.3a
# takes 16,360 bytes and refuses 16,370, counting each argument as tmux packs it: its bytes
# plus a NUL. 16,000 keeps 20 agents in one invocation (a second costs `up` a tmux process).
CHAIN_BYTES = 16000


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
    extra: tuple[str, ...] = ()  # the caller's own fields, in the order it asked for them
    width: int | None = None     # the pane's size: what its output is rendered at
    height: int | None = None


@dataclass(frozen=True)
class Launch:
    """One agent pane to create: its name, the argv tmux executes, where, its output log and
    the bound on that log (the layout's `max_output`). `fifo`, set by `prepare`: the token of
    the FIFO between pipe-pane's `cat` and the runner's capture child (capture.fifo_path)."""

    name: str
    argv: Sequence[str]
    cwd: Path
    log: Path
    max_output: int = capture.DEFAULT_MAX_OUTPUT
    fifo: str | None = None


@dataclass
class Window:
    name: str
    panes: list[Launch] = field(default_factory=list)


# The user's options that would end agentmux's session or send input elsewhere, pinned on
# agentmux's own session and windows (docs/tmux.md, "The user's options" has the whole list
# and the reason for each option left alone). Each is set in the chain that creates the
# session or window, before the chain's client leaves: destroy-unattached acts then.
SERVER_PINS = (("exit-unattached", "off"),)
SESSION_PINS = (("destroy-unattached", "off"),)
WINDOW_PINS = (("synchronize-panes", "off"),)


def pipe_command(log: Path, max_output: int) -> str:
    """pipe-pane's shell command for a program that is not a runner: capture.py bounding the
    pane's raw output at max_output.

    tmux runs it with /bin/sh -c (not the user's default-shell) and expands formats in it.
    The shell creates the log first, as `cat >>` did: Python takes tens of milliseconds to
    start, and readers look for the file as soon as the pane exists."""
    return fmt_escape(f": >> {shlex.quote(str(log))}; exec "
                      + shlex.join(capture.argv(str(log), max_output)))


def fifo_pipe_command(fifo: str) -> str:
    """pipe-pane's shell command for a runner's pane: `cat` into the FIFO its capture child
    reads. `prepare` made the log and the FIFO already; the shell makes the FIFO if it is
    gone (`[ -p ]` is a builtin: no process when it is there; either may be first, so both
    take "exists").

    `cat` never waits for a reader: fd 3 opens the FIFO read-write (which never blocks) just
    long enough for fd 1's write-only open to find a reader, then closes. A `cat` waiting in
    open() for a runner that died before it forked its capture would wait forever (seen:
    `up`, then the server killed at once). Holding fd 3 instead would keep a `cat` whose
    reader died blocked on a full FIFO, and tmux never calls a pane dead while its pipe holds
    output (seen). So with no reader `cat` dies of SIGPIPE at its first write, and the pipe
    closes; the runner writes nothing to the pane before its capture has the FIFO open
    (capture.serve's `ready`). The path is named once: 20 panes must stay within one tmux
    message (CHAIN_BYTES)."""
    return fmt_escape(f'f={shlex.quote(fifo)}; [ -p "$f" ] || mkfifo "$f" 2>/dev/null; '
                      'exec cat 3<>"$f" >"$f" 3<&-')


def prepare(pane: Launch) -> Launch:
    """Before the chain that creates (or respawns) the pane: its log, and for a runner a new
    FIFO (a token of its own each time: a respawn never shares one with the old capture).

    Where no FIFO can be made (a file system without them), the pane keeps capture.py as its
    pipe-pane program."""
    try:
        os.close(os.open(pane.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    except OSError:
        return pane  # the pipe's shell creates it, or says why not, as before
    if capture.runner_argv(pane.argv, "", "", 0) is None:
        return pane
    token = os.urandom(6).hex()
    try:
        os.mkfifo(capture.fifo_path(str(pane.log), token), 0o600)
    except OSError:
        return pane
    return replace(pane, fifo=token)


def armed(pane: Launch) -> tuple[list[str], str]:
    """The argv tmux runs in the pane and the pipe-pane command that records its output."""
    if pane.fifo is None:
        return list(pane.argv), pipe_command(pane.log, pane.max_output)
    argv = capture.runner_argv(pane.argv, str(pane.log), pane.fifo, pane.max_output)
    return argv or list(pane.argv), fifo_pipe_command(capture.fifo_path(str(pane.log),
                                                                         pane.fifo))


def respawn_commands(pane_id: str, pane: Launch) -> list[list[str]]:
    """Run a (prepared) pane's argv again and point its pipe-pane at its log, in one chain.

    A dead pane takes no pipe-pane: right after the respawn any old pipe is closed (its `cat`
    ends, and with it the old capture) and a new one armed, so the new program's first bytes
    are in the log."""
    argv, pipe = armed(pane)
    return [["respawn-pane", "-k", "-t", pane_id, *argv],
            ["pipe-pane", "-t", pane_id],
            ["pipe-pane", "-t", pane_id, pipe]]


def pins(scope: str, values: Sequence[tuple[str, str]]) -> list[list[str]]:
    """`set` commands for the chain's current session (scope ""), window (-w) or server (-s)."""
    return [["set", *([scope] if scope else []), name, value] for name, value in values]


def pane_commands(create: Sequence[str], pane: Launch, run_id: str,
                  wake: str | None) -> list[list[str]]:
    """Create one agent pane and, in the same chain, arm everything that must not miss its end.

    `create` is new-window or split-window (without -d: the new pane is then the target of
    the commands after it). With `wake`, the pane opens a window: it pins the window's
    options and sets its pane-died hook; without, it joins a window that has both already,
    and the window is re-tiled.
    """
    argv, pipe = armed(pane)
    cmds = [
        [*create, "-c", fmt_escape(str(pane.cwd)), "-P", "-F", "#{pane_id}", *argv],
        ["set", "-p", "remain-on-exit", "on"],
        ["set", "-p", "remain-on-exit-format", ""],
        ["set", "-p", "@agentmux_run", run_id],
        ["set", "-p", "@agentmux_pane", pane.name],
        ["pipe-pane", "-o", pipe],
    ]
    if wake is not None:
        cmds += pins("-w", WINDOW_PINS)
        # pane-died is a window hook on 3.3a; a session-level one never fires, and this one
        # shadows a global pane-died hook of the user's (verified: only this one ran).
        cmds.append(["set-hook", "-w", "pane-died", f"wait-for -S {wake}"])
    else:
        cmds.append(["select-layout", "tiled"])
    return cmds


def session_commands(
    session: str, run_id: str, cwd: Path, watcher_argv: Sequence[str],
    windows: Sequence[Window], size: tuple[int, int], wake: str, history_limit: int,
    own_server: bool = False,
) -> tuple[list[list[str]], list[tuple[str, list[list[str]]]], list[list[str]]]:
    """The build of a whole session: the commands that create it with the watcher's window,
    one group per agent pane (its name, the command that creates it, then everything that
    arms it), and the commands that end the build.

    With `own_server` (a private server, `--socket`), the server's exit-unattached is pinned
    off too: on the user's own server that would change every session of theirs, so `up`
    refuses there instead (`Tmux.exit_unattached`).
    A chain may end between groups only; `Tmux.build` then names the next group's target.
    The watcher starts when the build has ended (`built_channel`): it has nothing to watch
    before, and its start (~100 ms of CPU) would only slow the build down.
    """
    head: list[list[str]] = [
        *(pins("-s", SERVER_PINS) if own_server else []),
        ["new-session", "-d", "-s", session, "-n", "agentmux", "-x", str(size[0]),
         "-y", str(size[1]), "-c", fmt_escape(str(cwd)), "-P", "-F", "#{pane_id}",
         *after_build(wake, watcher_argv)],
        *pins("", SESSION_PINS),
        *pins("-w", WINDOW_PINS),
        ["set", "-p", "remain-on-exit", "on"],
        ["set", "-p", "@agentmux_run", run_id],
        ["set", "-p", "@agentmux_role", "watcher"],
        # Scrollback for transcripts; applies to panes created after it, i.e. the agents.
        ["set", "history-limit", str(history_limit)],
    ]
    groups: list[tuple[str, list[list[str]]]] = []
    for win in windows:
        for i, pane in enumerate(win.panes):
            create = ["new-window", "-n", fmt_escape(win.name)] if i == 0 else ["split-window"]
            groups.append((pane.name, pane_commands(create, pane, run_id,
                                                    wake if i == 0 else None)))
    # A target is not format-expanded: the name goes in as it is ('#' and all).
    tail = [["select-window", "-t", f"={session}:{windows[0].name}"]] if windows else []
    tail.append(["wait-for", "-S", built_channel(wake)])
    return head, groups, tail


def send_commands(pane_id: str, paste: bool, keys: Sequence[str], buffer: str,
                  synchronized: bool) -> list[list[str]]:
    """`agentmux send`: the text on stdin into a buffer and pasted into the pane (with
    `paste`), then the keys (tmux key names, checked by paneops.key_name) pressed there.

    `paste-buffer -p` brackets only for programs that asked for it. A paste goes to its pane
    alone, but a key pressed with `synchronize-panes` on goes to every pane of the window that
    has it on (verified): with `synchronized`, it is turned off for this pane around the
    keys, and the pane goes back to its window's value after.
    """
    cmds: list[list[str]] = []
    if paste:
        cmds += [["load-buffer", "-b", buffer, "-"],
                 ["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane_id]]
    if keys:
        press = [["send-keys", "-t", pane_id, *keys]]
        if synchronized:
            press = [["set", "-p", "-t", pane_id, "synchronize-panes", "off"], *press,
                     ["set", "-p", "-u", "-t", pane_id, "synchronize-panes"]]
        cmds += press
    return cmds


def probe_commands(session: str, option: str) -> list[list[str]]:
    """Read a server option on a server not yet running: `show` alone starts none, and a
    `start-server` client is cut off by exit-unattached itself (found here); a throwaway
    session starts it from the user's config, then goes."""
    return [["new-session", "-d", "-s", session, "-x", "20", "-y", "5", "true"],
            ["show", "-sv", option], ["kill-session"]]


def built_channel(wake: str) -> str:
    return f"{wake}-built"


def after_build(wake: str, argv: Sequence[str]) -> list[str]:
    """argv, run once the build's last chain signals `built_channel`.

    A signal sent before the wait is remembered by the server, and the pane's $TMUX names
    it. If the build fails, `up` kills the session, and the wait with it. If the wait fails
    (`;`, not `&&`), the program starts all the same.
    """
    return ["sh", "-c", 'tmux wait-for "$0"; exec "$@"', built_channel(wake), *argv]


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


def pane_format(extra: Sequence[str] = ()) -> str:
    """The `-F` format of `list-panes` that parse_pane reads, with the caller's extra fields."""
    return SEP.join("#{" + f + "}" for f in (*FIELDS, *extra))


def parse_pane(line: str) -> PaneObs:
    values = line.split(SEP)
    f = dict(zip(FIELDS, values, strict=False))

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
        extra=tuple(values[len(FIELDS):]),
        width=num("pane_width"),
        height=num("pane_height"),
    )
