"""scripts/fake-agent: the stand-in agent the tests and the demo depend on."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import git, wait_until


def fake(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # By name, from PATH, as a layout's command would call it.
    return subprocess.run(["fake-agent", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=30, check=False)


def test_steps_run_in_the_order_given(tmp_path: Path) -> None:
    p = fake("--print", "one", "--write", "a/b/x.txt=first", "--append", "a/b/x.txt=second",
             "--print", "two", "--write-lines", "n.txt=3", "--exit", "0", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ("one\nfake-agent: writing a/b/x.txt\nfake-agent: appending to a/b/x.txt\n"
                        "two\nfake-agent: writing 3 lines to n.txt\nfake-agent: exiting 0\n")
    assert (tmp_path / "a/b/x.txt").read_text() == "first\nsecond\n"
    assert (tmp_path / "n.txt").read_text() == "line 1\nline 2\nline 3\n"


def test_write_takes_text_literally(tmp_path: Path) -> None:
    assert fake("--write=f=a=b\\n$HOME", cwd=tmp_path).returncode == 0
    assert (tmp_path / "f").read_text() == "a=b\\n$HOME\n"


def test_exit_after_a_step_stops_the_rest(tmp_path: Path) -> None:
    p = fake("--exit", "3", "--write", "never=1", cwd=tmp_path)
    assert p.returncode == 3
    assert not (tmp_path / "never").exists()


def test_lines(tmp_path: Path) -> None:
    p = fake("--lines", "2500", "--exit", "7", cwd=tmp_path)
    assert p.returncode == 7
    assert p.stdout.splitlines()[:-1] == [f"fake-agent line {i}" for i in range(1, 2501)]


def test_commit(repo: Path) -> None:
    p = fake("--write", "src/new.py=x = 1", "--commit", "agent: add new.py", cwd=repo)
    assert p.returncode == 0, p.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "agent: add new.py"
    assert git(repo, "status", "--porcelain") == ""


def test_commit_outside_a_repository_fails(tmp_path: Path) -> None:
    p = fake("--commit", "nothing", "--print", "after", cwd=tmp_path)
    assert p.returncode == 1
    assert "git add failed" in p.stderr and "after" not in p.stdout


def test_wait_input(tmp_path: Path) -> None:
    p = fake("--wait-input", "name? ", "--print", "done", cwd=tmp_path, stdin="Ada\nrest\n")
    assert (p.returncode, p.stdout) == (0, "name? got: Ada\ndone\n")


def test_echo_task_is_byte_for_byte(tmp_path: Path) -> None:
    task = "x; $(id) `id` #{pane_id} 'q' \"d\"\nC-c é"
    p = fake("--task", "older", "--task", task, "--echo-task", "t1", "--echo-task", "t2",
             "--task", "later", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "t1").read_bytes() == task.encode()
    assert (tmp_path / "t2").read_bytes() == task.encode()


def test_echo_task_before_task_uses_the_task_after(tmp_path: Path) -> None:
    assert fake("--echo-task", "t", "--task", "fix it", cwd=tmp_path).returncode == 0
    assert (tmp_path / "t").read_bytes() == b"fix it"


@pytest.mark.parametrize(("name", "sig"), [("TERM", signal.SIGTERM), ("SIGTERM", signal.SIGTERM),
                                           ("KILL", signal.SIGKILL), ("2", signal.SIGINT),
                                           ("hup", signal.SIGHUP)])
def test_signal(tmp_path: Path, name: str, sig: int) -> None:
    assert fake("--signal", name, cwd=tmp_path).returncode == -sig


def test_sigint_kills_it_unless_ignored(tmp_path: Path) -> None:
    for extra, expected in (([], -signal.SIGINT), (["--ignore-sigint"], 0)):
        marker = tmp_path / f"ready{len(extra)}"
        proc = subprocess.Popen(["fake-agent", *extra, "--write", f"{marker}=1",
                                 "--wait-input", "?"], cwd=tmp_path, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)
        try:
            wait_until(marker.exists, 20, "fake-agent to start")
            proc.send_signal(signal.SIGINT)
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
            assert proc.wait(timeout=20) == expected
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "fake-agent: unknown option '--bogus' (see --help)\n"),
    (["--exit"], "fake-agent: --exit: missing value\n"),
    (["--exit", "three"], "fake-agent: --exit: expected a whole number, got 'three'\n"),
    (["--sleep", "soon"], "fake-agent: --sleep: expected seconds, got 'soon'\n"),
    (["--write", "noequals"], "fake-agent: --write: expected PATH=VALUE, got 'noequals'\n"),
    (["--signal", "NOPE"], "fake-agent: --signal: unknown signal 'NOPE'\n"),
    (["--echo-task", "t"], "fake-agent: --echo-task: no --task given\n"),
])
def test_bad_command_line_exits_2_before_any_step(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    p = fake("--write", "first=1", *args, cwd=tmp_path)
    assert (p.returncode, p.stderr, p.stdout) == (2, message, "")
    assert not (tmp_path / "first").exists()


def test_help(tmp_path: Path) -> None:
    p = fake("--help", cwd=tmp_path)
    assert p.returncode == 0 and "--write PATH=TEXT" in p.stdout
