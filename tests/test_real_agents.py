"""The real agent CLIs (scripts/install-agents, pinned versions), offline, through the real
path: one `agentmux up` of Claude Code, Codex, Gemini CLI and OpenCode in a throwaway HOME,
keys pressed with `agentmux send --key`, then `down`, and every transcript read with `logs`.

What it holds (issue 12):
- a real key press picks Codex's second sign-in option (a pasted digit would not), and the
  screen shows that it was picked;
- each pane's rendered screen is the one tmux shows, row by row: no word glued where the
  screen has a gap, no escape fragment;
- after `down`, `logs` shows each CLI's last real screen; OpenCode's chat survives its exit,
  which wipes the screen.
Skipped where the CLIs are not installed. About 40 s, most of it OpenCode's first retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux import capture, ledger, screen

from .conftest import run_cli, wait_until
from .helpers import REFUSED_NET, latest_run, wait_states, write_layout
from .test_screen import assert_clean

CACHE = Path(os.environ.get("AGENTMUX_AGENT_CACHE",
                            Path.home() / ".cache" / "agentmux" / "agents"))
BIN = CACHE / "bin"
CLIS = ("claude", "codex", "gemini", "opencode")
SOCK = "amx-real"
pytestmark = pytest.mark.skipif(
    not all((BIN / c).exists() for c in CLIS),
    reason="the real agent CLIs are not installed (scripts/install-agents)")


def _logs(repo: Path, pane: str) -> str:
    r = run_cli("--socket", SOCK, "logs", pane, cwd=repo)
    assert r.code == 0, r.err
    return r.out


def _shows(repo: Path, pane: str, *phrases: str, timeout: float = 40) -> None:
    try:
        wait_until(lambda: all(p in _logs(repo, pane) for p in phrases), timeout,
                   f"{pane} to show {phrases}", interval=0.3)
    except AssertionError as e:   # what it showed instead
        raise AssertionError(f"{e}; its screen:\n{_logs(repo, pane)[-3000:]}") from None


def _send(repo: Path, pane: str, *args: str) -> None:
    r = run_cli("--socket", SOCK, "send", pane, *args, cwd=repo)
    assert r.code == 0, r.err


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCK, *args], capture_output=True, text=True,
                          check=True).stdout


def _same_screen_as_tmux(run_dir: ledger.RunDir, pane: str) -> bool:
    """The pane's log rendered at its size shows what tmux shows, row by row."""
    line = next(x for x in _tmux("list-panes", "-a", "-F",
                                 "#{@agentmux_pane} #{pane_id} #{pane_width} #{pane_height}"
                                 ).splitlines() if x.startswith(pane + " "))
    _, pane_id, w, h = line.split()
    theirs = [row.rstrip() for row in _tmux("capture-pane", "-p", "-t", pane_id).split("\n")]
    r = screen.renderer(int(w), int(h))
    for chunk in capture.read_raw(str(run_dir.output(pane))):
        r.feed(chunk)
    r.settle()
    shown = r.alt if r.alt is not None else r.main
    return [text.rstrip() for text, _ in shown.rows()] == theirs[:int(h)]


@pytest.fixture
def throwaway_home(isolated: Path) -> Iterator[Path]:
    """The test's HOME, where the CLIs keep their state; what they leave running is ended
    afterwards by pid (Codex's app-server daemon outlives its pane), found by that HOME."""
    # Onboarding done: Claude Code then asks to trust the folder instead of exiting.
    (isolated / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True,
                                                       "theme": "dark"}))
    yield isolated
    want = f"HOME={isolated}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if want in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)


def test_real_clis_keys_and_last_screens(repo: Path, throwaway_home: Path) -> None:
    # CI set as a CI job sets it: Gemini CLI still gets a terminal (agentmux.panenv).
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DISABLE_AUTOUPDATER": "1",
           "CI": "true", "GITHUB_ACTIONS": "true"}
    layout = write_layout(repo, [{"name": c, "agent": c, "task": "say hi",
                                  **({"env": REFUSED_NET} if c == "opencode" else {})}
                                 for c in CLIS],
                          isolation="none", poll_interval=0.5)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=env)
    assert r.code == 0, r.err
    run_dir = ledger.RunDir(latest_run(repo))

    _shows(repo, "codex", "Welcome to Codex, OpenAI's command-line coding agent",
           "> 1. Sign in with ChatGPT", "Press enter to continue")
    _shows(repo, "claude", "Quick safety check", "❯ 1. Yes, I trust this folder")
    _shows(repo, "gemini", "Do you trust the files in this folder?")
    # The watcher records `waiting` on its next tick; `status` then names the menu's keys.
    panes = wait_states(repo, SOCK, {"codex": "waiting"}, timeout=20)
    assert panes["codex"]["keys"] == ["1", "2", "3", "Up", "Down", "Enter"]

    # A real key press of 2 picks the second option at once; the screen says so.
    _send(repo, "codex", "--key", "2")
    _shows(repo, "codex", "> 2. Sign in with Device Code", "failed to request device code")
    assert "> 1. Sign in with ChatGPT" not in _logs(repo, "codex").split(screen.ALT_HEADER)[-1]
    _send(repo, "claude", "--key", "Enter")
    _shows(repo, "claude", "Not logged in · Please run /login")
    _send(repo, "gemini", "")
    _shows(repo, "gemini", "How would you like to authenticate for this project?")
    _shows(repo, "opencode", "say hi", "Cannot connect to API", timeout=120)

    # Static screens now: each rendered at its pane's size is what tmux shows.
    wait_until(lambda: all(_same_screen_as_tmux(run_dir, p) for p in ("codex", "claude",
                                                                      "gemini")),
               10, "the rendered screens to be tmux's")

    assert run_cli("--socket", SOCK, "down", "--grace", "3", cwd=repo).code == 0
    last = {
        "codex": ["> 2. Sign in with Device Code",
                  "account/login/start failed: failed to request device code"],
        "claude": ["❯ say hi", "Not logged in · Please run /login"],
        "gemini": ["How would you like to authenticate for this project?",
                   "● 1. Sign in with Google", "(Use Enter to select)"],
        # OpenCode wipes its chat as it exits; the screen before is kept as a section.
        "opencode": [screen.ALT_HEADER, "say hi", "Cannot connect to API", "Continue"],
    }
    for pane, phrases in last.items():
        text = _logs(repo, pane)
        assert_clean(text)
        for phrase in phrases:
            assert phrase in text, f"{pane}: {phrase!r} not in\n{text}"
        assert run_dir.transcript(pane).read_text() == text
