"""`review --compare` through the real path: up, the runner's check, the ledger, review."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli, wait_until
from .helpers import events, fake, up, wait_states, write_layout

SOCK = "amx"


def test_compare_shows_each_attempts_check_and_only_its_attempts(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "fix", "count": 2, "check": 'test "$AGENTMUX_PANE" = fix-1',
         "command": fake("--write", "fix.txt=x", "--commit", "fix")},
        # Named like a third attempt, but not one: only attempt_of can tell.
        {"name": "fix-3", "command": "true"},
    ])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert {n: p["state"] for n, p in panes.items()} == {
        "fix-1": "done", "fix-2": "failed", "fix-3": "done"}
    wait_until(lambda: len({e["pane"] for e in events(repo)
                            if e["state"] in ("done", "failed")}) == 3, 15, "terminal events")
    data = json.loads(run_cli("--socket", SOCK, "review", "--json", cwd=repo).out)
    assert {p["name"]: p.get("attempt_of") for p in data["panes"]} == {
        "fix-1": "fix", "fix-2": "fix", "fix-3": None}
    r = run_cli("--socket", SOCK, "review", "--compare", "fix", cwd=repo)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "fix: 2 attempts"
    assert [line.split() for line in lines if line.startswith("check ")] == [
        ["check", "passed", "failed"]]
    # fix-2 ended by itself with 0, then its check failed: the exit code is the agent's.
    assert [line.split() for line in lines if line.startswith(("outcome ", "fix.txt "))] == [
        ["outcome", "done", "(0)", "failed", "(0)"],
        ["fix.txt", "A", "+1", "-0", "A", "+1", "-0"]]
    # The attempts conflict with each other on fix.txt: expected, so not shown.
    assert "conflicts  none      none" in lines

    r = run_cli("--socket", SOCK, "review", "--compare", "nope", cwd=repo)
    assert (r.code, r.out, r.err) == (2, "", "agentmux: compare: no attempts of 'nope' in this "
                                      "run; panes: fix-1, fix-2, fix-3\n")
