"""`review --compare` on a real fanned-out run: the review JSON carries each attempt's check and
the task it is an attempt of, so compare shows what the checks said."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import run_cli, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

SOCK = "amx"


def test_compare_shows_the_check_of_each_attempt(repo: Path) -> None:
    # The same command and check in both attempts; only web-1's check finds its file. docs
    # strays into web-1's file, so compare has a conflict with the rest of the run to show.
    layout = write_layout(repo, [
        {"name": "web", "count": 2, "scope": ["web/**"], "check": "test -f web/web-1.txt",
         "command": fake("--write", "web/{pane}.txt=x", "--commit", "{pane}")},
        {"name": "docs", "scope": ["docs/**"],
         "command": fake("--write", "web/web-1.txt=y", "--commit", "docs")},
    ])
    up(layout, SOCK)
    states = {n: p["state"] for n, p in wait_states(repo, SOCK).items()}
    assert states == {"web-1": "done", "web-2": "failed", "docs": "done"}
    run = latest_run(repo)
    for name in states:
        wait_until((run / "panes" / name / "result.json").exists, 10, f"{name}'s result.json")

    r = run_cli("--socket", SOCK, "review", "--json", cwd=repo)
    assert r.code == 0, r.err
    panes = {p["name"]: p for p in json.loads(r.out)["panes"]}
    assert {n: (p["attempt_of"], p["check"]) for n, p in panes.items()} == {
        "web-1": ("web", {"command": "test -f web/web-1.txt", "result": "passed",
                          "exit_code": 0}),
        "web-2": ("web", {"command": "test -f web/web-1.txt", "result": "failed",
                          "exit_code": 1}),
        "docs": (None, None),
    }

    r = run_cli("--socket", SOCK, "review", "--compare", "web", cwd=repo)
    assert r.code == 0, r.err
    shown = re.sub(r"^(duration +)\S+ +\S+$", r"\1D  D", r.out, flags=re.M)
    assert shown == """\
web: 2 attempts

           web-1     web-2
outcome    done (0)  failed (0)
check      passed    failed
duration   D  D
files      1         1
lines      +1 -0     +1 -0
conflicts  docs      none

file           web-1    web-2
web/web-1.txt  A +1 -0  .
web/web-2.txt  .        A +1 -0

take one with `agentmux merge web-1` (or another attempt's name)
"""
