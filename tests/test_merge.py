"""`merge`: a queue into the main checkout that stops cleanly; real runs of the fake agent."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import Result, git, run_cli, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

SOCK = "amx"

# Dumps a checkout's whole state: status (v2, with branch and head), every ref, and a hash of
# every file outside .git and the ledger. Used as a post-merge hook and by the test itself.
DUMP = r'''
import hashlib, os, subprocess, sys
root, out = sys.argv[1], sys.argv[2]
env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
def git(*a):
    return subprocess.run(["git", *a], cwd=root, env=env, capture_output=True,
                          check=True).stdout
parts = [git("status", "--porcelain=v2", "--branch", "--untracked-files=all"),
         git("for-each-ref")]
lines = []
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if not (d == root and x in (".git", ".agentmux"))]
    for f in files:
        p = os.path.join(d, f)
        body = os.readlink(p).encode() if os.path.islink(p) else open(p, "rb").read()
        mode = oct(os.lstat(p).st_mode)
        lines.append(f"{os.path.relpath(p, root)} {mode} ".encode()
                     + hashlib.sha256(body).hexdigest().encode() + b"\n")
parts += sorted(lines)
open(out, "wb").write(b"".join(parts))
'''


def branch(pane: str) -> str:
    return f"agentmux/agents/{pane}"


def tree_of(repo: Path, pane: str) -> Path:
    return repo / ".agentmux" / "worktrees" / "agents" / pane


def start(repo: Path, panes: list[dict[str, Any]], **top: Any) -> Path:
    """Run the agents to their end (and their watcher snapshot); the run folder."""
    up(write_layout(repo, panes, **top), SOCK)
    ending = [p["name"] for p in panes if "--sleep" not in p["command"]]
    wait_states(repo, SOCK, {n: "done" for n in ending})
    run = latest_run(repo)
    for n in ending:
        wait_until((run / "panes" / n / "result.json").exists, 10, f"{n}'s snapshot")
    return run


def amx(repo: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_cli("--socket", SOCK, *args, cwd=repo, env=env)


def merge_events(run: Path) -> list[dict[str, Any]]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("type") == "merge"]


def test_queue_stops_at_conflict_leaving_target_as_after_last_merge(
        repo: Path, tmp_path: Path) -> None:
    run = start(repo, [
        {"name": "a", "command": fake("--write", "shared.txt=from a", "--commit", "a adds")},
        {"name": "b", "command": fake("--write", "shared.txt=from b", "--commit", "b adds")},
        {"name": "c", "command": fake("--write", "c.txt=from c", "--commit", "c adds")},
    ])
    dump = tmp_path / "dump.py"
    dump.write_text(DUMP)
    states = tmp_path / "states"
    states.mkdir()
    hook = repo / ".git" / "hooks" / "post-merge"
    hook.write_text(f'#!/bin/sh\nexec {sys.executable} {dump} "$PWD" '
                    f'"$AMX_STATES/after-$(ls "$AMX_STATES" | wc -l)"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    env = {"AMX_STATES": str(states)}

    def state(name: str) -> bytes:
        subprocess.run([sys.executable, str(dump), str(repo), str(tmp_path / name)], check=True)
        return (tmp_path / name).read_bytes()

    before = state("before")
    r = amx(repo, "merge", "--dry-run", "a", "b", "c", env=env)
    assert r.code == 0, r.err
    assert r.out.splitlines()[1:] == [
        "would stop: b conflicts with main in: shared.txt",
        "left in the queue: c",
        "nothing was changed (dry run)",
    ]
    assert r.out.startswith("would merge a into main (merge): ")
    assert state("after-dry-run") == before
    assert merge_events(run) == []

    r = amx(repo, "merge", "a", "b", "c", env=env)
    assert r.code == 1, (r.out, r.err)
    lines = r.out.splitlines()
    assert lines[0].startswith("merge a into main (merge): ")
    assert lines[1:] == [
        "stopped: b conflicts with main in: shared.txt",
        "left in the queue: c",
        "main and its checkout are as they were after the last merge",
    ]
    assert "merge queue stopped at 'b'" in r.err
    # Exactly one merge happened (one post-merge hook), and nothing moved since.
    assert [p.name for p in states.iterdir()] == ["after-0"]
    assert state("after-stop") == (states / "after-0").read_bytes()
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    # a's merge is a --no-ff merge commit naming the agent and the run.
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert parents[1] == git(repo, "rev-parse", branch("a")).strip()
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == (
        f"agentmux: merge a ({branch('a')}, run {run.name}) into main")
    assert (repo / "shared.txt").read_text() == "from a\n"
    assert not (repo / "c.txt").exists()
    head = git(repo, "rev-parse", "main").strip()
    assert [(e["pane"], e["into"], e["strategy"], e["commit"], e["result"])
            for e in merge_events(run)] == [
        ("a", "main", "merge", head, "merged"), ("b", "main", "merge", None, "conflict")]


def test_dirty_or_busy_target_is_refused(repo: Path) -> None:
    start(repo, [{"name": "a", "command": fake("--write", "a.txt=a", "--commit", "a")}])
    refs = git(repo, "for-each-ref")
    cases: list[tuple[str, Callable[[], object], str]] = [
        ("modified", lambda: (repo / "README.md").write_text("edited\n"),
         "it has uncommitted changes: README.md"),
        ("staged", lambda: ((repo / "new.txt").write_text("n\n"), git(repo, "add", "new.txt")),
         "it has uncommitted changes: new.txt"),
        ("merging", lambda: (repo / ".git" / "MERGE_HEAD").write_text(
            git(repo, "rev-parse", "HEAD")), "a merge is in progress"),
        ("rebasing", lambda: (repo / ".git" / "rebase-merge").mkdir(),
         "a rebase is in progress"),
    ]
    for what, make, why in cases:
        make()
        r = amx(repo, "merge", "a")
        assert r.code == 3, (what, r.out, r.err)
        assert f"cannot merge into 'main' in {repo}: {why}" in r.err, what
        assert git(repo, "for-each-ref") == refs, what
        git(repo, "reset", "-q", "--hard")
        git(repo, "clean", "-qf", "new.txt")
        for f in (repo / ".git" / "MERGE_HEAD", repo / ".git" / "rebase-merge"):
            if f.is_dir():
                f.rmdir()
            elif f.exists():
                f.unlink()
    assert amx(repo, "merge", "a").code == 0


def test_uncommitted_work_is_refused_then_committed_onto_its_branch(repo: Path) -> None:
    run = start(repo, [{"name": "u", "command": fake(
        "--write", "done.txt=committed", "--commit", "part one",
        "--write", "README.md=changed", "--write", "notes/new.txt=untracked")}])
    old_tip = git(repo, "rev-parse", branch("u")).strip()
    refs = git(repo, "for-each-ref")
    r = amx(repo, "merge", "u")
    assert r.code == 3
    assert "pane 'u' has uncommitted work: README.md, notes/new.txt" in r.err
    assert "--include-uncommitted" in r.err
    assert git(repo, "for-each-ref") == refs

    r = amx(repo, "merge", "--include-uncommitted", "u")
    assert r.code == 0, r.err
    new_tip = git(repo, "rev-parse", branch("u")).strip()
    # Fast-forwarded, never rewritten: the old tip is the new tip's parent.
    assert git(repo, "rev-parse", f"{new_tip}^").strip() == old_tip
    assert git(repo, "log", "-1", "--format=%s", new_tip).strip() == (
        f"agentmux: uncommitted work of u (run {run.name})")
    assert (repo / "README.md").read_text() == "changed\n"
    assert (repo / "notes" / "new.txt").read_text() == "untracked\n"
    assert git(tree_of(repo, "u"), "status", "--porcelain", "-uall") == ""


def test_squash_and_rebase_strategies(repo: Path) -> None:
    start(repo, [
        {"name": "s", "command": fake("--write", "s1=1", "--commit", "s one",
                                      "--write", "s2=2", "--commit", "s two")},
        {"name": "r", "command": fake("--write", "r1=1", "--commit", "r one",
                                      "--write", "r2=2", "--commit", "r two")},
    ])
    base = git(repo, "rev-parse", "main").strip()
    s_tip, r_tip = (git(repo, "rev-parse", branch(p)).strip() for p in ("s", "r"))

    r = amx(repo, "merge", "--strategy", "squash", "s")
    assert r.code == 0, r.err
    assert git(repo, "log", "--format=%P", f"{base}..main").split() == [base]   # one commit
    assert git(repo, "ls-tree", "--name-only", "main").split() == [
        "README.md", "s1", "s2", "src"]
    assert "s one" in git(repo, "log", "-1", "--format=%b", "main")
    squashed = git(repo, "rev-parse", "main").strip()

    r = amx(repo, "merge", "--strategy", "rebase", "r")
    assert r.code == 0, r.err
    assert git(repo, "log", "--format=%s", f"{squashed}..main").splitlines() == [
        "r two", "r one"]
    assert git(repo, "rev-list", "--min-parents=2", "--count", "main").strip() == "0"
    assert git(repo, "rev-parse", "main~2").strip() == squashed
    assert (repo / "r2").read_text() == "2\n" and (repo / "s1").read_text() == "1\n"
    # The agents' own branches are untouched, and no temporary worktree is left.
    assert [git(repo, "rev-parse", branch(p)).strip() for p in ("s", "r")] == [s_tip, r_tip]
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    assert sum(line.startswith("worktree ") for line in listed) == 3
    assert list((repo / ".agentmux" / "tmp").iterdir()) == []


def test_target_not_checked_out_is_merged_without_a_checkout(repo: Path) -> None:
    git(repo, "branch", "release")
    start(repo, [{"name": "a", "command": fake("--write", "a.txt=a", "--commit", "a")}])
    main = git(repo, "rev-parse", "main").strip()
    r = amx(repo, "merge", "--into", "release", "a")
    assert r.code == 0, r.err
    assert git(repo, "show", "release:a.txt") == "a\n"
    assert git(repo, "rev-parse", "main").strip() == main
    assert not (repo / "a.txt").exists()


def test_dry_run_with_include_uncommitted_changes_nothing(repo: Path) -> None:
    start(repo, [{"name": "u", "command": fake("--write", "x.txt=uncommitted")}])
    refs = git(repo, "for-each-ref")
    tree = tree_of(repo, "u")
    status = git(tree, "status", "--porcelain=v2", "-uall")
    r = amx(repo, "merge", "--dry-run", "--include-uncommitted", "u")
    assert r.code == 0, r.err
    assert r.out.startswith("would commit u's uncommitted work onto its branch: ")
    assert git(repo, "for-each-ref") == refs
    assert git(tree, "status", "--porcelain=v2", "-uall") == status
