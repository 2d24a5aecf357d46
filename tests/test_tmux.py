"""agentmux.tmux against real tmux servers from libtmux's pytest plugin (`server`, `TestServer`).

The autouse fixture has already pointed HOME and TMUX_TMPDIR at temporary folders, so these
servers read no ~/.tmux.conf and live beside no real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libtmux
import pytest

from agentmux import tmux as tmux_mod
from agentmux.errors import EnvironmentProblem
from agentmux.tmux import Launch, Tmux, Window, check_version

from .conftest import wait_until
from .helpers import count_tmux


def dead_panes(tm: Tmux, session: str, names: set[str]) -> dict[str, tmux_mod.PaneObs]:
    def ended() -> dict[str, tmux_mod.PaneObs] | None:
        got = {p.name: p for p in tm.panes(session) or [] if p.name in names}
        return got if set(got) == names and all(p.dead for p in got.values()) else None

    result = wait_until(ended, 20, f"panes {sorted(names)} to end")
    assert isinstance(result, dict)
    return result


def test_build_is_one_tmux_process_that_arms_every_pane(
    server: libtmux.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder and a log path that tmux would expand or split on if they were not escaped.
    odd = tmp_path / "a #{pane_id} b;"
    odd.mkdir()
    script = "printf 'out:%s\\n' \"$PWD\"; exit 3"
    windows = [
        Window("w #1", [Launch("fast", ["sh", "-c", script], odd, odd / "fast #.log"),
                        Launch("second", ["sh", "-c", "exit 0"], odd, odd / "second.log")]),
        Window("w2", [Launch("third", ["sh", "-c", "kill -TERM $$"], odd, odd / "third.log")]),
    ]
    tm = Tmux(server.socket_name)
    calls = count_tmux(tmp_path, monkeypatch)
    ids = tm.build("s", "run-1", tmp_path, ["sleep", "60"], windows, (200, 50), "wake-s")
    assert len(calls()) == 1, calls()
    assert list(ids) == ["fast", "second", "third"]

    ended = dead_panes(tm, "s", {"fast", "second", "third"})
    # remain-on-exit was on before each program could end: its status is kept.
    assert (ended["fast"].dead_status, ended["second"].dead_status) == (3, 0)
    assert ended["third"].dead_signal == 15
    assert {p.pane_id for p in ended.values()} == set(ids.values())
    # pipe-pane was armed before the first byte: the log holds it; the folder was literal.
    wait_until(lambda: (odd / "fast #.log").exists()
               and f"out:{odd}" in (odd / "fast #.log").read_text(), 10, "the fast log")
    # The tags and hooks, read back through libtmux's own objects.
    session = server.sessions.get(session_name="s")
    assert session is not None
    assert [w.window_name for w in session.windows] == ["agentmux", "w #1", "w2"]
    pane = next(p for p in session.panes if p.pane_id == ids["fast"])
    assert pane.cmd("show-options", "-pv", "@agentmux_run").stdout == ["run-1"]
    for w in session.windows[1:]:
        hooks = w.cmd("show-hooks", "-w").stdout
        assert any("pane-died" in h and "wait-for -S wake-s" in h for h in hooks), hooks


def test_a_chain_too_long_for_one_message_is_split_between_panes(
    server: libtmux.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tmux_mod, "CHAIN_BYTES", 900)
    windows = [Window(f"w{w}", [Launch(f"p{w}{i}", ["sleep", "60"], tmp_path,
                                       tmp_path / f"p{w}{i}.log") for i in range(3)])
               for w in range(2)]
    tm = Tmux(server.socket_name)
    calls = count_tmux(tmp_path, monkeypatch)
    ids = tm.build("s", "run-1", tmp_path, ["sleep", "60"], windows, (200, 50), "wake-s")
    assert len(calls()) > 2, calls()  # it really was split
    listed = {p.name: p for p in tm.panes("s") or []}
    assert {n: listed[n].pane_id for n in ids} == ids
    # A pane continued in a later chain still joins its own window.
    for w in range(2):
        assert len({listed[f"p{w}{i}"].window_id for i in range(3)}) == 1
    assert listed["p00"].window_id != listed["p10"].window_id


def test_sessions_are_targeted_exactly_never_by_prefix(server: libtmux.Server) -> None:
    tm = Tmux(server.socket_name)
    server.new_session("agent-foobar", window_command="sleep 60")
    server.cmd("set", "-p", "-t", "=agent-foobar:", "@agentmux_run", "run-2")
    assert tm.session_has_run("agent-foobar", "run-2")
    assert not tm.session_has_run("agent-foo", "run-2")
    assert not tm.has_session("agent-foo")
    assert not tm.kill_session("agent-foo")
    assert not tm.kill_session_of_run("agent-foobar", "run-1")  # not tagged with that run
    assert tm.has_session("agent-foobar")
    assert tm.panes("agent-foo") is None
    assert tm.kill_session("agent-foobar") and not tm.has_session("agent-foobar")


def test_server_is_this_socket_even_when_tmux_names_another(
    TestServer: type[libtmux.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs, ours = TestServer(), TestServer()
    theirs.new_session("theirs", window_command="sleep 60")
    path = theirs.cmd("display-message", "-p", "#{socket_path},#{pid},0").stdout[0]
    monkeypatch.setenv("TMUX", path)
    assert ours.socket_name is not None
    tm = Tmux(ours.socket_name)
    tm.run("new-session", "-d", "-s", "ours", "sleep 60")
    assert tm.has_session("ours") and not tm.has_session("theirs")
    assert [s.session_name for s in theirs.sessions] == ["theirs"]
    assert os.environ["TMUX"] == path  # put back after each call


def test_a_new_server_gets_no_leaked_git_or_tmux_variables(
    server: libtmux.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", "/nowhere/.git")
    monkeypatch.setenv("TMUX", "/tmp/another-server,1,0")
    tm = Tmux(server.socket_name)
    tm.run("new-session", "-d", "-s", "s", "sleep 60")
    glob = server.cmd("show-environment", "-g").stdout
    assert not [v for v in glob if v.startswith(("GIT_DIR=", "TMUX="))], glob
    # The same for libtmux's own objects made from the Tmux's server.
    lib = tm.lib_server()
    assert lib.has_session("s")
    assert os.environ["GIT_DIR"] == "/nowhere/.git"


def test_capture_and_screen_of_a_gone_pane_are_none(server: libtmux.Server) -> None:
    tm = Tmux(server.socket_name)
    session = server.new_session("s", window_command="printf 'one\\ntwo\\n'; sleep 60")
    pane = session.active_pane
    assert pane is not None and pane.pane_id is not None
    wait_until(lambda: "two" in (tm.capture(str(pane.pane_id)) or ""), 10, "output")
    assert (tm.capture(pane.pane_id) or "").endswith("one\ntwo\n")
    assert "two" in (tm.screen(pane.pane_id) or "")
    session.kill()
    assert tm.capture(pane.pane_id) is None and tm.screen(pane.pane_id) is None


def test_version_check_and_a_missing_tmux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    assert check_version() >= (3, 2)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tmux here
    with pytest.raises(EnvironmentProblem) as got:
        check_version()
    assert got.value.exit_code == 4
    with pytest.raises(EnvironmentProblem, match="tmux is not installed"):
        Tmux("amx-none").has_session("s")
    (tmp_path / "tmux").write_text("#!/bin/sh\necho 'tmux 3.1a'\n")
    (tmp_path / "tmux").chmod(0o755)
    with pytest.raises(EnvironmentProblem, match=r"^tmux 3\.1a is too old"):
        check_version()


def test_commands_that_never_talk_to_tmux_do_not_import_libtmux() -> None:
    for args in (["status", "--help"], ["validate", "--help"], ["--version"]):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentmux", *args],
                           capture_output=True, text=True, check=False)
        assert p.returncode == 0, p.stderr
        assert " libtmux" not in p.stderr, args
