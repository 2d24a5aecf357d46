"""The state machine's new rules, pure: stopped after agentmux's own intent, live verdicts and
where they came from, hook records read as they grow, and the screens of the real CLIs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentmux.records import EventRecord, PaneRecord, StatusRecord
from agentmux.tmux_chain import PaneObs
from agentmux.watch import hooks, screen
from agentmux.watch.state import (
    Observation,
    PaneState,
    Verdict,
    replay,
    step,
    stops,
    summary_line,
)

from .conftest import ROOT, wait_until

GOLDEN = ROOT / "tests" / "golden"


def live_pane() -> PaneObs:
    return PaneObs(name="a", pane_id="%1", dead=False, dead_status=None, dead_signal=None,
                   pid=1, window_id="@1", server_pid=None)


def ended(code: int | None = 0, sig: str | None = None, at: str = "2026-01-01T00:00:05.000Z",
          reason: str | None = None) -> StatusRecord:
    return StatusRecord(1, "2026-01-01T00:00:00.000Z", phase="ended", ended_at=at,
                        exit_code=code, signal=sig, reason=reason)


AGENT = StatusRecord(1, "2026-01-01T00:00:00.000Z", phase="agent")


@pytest.mark.parametrize(("status", "stop", "want"), [
    # down's SIGINT, and the agent chose exit 0: stopped, not done.
    (ended(0), ("down", "2026-01-01T00:00:04.000Z"), ("stopped", "down", 0, None)),
    (ended(None, "SIGTERM"), ("restart", "2026-01-01T00:00:04.000Z"),
     ("stopped", "restart", None, "SIGTERM")),
    # It ended by itself before the intent was written: its own outcome stands.
    (ended(1), ("down", "2026-01-01T00:00:06.000Z"), ("failed", None, 1, None)),
    (ended(0), None, ("done", None, 0, None)),
    # A runner that failed itself is lost, whatever anyone intended.
    (ended(None, reason="runner-error"), ("down", "2026-01-01T00:00:04.000Z"),
     ("lost", "runner-error", None, None)),
])
def test_an_end_after_agentmuxs_intent_is_stopped(
        status: StatusRecord, stop: tuple[str, str] | None,
        want: tuple[object, ...]) -> None:
    obs = Observation({}, {"a": status}, {}, stops={"a": stop} if stop else {})
    new, events = step({}, ["a"], obs)
    got = new["a"]
    assert (got.state, got.reason, got.exit_code, got.signal) == want
    assert events[0].detail == {"source": "process"}


def test_a_timeout_stays_failed_even_when_down_follows() -> None:
    obs = Observation({}, {"a": ended(0)}, {}, timed_out=frozenset({"a"}),
                      stops={"a": ("down", "2026-01-01T00:00:01.000Z")})
    assert step({}, ["a"], obs)[0]["a"].state == "failed"


def test_stop_intents_are_per_attempt() -> None:
    evs = [EventRecord("stop", "a", "t1", reason="restart"), EventRecord("restart", "a"),
           EventRecord("stop", "b", "t2", reason="down"),
           EventRecord("stop", "b", "t3", reason="restart")]
    assert stops(evs) == {"b": ("down", "t2")}


def test_live_verdicts_carry_their_source_and_stay_when_not_looked_at() -> None:
    status = AGENT
    panes = {"a": live_pane()}
    waiting = Verdict("waiting", "folder trust", "screen")
    state, evs = step({}, ["a"], Observation(panes, {"a": status}, {}, {"a": waiting}))
    assert state["a"] == PaneState("waiting", reason="folder trust", source="screen")
    assert [(e.state, e.reason, e.detail["source"]) for e in evs] == [
        ("waiting", "folder trust", "screen")]
    # `status` looks at no screen: the recorded verdict holds.
    again, evs = step(state, ["a"], Observation(panes, {"a": status}, {}))
    assert again == state and evs == []
    # A working verdict's reason (retry messages) is no event of its own.
    busy = Verdict("working", "attempt #3", "hook")
    after, _ = step(state, ["a"], Observation(panes, {"a": status}, {}, {"a": busy}))
    assert after["a"] == PaneState("working", source="hook")
    # With nothing recorded and nothing seen, the process says working.
    fresh, _ = step({}, ["a"], Observation(panes, {"a": status}, {}))
    assert fresh["a"] == PaneState("working", source="process")


def test_replay_reads_sources_and_old_running_records() -> None:
    got = replay([EventRecord("state", "a", state="running"),
                  EventRecord("state", "b", state="idle", detail={"source": "hook"})])
    assert got == {"a": PaneState("working"), "b": PaneState("idle", source="hook")}
    assert summary_line(["idle", "working", "stopped", "working"]) == (
        "2 working · 1 idle · 1 stopped")


def record(state: str | None, t: float, event: str = "Stop") -> bytes:
    return json.dumps({"version": 1, "t": t, "agent": "claude", "event": "x",
                       "state": state, "reason": None, "raw_event": event}).encode() + b"\n"


def test_hook_reader_reads_what_grew_and_waits_for_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "hooks.jsonl"
    reader = hooks.HookReader(path)
    assert reader.poll() is None  # no file yet
    path.write_bytes(record("working", 1.0, "UserPromptSubmit") + record(None, 2.0))
    assert reader.poll() == hooks.HookVerdict("working", None, 1.0, "UserPromptSubmit")
    whole = record("idle", 3.0)
    with path.open("ab") as f:
        f.write(whole[:10])  # a hook killed mid-write, or one still writing
    assert reader.poll() == hooks.HookVerdict("working", None, 1.0, "UserPromptSubmit")
    with path.open("ab") as f:
        f.write(whole[10:] + b"garbage\n")
    assert reader.poll() == hooks.HookVerdict("idle", None, 3.0, "Stop")
    assert reader.count == 3
    path.rename(tmp_path / "attempt-1.jsonl")  # `restart` moves the attempt's files away
    assert reader.poll() is None
    path.write_bytes(record("waiting", 9.0, "Notification"))
    assert reader.poll() == hooks.HookVerdict("waiting", None, 9.0, "Notification")


@pytest.mark.parametrize(("authoritative", "mtime", "grown", "want"), [
    (True, 100.0, 10_000, "hook"),     # hooks that can say `working` again are believed
    (False, 11.0, 100, "hook"),        # the prompt drawn right after the hook
    (False, 13.0, 100, "screen"),      # output well after it: a person answered
    (False, 11.0, 5000, "screen"),     # much output at once after it
])
def test_merge(authoritative: bool, mtime: float, grown: int, want: str) -> None:
    hook = hooks.HookVerdict("waiting", None, 10.0, "notification")
    seen = Verdict("working", None, "screen")
    got = hooks.merge(hook, authoritative, seen, mtime, grown)
    assert got is not None and got.source == want
    assert hooks.merge(None, True, seen, mtime) == seen


def rendered(tmp_path: Path, raw: Path) -> tuple[str, int | None]:
    """The screen a recording leaves in a 100x30 tmux pane, and its cursor row."""
    sock = "amx-golden"
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "g",
                    "-x", "100", "-y", "30", f"cat {raw}; sleep 60"], check=True)
    size = raw.stat().st_size

    def drawn() -> bool:
        # Drawn once tmux has read every byte: the pane's history and screen stop changing.
        a = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "g"],
                           capture_output=True, text=True, check=True).stdout
        b = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "g"],
                           capture_output=True, text=True, check=True).stdout
        return size > 0 and a == b and bool(a.strip())

    wait_until(drawn, 10, f"{raw.name} drawn")
    out = subprocess.run(["tmux", "-L", sock, "display", "-p", "-t", "g", "#{cursor_y}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    text = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "g"],
                          capture_output=True, text=True, check=True).stdout
    subprocess.run(["tmux", "-L", sock, "kill-server"], check=False)
    return text, int(out) if out.isdigit() else None


@pytest.mark.parametrize(("agent", "recording", "want"), [
    ("codex", "codex-signin-menu.raw", ("waiting", "sign-in")),
    ("codex", "codex-device-code-error.raw", ("waiting", "sign-in")),
    ("codex", "codex-browser-signin.raw", ("waiting", "sign-in")),
    ("codex", "codex-trust-folder.raw", ("waiting", "folder trust")),
    ("gemini", "gemini-trust-dialog.raw", ("waiting", "folder trust")),
    ("gemini", "gemini-auth-dialog.raw", ("waiting", "sign-in")),
    ("claude", "claude-trust-prompt.raw", ("waiting", "folder trust")),
    ("opencode", "opencode-first-error.raw", None),   # retrying: working
    ("claude", "claude-unable-to-connect.raw", None),
])
def test_the_real_clis_screens(tmp_path: Path, agent: str, recording: str,
                               want: tuple[str, str] | None) -> None:
    text, cursor = rendered(tmp_path, GOLDEN / recording)
    rules = screen.compile_rules(PaneRecord(agent, "/", "true", agent=agent))
    assert screen.screen_verdict(text, cursor, rules) == want, text


def test_opencode_idle_at_its_input_box() -> None:
    text = (GOLDEN / "opencode-error-idle.screen").read_text()
    rules = screen.compile_rules(PaneRecord("o", "/", "true", agent="opencode"))
    assert screen.screen_verdict(text, None, rules) == ("idle", "at its input box")
    busy = text.replace("/tmp/ac/wd-opencode", "⬝⬝⬝⬝⬝⬝⬝⬝  esc interrupt")
    assert screen.screen_verdict(busy, None, rules) is None
