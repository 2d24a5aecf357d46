"""The real agent CLIs, pinned (scripts/install-agents), offline, through `agentmux up`.

Each gets a throwaway HOME, so each starts as a new user would: signed out, nothing trusted.
What they do then is in docs/agent-clis.md; what agentmux must say about it is issue 11's
acceptance: Claude fails with exit 1; Codex waits at its sign-in; Gemini gets past the
folder-trust dialog (agentmux trusts the worktree it made) and waits at its auth dialog;
OpenCode ends idle (or waiting), never working for ever; aider waits at its first question;
after `down` every live one is `stopped`, and nothing counts as done.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, run_cli
from .helpers import REFUSED_NET, latest_run, status, write_layout

SOCK = "amx-real-states"
CACHE = Path(os.environ.get("AGENTMUX_AGENT_CACHE",
                            Path.home() / ".cache" / "agentmux" / "agents"))
# OpenCode retries the API for about a minute before it gives up and idles (docs/agent-clis.md);
# on a busy machine its start-up alone took 20 s.
DEADLINE = 150.0


@pytest.fixture(scope="session")
def agents_bin() -> Path:
    """The pinned CLIs, installed once into the cache (quick when they are there)."""
    env = {**os.environ, "AGENTMUX_AGENT_CACHE": str(CACHE)}
    p = subprocess.run([str(ROOT / "scripts" / "install-agents")], env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    if p.returncode == 4:  # no node/npm and no way to install them here
        pytest.skip("install-agents: " + p.stderr.strip().splitlines()[-1])
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1])


def _panes(repo: Path) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in status(repo, SOCK)["panes"]}


def _hook_records(repo: Path, pane: str) -> list[dict[str, Any]]:
    path = latest_run(repo) / "panes" / pane / "hooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _left_behind(homes: list[Path]) -> list[int]:
    """Processes whose HOME is one of these throwaway homes (so started by this test)."""
    wanted = {f"HOME={h}".encode() for h in homes}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted & set(env):
            found.append(int(entry.name))
    return found


def test_real_clis_offline_are_told_truly(agents_bin: Path, repo: Path,
                                          tmp_path: Path) -> None:
    names = ["claude", "codex", "gemini", "opencode"]
    if (agents_bin / "aider").exists():
        names.append("aider")
    homes = {n: tmp_path / f"home-{n}" for n in names}
    for h in homes.values():
        h.mkdir()
    layout = write_layout(repo, [{"name": n, "agent": n, "task": "say hi",
                                  "env": {"HOME": str(homes[n]),
                                          **(REFUSED_NET if n == "opencode" else {})}}
                                 for n in names],
                          poll_interval=0.5)
    path = f"{agents_bin}{os.pathsep}{os.environ['PATH']}"
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo,
                env={"PATH": path, "CI": "true", "GITHUB_ACTIONS": "true"})  # a CI job (panenv)
    assert r.code == 0, r.err
    try:
        _check_states(repo, names)
    finally:
        r = run_cli("--socket", SOCK, "down", "--grace", "2", cwd=repo)
    assert r.code == 0, r.err
    after = _panes(repo)
    assert (after["claude"]["state"], after["claude"]["exit_code"]) == ("failed", 1)
    for n in names[1:]:
        assert (after[n]["state"], after[n]["reason"]) == ("stopped", "down"), after[n]
    review = json.loads(run_cli("review", "--json", cwd=repo).out)
    assert (review["metrics"]["done"], review["metrics"]["completion_rate"],
            review["metrics"]["speedup"]) == (0, 0.0, None)
    # Gemini's hook settings were in the worktree only while it ran.
    tree = repo / ".agentmux" / "worktrees" / "agents" / "gemini"
    assert not (tree / ".gemini").exists()
    # `down` leaves nothing running (Gemini's node processes survive a mere SIGHUP).
    left = _left_behind(list(homes.values()))
    for pid in left:
        os.kill(pid, 9)
    assert left == []


def _check_states(repo: Path, names: list[str]) -> None:
    want: dict[str, tuple[str, ...]] = {
        "claude": ("failed",), "codex": ("waiting",), "gemini": ("waiting",),
        "opencode": ("idle", "waiting"), "aider": ("waiting",)}
    deadline = time.monotonic() + DEADLINE
    while True:
        panes = _panes(repo)
        if all(panes[n]["state"] in want[n] for n in names):
            break
        if time.monotonic() > deadline:
            raise AssertionError({n: (p["state"], p["reason"]) for n, p in panes.items()})
        time.sleep(0.5)  # poll
    claude = panes["claude"]
    assert (claude["exit_code"], claude["source"]) == (1, "process")
    codex = panes["codex"]
    assert (codex["reason"], codex["source"]) == ("sign-in", "screen")
    gemini = panes["gemini"]
    # Past the folder-trust dialog: its workspace hooks loaded (they need a trusted folder).
    assert (gemini["reason"], gemini["source"]) == ("sign-in", "screen")
    assert [r["raw_event"] for r in _hook_records(repo, "gemini")][:1] == ["SessionStart"]
    opencode = panes["opencode"]
    assert opencode["source"] == "hook", opencode
    if "aider" in names:
        assert (panes["aider"]["reason"], panes["aider"]["source"]) == ("question", "screen")
    # What the watcher recorded on the way: OpenCode worked (from its plugin) before it idled.
    events = [json.loads(line) for line in
              (latest_run(repo) / "events.jsonl").read_text().splitlines()]
    seen = [(e["state"], e.get("source")) for e in events
            if e.get("type") == "state" and e["pane"] == "opencode"]
    assert ("working", "hook") in seen, seen
