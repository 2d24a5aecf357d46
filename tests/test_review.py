"""Reviewing a run: results, conflicts between agents, metrics; real git, tmux and fake agents."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .conftest import git, run_cli, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

SOCK = "amx"  # private: TMUX_TMPDIR is a fresh folder for every test


def review_json(repo: Path, *args: str) -> dict[str, Any]:
    r = run_cli("--socket", SOCK, "review", "--json", *args, cwd=repo)
    assert r.code == 0, r.err
    data: dict[str, Any] = json.loads(r.out)
    return data


def three_agents(repo: Path) -> None:
    """a and b rewrite the same line of src/app.py; c writes another file."""
    layout = write_layout(repo, [
        {"name": "a", "command": fake("--write", "src/app.py=print('a')", "--commit", "a: app")},
        {"name": "b", "command": fake("--write", "src/app.py=print('b')", "--commit", "b: app",
                                      "--write", "notes.txt=b's notes")},
        {"name": "c", "command": fake("--write", "docs/c.md=c", "--commit", "c: docs")},
    ])
    up(layout, SOCK)
    assert {n: p["state"] for n, p in wait_states(repo, SOCK).items()} == \
        {"a": "done", "b": "done", "c": "done"}
    run = latest_run(repo)
    for name in "abc":
        wait_until((run / "panes" / name / "result.json").exists, 10, f"{name}'s result.json")


def summary(data: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: (sorted((f["path"], f["status"], f["added"], f["removed"])
                               for f in p["files"]), p["conflicts_with"])
            for p in data["panes"]}


def test_conflicts_finds_exactly_the_one_pair_and_review_shows_it_on_both(repo: Path) -> None:
    three_agents(repo)
    r = run_cli("--socket", SOCK, "conflicts", "--json", cwd=repo)
    assert r.code == 0, r.err
    pairs = {(p["a"], p["b"]): (p["conflict"], p["files"]) for p in json.loads(r.out)["pairs"]}
    assert pairs == {("a", "b"): (True, ["src/app.py"]), ("a", "c"): (False, []),
                     ("b", "c"): (False, [])}
    r = run_cli("--socket", SOCK, "conflicts", cwd=repo)
    assert r.code == 0, r.err
    assert "a × b: src/app.py" in r.out.splitlines()

    data = review_json(repo)
    assert summary(data) == {
        "a": ([("src/app.py", "M", 1, 1)], ["b"]),
        "b": ([("notes.txt", "A", 1, 0), ("src/app.py", "M", 1, 1)], ["a"]),
        "c": ([("docs/c.md", "A", 1, 0)], []),
    }
    panes = {p["name"]: p for p in data["panes"]}
    assert [c["subject"] for c in panes["b"]["commits"]] == ["b: app"]
    assert panes["b"]["dirty"] is True and panes["a"]["dirty"] is False
    m = data["metrics"]
    assert (m["pairs"], m["conflicting_pairs"], m["conflict_rate"]) == (3, 1, round(1 / 3, 4))
    assert m["conflicting_agents"] == ["a", "b"]
    assert m["overlap_files"] == ["src/app.py"]
    assert (m["agents"], m["done"], m["completion_rate"]) == (3, 3, 1.0)
    text = run_cli("--socket", SOCK, "review", cwd=repo)
    assert text.code == 0, text.err
    assert "CONFLICTS with: b" in text.out and "CONFLICTS with: a" in text.out


def test_review_survives_down_worktree_removal_and_branch_deletion(repo: Path) -> None:
    three_agents(repo)
    before = summary(review_json(repo))
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err
    for name in "abc":
        tree = repo / ".agentmux" / "worktrees" / "agents" / name
        git(repo, "worktree", "remove", "--force", str(tree))
        git(repo, "branch", "-D", f"agentmux/agents/{name}")
    assert not (repo / ".agentmux" / "worktrees" / "agents" / "a").exists()
    after = review_json(repo)
    assert summary(after) == before
    assert [c["subject"] for p in after["panes"] for c in p["commits"]] == \
        ["a: app", "b: app", "c: docs"]
    assert after["metrics"]["conflicting_pairs"] == 1


def iso(minute: int, second: int) -> str:
    return f"2025-01-02T10:{minute:02d}:{second:02d}.000Z"


def commit_with(repo: Path, name: str, files: dict[str, str]) -> str:
    """A commit on main holding files, on no branch: it stands in for a snapshot commit."""
    git(repo, "checkout", "-q", "-b", f"tmp-{name}", "main")
    for path, text in files.items():
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{name}: work")
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", f"tmp-{name}")
    return sha


# name, exit code, signal, start (min, s), end (min, s), files
MADE = [
    ("p1", 0, None, (0, 0), (1, 0), {"shared.txt": "one\n", "p1.txt": "x\n"}),
    ("p2", 0, None, (0, 10), (2, 10), {"shared.txt": "two\n"}),
    ("p3", 0, None, (0, 20), (0, 50), {"p3.txt": "x\n"}),
    ("p4", 3, None, (0, 0), (0, 45), {}),
    ("p5", None, "SIGTERM", (1, 0), (3, 0), {"p5.txt": "x\n"}),
]


def made_run(repo: Path) -> Path:
    """A run folder written by hand: 3 of 5 done, p1 and p2 conflict on shared.txt."""
    from agentmux import ledger

    base = git(repo, "rev-parse", "HEAD").strip()
    run = repo / ".agentmux" / "runs" / "20250102T100000Z-made-0001"
    rd = ledger.RunDir(run)
    ledger.ledger_root(repo)  # its .gitignore keeps the ledger out of commit_with's commits
    run.mkdir(parents=True)
    ledger.write_json(rd.run_json, {
        "version": 1, "id": run.name, "session": "made", "socket": "amx-none",
        "repo": str(repo), "base": base, "created_at": iso(0, 0), "state": "down",
        "panes": [{"name": n, "branch": f"made/{n}", "worktree": None} for n, *_ in MADE]})
    for name, code, sig, start, end, files in MADE:
        state = "killed" if sig else "done" if code == 0 else "failed"
        ledger.append_event(rd.events, {"type": "state", "pane": name, "state": state,
                                        "exit_code": code, "signal": sig, "reason": None})
        ledger.write_json(rd.status(name), {
            "version": 1, "pid": 1, "started_at": iso(*start), "ended_at": iso(*end),
            "exit_code": code, "signal": sig})
        head = commit_with(repo, name, files) if files else base
        rows = [{"path": p, "status": "A", "added": 1, "removed": 0} for p in files]
        ledger.write_json(rd.pane_dir(name) / "result.json", {
            "version": 1, "pane": name, "taken_at": iso(*end), "base": base, "head": head,
            "snapshot": head, "ref": None, "commits_ahead": 0 if head == base else 1,
            "dirty": False, "files": rows})
        rd.transcript(name).write_text(f"{name} says hello\n\n")
    return run


def test_metrics_of_a_constructed_run_match_hand_computed_values(repo: Path) -> None:
    made_run(repo)
    m = review_json(repo)["metrics"]
    assert m == {
        "agents": 5, "done": 3, "completion_rate": 0.6,
        "pairs": 10, "conflicting_pairs": 1, "conflict_rate": 0.1,
        "conflicting_agents": ["p1", "p2"],
        "overlap_files": ["shared.txt"],
        "wall_clock_s": 180.0,                        # 10:00:00 .. 10:03:00
        "agent_time_s": 60.0 + 120 + 30 + 45 + 120,   # 375 s
        "speedup": round(375 / 180, 2),
        "queued_s": 0.0,                              # no max_running: nothing queued
        "out_of_scope_edits": 0,                      # no pane declared a scope
    }
    r = run_cli("runs", cwd=repo)
    assert r.code == 0, r.err
    assert r.out.splitlines()[1].split() == ["20250102T100000Z-made-0001", "made", "down",
                                             "3/5", "(60%)", "1/10", "(10%)", "3m00s", "2.08x"]


def test_markdown_has_table_and_metrics_and_review_pane_shows_only_it(repo: Path) -> None:
    made_run(repo)
    r = run_cli("review", "--markdown", cwd=repo)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "| Agent | Outcome | Duration | Commits | Files | +/- | Conflicts with |" in lines
    assert "| p1 | done (exit 0) | 1m00s | 1 | 2 | +2 -0 | p2 |" in lines
    assert "| p5 | killed (SIGTERM) | 2m00s | 1 | 1 | +1 -0 | - |" in lines
    assert "| completion | 3/5 (60%) done |" in lines
    assert "| conflicts | 1/10 (10%) pairs: p1, p2 |" in lines
    assert "| wall-clock | 3m00s |" in lines and "| speed-up | 2.08x |" in lines

    r = run_cli("review", "p3", cwd=repo)
    assert r.code == 0, r.err
    assert "── p3 · done (exit 0) · 30s" in r.out
    assert not any(f"── {n} " in r.out for n in ("p1", "p2", "p4", "p5"))
    assert "     │ p3 says hello" in r.out.splitlines()
    assert [p["name"] for p in review_json(repo, "p3")["panes"]] == ["p3"]
    r = run_cli("review", "nope", cwd=repo)
    assert r.code == 2 and "no pane named 'nope'" in r.err


def test_diff_shows_untracked_file_of_running_agent_then_stat_after_it_ended(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "w", "command": fake(
        "--write", "fresh.txt=brand new", "--wait-input", "go? ")}])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK, {"w": "alive"})
    tree = repo / ".agentmux" / "worktrees" / "agents" / "w"
    wait_until((tree / "fresh.txt").exists, 10, "the agent's file")
    r = run_cli("--socket", SOCK, "diff", "w", cwd=repo)
    assert r.code == 0, r.err
    assert "+++ b/fresh.txt" in r.out and "+brand new" in r.out
    live = review_json(repo)["panes"][0]
    # Its "go? " prompt makes it `waiting` once the watcher has looked; alive either way.
    assert live["state"] in ("running", "waiting") and live["source"] == "live"
    assert [f["path"] for f in live["files"]] == ["fresh.txt"]
    # Looking at a running agent takes no snapshot ref and leaves its index alone.
    assert git(repo, "for-each-ref", "refs/agentmux") == ""
    assert git(tree, "status", "--porcelain") == "?? fresh.txt\n"

    for keys in (["-l", "ok"], ["Enter"]):
        subprocess.run(["tmux", "-L", SOCK, "send-keys", "-t", panes["w"]["pane_id"], *keys],
                       check=True)
    wait_states(repo, SOCK, {"w": "done"})
    wait_until((latest_run(repo) / "panes" / "w" / "result.json").exists, 10, "result.json")
    r = run_cli("--socket", SOCK, "diff", "--stat", "w", cwd=repo)
    assert r.code == 0, r.err
    assert r.out.split("\n")[0].split() == ["fresh.txt", "|", "1", "+"]
    assert "1 file changed, 1 insertion(+)" in r.out
