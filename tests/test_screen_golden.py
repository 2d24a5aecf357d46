"""Golden transcripts: real recordings of the real CLIs (tests/golden/README.md) and of
scripts/fake-tui, rendered and compared with the text a person reviewed by eye.

Beside the exact comparison, two checks that do not trust the expected files:
- tmux itself replays each recording in a pane of the recorded size, and the renderer's
  final screen must equal tmux's, row by row: no word glued where tmux shows a gap;
- no rendered line holds an escape fragment.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from agentmux import screen
from agentmux.screen import ALT_FOOTER, ALT_HEADER

from .conftest import wait_until
from .recording import record, tmux
from .test_screen import assert_clean

GOLDEN = Path(__file__).resolve().parent / "golden"
FAKE_TUI = Path(__file__).resolve().parent.parent / "scripts" / "fake-tui"
WIDTH, HEIGHT = 100, 30  # the recordings' pane size
RECORDINGS = sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".raw", ".screen"))
# Phrases each recording's transcript must hold verbatim: the words the bug report saw glued
# ("WelcometoCodex,OpenAI'scommand-line", "Finihsigningin") and each last real screen.
PHRASES = {
    "claude-trust-prompt.raw": ["Quick safety check: Is this a project you created or one you "
                                "trust?", "❯ 1. Yes, I trust this folder"],
    "claude-unable-to-connect.raw": ["Welcome to Claude Code v2.1.197",
                                     "Unable to connect to Anthropic services"],
    "codex-browser-signin.raw": ["Welcome to Codex, OpenAI's command-line coding agent",
                                 "Finish signing in via your browser", "Press esc to cancel"],
    "codex-device-code-error.raw": ["> 2. Sign in with Device Code",
                                    "failed to request device code"],
    "codex-signin-menu.raw": ["Welcome to Codex, OpenAI's command-line coding agent",
                              "> 1. Sign in with ChatGPT", "Press enter to continue"],
    "codex-trust-folder.raw": ["Trust this folder? Codex can read, edit, and run files here",
                               "› 1. Trust and continue"],
    "fake-tui.raw": ["Welcome to Fake TUI, the test agent", "Quick safety check:  read only",
                     "› 2. Sign in with a device code", "✓ Thought for 500 steps"],
    "gemini-auth-dialog.raw": ["How would you like to authenticate for this project?",
                               "● 1. Sign in with Google"],
    "gemini-trust-dialog.raw": ["Do you trust the files in this folder?",
                                "● 1. Trust folder (wd-gemini)"],
    "opencode-error-idle.screen": ["Cannot connect to API: Unable to connect. Is the computer "
                                   "able to access the url?"],
    "opencode-first-error.raw": ["Cannot connect to API: Was there a typo in the url or port?"],
}


def rendered(name: str) -> str:
    path = GOLDEN / name
    if path.suffix == ".screen":
        # A `capture-pane -p -e` snapshot, not a stream: its lines end in a bare line feed.
        return screen.render_bytes(path.read_bytes().replace(b"\n", b"\r\n"), WIDTH, HEIGHT)
    return screen.render_file(str(path), WIDTH, HEIGHT)


def test_every_recording_has_an_expected_transcript_and_phrases() -> None:
    assert sorted(PHRASES) == RECORDINGS
    assert all((GOLDEN / n).with_suffix(".expected").exists() for n in RECORDINGS)


@pytest.mark.parametrize("name", RECORDINGS)
def test_transcript_is_the_reviewed_one(name: str) -> None:
    out = rendered(name)
    assert out == (GOLDEN / name).with_suffix(".expected").read_text()
    assert_clean(out)
    for phrase in PHRASES[name]:
        assert phrase in out


def _tmux_screen(name: str, socket: str) -> list[str]:
    """The screen tmux shows after replaying the recording in a pane of the recorded size."""
    # No echo of the replies to the recording's terminal queries; then a title, which tmux
    # sets only once it has played every byte before it (a dead pane may still have some
    # output unread).
    replay = (f"stty raw -echo; cat {shlex.quote(str(GOLDEN / name))}; "
              "printf '\\033]2;replayed\\007'; exec cat >/dev/null")
    pane = tmux(socket, "new-session", "-d", "-P", "-F", "#{pane_id}", "-x", str(WIDTH),
                "-y", str(HEIGHT), "sh -c " + shlex.quote(replay)).strip()
    wait_until(lambda: tmux(socket, "display", "-p", "-t", pane, "#{pane_title}").strip()
               == "replayed", 10, f"the replay of {name}")
    rows = tmux(socket, "capture-pane", "-p", "-t", pane).split("\n")[:HEIGHT]
    return [row.rstrip() for row in rows]


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n.endswith(".raw")])
def test_final_screen_is_the_one_tmux_shows(name: str) -> None:
    r = screen.renderer(WIDTH, HEIGHT)
    r.feed((GOLDEN / name).read_bytes())
    r.settle()
    shown = r.alt if r.alt is not None else r.main
    ours = [text.rstrip() for text, _ in shown.rows()]
    assert ours == _tmux_screen(name, "golden")
    # ... and that screen is in the transcript, the last real screen a reviewer reads.
    text = rendered(name)
    assert all(row.strip() in text for row in ours)


def test_fake_tui_recorded_now_through_capture_renders_as_reviewed(tmp_path: Path) -> None:
    raw = record([sys.executable, str(FAKE_TUI)], tmp_path / "out.log", "fake",
                 done=lambda d: d.rstrip().endswith(b"bye"))
    out = screen.render_bytes(raw, WIDTH, HEIGHT)
    assert out == (GOLDEN / "fake-tui.expected").read_text()


def test_fake_tui_that_stays_on_the_alternate_screen_ends_with_it(tmp_path: Path) -> None:
    raw = record([sys.executable, str(FAKE_TUI), "--stay", "--spins", "20"],
                 tmp_path / "out.log", "fake-stay", done=lambda d: b"Chosen: 2" in d)
    lines = screen.render_bytes(raw, WIDTH, HEIGHT).splitlines()
    assert ALT_FOOTER not in lines
    assert lines[lines.index(ALT_HEADER) - 2] == "✓ Thought for 20 steps"
    assert lines[-1] == "    Chosen: 2"
