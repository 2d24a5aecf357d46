"""Supervision: waiting, quiet, timeout, check, notifications, restart, send; real tmux."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentmux import ledger
from agentmux.records import PaneRecord
from agentmux.tmux import Tmux
from agentmux.watch import loop as watcher
from agentmux.watch import screen, supervise
from agentmux.watch.state import replay

from .conftest import run_cli, wait_until
from .helpers import count_tmux, events, fake, latest_run, status, up, wait_states, write_layout

SOCK = "amx"
POLL = 0.5
CLAUDE_DIALOG = (
    "Bash command\n  rm -rf build\n\nDo you want to proceed?\n❯ 1. Yes\n"
    "  2. Yes, and don't ask again for rm commands\n"
    "  3. No, and tell Claude what to do differently (esc)\n"
)


def recorded(repo: Path) -> list[dict[str, Any]]:
    """The watcher's events so far; none before its first record (`status` can be ahead)."""
    return events(repo) if (latest_run(repo) / "events.jsonl").exists() else []


def pane_states(repo: Path, pane: str) -> list[str]:
    return [e["state"] for e in recorded(repo)
            if e.get("type") == "state" and e["pane"] == pane and e["state"] != "starting"]


def output(repo: Path, pane: str) -> str:
    path = latest_run(repo) / "panes" / pane / "output.log"
    return path.read_bytes().decode(errors="replace") if path.exists() else ""


def test_screen_rules() -> None:
    claude = screen.compile_patterns(PaneRecord("x", "/", "true", agent="claude"))
    plain = screen.compile_patterns(PaneRecord("x", "/", "true",
                                                waiting_patterns=("^Token: $",)))
    cases: list[tuple[str, int | None, list[Any], bool]] = [
        (CLAUDE_DIALOG, None, claude, True),
        (CLAUDE_DIALOG, None, plain, False),       # a preset's pattern is its own
        ("Overwrite? (y/n) ", 0, plain, True),
        ("Continue [Y/n]", 5, plain, True),
        ("Press Enter to continue", None, plain, True),
        ("Token: ", None, plain, True),              # the layout's own pattern
        ("ready?\n\n", 0, plain, True),               # the cursor is on the question
        ("was it ready?\nyes\n", 2, plain, False),   # a question in old output
        ("working...\n", 1, plain, False),
    ]
    for text, cursor, pats, want in cases:
        assert screen.screen_waiting(text, cursor, pats) is want, text


def test_waiting_then_send_answers_it(repo: Path, tmp_path: Path) -> None:
    # A stand-in `claude` on PATH, so the pane uses the real claude preset and its patterns.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text(
        "#!/bin/sh\nexec " + fake("--wait-input", CLAUDE_DIALOG, "--lines", "80",
                                  "--sleep", "2") + "\n")
    (bin_dir / "claude").chmod(0o755)
    layout = write_layout(repo, [{"name": "asker", "agent": "claude", "task": "t"}],
                          poll_interval=POLL)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo,
                env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert r.code == 0, r.err
    wait_until(lambda: "tell Claude what to do" in output(repo, "asker"), 20, "the dialog")
    wait_until(lambda: "waiting" in pane_states(repo, "asker"), 3 * POLL + 1.0,
               "waiting within 3 ticks")
    assert status(repo, SOCK)["panes"][0]["state"] == "waiting"
    # The session's own status line counts states (set for that session only).
    shown = subprocess.run(["tmux", "-L", SOCK, "show", "-v", "-t", "=agents:", "status-right"],
                           capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "1 waiting"
    r = run_cli("--socket", SOCK, "send", "asker", "1", cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK, {"asker": "done"})
    wait_until(lambda: pane_states(repo, "asker")[-1:] == ["done"], 10, "done recorded")
    # The first tick may already see the dialog (starting -> waiting).
    assert pane_states(repo, "asker") in (["running", "waiting", "running", "done"],
                                          ["waiting", "running", "done"])
    assert "got: 1" in output(repo, "asker")


def test_quiet_is_not_waiting(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "thinker", "idle_after": 1,
                                  "command": fake("--print", "thinking hard", "--sleep", "30")}],
                          poll_interval=POLL)
    up(layout, SOCK)
    wait_until(lambda: status(repo, SOCK)["panes"][0]["quiet_s"] is not None, 20, "quiet")
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert re.search(r"thinker\s+running \(quiet \d+s\)", r.out), r.out
    assert pane_states(repo, "thinker") == ["running"]


def test_timeout_stops_an_agent_that_ignores_sigint(repo: Path) -> None:
    layout = write_layout(repo, [{
        "name": "stubborn", "timeout": 1,
        # exec: dash would otherwise keep a shell between the runner and the agent.
        "command": "exec " + fake("--ignore-sigint", "--print", "busy", "--sleep", "60"),
    }], poll_interval=POLL)
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, timeout=30)
    p = panes["stubborn"]
    assert (p["state"], p["reason"], p["signal"]) == ("failed", "timeout", "SIGTERM")
    wait_until(lambda: pane_states(repo, "stubborn")[-1:] == ["failed"], 10, "the record")
    evs = events(repo)
    assert [e["pane"] for e in evs if e.get("type") == "timeout"] == ["stubborn"]
    last = [e for e in evs if e.get("type") == "state"][-1]
    assert (last["state"], last["reason"]) == ("failed", "timeout")


def test_check_decides_done_or_failed_and_runs_in_the_worktree(repo: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "pwd"
    out.mkdir()
    layout = write_layout(repo, [
        {"name": "good", "command": "true", "check": f"pwd > {out}/good; echo checked"},
        {"name": "bad", "command": "true", "check": f"pwd > {out}/bad; echo broken; exit 5"},
    ], poll_interval=POLL)
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert (panes["good"]["state"], panes["good"]["reason"]) == ("done", None)
    assert (panes["bad"]["state"], panes["bad"]["reason"], panes["bad"]["check_exit_code"]) == (
        "failed", "check", 5)
    for name in ("good", "bad"):
        assert (out / name).read_text().strip() == str(Path(panes[name]["worktree"]).resolve())
    run = latest_run(repo)
    assert "broken" in (run / "panes" / "bad" / "check.log").read_text()
    wait_until(lambda: len([e for e in recorded(repo) if e.get("state") in ("done", "failed")])
               == 2, 10, "the records")
    bad = [e for e in events(repo) if e.get("pane") == "bad" and e.get("state") == "failed"]
    assert bad[0]["check_exit_code"] == 5


def test_check_never_runs_in_the_main_checkout(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    layout = write_layout(repo, [{"name": "shared", "command": "true",
                                  "check": f"touch {marker}"}],
                          isolation="none", poll_interval=POLL)
    up(layout, SOCK)
    p = wait_states(repo, SOCK)["shared"]
    assert (p["state"], p["reason"], p["check_exit_code"]) == ("done", "check-skipped", None)
    assert not marker.exists()


def test_on_event_once_per_transition_and_never_blocks(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    hook = ('printf "%s|%s|%s|%s|%s\\n" "$AGENTMUX_RUN" "$AGENTMUX_PANE" "$AGENTMUX_STATE" '
            f'"$AGENTMUX_EXIT_CODE" "$AGENTMUX_WORKTREE" >> {log}; sleep 5')
    layout = write_layout(repo, [
        {"name": "first", "command": fake("--exit", "3")},
        {"name": "second", "command": fake("--sleep", "1.5")},
    ], poll_interval=POLL, on_event=hook)
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, 10, "hooks")
    run = latest_run(repo)
    lines = sorted(log.read_text().splitlines())
    assert lines == sorted([
        f"{run.name}|first|failed|3|{panes['first']['worktree']}",
        f"{run.name}|second|done|0|{panes['second']['worktree']}",
    ])
    # The first hook was still sleeping when the second pane ended: its record came at once.
    st = json.loads((run / "panes" / "second" / "status.json").read_text())
    done = [e for e in events(repo) if e.get("pane") == "second" and e.get("state") == "done"]
    from agentmux.ledger import parse_iso
    assert parse_iso(done[0]["ts"]) - parse_iso(st["ended_at"]) < 2.0


def test_restart_keeps_the_first_attempt(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "flaky",
                                  "command": fake("--print", "attempt output", "--exit", "3")}],
                          poll_interval=POLL)
    up(layout, SOCK)
    wait_states(repo, SOCK)
    wait_until(lambda: pane_states(repo, "flaky")[-1:] == ["failed"], 10, "first end")
    r = run_cli("--socket", SOCK, "restart", "flaky", cwd=repo)
    assert r.code == 0, r.err
    assert "attempt 2" in r.out
    wait_until(lambda: pane_states(repo, "flaky").count("failed") == 2, 20, "second end")
    restarts = [e for e in events(repo) if e.get("type") == "restart"]
    assert [(e["pane"], e["attempt"]) for e in restarts] == [("flaky", 2)]
    first = latest_run(repo) / "panes" / "flaky" / "attempt-1"
    assert "attempt output" in (first / "transcript.txt").read_text()
    assert json.loads((first / "status.json").read_text())["exit_code"] == 3
    wait_until(lambda: "attempt output" in output(repo, "flaky"), 10, "second output")


def test_send_delivers_hostile_text_byte_for_byte(repo: Path) -> None:
    hostile = "a;b ; #{pane_id} #(id) $(id) `id` Enter C-c \\; 'q' \"w\" ü ;"
    layout = write_layout(repo, [{"name": "reader", "command": fake(
        "--wait-input", "first: ", "--wait-input", "second: ", "--wait-input", "third: ",
        "--sleep", "1")}], poll_interval=POLL)
    up(layout, SOCK)
    wait_states(repo, SOCK, {"reader": "running"})
    wait_until(lambda: "first: " in output(repo, "reader"), 10, "the first prompt")
    r = run_cli("--socket", SOCK, "send", "reader", hostile, cwd=repo)
    assert r.code == 0, r.err
    # Several lines: the paste turns each LF into CR, so a cooked terminal reads each as a
    # line; the final Enter ends the last one.
    wait_until(lambda: "second: " in output(repo, "reader"), 10, "the second prompt")
    r = run_cli("--socket", SOCK, "send", "reader", "line one\nline two", cwd=repo)
    assert r.code == 0, r.err
    wait_states(repo, SOCK, {"reader": "done"})
    got = [x.rstrip("\r") for x in output(repo, "reader").split("\n") if "got: " in x]
    got = [x[x.index("got: "):] for x in got]
    assert got == [f"got: {hostile}", "got: line one", "got: line two"]


def test_an_idle_tick_costs_one_tmux_call(repo: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    layout = write_layout(repo, [{"name": f"p{i}", "command": fake("--print", "hi", "--sleep",
                                                                    "60")} for i in range(10)])
    up(layout, SOCK)
    wait_states(repo, SOCK, {f"p{i}": "running" for i in range(10)})
    run_dir = ledger.RunDir(latest_run(repo))
    wait_until(lambda: all("hi" in output(repo, f"p{i}") for i in range(10)), 10, "output")
    tm = Tmux(SOCK)
    sup = supervise.Supervisor(tm, run_dir, "agents")
    names = watcher.pane_names(run_dir)
    state = replay(run_dir.events_of())
    state, _ = watcher.tick(tm, run_dir, "agents", names, state, sup)  # learns every screen
    calls = count_tmux(tmp_path, monkeypatch)
    state, _ = watcher.tick(tm, run_dir, "agents", names, state, sup)
    assert [c.split()[1] for c in calls()] == ["list-panes"], calls()
