"""Faults of the sandbox and of the ledger as evidence: each is refused or recorded, and
leaves refs, worktrees, sessions and the ledger byte for byte as they were."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agentmux.sandbox import check_available

from ..conftest import run_cli, wait_until
from ..helpers import fake, latest_run, up, wait_states, write_layout
from .conftest import SOCK, snapshot_state


def _ended(repo: Path, **top: Any) -> Path:
    layout = write_layout(repo, [{"name": "a", "command": fake("--exit", "0")}], **top)
    up(layout, SOCK)
    wait_states(repo, SOCK)
    run = latest_run(repo)
    # The watcher's last writes for the pane: its snapshot and result, its transcript.
    wait_until(lambda: all((run / "panes" / "a" / f).exists()
                           for f in ("result.json", "transcript.txt")), 15, "the watcher")
    return run


@pytest.mark.parametrize("what, tamper, message", [
    ("spec command", lambda run: _edit(run / "panes" / "a" / "spec.json", command="rm -rf ~"),
     "differs from the trusted layout snapshot"),
    ("spec shell", lambda run: _edit(run / "panes" / "a" / "spec.json", shell="/tmp/sh"),
     "in shell (shell: '/tmp/sh', the layout says '/bin/sh')"),
    ("sandbox dropped", lambda run: _edit(run / "panes" / "a" / "spec.json", sandbox=None),
     "in sandbox (sandbox: None, the layout says {'kind': 'bwrap'"),
    ("network let in", lambda run: _edit(run / "panes" / "a" / "spec.json", sandbox={
        **json.loads((run / "panes" / "a" / "spec.json").read_text())["sandbox"],
        "network": True}), "in sandbox"),
    ("snapshot", lambda run: _edit(run / "run.json", layout_snapshot='[[pane]]\nname = "a"\n'
                                   'command = "rm -rf ~"\n'),
     "is not a layout you trusted"),
    ("repo moved", lambda run: _edit(run / "run.json", repo="/elsewhere"),
     "names repository /elsewhere"),
    ("spec garbage", lambda run: (run / "panes" / "a" / "spec.json").write_bytes(b"{x"),
     "is damaged"),
])
def test_restart_refuses_a_changed_ledger(repo: Path, what: str, tamper: object,
                                          message: str) -> None:
    boxed = what in ("sandbox dropped", "network let in")
    if boxed and check_available() is not None:
        pytest.skip(str(check_available()))
    run = _ended(repo, **({"sandbox": "bwrap", "network": False} if boxed else {}))
    assert callable(tamper)
    tamper(run)
    wait_states(repo, SOCK)
    # restart takes the run's lock (control.lock_run) before it checks: its empty lock file
    # is the one thing a refused restart may leave, so it is there before the picture.
    (run / "add.lock").touch()
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 3, (what, r.err)
    assert message in r.err, (what, r.err)
    assert snapshot_state(repo) == before


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_sandbox_without_worktrees_is_bad_input(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}], sandbox="bwrap",
                          isolation="none")
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: {layout}: isolation: 'none' gives no agent a worktree of its "
                     "own, and pane 'a' has sandbox = \"bwrap\", which lets an agent write only "
                     "its own worktree; use isolation = \"worktree\"\n")
    assert not (repo / ".agentmux").exists()


def test_a_sandbox_that_cannot_be_built_never_runs_the_agent_unsandboxed(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bwrap passes `up`'s probe, then fails to build the pane's sandbox (as a mount that
    fails does): the pane fails with reason `sandbox`, and its command never ran."""
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    (fake_bin / "bwrap").write_text(
        '#!/bin/sh\nfor last; do :; done\n[ "$last" = true ] && exit 0\n'
        'echo "bwrap: Can\'t mount proc on /newroot/proc: Operation not permitted" >&2\n'
        "exit 1\n")
    (fake_bin / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    layout = write_layout(repo, [{"name": "a", "command": "touch RAN"}], sandbox="bwrap")
    up(layout, SOCK)
    pane = wait_states(repo, SOCK)["a"]
    assert (pane["state"], pane["exit_code"], pane["reason"]) == ("failed", 1, "sandbox")
    status = json.loads((latest_run(repo) / "panes" / "a" / "status.json").read_text())
    assert status["message"] == ("bubblewrap could not build the sandbox (exit 1; its message "
                                 "is above); the agent was not started")
    assert not list(repo.rglob("RAN"))
