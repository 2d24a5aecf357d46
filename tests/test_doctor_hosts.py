"""`agentmux doctor LAYOUT`: one block per declared host, against Debian's real sshd.

One sshd serves the module (a second one, started once too, is the host whose PATH lacks
tmux and python3). The ssh client reaches them through AGENTMUX_SSH (`ssh -F CONFIG`), as a
user's own ssh config would; masters live in the server's private ControlPath folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.errors import BAD_INPUT, ENVIRONMENT

from .conftest import run_cli
from .helpers import write_layout
from .sshd import SshServer, _exit_master, sshd_server

CHECKS = ["ssh", "tmux", "git", "python3", "repo", "history"]


def _serve(tmp_path_factory: pytest.TempPathFactory, name: str,
           remote_path: str | None = None) -> Iterator[SshServer]:
    root = tmp_path_factory.mktemp(name)
    kw = {"remote_path": remote_path} if remote_path else {}
    with sshd_server(root / "sshd", **kw) as server:
        yield server
        _end_masters(server)


def _end_masters(server: SshServer) -> None:
    for sock in (server.control_dir / "agentmux").glob("*"):
        _exit_master(sock, server.alias)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    yield from _serve(tmp_path_factory, "good")


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A host whose ssh sessions find git but neither tmux nor python3."""
    bin_dir = tmp_path_factory.mktemp("bare-bin")
    for tool in ("git", "base64"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    yield from _serve(tmp_path_factory, "bare", str(bin_dir))


def _use(server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMUX_SSH", " ".join(server.ssh))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(server.control_dir))


def _clone(repo: Path, server: SshServer, name: str) -> Path:
    dest = server.home / name
    subprocess.run(["git", "clone", "-q", str(repo), str(dest)], check=True)
    return dest


def _layout(repo: Path, hosts: dict[str, dict[str, str]], name: str = "hosts.toml") -> Path:
    return write_layout(repo, [{"name": "here", "command": "true"}], name=name, hosts=hosts)


def _doctor(layout: Path, process: bool = False) -> tuple[int, dict[str, dict[str, str]], str]:
    """doctor's exit code, each host's lines by check, and its last line. In this process
    (the same `main`) unless asked: it saves a Python start and the imports, about a second
    a call on a busy machine; the good host's test runs it as a user does."""
    r = run_cli("doctor", str(layout), cwd=layout.parent, process=process)
    assert not r.err, r.err
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in r.out.splitlines():
        if line.startswith("host '"):
            current = blocks.setdefault(line.split("'")[1], {})
        elif line.startswith("  "):
            status, _, rest = line.strip().partition(" ")
            check, _, detail = rest.strip().partition(": ")
            current[check] = f"{status} {detail}"
    for name, lines in blocks.items():
        assert list(lines) == CHECKS, (name, r.out)
    return r.code, blocks, r.out.splitlines()[-1]


def _status(lines: dict[str, str]) -> list[str]:
    return [lines[c].split(" ")[0] for c in CHECKS]


def test_a_good_host_is_all_ok_and_doctor_exits_0(
        repo: Path, server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(server, monkeypatch)
    remote = _clone(repo, server, "good")
    code, blocks, last = _doctor(_layout(repo, {"box": {"ssh": server.alias,
                                                         "repo": str(remote)}}), process=True)
    assert (code, last) == (0, "healthy"), blocks
    box = blocks["box"]
    assert _status(box) == ["ok"] * 6, box
    assert box["tmux"].startswith("ok /") and "(tmux 3." in box["tmux"]
    assert box["python3"].startswith("ok /") and "(3." in box["python3"]
    assert box["history"] == "ok holds this repository's root commits"


def test_a_host_without_tmux_and_python3_on_its_path_exits_4(
        repo: Path, bare: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(bare, monkeypatch)
    remote = _clone(repo, bare, "clone")
    code, blocks, last = _doctor(_layout(repo, {"bare": {"ssh": bare.alias,
                                                          "repo": str(remote)}}))
    assert code == ENVIRONMENT, blocks
    lines = blocks["bare"]
    assert _status(lines) == ["ok", "problem", "ok", "problem", "ok", "ok"], lines
    assert lines["tmux"].startswith("problem tmux is not installed (not on the PATH of ssh "
                                    "sessions); repair: install tmux 3.2 or newer on the host")
    assert lines["python3"].startswith("problem python3 is not installed")
    assert f"-F {bare.ssh_config} box command -v python3` must find it" in lines["python3"]
    assert last == "2 problems found"


def test_a_clone_of_another_history_and_a_missing_clone(
        repo: Path, server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(server, monkeypatch)
    other = server.home / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    missing = server.home / "missing"
    code, blocks, last = _doctor(_layout(repo, {
        "other": {"ssh": server.alias, "repo": str(other)},
        "gone": {"ssh": server.alias, "repo": str(missing)}}))
    assert code == ENVIRONMENT, blocks
    assert _status(blocks["other"]) == ["ok"] * 5 + ["problem"], blocks
    assert blocks["other"]["history"].startswith(
        f"problem {other} is not a clone of this repository (it has none of its root commits")
    assert "fetch --unshallow" in blocks["other"]["history"]
    assert _status(blocks["gone"]) == ["ok"] * 4 + ["problem", "unknown"], blocks
    assert blocks["gone"]["repo"].startswith(f"problem {missing} is not a git repository")
    assert f"box git clone URL-OF-THIS-REPOSITORY {missing}`" in blocks["gone"]["repo"]
    assert last == "2 problems found, 1 check unknown"


def test_an_unreachable_host_is_an_ssh_problem_and_the_rest_unknown(
        repo: Path, server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(server, monkeypatch)
    with socket.socket() as held:   # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        user = pwd.getpwuid(os.getuid()).pw_name
        code, blocks, last = _doctor(_layout(repo, {
            "dead": {"ssh": f"ssh://{user}@127.0.0.1:{port}", "repo": "/srv/shop"}}))
    assert code == ENVIRONMENT, blocks
    dead = blocks["dead"]
    assert _status(dead) == ["problem"] + ["unknown"] * 5, dead
    assert "Connection refused" in dead["ssh"], dead
    assert "check that the host is up and its sshd accepts connections" in dead["ssh"]
    assert dead["tmux"] == "unknown not looked at: the host was not reached"
    assert last == "1 problem found, 5 checks unknown"


def test_a_bad_layout_exits_2_in_validates_words_and_connects_nowhere(
        repo: Path, server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(server, monkeypatch)
    _end_masters(server)   # so that any call would be a new connection: a login in the log
    accepted = server.accepted()
    layout = write_layout(repo, [{"name": "there", "command": "true", "host": "bxo"}],
                          name="bad.toml", hosts={"box": {"ssh": server.alias,
                                                          "repo": "/srv/shop"}})
    r = run_cli("doctor", "--fix", str(layout), cwd=repo, process=False)
    assert (r.code, r.out) == (BAD_INPUT, ""), r.err
    assert "pane[1].host: no [hosts.bxo] in this layout (hosts: box)" in r.err
    assert r.err == run_cli("validate", str(layout), cwd=repo).err
    assert server.accepted() == accepted
    assert not (server.control_dir / "agentmux").exists() or not any(
        (server.control_dir / "agentmux").iterdir())
    assert not (repo / ".agentmux").exists()
