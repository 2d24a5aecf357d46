"""`agentmux doctor`: one line per finding with its repair; --fix never deletes work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from agentmux import ledger

from ..conftest import git, run_cli, wait_until
from ..helpers import fake, latest_run, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux


def _doctor(repo: Path, *extra: str) -> tuple[int, list[str]]:
    r = run_cli("--socket", SOCK, "doctor", *extra, cwd=repo)
    assert not r.err, r.err
    return r.code, r.out.splitlines()


def test_healthy_repository(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    assert run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo).code == 0
    wait_states(repo, SOCK)
    assert run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo).code == 0
    assert _doctor(repo) == (0, ["healthy"])


def test_findings_are_reported_and_nothing_changes_without_fix(repo: Path, tmp_path: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "true"},
                                 {"name": "b", "command": fake("--sleep", "30")}])
    assert run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo).code == 0
    wait_states(repo, SOCK, {"a": "done", "b": "working"})
    run = latest_run(repo)
    wait_until(lambda: any(e.get("pane") == "a" and e.get("state") == "done"
                           for e in ledger.read_events(run / "events.jsonl")), 15, "a's event")
    # Nobody is left to record b's end: the watcher dies first, then b's runner (before it
    # can write a status), then the whole server.
    os.kill(json.loads((run / "watcher.json").read_text())["pid"], signal.SIGKILL)
    st = json.loads((run / "panes" / "b" / "status.json").read_text())
    os.kill(st["pid"], signal.SIGKILL)
    os.killpg(st["agent_pid"], signal.SIGKILL)
    tmux("kill-server")
    # A damaged older run, a torn events line, an orphan branch, a missing worktree,
    # a lock whose holder died and a 40-day-old snapshot.
    old = run.parent / "20200101T000000Z-agents-dead"
    old.mkdir()
    (old / "run.json").write_text("{not json")
    with (run / "events.jsonl").open("ab") as f:
        f.write(b'{"type":"sta')
    git(repo, "branch", "agentmux/old/x")
    lost = tmp_path / "lost-tree"
    git(repo, "worktree", "add", "-q", "-b", "side", str(lost))
    shutil.rmtree(lost)
    (repo / ".git" / "agentmux.lock").write_text("999999\n")
    env = {"GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    snap = subprocess.run(["git", "-C", str(repo), "commit-tree", "-m", "snap", tree],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()
    git(repo, "update-ref", "refs/agentmux/snapshots/r1/a", snap)

    before = snapshot_state(repo)
    lock_before = (repo / ".git" / "agentmux.lock").read_bytes()
    code, lines = _doctor(repo)
    assert code == 1
    assert snapshot_state(repo) == before
    assert (repo / ".git" / "agentmux.lock").read_bytes() == lock_before
    text = "\n".join(lines)
    assert (f"problem  ledger: run {old.name} is damaged: {old}/run.json: not valid JSON"
            in text)
    assert (f"problem  ledger: run {run.name}: {run}/events.jsonl has 1 torn or garbled line "
            "(readers skip it); repair: `agentmux doctor --fix` ends the torn line") in lines
    assert (f"problem  worktrees: {lost} (side) is registered but its folder is missing; "
            "repair: `git worktree prune` (note: it drops every missing worktree), or put "
            "the folder back") in lines
    assert ("problem  branches: branch 'agentmux/old/x' has no worktree and no run; repair: "
            "review it (`git log agentmux/old/x`), then merge it or delete it yourself "
            "(`git branch -d agentmux/old/x`); doctor never deletes branches") in lines
    assert (f"problem  sessions: run {run.name}: session 'agents' is gone, but b never "
            "recorded an end; repair: `agentmux doctor --fix` records them from their status "
            "files (as `lost` where there is none)") in lines
    assert (f"problem  locks: {repo}/.git/agentmux.lock names pid 999999, which died holding "
            "it; repair: `agentmux doctor --fix` clears it (no process holds it, so nothing "
            "waits on it)") in lines
    assert any(ln.startswith("problem  snapshots: refs/agentmux/snapshots/r1/a is ")
               and ln.endswith("(report only)") for ln in lines)
    assert lines[-1] == ("7 problems found; `agentmux doctor --fix` repairs what can be "
                         "repaired without losing work")

    refs = git(repo, "for-each-ref")
    code, lines = _doctor(repo, "--fix")
    assert code == 1          # the damaged run, the branch, the worktree and the snapshot stay
    # Nothing removed or moved; recording b's end snapshots its worktree (one new ref).
    added = set(git(repo, "for-each-ref").splitlines()) - set(refs.splitlines())
    assert set(refs.splitlines()) <= set(git(repo, "for-each-ref").splitlines())
    assert [ln.split("\t")[1] for ln in added] == [f"refs/agentmux/snapshots/{run.name}/b"]
    assert (old / "run.json").read_text() == "{not json"
    assert f"fixed    sessions: run {run.name}: session 'agents' is gone, but b never " \
           "recorded an end; recorded: b lost" in lines
    assert (repo / ".git" / "agentmux.lock").read_bytes() == b""
    assert lines[-1] == "4 problems found"
    r = run_cli("--socket", SOCK, "status", "--json", "--session", "agents", cwd=repo)
    assert {p["name"]: p["state"] for p in json.loads(r.out)["panes"]} == {"a": "done",
                                                                           "b": "lost"}
    # Repeating --fix finds nothing more to fix.
    code, again = _doctor(repo, "--fix")
    assert (code, [ln for ln in again if ln.startswith("fixed")]) == (1, [])


def test_doctor_reports_old_tmux(repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "tmux").write_text("#!/bin/sh\necho 'tmux 3.1'\n")
    (bin_dir / "tmux").chmod(0o755)
    r = subprocess.run([sys.executable, "-m", "agentmux", "doctor"], cwd=repo,
                       env={**os.environ, "PATH": str(bin_dir)}, capture_output=True,
                       text=True, check=False)
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == ("problem  tmux: tmux 3.1 is too old: agentmux needs "
                                        "tmux 3.2 or newer (tmux 3.1); repair: install tmux "
                                        "3.2 or newer")
