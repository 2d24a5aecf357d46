"""Atomic file replacement and UTC timestamps, stdlib only: shared by the ledger and the runner.

The runner starts once per pane and must reach its agent's fork within about 20 ms, so this
module imports only `os`, `errno` and `time` (no pathlib, json or dataclasses). The ledger
adds JSON, typed records and its error types on top of it.

How durable a write is, is the caller's choice, because an fsync costs 3 to 5 ms here and
`up` used to pay 2N + 6 of them in a row (docs/performance.md):

- `LIVE`: temp file, rename. Other processes see the old file or the new one, never a mix;
  after a power loss the file may be missing or empty. For files whose only readers are
  processes that run now (a spec the runner reads right after `up` wrote it, a runner's
  status while its agent is alive: after a crash those processes are gone anyway).
- `WHOLE`: fsync the file before the rename. After a power loss the file is absent or the
  previous version or the new one, each whole; never empty or torn.
- `DURABLE`: `WHOLE`, then fsync the folder, so the new version survives a power loss once
  the call returns. For records read after everything else is gone (run.json once `up` has
  finished, a runner's final status).
"""

from __future__ import annotations

import errno
import os
import time

LIVE = 0
WHOLE = 1
DURABLE = 2


def now_iso(ts: float | None = None) -> str:
    """ISO 8601 in UTC, to the millisecond (truncated, as isoformat's milliseconds are)."""
    t = time.time() if ts is None else ts
    ms = int(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def replace(path: str, body: bytes, *, mode: int = 0o644, sync: int = DURABLE) -> None:
    """Write body to a temp file beside path, then rename it over path (see the module doc).

    On a full disk the temp file goes and the previous version stays, whole. Raises OSError.
    """
    folder = os.path.dirname(path) or "."
    fd, tmp = _temp_beside(folder, os.path.basename(path))
    try:
        os.fchmod(fd, mode)
        write_all(fd, body)
        if sync >= WHOLE:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if sync >= DURABLE:
        fsync_dir(folder)


def fsync_dir(folder: str) -> None:
    """Make the entries of folder (a rename, a new file or folder in it) survive a power loss."""
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_all(fd: int, body: bytes) -> None:
    """os.write may write part of the body and return without an error when the disk fills."""
    view = memoryview(body)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


def _temp_beside(folder: str, name: str) -> tuple[int, str]:
    """A new, exclusive temp file in folder: what tempfile.mkstemp does, without its import."""
    while True:
        tmp = os.path.join(folder, f".{name}.{os.urandom(6).hex()}")
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue
