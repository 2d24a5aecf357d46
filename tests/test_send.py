"""`send`: real key presses by tmux key names, an empty text as Enter, and key names that
are checked before anything reaches tmux."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from agentmux import capture, ledger
from agentmux.errors import BadInput
from agentmux.paneops import key_name

from .conftest import run_cli, wait_until
from .helpers import latest_run, up, wait_states, write_layout

SOCK = "amx"
# Reads its terminal in raw mode and prints every byte it gets, until a `q`.
KEY_READER = r"""
import os, sys, tty
tty.setraw(0)
os.write(1, b"ready\r\n")
while True:
    b = os.read(0, 1)
    os.write(1, b"k:%02x\r\n" % b[0])
    if b == b"q":
        break
"""


def _keys(log: str) -> list[str]:
    return re.findall(r"k:([0-9a-f]{2})", b"".join(capture.read_raw(log)).decode())


def test_keys_are_pressed_in_order_and_bad_names_send_nothing(repo: Path,
                                                               tmp_path: Path) -> None:
    script = tmp_path / "keys.py"
    script.write_text(KEY_READER)
    up(write_layout(repo, [{"name": "k", "command": f"{sys.executable} {script}"}]), SOCK)
    log = str(ledger.RunDir(latest_run(repo)).output("k"))
    wait_until(lambda: b"ready" in b"".join(capture.read_raw(log)), 10, "the reader")

    def send(*args: str) -> int:
        return run_cli("--socket", SOCK, "send", "k", *args, cwd=repo).code

    assert send("--key", "2", "--key", "Up", "--key", "Esc", "--key", "C-c", "--key", "Tab",
                "--key", "y", "--key", "Enter") == 0
    for bad in ("a;b", ";", "Enter Space", "{", "#{pane_id}", "", "Enterr", "C-"):
        assert send("--key", "2", "--key", bad) == 2, bad   # the good key is not sent either
    assert send("") == 0                 # Enter alone
    assert send("hi") == 0               # the text, then Enter
    assert send("--key", "q") == 0
    wait_states(repo, SOCK, {"k": "done"})
    wait_until(lambda: _keys(log)[-1:] == ["71"], 10, "the q")
    assert _keys(log) == ["32", "1b", "5b", "41", "1b", "03", "09", "79", "0d",
                          "0d", "68", "69", "0d", "71"]


def test_send_with_neither_text_nor_keys_is_bad_input(repo: Path) -> None:
    r = run_cli("--socket", SOCK, "send", "k", cwd=repo)
    assert r.code == 2 and "--key KEY" in r.err


@pytest.mark.parametrize(("given", "want"), [
    ("enter", "Enter"), ("ESC", "Escape"), ("c-c", "C-c"), ("M-Up", "M-Up"), ("Y", "Y"),
    ("F12", "F12"), ("pagedown", "PageDown"), ("S-Tab", "S-Tab"), ("C-M-x", "C-M-x")])
def test_key_names_are_tmux_spelling(given: str, want: str) -> None:
    assert key_name(given) == want


@pytest.mark.parametrize("bad", ["a b", "x;", "}", "Enter;", "F13", "C-Enterr", "\n", "é"])
def test_key_names_outside_the_allowlist(bad: str) -> None:
    with pytest.raises(BadInput, match="is not a key"):
        key_name(bad)
