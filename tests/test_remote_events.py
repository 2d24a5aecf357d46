"""The watcher tells of a remote pane's changes as of a local pane's: the layout's `on_event`
runs here, with the same environment, when an agent on the host "box" ends (tests/test_remote.py's
sshd, one for this module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import wait_until
from .helpers import fake, latest_run, write_layout
from .sshd import SshServer
from .test_remote import _clone, _hosts, amx, box, panes, server  # noqa: F401 (fixtures)


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
