"""The watcher's one call per host per tick: tmux's panes and the run's ledger in one ssh call.

A tiny Python program runs on the host (python3 is there already: it runs the pane runner).
It lists every pane of the host's tmux server, returns the status.json files that changed
since the caller's stamps, and the complete lines appended to the followed logs
(events.jsonl, hook logs) since the caller's byte offsets. The caller owns the `Cursor`
and moves it forward only after it has recorded a reply, so a tick that fails (host
unreachable) loses nothing and a reply is never counted twice: after an outage the next
tick returns everything since the last recorded offset. A torn last line is never
returned: the offset stops before it.

The program imports only builtin modules (os, sys, time): `json` alone costs ~10 ms of
imports on the host (it pulls in `re`), which is more than tmux's whole answer. It reads its
query from a literal in its own text and answers with one `ascii()` literal, parsed here with
`ast.literal_eval`. It travels hex-encoded inside one `-c` argument, which every login shell
passes through untouched.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .errors import EnvironmentProblem, WorkFailed
from .hosts import Transport

Stamp = tuple[int, int, int]  # mtime_ns, size, inode of a status.json
PROTOCOL = 1
CAP = 1 << 20                 # at most this many bytes of one log per tick; `more` says when cut
_SEGMENT = re.compile(r"^(\*|[A-Za-z0-9_-][A-Za-z0-9._-]*)$")
_MARK = "agentmux-tick "

_PROGRAM = r"""
import os, sys, time

def spawn(argv):
    r, w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)])
    except OSError as e:
        os.close(r)
        os.close(w)
        return 127, str(e).encode()
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), b"".join(chunks)

def expand(run, pattern):
    paths = [run]
    for part in pattern.split("/"):
        nxt = []
        for base in paths:
            if part != "*":
                nxt.append(os.path.join(base, part))
                continue
            try:
                nxt.extend(os.path.join(base, n) for n in sorted(os.listdir(base)))
            except OSError:
                pass
        paths = nxt
    return [p for p in paths if os.path.isfile(p)]

run = Q["run"]
for rel in Q["touch"]:   # queue gates to open (max_running): creating one twice is harmless
    try:
        os.close(os.open(os.path.join(run, rel), os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError:
        pass
tmux = spawn(Q["tmux"])
statuses, seen = {}, set()
try:
    names = os.listdir(os.path.join(run, "panes"))
except OSError:
    names = []
for name in names:
    path = os.path.join(run, "panes", name, "status.json")
    try:
        st = os.stat(path)
        seen.add(name)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if Q["stamps"].get(name) != stamp:
            with open(path, "rb") as f:
                statuses[name] = (stamp, f.read())
    except OSError:
        pass
logs, more, cap = {}, False, Q["cap"]
for pattern in Q["follow"]:
    for path in expand(run, pattern):
        rel = path[len(run) + 1:]
        start = Q["offsets"].get(rel, 0)
        try:
            with open(path, "rb") as f:
                reset = os.fstat(f.fileno()).st_size < start
                f.seek(0 if reset else start)
                data = f.read(cap)
                extra = f.read(1)
                if extra:
                    more = True
                    if b"\n" not in data:
                        data += extra + f.readline()
        except OSError:
            continue
        logs[rel] = (0 if reset else start, data[:data.rfind(b"\n") + 1], reset)
gone = [n for n in Q["stamps"] if n not in seen]
out = {"v": 1, "now": time.time(), "tmux": tmux, "statuses": statuses, "gone": gone,
       "logs": logs, "more": more}
sys.stdout.write("agentmux-tick " + ascii(out) + "\n")
"""


@dataclass(frozen=True)
class Cursor:
    """The caller's position in a run's ledger on one host: what it has already recorded."""

    offsets: Mapping[str, int] = field(default_factory=dict)   # log path in the run -> bytes
    stamps: Mapping[str, Stamp] = field(default_factory=dict)  # pane -> its status.json stamp


@dataclass(frozen=True)
class Chunk:
    """Complete lines appended to one log, from byte `start` on."""

    start: int
    data: bytes
    reset: bool    # the log shrank below the caller's offset: this chunk starts again at 0

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def lines(self) -> list[str]:
        return self.data.decode("utf-8", "replace").splitlines()


@dataclass(frozen=True)
class TickReply:
    tmux_status: int
    tmux_output: str
    statuses: Mapping[str, bytes]      # status.json content of panes whose file changed
    stamps: Mapping[str, Stamp]        # the stamps of those files
    gone: tuple[str, ...]              # panes whose status.json disappeared
    logs: Mapping[str, Chunk]
    more: bool                         # a log was cut at CAP: tick again without waiting
    host_time: float

    @property
    def panes(self) -> list[str] | None:
        """`list-panes -a` lines; None when the host's tmux server is not running."""
        if self.tmux_status != 0:
            return None
        return [line for line in self.tmux_output.splitlines() if line]

    def advance(self, cursor: Cursor) -> Cursor:
        """The cursor after this reply has been recorded."""
        offsets = dict(cursor.offsets)
        offsets.update({path: chunk.end for path, chunk in self.logs.items()})
        stamps = {k: v for k, v in cursor.stamps.items() if k not in self.gone}
        stamps.update(self.stamps)
        return Cursor(offsets, stamps)


def tick_argv(
    run_dir: str,
    cursor: Cursor,
    *,
    fields: Sequence[str],
    socket: str | None = None,
    follow: Sequence[str] = ("events.jsonl",),
    cap: int = CAP,
    touch: Sequence[str] = (),
) -> list[str]:
    """The remote argv of one tick for the run whose ledger folder on the host is run_dir;
    `touch`: files in it to create first (the queue's gates, `panes/NAME/go`)."""
    if not PurePosixPath(run_dir).is_absolute():
        raise ValueError(f"run folder on the host must be absolute: {run_dir!r}")
    for pattern in follow:
        if not all(_SEGMENT.match(s) for s in pattern.split("/")):
            raise ValueError(f"follow pattern {pattern!r}: path segments or '*' only")
    for rel in touch:
        if not all(_SEGMENT.match(s) and s != "*" for s in rel.split("/")):
            raise ValueError(f"touch {rel!r}: path segments only")
    tmux = ["tmux", *(["-L", socket] if socket else [])]
    query = {
        "run": run_dir.rstrip("/") or "/",
        "tmux": [*tmux, "list-panes", "-a", "-F", "\x1f".join("#{" + f + "}" for f in fields)],
        "stamps": dict(cursor.stamps),
        "offsets": dict(cursor.offsets),
        "follow": list(follow),
        "cap": cap,
        "touch": list(touch),
    }
    program = f"Q = {query!a}\n{_PROGRAM}".encode()
    return ["python3", "-I", "-S", "-c", f'exec(bytes.fromhex("{program.hex()}"))']


def parse_tick(stdout: str) -> TickReply:
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(_MARK)), None)
    if line is None:
        raise ValueError("no tick reply in the output")
    raw = ast.literal_eval(line[len(_MARK):])
    if not isinstance(raw, dict) or raw.get("v") != PROTOCOL:
        raise ValueError(f"tick reply of another protocol: {line[:80]!r}")
    status, output = raw["tmux"]
    return TickReply(
        tmux_status=int(status),
        tmux_output=bytes(output).decode("utf-8", "replace"),
        statuses={k: bytes(v[1]) for k, v in raw["statuses"].items()},
        stamps={k: (int(v[0][0]), int(v[0][1]), int(v[0][2]))
                for k, v in raw["statuses"].items()},
        gone=tuple(raw["gone"]),
        logs={k: Chunk(int(v[0]), bytes(v[1]), bool(v[2])) for k, v in raw["logs"].items()},
        more=bool(raw["more"]),
        host_time=float(raw["now"]),
    )


def tick(transport: Transport, run_dir: str, cursor: Cursor, *, fields: Sequence[str],
         socket: str | None = None, follow: Sequence[str] = ("events.jsonl",),
         timeout: float = 10.0, touch: Sequence[str] = ()) -> TickReply:
    """One ssh call: the host's panes and what changed in the run's ledger since cursor."""
    argv = tick_argv(run_dir, cursor, fields=fields, socket=socket, follow=follow,
                     touch=touch)
    p = transport.run(argv, timeout=timeout)
    name = transport.host.name
    if p.returncode == 127:
        raise EnvironmentProblem(f"host '{name}': python3 is not on the PATH of ssh sessions "
                                 f"({p.stderr.strip()})")
    try:
        return parse_tick(p.stdout)
    except (ValueError, SyntaxError, KeyError, TypeError, IndexError, MemoryError,
            RecursionError) as e:
        detail = (p.stderr or p.stdout).strip()[-400:]
        raise WorkFailed(f"host '{name}': the tick failed (exit {p.returncode}): {e}; "
                         f"{detail}") from e
