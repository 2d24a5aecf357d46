"""agentmux.api on a real run: the agents as libtmux objects, driven from Python."""

from __future__ import annotations

from pathlib import Path

import libtmux
import pytest

from agentmux.api import open_run
from agentmux.errors import BadInput, WorkFailed

from .conftest import wait_until
from .helpers import fake, latest_run, up, write_layout

SOCK = "amx-api"


def test_capture_a_pane_and_answer_it_through_libtmux(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "asker", "command": fake("--print", "READY", "--wait-input", "name? ",
                                          "--exit", "3")},
        {"name": "idle", "command": fake("--sleep", "60")},
    ])
    up(layout, SOCK)
    run = open_run(repo=repo)
    assert run.id == latest_run(repo).name
    assert isinstance(run.session, libtmux.Session)
    assert run.session.session_name == "agents"

    panes = wait_until(lambda: run.panes if set(run.panes) == {"asker", "idle"} else None, 20,
                       "both agent panes")
    assert isinstance(panes, dict)
    asker = panes["asker"]
    assert isinstance(asker, libtmux.Pane)
    assert asker.pane_id == run.pane("asker").pane_id
    wait_until(lambda: "name?" in "\n".join(asker.capture_pane()), 20, "the prompt")
    assert "READY" in "\n".join(asker.capture_pane())

    asker.send_keys("Ada")

    def ended() -> bool:
        rows = {r.name: r for r in run.status()}
        return rows["asker"].state == "failed" and rows["asker"].exit_code == 3
    wait_until(ended, 20, "asker to end with 3")
    assert "got: Ada" in "\n".join(asker.capture_pane())
    rows = {r.name: r for r in run.status()}
    assert rows["idle"].state in ("working", "waiting")
    assert rows["asker"].branch == "agentmux/agents/asker"


def test_unknown_pane_and_another_server(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": fake("--sleep", "60")}])
    up(layout, SOCK)
    run = open_run(session="agents", repo=repo)
    with pytest.raises(BadInput, match="no pane named 'nope'"):
        run.pane("nope")
    elsewhere = open_run(session="agents", repo=repo, socket="amx-api-elsewhere")
    with pytest.raises(WorkFailed, match="session 'agents' is not running"):
        _ = elsewhere.panes
    with pytest.raises(BadInput, match="no run of session 'other'"):
        open_run(session="other", repo=repo)
