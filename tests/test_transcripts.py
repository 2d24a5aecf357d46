"""Transcripts through the real path: agents in tmux panes, capture.py bounding their raw
logs, the watcher and `down` rendering them, and `logs` reading them (rendered, raw, to a
terminal or a pipe, followed)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

from agentmux import capture, ledger

from .conftest import run_cli, wait_until
from .helpers import latest_run, up, wait_states, write_layout

SOCK = "amx"
GOLDEN = Path(__file__).resolve().parent / "golden"
FAKE_TUI = Path(__file__).resolve().parent.parent / "scripts" / "fake-tui"
ESCAPE_FRAGMENT = re.compile(r"\x1b|\[[0-9;?]*[A-Za-z]|\[[0-9]+;[0-9;]*m")

# A program like Claude Code or Gemini CLI (Ink) at `down`: its answer is the region it
# redraws below its static lines, and SIGINT makes it erase that region and print one line.
CLEARS_ON_EXIT = r"""
import signal, sys, time
def bye(*_):
    sys.stdout.write("\x1b[6A\r\x1b[JContinue with: app -s ses_1\r\n")
    sys.stdout.flush()
    sys.exit(0)
signal.signal(signal.SIGINT, bye)
sys.stdout.write("static: the plan, step one\r\n")
for i in range(5):
    sys.stdout.write(f"chat line {i}: the answer is {i * 7}\r\n")
sys.stdout.write("\r\n> your reply")
sys.stdout.flush()
time.sleep(120)  # poll: the agent idles at its prompt until stopped
"""


def _drain(fd: int, into: list[bytes]) -> None:
    """Read a pty's main side until its other side is closed (a full pty blocks the writer)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the last writer closed its side
            return
        if not data:
            return
        into.append(data)


def _run_dir(repo: Path) -> ledger.RunDir:
    return ledger.RunDir(latest_run(repo))


def test_down_keeps_the_last_screen_that_the_program_wipes_as_it_exits(
        repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "clears.py"
    script.write_text(CLEARS_ON_EXIT)
    layout = write_layout(repo, [{"name": "chat", "command": f"{sys.executable} {script}"}])
    up(layout, SOCK)
    run_dir = _run_dir(repo)
    wait_until(lambda: b"your reply" in b"".join(capture.read_raw(str(run_dir.output("chat")))),
               10, "the chat on screen")
    assert run_cli("--socket", SOCK, "down", "--grace", "2", cwd=repo).code == 0
    meta = json.loads((run_dir.pane_dir("chat") / "transcript.json").read_text())
    assert meta["stop_at"] and (meta["width"], meta["height"]) == (200, 50)
    r = run_cli("--socket", SOCK, "logs", "chat", cwd=repo)
    assert r.code == 0, r.err
    for i in range(5):
        assert f"chat line {i}: the answer is {i * 7}" in r.out
    assert "static: the plan, step one" in r.out and "> your reply" in r.out
    assert not ESCAPE_FRAGMENT.search(r.out), r.out
    # Rendered again from the log, the end alone is poorer: the kept transcript stays.
    kept = run_dir.transcript("chat").read_text()
    (run_dir.pane_dir("chat") / "transcript.json").unlink()
    assert run_cli("--socket", SOCK, "logs", "chat", cwd=repo).out == kept
    # Without the mark `down` made, the answer would be gone: the end shows only this.
    (run_dir.pane_dir("chat") / "transcript.json").unlink()
    run_dir.transcript("chat").unlink()
    end = run_cli("--socket", SOCK, "logs", "chat", cwd=repo).out
    assert end == "static: the plan, step one\nContinue with: app -s ses_1\n"


def test_logs_raw_refuses_a_terminal_and_pipes_the_bounded_log_unchanged(
        repo: Path, tmp_path: Path) -> None:
    # 300 KB through a 64 KiB bound: the head, the dropped-bytes marker, a rolling tail.
    script = tmp_path / "big.py"
    script.write_text("import sys\nfor i in range(5000):\n    sys.stdout.write("
                      "f'\\x1b[3{i % 8}mline {i:06d}\\x1b[0m ' + 'x' * 40 + '\\r\\n')\n")
    layout = write_layout(repo, [{"name": "big", "command": f"{sys.executable} {script}"}],
                          max_output="64KiB")
    up(layout, SOCK)
    wait_states(repo, SOCK, {"big": "done"})
    log = str(_run_dir(repo).output("big"))
    wait_until(lambda: b"line 004999" in capture.read_tail(log, 4096), 10, "the last line")
    # The runner's bell as it exits may still be on its way: the log keeps still first.
    seen: list[bytes] = [b""]

    def still() -> bool:
        now = b"".join(capture.read_raw(log))
        same, seen[0] = now == seen[0], now
        return same

    wait_until(still, 10, "the log to keep still", interval=0.3)
    assert capture.raw_size(log) < 70_000 and len(capture.segments(log)) == 2
    stitched = seen[0]
    assert b"bytes dropped here]" in stitched
    argv = [sys.executable, "-m", "agentmux", "--socket", SOCK, "logs", "--raw", "big"]
    piped = subprocess.run(argv, cwd=repo, capture_output=True, timeout=30, check=False)
    assert piped.returncode == 0 and piped.stdout == stitched
    # To a terminal: refused, with the way to pipe it; --force writes it there.
    for extra, code in (([], 3), (["--force"], 0)):
        main, sub = pty.openpty()
        drained: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(main, drained), daemon=True)
        reader.start()
        try:
            p = subprocess.run([*argv, *extra], cwd=repo, stdout=sub, stderr=subprocess.PIPE,
                               text=True, timeout=30, check=False)
        finally:
            os.close(sub)
            reader.join(10)
            os.close(main)
        assert p.returncode == code, p.stderr
        assert (b"line 004999" in b"".join(drained)) == (code == 0)
        assert ("agentmux logs big --raw | less -R" in p.stderr) == (code == 3), p.stderr
    rendered = run_cli("--socket", SOCK, "logs", "big", cwd=repo).out
    assert "line 000000" in rendered and "line 004999" in rendered
    assert "bytes dropped here]" in rendered and "\x1b" not in rendered


def test_logs_follow_renders_a_full_screen_program(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "tui", "command": f"{sys.executable} {FAKE_TUI} "
                                  "--spins 50 --delay 0.02"}])
    up(layout, SOCK)
    p = subprocess.run([sys.executable, "-m", "agentmux", "--socket", SOCK, "logs", "-f", "tui"],
                       cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert "Welcome to Fake TUI, the test agent" in p.stdout
    assert "› 2. Sign in with a device code" in p.stdout
    assert "bye" in p.stdout.splitlines()[-1]
    assert not ESCAPE_FRAGMENT.search(p.stdout), p.stdout


def test_a_waiting_menu_names_its_keys_and_review_reads_rendered_lines(
        repo: Path, tmp_path: Path) -> None:
    # A stand-in `codex` that draws the real CLI's offline sign-in menu, byte for byte (with
    # no echo, as the real one: tmux answers its terminal queries on its input).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "codex").write_text(
        f"#!/bin/sh\nstty -echo\ncat {GOLDEN / 'codex-signin-menu.raw'}\nexec sleep 60\n")
    (bin_dir / "codex").chmod(0o755)
    layout = write_layout(repo, [{"name": "cx", "agent": "codex", "task": "say hi"}],
                          poll_interval=0.2)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo,
                env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert r.code == 0, r.err
    wait_states(repo, SOCK, {"cx": "waiting"})
    st = json.loads(run_cli("--socket", SOCK, "status", "--json", cwd=repo).out)
    assert st["panes"][0]["keys"] == ["1", "2", "3", "Up", "Down", "Enter"]
    table = run_cli("--socket", SOCK, "status", cwd=repo).out
    assert "waiting (sign-in; keys: 1 2 3 Up Down Enter)" in table
    tail = json.loads(run_cli("--socket", SOCK, "review", "--json", cwd=repo).out)["panes"][0]
    assert "Press enter to continue" in tail["tail"][-1]
    text = "\n".join(tail["tail"])
    assert "> 1. Sign in with ChatGPT" in text and not ESCAPE_FRAGMENT.search(text)
    # The whole transcript, live: the words the old stripped text ran together.
    live = run_cli("--socket", SOCK, "logs", "cx", cwd=repo).out
    assert "Welcome to Codex, OpenAI's command-line coding agent" in live
