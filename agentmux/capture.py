"""A pane's raw output, copied to FILE and kept under MAX_BYTES on disk. Two ways to run it:

- in a runner's pane (every agent pane), pipe-pane runs `exec cat > FIFO` and the runner
  forks `serve`, which reads the FIFO: no interpreter of its own per pane (a fork of the
  started runner costs ~0.5 ms of CPU, a Python start 10 ms; docs/performance.md);
- for any other program, tmux's pipe-pane runs this module on the pane's output:

    python3 -S -m agentmux.capture FILE MAX_BYTES      (argv() builds the exact command)

Either way it copies the pane's raw output to FILE within MAX_BYTES:
- the first part of the output, up to half of MAX_BYTES, goes to FILE itself;
- the rest rolls through numbered segments FILE.tail.<k> of a quarter of MAX_BYTES each, of
  which only the newest two are kept: the last quarter to half of the output is always there;
- once a segment is dropped, FILE ends with a line "[agentmux: N bytes dropped here]" of a
  fixed width, rewritten in place as N grows, so the log is never cut silently.

read_raw() stitches head, marker and tail back in order (so does `cat` of FILE and then the
segments in numeric order). Every chunk read is written at once, and the program exits at the
end of its stdin, so the last bytes before the pane ends are never lost.

Stdlib only (os, sys, _signal) and run with -S: the runner imports it, and imports must stay
cheap there (agentmux.runner).
MAX_BYTES <= 0 means unbounded (plain append, as `cat >> FILE` did).
"""

from __future__ import annotations

# The C half of `signal`, already loaded at start-up: `signal` itself imports enum, about
# 5 ms of every pane's start.
import _signal  # type: ignore[import-not-found]
import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: this module starts with every pane
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# 64 MiB: hours of a busy agent's output (OpenCode's spinner alone wrote about 376 KB a
# minute, so about 3 hours of it), yet small enough that rendering all of it stays bounded.
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024
MIN_MAX_OUTPUT = 4096
CHUNK = 65536
SLOT = 64  # bytes of the dropped-marker line at the end of FILE
_PREFIX = b"\r\n[agentmux: "
_SUFFIX = b" bytes dropped here]"
_TAIL = ".tail."


def marker(dropped: int) -> bytes:
    """The marker line, padded to SLOT bytes so that it can be rewritten in place."""
    text = _PREFIX + str(dropped).encode() + _SUFFIX
    return text + b" " * (SLOT - len(text) - 2) + b"\r\n"


def parse_marker(slot: bytes) -> int | None:
    """N from a marker line (as marker() writes it), else None."""
    if not slot.startswith(_PREFIX) or len(slot) != SLOT:
        return None
    digits, sep, _ = slot[len(_PREFIX):].partition(_SUFFIX)
    return int(digits) if sep and digits.isdigit() else None


def segments(path: str) -> list[tuple[int, str]]:
    """The tail segments of FILE that exist now, oldest first."""
    folder, base = os.path.split(os.path.abspath(path))
    prefix = base + _TAIL
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [(int(n[len(prefix):]), os.path.join(folder, n)) for n in names
             if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return sorted(found)


def parts(path: str) -> list[str]:
    """FILE (head and marker), then its segments in order: the whole raw stream."""
    return [path, *(p for _, p in segments(path))]


def read_raw(path: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """The pane's raw output in chunks: head, the dropped-marker if any, then the tail.

    A segment that rotates away while this reads is skipped: the marker already counts it.
    """
    for part in parts(path):
        try:
            f = open(part, "rb")  # noqa: SIM115 - a segment may vanish between list and open
        except FileNotFoundError:
            continue
        with f:
            while data := f.read(chunk):
                yield data


def raw_size(path: str) -> int:
    """Bytes on disk of the whole stream (head, marker and the segments kept)."""
    total = 0
    for part in parts(path):
        try:
            total += os.stat(part).st_size
        except FileNotFoundError:
            continue
    return total


def snapshot(path: str) -> list[tuple[str, int]]:
    """The parts of the stream that exist now, each with its size now."""
    out = []
    for part in parts(path):
        try:
            out.append((part, os.stat(part).st_size))
        except FileNotFoundError:
            continue
    return out


def read_tail(path: str, nbytes: int, upto: list[tuple[str, int]] | None = None) -> bytes:
    """The last `nbytes` of the stitched stream (fewer if it is shorter); with `upto` (a
    snapshot()), of the stream as it was then, whatever was written since."""
    pieces: list[bytes] = []
    need = nbytes
    for part, size in reversed(snapshot(path) if upto is None else upto):
        if need <= 0:
            break
        try:
            with open(part, "rb") as f:
                f.seek(max(0, size - need))
                data = f.read(min(need, size))
        except FileNotFoundError:
            continue
        pieces.append(data)
        need -= len(data)
    return b"".join(reversed(pieces))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Writer:
    """Appends to FILE within max_bytes, as the module docstring lays out.

    It carries on from what an earlier capture of the same pane left (tmux re-arms
    pipe-pane after a respawn): the head's length, the marker's count, the newest segment.
    """

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.bounded = max_bytes > 0
        total = max(max_bytes, MIN_MAX_OUTPUT)
        self.head_max = total // 2 - SLOT
        self.seg_max = (total - total // 2) // 2
        self.head_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(self.head_fd).st_size
        self.dropped = 0
        if size >= SLOT:
            with open(path, "rb") as f:
                f.seek(size - SLOT)
                self.dropped = parse_marker(f.read(SLOT)) or 0
        self.head_len = size - SLOT if self.dropped else size
        found = segments(path)
        self.k = found[-1][0] if found else -1
        self.seg_fd = -1
        self.seg_len = 0
        if found:
            self.head_len = max(self.head_len, self.head_max)  # the head was closed before
            self.seg_fd = os.open(found[-1][1], os.O_WRONLY | os.O_APPEND)
            self.seg_len = os.fstat(self.seg_fd).st_size

    def write(self, data: bytes) -> None:
        if not self.bounded:
            _write_all(self.head_fd, data)
            return
        while data:
            if self.head_len < self.head_max:
                n = min(len(data), self.head_max - self.head_len)
                _write_all(self.head_fd, data[:n])
                self.head_len += n
            else:
                if self.seg_fd < 0 or self.seg_len >= self.seg_max:
                    self._rotate()
                n = min(len(data), self.seg_max - self.seg_len)
                _write_all(self.seg_fd, data[:n])
                self.seg_len += n
            data = data[n:]

    def _rotate(self) -> None:
        if self.seg_fd >= 0:
            os.close(self.seg_fd)
        self.k += 1
        new = f"{self.path}{_TAIL}{self.k}"
        self.seg_fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.seg_len = 0
        # Only the newest two stay: the new one and the one just filled.
        for k, old in segments(self.path):
            if k < self.k - 1:
                try:
                    self.dropped += os.stat(old).st_size
                    os.unlink(old)
                except FileNotFoundError:
                    continue
        if self.dropped:
            # Not O_APPEND: the marker's slot right after the head is rewritten in place.
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(fd, marker(self.dropped), self.head_max)
            finally:
                os.close(fd)

    def close(self) -> None:
        for fd in (self.head_fd, self.seg_fd):
            if fd >= 0:
                os.close(fd)


def copy(fd_in: int, writer: Writer) -> None:
    """Until EOF; after a SIGTERM (which makes fd_in non-blocking), until the pipe is empty."""
    while True:
        try:
            data = os.read(fd_in, CHUNK)
        except BlockingIOError:
            return
        if not data:
            return
        writer.write(data)


def argv(path: str, max_bytes: int) -> list[str]:
    """How tmux's pipe-pane starts this for one pane (join it with shlex for the shell).

    `-S` skips site-packages and the `.pth` hooks of editable installs; the package folder
    is put on sys.path by hand instead, as runner.argv does.
    """
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from agentmux.capture import main; sys.exit(main())")
    return [sys.executable, "-S", "-c", boot, parent, path, str(max_bytes)]


# --- the runner's capture child ----------------------------------------------------------

FLAG = "--capture"  # runner argv: ... PACKAGE_PARENT --capture FILE TOKEN MAX_BYTES SPEC ...
# How long the child waits for pipe-pane's `cat` to open the FIFO (seconds): the chain that
# creates the pane arms pipe-pane right after, so it is there within milliseconds unless the
# chain failed.
FIFO_WAIT = 300
COMM = b"amux-capture"  # the child's process name (ps, /proc/PID/comm): not another runner


def fifo_path(log: str, token: str) -> str:
    """The FIFO beside a pane's log for one arming of its pipe-pane (one token each time)."""
    folder, base = os.path.split(log)
    return os.path.join(folder, f".{base}.{token}.fifo")


def runner_argv(argv: Sequence[str], log: str, token: str, max_bytes: int) -> list[str] | None:
    """A runner's argv (runner.argv: python -I -S -c BOOT PACKAGE_PARENT ...) that also forks
    `serve` on fifo_path(log, token); None when argv is not a runner's (that program gets
    `argv()` as its pipe-pane program instead)."""
    a = list(argv)
    if (len(a) < 7 or a[1:4] != ["-I", "-S", "-c"] or "agentmux.runner import" not in a[4]
            or FLAG in a):
        return None
    return [*a[:6], FLAG, log, token, str(max_bytes), *a[6:]]


def _is_fifo(fd: int) -> bool:
    return os.fstat(fd).st_mode & 0o170000 == 0o010000


def serve(path: str, token: str, max_bytes: int, ready: int = -1) -> int:
    """The runner's capture child: FIFO -> FILE, until the last writer (`cat`) closes it.

    Forked by the runner as it starts, in a session of its own with no terminal (the runner
    does that), it ignores the pane's hang-up and outlives the runner: a runner that is
    SIGKILLed loses nothing of what tmux still had to pass on. The log is created first, so
    readers find it as soon as the pane exists.

    The FIFO is made here if pipe-pane's shell has not made it yet (either may be first) and
    opened without waiting for a writer; `ready` is closed then, and the runner writes
    nothing to the pane before that (tmux_chain.fifo_pipe_command: `cat` dies of SIGPIPE on
    a FIFO with no reader). Once `cat` is seen, the FIFO is unlinked: a respawn arms a new
    FIFO of its own, and no later reader can open this one.
    """
    writer = Writer(path, max_bytes)
    fifo = fifo_path(path, token)
    try:
        with open("/proc/self/comm", "wb", buffering=0) as f:
            f.write(COMM)
    except OSError:
        pass
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    try:  # noqa: SIM105 - contextlib is not imported here (see the module's imports)
        os.mkfifo(fifo, 0o600)
    except FileExistsError:
        pass
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        fd = -1
    if ready >= 0:
        os.close(ready)
    if fd >= 0 and not _is_fifo(fd):
        os.close(fd)
        fd = -1
    connected = fd >= 0 and _await_writer(fd, writer)
    try:  # noqa: SIM105 - as above
        os.unlink(fifo)
    except OSError:
        pass
    if connected:
        os.set_blocking(fd, True)
        # A SIGTERM only stops the waiting: what is in the FIFO already is still written.
        _signal.signal(_signal.SIGTERM, lambda *_: os.set_blocking(fd, False))
        copy(fd, writer)
    writer.close()
    return 0 if connected else 1


def _await_writer(fd: int, writer: Writer) -> bool:
    """Until pipe-pane's `cat` has the FIFO open (True), or has come and gone with nothing
    written, or FIFO_WAIT has passed with no `cat` (False).

    A read of the FIFO says which: EAGAIN, a writer is there; data, one was; 0 bytes, none
    is. poll() wakes at the first data, or when a writer has come and gone (POLLHUP), but
    not when one only opens: hence the probe at growing intervals."""
    import select
    import time

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + FIFO_WAIT
    wait = 5
    while True:
        events = poller.poll(wait)
        wait = min(wait * 2, 1000)
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        if data:
            writer.write(data)
            return True
        if events or time.monotonic() >= deadline:
            return False


def main(args: list[str] | None = None) -> int:
    args = sys.argv[1:] if args is None else args
    try:
        path, limit = args
        max_bytes = int(limit)
    except ValueError:
        sys.stderr.write("usage: python3 -m agentmux.capture FILE MAX_BYTES\n")
        return 2
    writer = Writer(path, max_bytes)
    # The pane's end closes the pipe: that EOF, not a hang-up, is the end of the output.
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    # A SIGTERM only stops the waiting: what is in the pipe already is still written.
    _signal.signal(_signal.SIGTERM, lambda *_: os.set_blocking(0, False))
    copy(0, writer)
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
