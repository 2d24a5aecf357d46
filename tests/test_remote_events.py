"""The watcher tells of a remote pane's changes as of a local pane's: the layout's `on_event`
runs here, with the same environment, when an agent on the host "box" ends (tests/test_remote.py's
sshd, one for this module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import wait_until
from .helpers import fake, latest_run, write_layout
from .sshd import SshServer
from .test_remote import _clone, _hosts, amx, box, panes, server, wait_for  # noqa: F401


def test_on_event_runs_here_for_a_remote_panes_end(repo: Path, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    host: SshServer = request.getfixturevalue("box")
    remote = _clone(repo, host, "events")
    told = tmp_path / "told.txt"
    line = ('"$AGENTMUX_RUN|$AGENTMUX_PANE|$AGENTMUX_STATE|$AGENTMUX_REASON|'
            '$AGENTMUX_EXIT_CODE"')
    layout = write_layout(repo, [
        {"name": "l-bad", "command": fake("--exit", "3")},
        {"name": "r-bad", "host": "box", "command": fake("--exit", "5")},
    ], hosts=_hosts(host, remote), poll_interval=0.3,
        on_event=f"printf '%s\\n' {line} >> {told}")
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code == 0, r.err

    def both() -> list[str] | None:
        got = told.read_text().splitlines() if told.exists() else []
        return got if len(got) >= 2 else None

    lines = wait_until(both, 30, "on_event for both panes")
    assert isinstance(lines, list)
    st = panes(repo)
    run = latest_run(repo).name
    # The same environment for both, each with its own pane, state, reason and exit code;
    # a remote end told by the watcher here, as a local one.
    assert sorted(lines) == sorted(
        f"{run}|{n}|failed|{st[n]['reason'] or ''}|{code}"
        for n, code in (("l-bad", 3), ("r-bad", 5))), lines
    assert st["r-bad"]["host"] == "box"


def test_a_remote_panes_timeout_ends_it_failed_timeout(repo: Path,
                                                       request: pytest.FixtureRequest) -> None:
    host: SshServer = request.getfixturevalue("box")
    remote = _clone(repo, host, "timeout")
    layout = write_layout(repo, [
        {"name": "r-slow", "host": "box", "timeout": 1, "command": fake("--sleep", "60")},
    ], hosts=_hosts(host, remote), poll_interval=0.3)
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code == 0, r.err
    got = wait_for(repo, {"r-slow": "failed"}, 30)["r-slow"]
    assert (got["reason"], got["host"]) == ("timeout", "box")
    # The agent ended on the host: its runner recorded the end there.
    run = latest_run(repo).name
    there = remote / ".agentmux" / "runs" / run / "panes" / "r-slow" / "status.json"
    assert '"ended_at"' in there.read_text()


def test_a_remote_panes_log_is_bounded_by_max_output(repo: Path,
                                                      request: pytest.FixtureRequest) -> None:
    host: SshServer = request.getfixturevalue("box")
    remote = _clone(repo, host, "bounded")
    limit = 64 * 1024
    layout = write_layout(repo, [
        {"name": "r-big", "host": "box", "command": fake("--lines", "12000")},
    ], hosts=_hosts(host, remote), poll_interval=0.3, max_output=limit)
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code == 0, r.err
    assert wait_for(repo, {"r-big": "done"}, 30)["r-big"]["host"] == "box"
    # On the host, the log and its kept tail segments: within the bound, the cut said so,
    # and the last lines kept (the runner's capture child, shipped with it, wrote them).
    folder = remote / ".agentmux" / "runs" / latest_run(repo).name / "panes" / "r-big"
    logs = sorted(folder.glob("output.log*"))
    kept = b"".join(p.read_bytes() for p in logs)
    assert sum(p.stat().st_size for p in logs) <= limit + 64, logs
    assert b"bytes dropped here]" in (folder / "output.log").read_bytes()
    assert b"fake-agent line 12000" in kept
