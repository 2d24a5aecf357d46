"""The SSH transport against Debian's real sshd on 127.0.0.1 (tests/sshd.py)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentmux.errors import BAD_INPUT, ENVIRONMENT, BadInput, EnvironmentProblem
from agentmux.hosts import (
    Host,
    HostUnreachable,
    Transport,
    UnknownHost,
    lookup,
    remote_command,
)
from agentmux.hosts_tick import Cursor, tick
from tests.sshd import SshServer, sshd_fixture, sshd_server

sshd = sshd_fixture()

HOSTILE = ["a;b", "$(id)", "`id`", "it's", 'say "hi"', "back\\slash", "two\\\\", "end\\",
           "q\\'x", "new\nline", "!bang", "=x", "%self", "~", "*", "{a,b}", "#{pane_id}",
           "tab\there", "é ü", "-n", "", "  spaced  "]
# What quoting alone must carry (no backslash, newline or `!`, which are sent encoded).
PLAIN_HOSTILE = ["=x", "%self", "a;b", "$(id)", "it's", 'say "hi"', "~", "*", "#{pane_id}", "",
                 "a=b", "-n"]
PRINT_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"
FIELDS = ("pane_id", "@agentmux_pane", "pane_dead")


def until(cond: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # poll: the deadline loop above
    return True


def git_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def transport(server: SshServer, repo: Path | str = "/nonexistent", name: str = "box",
              ssh: list[str] | None = None, connect_timeout: int = 5) -> Transport:
    return Transport(Host(name, server.alias, str(repo)), ssh=ssh or server.ssh,
                     control=server.control_dir, connect_timeout=connect_timeout)


@pytest.mark.parametrize("words", [HOSTILE, PLAIN_HOSTILE], ids=["encoded", "quoted"])
@pytest.mark.parametrize("shell", ["sh", "bash", "zsh", "fish"])
def test_remote_command_reads_back_as_the_same_argv_in_every_login_shell(
        shell: str, words: list[str]) -> None:
    # sshd hands the command line to the user's login shell: `shell -c LINE` is that step.
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    line = remote_command([sys.executable, "-c", PRINT_ARGV, *words])
    assert line.startswith("/bin/sh -c 'eval") == (words is HOSTILE)
    p = subprocess.run([shell, "-c", line], capture_output=True, text=True, check=False)
    assert (p.returncode, p.stderr) == (0, "")
    assert json.loads(p.stdout) == words


def test_plain_commands_stay_readable() -> None:
    assert remote_command(["tmux", "-L", "amx", "list-panes", "-a", "-F", "#{pane_id}"]) == (
        "tmux -L amx list-panes -a -F '#{pane_id}'")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Box"}, "hosts.Box: host names are lowercase letters, digits, '-' and '_'"),
    ({"ssh": "-oProxyCommand=id"}, "hosts.box.ssh: expected a destination such as "
     "'me@build-box' or an alias from ~/.ssh/config; got '-oProxyCommand=id'"),
    ({"ssh": "me@box extra"}, "hosts.box.ssh: expected a destination such as 'me@build-box' "
     "or an alias from ~/.ssh/config; got 'me@box extra'"),
    ({"repo": "src/shop"}, "hosts.box.repo: expected an absolute path on the host; "
     "got 'src/shop'"),
    ({"env": {"A-B": "1"}}, "hosts.box.env: 'A-B' is not a variable name"),
    ({"max_running": 0}, "hosts.box.max_running: expected 1 or more; got 0"),
])
def test_host_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"name": "box", "ssh": "me@box", "repo": "/srv/shop", **kwargs}
    with pytest.raises(BadInput) as e:
        Host(**fields)  # type: ignore[arg-type]  # deliberately loose, as a layout could be
    assert str(e.value) == message


def test_check_reports_a_healthy_host_in_one_login(sshd: SshServer) -> None:
    repo = git_repo(sshd.home / "shop")
    report = transport(sshd, repo).check()
    assert report.problems == ()
    assert report.repo_top == str(repo)
    assert set(report.tools) == {"tmux", "git", "python3"}
    assert all(report.tools.values())
    # The remote side has its own HOME, not the password file's.
    assert report.home == str(sshd.home)
    assert sshd.accepted() == 1
    report.raise_for_problems()


def test_check_names_the_host_and_everything_missing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir()
    for tool in ("git", "base64"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    old = bin_dir / "python3"
    old.write_text("#!/bin/sh\necho 3.9.2\n")
    old.chmod(0o755)
    with sshd_server(tmp_path / "bare", remote_path=str(bin_dir)) as server:
        plain = server.home / "plain"
        plain.mkdir()
        report = transport(server, plain, name="bare").check()
    assert report.tools["tmux"] is None
    with pytest.raises(EnvironmentProblem) as e:
        report.raise_for_problems()
    assert e.value.exit_code == ENVIRONMENT
    assert str(e.value) == (
        "host 'bare' (box): tmux is not installed (not on the PATH of ssh sessions); "
        "python3 is 3.9.2; agentmux needs 3.11 or newer; "
        f"{plain} is not a git repository (not a git repository (or any of the parent "
        "directories): .git)")


def test_unknown_host_names_and_destinations_are_bad_input(tmp_path: Path) -> None:
    hosts = {"box": Host("box", "me@box", "/srv/shop")}
    with pytest.raises(UnknownHost) as e:
        lookup(hosts, "bxo")
    assert (e.value.exit_code, str(e.value)) == (
        BAD_INPUT, "unknown host 'bxo' (declared: box); did you mean 'box'?")
    # A network namespace of its own: the failed lookup sends no packet anywhere.
    if subprocess.run(["unshare", "-rn", "true"], check=False).returncode != 0:
        pytest.skip("unshare -rn is not permitted here")
    far = Transport(Host("far", "nosuch-box", "/srv/shop"),
                    ssh=["unshare", "-rn", "ssh", "-F", "/dev/null"],
                    control=Path(os.environ["TMUX_TMPDIR"]))
    with pytest.raises(UnknownHost) as e2:
        far.check()
    assert e2.value.exit_code == BAD_INPUT
    assert str(e2.value).startswith(
        "host 'far': ssh cannot resolve 'nosuch-box' (neither a Host in your ssh config nor a "
        "name the resolver knows): ssh: Could not resolve hostname nosuch-box")


def test_reachability_follows_the_server_and_the_master(sshd: SshServer) -> None:
    tr = transport(sshd)
    assert tr.is_reachable()
    sshd.stop()
    # The established master outlives the listener, as on a real host whose sshd restarts.
    assert tr.is_reachable()
    assert tr.exit_master()
    assert not tr.is_reachable()
    with pytest.raises(HostUnreachable) as e:
        tr.run(["true"])
    assert e.value.exit_code == ENVIRONMENT
    assert str(e.value).startswith("host 'box' (box) is unreachable: ssh: connect to host "
                                   "127.0.0.1 port")
    assert str(e.value).endswith("Connection refused")
    sshd.restart()
    assert tr.is_reachable()
    # A command that fails is not an unreachable host, even when it exits 255 like ssh.
    assert tr.run(["sh", "-c", "exit 255"]).returncode == 255
    assert tr.run(["sh", "-c", "exit 7"]).returncode == 7


def test_a_refused_key_is_an_environment_problem_that_says_why(sshd: SshServer) -> None:
    keys = sshd.root / "authorized_keys"
    kept = keys.read_text()
    keys.write_text("")
    with pytest.raises(HostUnreachable) as e:
        transport(sshd).check()
    assert e.value.exit_code == ENVIRONMENT
    user = pwd.getpwuid(os.getuid()).pw_name
    assert str(e.value) == (
        f"host 'box' (box) is unreachable: {user}@127.0.0.1: Permission denied (publickey). "
        "(agentmux runs ssh in BatchMode: it never asks for a password; use a key or ssh-agent)")
    keys.write_text(kept)
    assert transport(sshd).is_reachable()


def test_a_host_that_stops_answering_times_out_and_drops_its_master(sshd: SshServer) -> None:
    tr = transport(sshd, connect_timeout=1)
    assert tr.is_reachable()
    sshd.freeze()
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match="no answer within 1 s"):
        tr.run(["true"], timeout=1.0)
    # The hung master was ended, so the next call connects afresh under ConnectTimeout.
    assert not tr.master_alive()
    assert not tr.is_reachable()
    assert time.monotonic() - started < 6.0
    sshd.thaw()
    # A fresh login may take longer than 1 s on a busy machine: not what this test is about.
    assert transport(sshd).is_reachable()


def test_run_passes_hostile_argv_and_input_byte_for_byte(sshd: SshServer) -> None:
    tr = transport(sshd)
    p = tr.run(["python3", "-c", PRINT_ARGV, *HOSTILE], check=True)
    assert json.loads(p.stdout) == HOSTILE
    text = "".join(HOSTILE) + "\nlast line without newline"
    assert tr.run(["cat"], input=text, check=True).stdout == text
    # Nothing ran in a shell: no file named by an injected command appeared.
    trap = f"$(touch {sshd.home}/pwned)"
    assert tr.run(["sh", "-c", 'printf %s "$1"', "sh", trap]).stdout == trap
    assert not (sshd.home / "pwned").exists()


def _write_status(run: Path, pane: str, data: dict[str, object]) -> None:
    folder = run / "panes" / pane
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "status.json.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, folder / "status.json")


def test_one_login_and_one_ssh_process_per_tick(sshd: SshServer, tmp_path: Path) -> None:
    calls = tmp_path / "ssh-calls"
    shim = tmp_path / "ssh-counting"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec ssh "$@"\n')
    shim.chmod(0o755)
    tr = transport(sshd, ssh=[str(shim), "-F", str(sshd.ssh_config)])
    run = sshd.home / "shop" / ".agentmux" / "runs" / "r1"
    for pane in ("a", "b", "c"):
        _write_status(run, pane, {"version": 1, "pid": 1})
    tr.run(["tmux", "-L", "amx", "new-session", "-d", "-s", "agents", "sleep 300", ";",
            "set", "-p", "@agentmux_pane", "a"], check=True)
    cursor, took = Cursor(), []
    for _ in range(10):
        before = calls.read_text().count("\n")
        started = time.monotonic()
        reply = tick(tr, str(run), cursor, fields=FIELDS, socket="amx")
        took.append(time.monotonic() - started)
        assert calls.read_text().count("\n") - before == 1
        cursor = reply.advance(cursor)
    assert sshd.accepted() == 1
    assert reply.panes is not None and [ln.split("\x1f")[1:] for ln in reply.panes] == [
        ["a", "0"]]
    # Unchanged status files are not sent again.
    assert reply.statuses == {}
    assert statistics.median(took) < 0.5


def test_a_remote_session_outlives_its_master_connection(sshd: SshServer) -> None:
    tr = transport(sshd)
    tr.run(["tmux", "-L", "amx", "new-session", "-d", "-s", "agents", "sleep 300"], check=True)
    fmt = "#{pid} #{pane_pid}"
    before = tr.run(["tmux", "-L", "amx", "display", "-p", "-t", "=agents:", fmt],
                    check=True).stdout
    assert tr.exit_master()
    assert not tr.master_alive()
    sshd.drop()  # and the server side of every connection, as when the laptop vanishes
    after = tr.run(["tmux", "-L", "amx", "display", "-p", "-t", "=agents:", fmt],
                   check=True).stdout
    assert after == before
    assert sshd.accepted() == 2
    # The host's tmux lives under the host's own TMUX_TMPDIR, never a real default server.
    assert [p.name for p in sshd.tmux_sockets()] == ["amx"]


def test_tick_catches_up_after_an_outage_without_loss_or_double_counting(
        sshd: SshServer) -> None:
    tr = transport(sshd)
    run = sshd.home / "shop" / ".agentmux" / "runs" / "r1"
    _write_status(run, "a", {"state": "working"})
    events = run / "events.jsonl"
    events.write_text('{"n": 1}\n{"n": 2}\n')

    reply = tick(tr, str(run), Cursor(), fields=FIELDS, socket="amx")
    assert reply.panes is None  # no tmux server on the host yet
    assert {k: json.loads(v) for k, v in reply.statuses.items()} == {"a": {"state": "working"}}
    seen = reply.logs["events.jsonl"].lines()
    cursor = reply.advance(Cursor())

    sshd.stop()
    tr.exit_master()
    with events.open("a") as f:
        f.write('{"n": 3}\n{"n": 4}\n{"n": ')  # the last one torn, as a writer killed midway
    _write_status(run, "a", {"state": "done"})
    with pytest.raises(HostUnreachable):
        tick(tr, str(run), cursor, fields=FIELDS, socket="amx")

    sshd.restart()
    reply = tick(tr, str(run), cursor, fields=FIELDS, socket="amx")
    seen += reply.logs["events.jsonl"].lines()
    assert {k: json.loads(v) for k, v in reply.statuses.items()} == {"a": {"state": "done"}}
    cursor = reply.advance(cursor)
    with events.open("a") as f:
        f.write('5}\n')
    (run / "panes" / "a" / "status.json").unlink()
    reply = tick(tr, str(run), cursor, fields=FIELDS, socket="amx")
    seen += reply.logs["events.jsonl"].lines()
    assert reply.gone == ("a",)
    cursor = reply.advance(cursor)
    assert [json.loads(line)["n"] for line in seen] == [1, 2, 3, 4, 5]
    assert cursor.offsets == {"events.jsonl": events.stat().st_size}
    assert cursor.stamps == {}


def test_attach_argv_attaches_a_terminal_to_the_remote_pane(sshd: SshServer) -> None:
    tr = transport(sshd)
    tr.run(["tmux", "-L", "amx", "new-session", "-d", "-s", "agents", "sleep 300", ";",
            "new-window", "sleep 300", ";", "split-window", "sleep 300", ";",
            "new-window", "sleep 300"], check=True)
    panes = tr.run(["tmux", "-L", "amx", "list-panes", "-s", "-t", "=agents", "-F",
                    "#{pane_id} #{pane_active}"], check=True).stdout.splitlines()
    # Neither in the current window nor the active pane of its own window.
    target = panes[1].split()[0]
    assert panes[1].endswith(" 0")
    # A local terminal: a pane of the test's own private tmux server runs the ssh client.
    subprocess.run(["tmux", "-L", "local", "new-session", "-d", "-x", "100", "-y", "30",
                    *tr.attach_argv("agents", target, socket="amx")], check=True)

    def attached() -> str:
        p = tr.run(["tmux", "-L", "amx", "list-clients", "-F", "#{client_session} #{pane_id}"])
        return p.stdout.strip()

    assert until(attached), "no client attached to the remote session"
    assert attached() == f"agents {target}"
