"""`up` with panes on other hosts: every host is checked before anything is created anywhere
(tests/test_remote.py runs agents there).

A real sshd on 127.0.0.1 (tests/sshd.py) is the host; the ssh client reaches it through
AGENTMUX_SSH (`ssh -F CONFIG`), as a user's own ssh config would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.errors import BAD_INPUT, ENVIRONMENT

from .conftest import git, run_cli
from .helpers import write_layout
from .sshd import SshServer, _exit_master, sshd_fixture, sshd_server

sshd = sshd_fixture()
SOCK = "amx"


@pytest.fixture
def client(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshServer]:
    _use(sshd, monkeypatch)
    yield sshd
    _end_masters(sshd)


def _use(server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMUX_SSH", " ".join(server.ssh))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(server.control_dir))


def _end_masters(server: SshServer) -> None:
    for sock in (server.control_dir / "agentmux").glob("*"):
        _exit_master(sock, server.alias)


def _layout(repo: Path, server: SshServer, remote_repo: Path | str) -> Path:
    return write_layout(repo, [
        {"name": "here", "command": "true"},
        {"name": "there", "command": "true", "host": "box"},
    ], hosts={"box": {"ssh": server.alias, "repo": str(remote_repo)}})


def _clone(repo: Path, server: SshServer) -> Path:
    dest = server.home / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(dest)], check=True)
    return dest


def _nothing_created(repo: Path, remote: Path | None) -> None:
    assert not (repo / ".agentmux" / "runs").exists() or not any(
        (repo / ".agentmux" / "runs").iterdir())
    assert git(repo, "branch", "--list", "agentmux/*").strip() == ""
    assert git(repo, "worktree", "list").count("\n") == 1
    if remote is not None:
        assert git(remote, "branch", "--list", "agentmux/*").strip() == ""
        assert not (remote / ".agentmux").exists()
    tmux = subprocess.run(["tmux", "-L", SOCK, "list-sessions"], capture_output=True,
                          text=True, check=False)
    assert tmux.returncode != 0 or tmux.stdout == ""


def _up(layout: Path) -> tuple[int, str]:
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=layout.parent)
    return r.code, r.err


def test_a_host_unreachable_at_up_exits_4_and_creates_nothing(
        repo: Path, client: SshServer) -> None:
    remote = _clone(repo, client)
    layout = _layout(repo, client, remote)
    client.stop()
    code, err = _up(layout)
    assert code == ENVIRONMENT, err
    assert "host 'box'" in err and "unreachable" in err
    _nothing_created(repo, remote)


def test_a_remote_repository_of_another_history_is_named(
        repo: Path, client: SshServer) -> None:
    other = client.home / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    code, err = _up(_layout(repo, client, other))
    assert code == ENVIRONMENT, err
    assert f"host 'box' ({client.alias}): {other} is not a clone of this repository" in err
    _nothing_created(repo, None)


def test_a_host_without_tmux_is_named_with_what_is_missing(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir()
    for tool in ("git", "base64", "python3"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    with sshd_server(tmp_path / "bare", remote_path=str(bin_dir)) as server:
        _use(server, monkeypatch)
        remote = _clone(repo, server)
        try:
            code, err = _up(_layout(repo, server, remote))
        finally:
            _end_masters(server)
    assert code == ENVIRONMENT, err
    assert "host 'box'" in err and "tmux is not installed" in err
    _nothing_created(repo, remote)


def test_ssh_missing_and_an_unknown_host_name(repo: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    layout = write_layout(repo, [{"name": "there", "command": "true", "host": "box"}],
                          hosts={"box": {"ssh": "me@box", "repo": "/srv/shop"}})
    monkeypatch.setenv("AGENTMUX_SSH", "/nonexistent/ssh")
    code, err = _up(layout)
    assert code == ENVIRONMENT, err
    assert "/nonexistent/ssh is not installed or not on PATH" in err
    _nothing_created(repo, None)
    layout = write_layout(repo, [{"name": "there", "command": "true", "host": "bxo"}],
                          name="bad.toml", hosts={"box": {"ssh": "me@box", "repo": "/srv/s"}})
    code, err = _up(layout)
    assert code == BAD_INPUT, err
    assert "pane[1].host: no [hosts.bxo] in this layout (hosts: box)" in err
    _nothing_created(repo, None)
