"""`agentmux add --host`: one more agent of a running run, on a host, against a real sshd.

One sshd on 127.0.0.1 for the module (tests/sshd.py) is the host "box"; each test clones its
repository there and runs a layout with one local and one remote agent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmux import ledger
from agentmux import remote as records
from agentmux.add import add as add_pane
from agentmux.errors import BAD_INPUT, ENVIRONMENT, Interrupted

from .conftest import FAKE_AGENT, git, run_cli, wait_until
from .helpers import fake, latest_run, write_layout
from .sshd import DEFAULT_PATH, SshServer, start_sshd
from .test_remote import _events as events

SOCK = "amx-radd"
REMOTE_SOCK = "agentmux"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    s = start_sshd(tmp_path_factory.mktemp("sshd") / "sshd")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def box(server: SshServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshServer]:
    monkeypatch.setenv("AGENTMUX_SSH", " ".join(server.ssh))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(server.control_dir))
    server.start()
    yield server
    server.start()
    subprocess.run(server.argv("tmux", "-L", REMOTE_SOCK, "kill-server"),
                   capture_output=True, check=False, timeout=20)


def amx(repo: Path, *args: str) -> Any:
    return run_cli("--socket", SOCK, *args, cwd=repo)


def panes(repo: Path) -> dict[str, dict[str, Any]]:
    r = amx(repo, "status", "--json")
    assert r.code == 0, r.err
    return {p["name"]: p for p in json.loads(r.out)["panes"]}


def start(repo: Path, box: SshServer, name: str, away: bool = True) -> tuple[Path, Path]:
    """A running run with a local agent, and with `away` one on the host; the host's clone
    and the run folder."""
    remote = box.home / name
    subprocess.run(["git", "clone", "-q", str(repo), str(remote)], check=True)
    layout = write_layout(repo, [
        {"name": "here", "command": fake("--sleep", "60")},
        *([{"name": "r-long", "host": "box", "command": fake("--sleep", "60")}] if away else []),
    ], hosts={"box": {"ssh": box.alias, "repo": str(remote),
                      "env": {"PATH": f"{FAKE_AGENT.parent}:{DEFAULT_PATH}"}}})
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code == 0, r.err
    return remote, latest_run(repo)


def everything(box: SshServer, repo: Path, remote: Path, run: Path) -> tuple[object, ...]:
    """What an `add` could leave: records and folders here, branches, worktrees and ledger
    there, the panes of the host's session."""
    listed = subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "list-panes", "-a", "-F",
                                     "#{pane_id}"), capture_output=True, text=True, check=True,
                            timeout=20)
    return ((run / "run.json").read_text(), (run / "remote.json").read_text(),
            sorted(p.name for p in (run / "panes").iterdir()),
            git(repo, "branch", "--list", "agentmux/*"),
            git(remote, "branch", "--list", "agentmux/*"), git(remote, "worktree", "list"),
            sorted(p.name for p in next(remote.glob(".agentmux/runs/*/panes")).iterdir()),
            listed.stdout)


def test_add_on_a_host_runs_there_ends_and_its_work_comes_home_at_down(
        repo: Path, box: SshServer) -> None:
    remote, run = start(repo, box, "grow", away=False)
    # The run's first agent there: the host gets the run's base, ledger and session.
    took = [time.monotonic()]
    r = amx(repo, "add", "r-long", "--host", "box", "--task", "wait",
            "--command", fake("--print", "LONG-ONE", "--sleep", "60"))
    assert r.code == 0, r.err
    took.append(time.monotonic())
    # One more beside it, in its window of the host's session.
    r = amx(repo, "add", "r-new", "--host", "box", "--task", "write n.txt",
            "--command", fake("--write", "n.txt=there", "--commit", "added there"))
    assert r.code == 0, r.err
    took.append(time.monotonic())
    print(f"\nMEASURED add --host: first on the host {took[1] - took[0]:.2f} s, "
          f"beside it {took[2] - took[1]:.2f} s", file=sys.stderr)
    assert "on host box" in r.out
    tree = Path(json.loads((run / "remote.json").read_text())["panes"]["r-new"]["worktree"])
    assert tree.is_relative_to(remote) and tree.is_dir()
    got = wait_until(lambda: (p := panes(repo))["r-new"]["state"] == "done" and p, 30,
                     "r-new ends done")
    assert isinstance(got, dict)
    assert "added there" in git(remote, "log", "-1", "--format=%s", "agentmux/agents/r-new")
    assert {n: (p["host"], p["state"]) for n, p in got.items()} == {
        "here": (None, "working"), "r-long": ("box", "working"), "r-new": ("box", "done")}
    assert "LONG-ONE" in amx(repo, "logs", "r-long").out
    # The watcher follows both without a restart: their states, and r-new's end, recorded;
    # so `restart` of an added remote pane sees its stop recorded, and starts it again.
    wait_until(lambda: "done" in events(run, "r-new"), 20, "the watcher records r-new's end")
    assert "working" in events(run, "r-long")
    r = amx(repo, "restart", "r-long")
    assert r.code == 0 and "attempt 2 started" in r.out, (r.out, r.err)
    r = amx(repo, "down", "--grace", "2")
    assert r.code == 0, r.err
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/r-new").strip() == (
        "added there")
    assert panes(repo)["r-new"]["state"] == "done"
    review = json.loads(amx(repo, "review", "--json").out)
    assert [f["path"] for p in review["panes"] if p["name"] == "r-new"
            for f in p.get("files") or []] == ["n.txt"]
    r = amx(repo, "clean", "r-new")
    assert r.code == 0, (r.out, r.err)
    assert not tree.exists() and git(remote, "branch", "--list", "agentmux/agents/r-new") == ""


def test_an_unknown_or_unreachable_host_or_a_failure_there_adds_nothing_anywhere(
        repo: Path, box: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    remote, run = start(repo, box, "refuse")
    before = everything(box, repo, remote, run)
    add = ("add", "r-new", "--task", "t", "--command", fake("--sleep", "30"))
    r = amx(repo, *add, "--host", "boxx")
    assert r.code == BAD_INPUT, (r.out, r.err)
    assert "unknown host 'boxx'" in r.err and "did you mean 'box'?" in r.err, r.err
    assert everything(box, repo, remote, run) == before
    # A signal once the agent runs on the host, before run.json has it: all of it goes.
    real_write = records.write

    def write_then_signal(run_dir: ledger.RunDir, record: records.RemoteRecord) -> None:
        real_write(run_dir, record)
        os.kill(os.getpid(), signal.SIGTERM)

    with monkeypatch.context() as m, pytest.raises(Interrupted, match="nothing was added"):
        m.setattr(records, "write", write_then_signal)
        add_pane(ledger.RunDir(run), "r-new", "t", agent=None, command=fake("--sleep", "30"),
                 host="box")
    assert everything(box, repo, remote, run) == before
    # The branch is taken on the host: its setup fails there, and takes nothing else along
    # (the session and the other agent stay, the branch too).
    git(remote, "branch", "agentmux/agents/r-new")
    before = everything(box, repo, remote, run)
    r = amx(repo, *add, "--host", "box")
    assert r.code not in (0, BAD_INPUT), (r.out, r.err)
    assert "agentmux/agents/r-new" in r.err, r.err
    assert everything(box, repo, remote, run) == before
    # Its window is gone on the host (renamed): the worktree, branch and folder made there
    # go again, and the host's session with its other agent stays.
    git(remote, "branch", "-D", "agentmux/agents/r-new")
    pane = json.loads((run / "remote.json").read_text())["panes"]["r-long"]["pane_id"]
    subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "rename-window", "-t", pane, "moved"),
                   check=True, timeout=20)
    before = everything(box, repo, remote, run)
    r = amx(repo, *add, "--host", "box")
    assert r.code not in (0, BAD_INPUT), (r.out, r.err)
    assert "starting tmux session" in r.err, r.err
    assert everything(box, repo, remote, run) == before
    box.drop()
    box.stop()
    r = amx(repo, *add, "--host", "box")
    assert r.code == ENVIRONMENT, (r.out, r.err)
    assert "box" in r.err
    box.start()
    assert everything(box, repo, remote, run) == before
