"""A damaged ledger: garbage run.json, a torn events line, a full disk while writing state."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux import ledger
from agentmux.errors import LedgerWriteFailed

from ..conftest import run_cli, wait_until
from ..helpers import latest_run, wait_states, write_layout
from .conftest import SOCK, tmux, trust


def test_garbage_run_json_is_named_kept_and_a_new_up_works(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    trust(layout)
    assert run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo).code == 0
    wait_states(repo, SOCK)
    assert run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo).code == 0
    damaged = latest_run(repo) / "run.json"
    damaged.write_bytes(b"\x00garbage{")
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert r.code == 1, r.err
    assert r.err.startswith(f"agentmux: {damaged}: not valid JSON (")
    assert r.err.endswith("); the ledger file is damaged\n")
    r = run_cli("runs", cwd=repo)
    assert r.code == 0 and f"{damaged.parent.name}  (damaged: {damaged}" in r.out
    # up starts a fresh run beside it; the damaged file is left exactly as it was.
    assert run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo).code == 0
    assert damaged.read_bytes() == b"\x00garbage{"
    assert wait_states(repo, SOCK)["a"]["state"] == "done"


def test_torn_last_event_line_loses_no_later_event(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "fake-agent --wait-input 'go? '"}])
    trust(layout)
    assert run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo).code == 0
    panes = wait_states(repo, SOCK, {"a": "alive"})
    events = latest_run(repo) / "events.jsonl"
    wait_until(lambda: events.exists(), 10, "the first event")
    with events.open("ab") as f:
        f.write(b'{"version":1,"type":"state","pane":"a","sta')   # a writer killed mid-line
    tmux("send-keys", "-t", panes["a"]["pane_id"], "-l", "yes")
    tmux("send-keys", "-t", panes["a"]["pane_id"], "Enter")
    wait_until(lambda: any(e.get("state") == "done" for e in ledger.read_events(events)), 15,
               "the done event, readable after the torn line")
    assert wait_states(repo, SOCK)["a"]["state"] == "done"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real ENOSPC. Needs root and a kernel that lets us mount."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_disk_full_keeps_the_previous_state_whole(tiny_disk: Path) -> None:
    run_json = tiny_disk / "run.json"
    ledger.write_json(run_json, {"version": 1, "state": "running"})
    events = tiny_disk / "events.jsonl"
    ledger.append_event(events, {"type": "state", "pane": "a", "state": "running"})
    _fill(tiny_disk)
    with pytest.raises(LedgerWriteFailed) as e:
        ledger.write_json(run_json, {"version": 1, "state": "down", "pad": "x" * 20000})
    assert str(e.value) == (f"cannot write {run_json}: No space left on device; the previous "
                            "version is kept")
    assert json.loads(run_json.read_text()) == {"version": 1, "state": "running"}
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["events.jsonl", "filler",
                                                          "run.json"]
    with pytest.raises(LedgerWriteFailed) as e:
        ledger.append_event(events, {"type": "state", "pane": "a", "state": "done",
                                     "pad": "x" * 8192})
    assert str(e.value) == f"cannot write {events}: No space left on device"
    assert [ev["state"] for ev in ledger.read_events(events)] == ["running"]


def test_short_write_is_an_error_not_a_truncated_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no tmpfs can be mounted: a write that stops short, as on a disk that just filled."""
    run_json = tmp_path / "ledger" / "run.json"
    ledger.write_json(run_json, {"version": 1, "state": "running"})
    real_write = os.write

    def short(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 64:
            return real_write(fd, bytes(data[:64]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", short)
    with pytest.raises(LedgerWriteFailed, match="No space left on device; the previous version"):
        ledger.write_json(run_json, {"version": 1, "state": "down", "pad": "x" * 500})
    monkeypatch.undo()
    assert json.loads(run_json.read_text()) == {"version": 1, "state": "running"}
    assert [p.name for p in run_json.parent.iterdir()] == ["run.json"]
