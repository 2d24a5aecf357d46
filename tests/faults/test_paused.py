"""Paused agents: SIGSTOP, or Ctrl-Z typed in the pane, shows as `paused` (not running for
ever); `down` continues a paused agent before it stops it, so it takes no grace periods."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ..conftest import run_cli, wait_until
from ..helpers import events, latest_run, up, wait_states, write_layout
from .conftest import SOCK, tmux


def agent_pid(repo: Path, name: str) -> int:
    st = json.loads((latest_run(repo) / "panes" / name / "status.json").read_text())
    pid = st["agent_pid"]
    assert isinstance(pid, int)
    return pid


def test_stopped_agents_are_paused_and_down_continues_them(repo: Path) -> None:
    layout = write_layout(repo, [{"name": n, "command": "exec fake-agent --sleep 60"}
                                 for n in ("stopped", "ctrlz", "busy")])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, dict.fromkeys(("stopped", "ctrlz", "busy"), "working"))
    # Past its own start-up (a Python stopped while it imports, then interrupted, exits 1).
    logs = [latest_run(repo) / "panes" / n / "output.log" for n in ("stopped", "ctrlz", "busy")]
    wait_until(lambda: all(f.exists() and b"sleeping" in f.read_bytes() for f in logs), 30,
               "every agent sleeping")
    os.kill(agent_pid(repo, "stopped"), signal.SIGSTOP)
    # Ctrl-Z as a person types it: the pane's terminal stops its foreground group, the agent.
    assert tmux("send-keys", "-t", panes["ctrlz"]["pane_id"], "C-z").returncode == 0
    wait_states(repo, SOCK, {"stopped": "paused", "ctrlz": "paused", "busy": "working"})
    os.kill(agent_pid(repo, "stopped"), signal.SIGCONT)
    wait_states(repo, SOCK, {"stopped": "working", "ctrlz": "paused"})
    os.kill(agent_pid(repo, "stopped"), signal.SIGSTOP)
    wait_states(repo, SOCK, {"stopped": "paused"})
    # The watcher's own tick saw it (not only `status`'s fresh look).
    wait_until(lambda: {e["pane"] for e in events(repo) if e.get("state") == "paused"}
               == {"ctrlz", "stopped"}, 10, "the watcher's paused events")

    t0 = time.monotonic()
    r = run_cli("--socket", SOCK, "down", "--grace", "10", cwd=repo)
    took = time.monotonic() - t0
    assert r.code == 0, r.err
    # Held pending, INT and TERM made `down` wait 2 x 10 s for KILL.
    assert took < 10, took
    st = run_cli("--socket", SOCK, "status", "--json", cwd=repo)
    got = {p["name"]: p["signal"] for p in json.loads(st.out)["panes"]}
    assert got == dict.fromkeys(("stopped", "ctrlz", "busy"), "SIGINT"), (r.out, st.out)
