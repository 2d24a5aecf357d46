"""`logs`: the rendered transcript, the raw stream, and following a running agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import run_cli, wait_until
from .helpers import events, fake, up, wait_states, write_layout

SOCK = "amx"


def test_logs_transcript_raw_and_follow(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "done", "command": fake("--print", "\x1b[31mRED-LINE\x1b[0m", "--lines", "3")},
        {"name": "slow", "command": fake("--print", "FIRST", "--sleep", "2", "--print", "LAST")},
    ])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"done": "done"})
    wait_until(lambda: any(e["pane"] == "done" and e["state"] == "done" for e in events(repo)),
               10, "the transcript, captured with the terminal event")
    r = run_cli("--socket", SOCK, "logs", "done", cwd=repo)
    assert r.code == 0, r.err
    assert "RED-LINE" in r.out and "\x1b[31m" not in r.out     # rendered: no escape codes
    assert "fake-agent line 3" in r.out
    raw = run_cli("--socket", SOCK, "logs", "--raw", "done", cwd=repo)
    assert "\x1b[31mRED-LINE" in raw.out                       # raw: the bytes as written

    # -f on a running agent returns once it ended, with everything it printed.
    follow = subprocess.run(
        [sys.executable, "-m", "agentmux", "--socket", SOCK, "logs", "-f", "slow"],
        cwd=repo, capture_output=True, text=True, timeout=30, check=False)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.index("FIRST") < follow.stdout.index("LAST")

    r = run_cli("--socket", SOCK, "logs", "nope", cwd=repo)
    assert r.code == 2 and "no pane named 'nope'" in r.err
