"""From a layout to agents in tmux: outcomes, faults, hostile input; real tmux and git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import git, make_repo, run_cli, wait_until
from .helpers import events, fake, latest_run, up, wait_states, write_layout

SOCK = "amx"  # private: TMUX_TMPDIR is a fresh folder for every test


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", SOCK, *args], capture_output=True, text=True,
                          check=False)


def test_outcomes_are_recorded_exactly(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "ok", "command": fake("--write", "a.txt=a", "--commit", "a")},
        {"name": "fails", "command": fake("--exit", "3")},
        # dash (the tests' /bin/sh) does not exec a lone command, and would report 143.
        {"name": "termed", "command": "exec " + fake("--signal", "TERM")},
        {"name": "flood", "command": fake("--lines", "5000", "--exit", "7")},
        {"name": "quick", "command": "true"},
    ])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    got = {n: (p["state"], p["exit_code"], p["signal"]) for n, p in panes.items()}
    assert got == {
        "ok": ("done", 0, None),
        "fails": ("failed", 3, None),
        "termed": ("killed", None, "SIGTERM"),
        "flood": ("failed", 7, None),
        "quick": ("done", 0, None),
    }
    raw = (latest_run(repo) / "panes" / "flood" / "output.log").read_bytes()
    lines = [x for x in raw.decode().splitlines() if x.startswith("fake-agent line ")]
    assert lines == [f"fake-agent line {i}" for i in range(1, 5001)]
    # The agent's commit is on its own branch, and main is untouched.
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/ok").strip() == "a"
    assert git(repo, "rev-list", "--count", "main").strip() == "1"
    # Exactly one terminal event per pane, and a transcript for each.
    # `status` folds a fresh look at tmux, so it can be ahead of the watcher's record.
    def terminal() -> list[str]:
        return sorted(e["pane"] for e in events(repo) if e.get("state") in
                      ("done", "failed", "killed", "lost"))
    wait_until(lambda: len(terminal()) >= 5, 10, "the watcher's records")
    assert terminal() == ["fails", "flood", "ok", "quick", "termed"]
    wait_until(lambda: (latest_run(repo) / "panes" / "quick" / "transcript.txt").exists(),
               5, "transcript")


def test_kill_pane_records_sighup_never_done(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "victim", "command": fake("--sleep", "60")}])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, {"victim": "working"})
    tmux("kill-pane", "-t", panes["victim"]["pane_id"])
    panes = wait_states(repo, SOCK)
    assert (panes["victim"]["state"], panes["victim"]["signal"]) == ("killed", "SIGHUP")


def test_watcher_killed_and_restarted_loses_and_repeats_nothing(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "early", "command": "true"},
        {"name": "late", "command": fake("--wait-input", "go? ")},
    ])
    up(layout, SOCK)
    # "go? " with the cursor after it is a question waiting for its answer.
    wait_states(repo, SOCK, {"early": "done", "late": "waiting"})
    run = latest_run(repo)
    wait_until(lambda: any(e["pane"] == "early" and e["state"] == "done" for e in events(repo)),
               10, "early's event")
    pid = json.loads((run / "watcher.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    pane_id = states_pane_id(repo, "late")
    tmux("send-keys", "-t", pane_id, "-l", "yes")
    tmux("send-keys", "-t", pane_id, "Enter")
    wait_until(lambda: json.loads((run / "panes" / "late" / "status.json").read_text())
               .get("ended_at"), 10, "late to end")
    # Restart it as a user would; it must pick up late's end and repeat nothing.
    watcher = subprocess.Popen(
        [sys.executable, "-m", "agentmux", "--socket", SOCK, "watch", "--run-dir", str(run)],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: any(e["pane"] == "late" and e["state"] == "done"
                               for e in events(repo)), 10, "late's event from the new watcher")
    finally:
        watcher.terminate()
        watcher.wait(10)
    terminal = [(e["pane"], e["state"]) for e in events(repo)
                if e["state"] in ("done", "failed", "killed", "lost")]
    assert sorted(terminal) == [("early", "done"), ("late", "done")]


def states_pane_id(repo: Path, name: str) -> str:
    from .helpers import status
    return str({p["name"]: p for p in status(repo, SOCK)["panes"]}[name]["pane_id"])


def test_server_killed_midrun_reports_nothing_done_that_was_not(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "finished", "command": "true"},
        {"name": "busy", "command": fake("--sleep", "60")},
    ])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"finished": "done", "busy": "working"})
    wait_until(lambda: any(e["pane"] == "finished" for e in events(repo)
                           if e["state"] == "done"), 10, "finished's event")
    tmux("kill-server")
    panes = wait_states(repo, SOCK)
    assert panes["finished"]["state"] == "done"
    # The runner caught the SIGHUP of the dying server and recorded it; never `done`.
    assert panes["busy"]["state"] in ("killed", "lost")
    assert panes["busy"]["state"] != "done"


def test_up_again_on_live_session_duplicates_nothing_and_resumes_after_down(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "a", "command": fake("--append", "a.txt=1", "--commit", "one", "--sleep", "60")},
        {"name": "b", "command": fake("--sleep", "60")},
    ])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"a": "working", "b": "working"})
    wait_until(lambda: git(repo, "log", "-1", "--format=%s", "agentmux/agents/a").strip()
               == "one", 10, "a's commit")
    runs_before = sorted(p.name for p in (repo / ".agentmux" / "runs").iterdir())
    panes_before = tmux("list-panes", "-a", "-F", "#{pane_id}").stdout
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert "already running" in r.out
    assert sorted(p.name for p in (repo / ".agentmux" / "runs").iterdir()) == runs_before
    assert tmux("list-panes", "-a", "-F", "#{pane_id}").stdout == panes_before

    r = run_cli("--socket", SOCK, "down", "--grace", "2", cwd=repo)
    assert r.code == 0, r.err
    assert tmux("has-session", "-t", "=agents").returncode != 0
    head = git(repo, "rev-parse", "agentmux/agents/a").strip()
    up(layout, SOCK)
    wait_until(lambda: git(repo, "rev-list", "--count", "agentmux/agents/a").strip() == "3",
               10, "a's second commit")
    # Same worktree, same branch, never reset: the first run's commit is still its tip's parent.
    assert git(repo, "rev-parse", "agentmux/agents/a~1").strip() == head
    trees = git(repo, "worktree", "list", "--porcelain")
    assert trees.count("branch refs/heads/agentmux/agents/a\n") == 1


def test_up_failing_at_fourth_pane_leaves_nothing_behind(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "agentmux/agents/p4")
    elsewhere = tmp_path / "elsewhere"
    git(repo, "worktree", "add", "-q", str(elsewhere), "agentmux/agents/p4")
    layout = write_layout(repo, [{"name": f"p{i}", "command": "true"} for i in range(1, 6)])
    run_cli("trust", str(layout), cwd=repo)
    refs = git(repo, "for-each-ref")
    trees = git(repo, "worktree", "list", "--porcelain")
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 2, (r.out, r.err)
    assert "agentmux/agents/p4" in r.err and str(elsewhere) in r.err
    assert git(repo, "for-each-ref") == refs
    assert git(repo, "worktree", "list", "--porcelain") == trees
    assert not any((repo / ".agentmux" / "runs").glob("*"))
    assert tmux("has-session", "-t", "=agents").returncode != 0


HOSTILE = "a;b #{pane_id} #(touch SENTINEL) $(touch SENTINEL2) 'sq' \"dq\"\nline2 C-c ;"


def test_hostile_task_reaches_agent_byte_for_byte(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "my repo #1", {"f": "x\n"})
    out = tmp_path / "task.out"
    layout = write_layout(repo, [{
        "name": "hostile", "task": HOSTILE,
        "command": f"fake-agent --task {{task}} --echo-task {out}",
    }])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert panes["hostile"]["state"] == "done"
    assert out.read_bytes() == HOSTILE.encode()
    for sentinel in ("SENTINEL", "SENTINEL2"):
        assert not list(tmp_path.rglob(sentinel))
        assert not list(Path.home().rglob(sentinel))


def test_untrusted_layout_is_refused_showing_its_commands(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "echo hi"}])
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 3
    assert "not trusted" in r.err and "echo hi" in r.err
    assert not (repo / ".agentmux").exists()
    assert tmux("list-sessions").returncode != 0
    assert run_cli("trust", str(layout), cwd=repo).code == 0
    # An edit after trusting must be trusted again.
    layout.write_text(layout.read_text().replace("echo hi", "echo bye"))
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 3 and "echo bye" in r.err


def test_down_stops_agents_and_kills_only_its_session(repo: Path) -> None:
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "agents-other", "sleep 300")
    layout = write_layout(repo, [
        {"name": "stubborn", "command": fake("--ignore-sigint", "--sleep", "60")},
        {"name": "polite", "command": fake("--sleep", "60")},
    ], session="agents")
    up(layout, SOCK)
    wait_states(repo, SOCK, {"stubborn": "working", "polite": "working"})
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK)
    # agentmux stopped them: `stopped`, with the reason and the signal that did it.
    assert (panes["polite"]["state"], panes["polite"]["reason"], panes["polite"]["signal"]) == (
        "stopped", "down", "SIGINT")
    assert (panes["stubborn"]["state"], panes["stubborn"]["signal"]) == ("stopped", "SIGTERM")
    assert tmux("has-session", "-t", "=agents").returncode != 0
    assert tmux("has-session", "-t", "=agents-other").returncode == 0
    assert (latest_run(repo) / "panes" / "polite" / "transcript.txt").exists()
    # Worktrees stay.
    assert (repo / ".agentmux" / "worktrees" / "agents" / "polite").is_dir()


def test_validate_prints_plan_and_creates_nothing(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "agent": "claude", "task": "do it"}])
    before = sorted(p.name for p in repo.iterdir())
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert "agentmux/agents/a" in r.out and "claude" in r.out
    assert sorted(p.name for p in repo.iterdir()) == before


def test_default_server_path_runs_on_the_throwaway_server(repo: Path) -> None:
    """Without --socket agentmux uses the default server, which TMUX_TMPDIR makes private."""
    layout = write_layout(repo, [{"name": "a", "command": "true"}])
    r = run_cli("up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    sock = Path(os.environ["TMUX_TMPDIR"]) / f"tmux-{os.getuid()}" / "default"
    assert sock.is_socket()
    listed = subprocess.run(["tmux", "-S", str(sock), "list-sessions", "-F", "#{session_name}"],
                            capture_output=True, text=True, check=False).stdout.split()
    assert listed == ["agents"]
    r = run_cli("status", "--json", cwd=repo)
    assert r.code == 0 and json.loads(r.out)["run"]["socket"] is None
    assert run_cli("down", "--grace", "1", cwd=repo).code == 0


def test_up_makes_four_fsyncs_whatever_n_and_its_ledger_is_whole(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each fsync costs 3-5 ms here; `up` made 2N + 6 of them before (docs/performance.md).
    from agentmux import ledger, trust
    from agentmux.up import up as do_up

    synced: list[str] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    for n, session in ((1, "one"), (6, "six")):
        layout = write_layout(repo, [{"name": f"p{i}", "command": "sleep 30"} for i in range(n)],
                              name=f"{session}.toml", session=session, isolation="none")
        trust.trust(layout, layout.read_bytes())
        synced.clear()
        with monkeypatch.context() as m:
            m.setattr(os, "fsync", counting)
            res = do_up(layout, socket=SOCK)
        run = res.run_dir
        assert [Path(p).name for p in synced] == [
            Path(synced[0]).name, Path(synced[1]).name, run.id, "runs"], synced
        assert Path(synced[0]).name.startswith(".run.json.")   # WHOLE, before its rename
        assert run.run().state == "running"
        assert sorted(p.pane_id is not None for p in run.run().panes) == [True] * n
        assert {s.pane for s in map(run.spec_of, run.run().pane_names) if s} == {
            f"p{i}" for i in range(n)}
        assert run.env() is None   # the environment is not kept in the run (panenv.py)
        assert ledger.read_json(run.run_json) == run.run().to_json()
