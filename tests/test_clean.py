"""`clean` and `restore`: refuse anything that would lose work; --force keeps it all aside."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .conftest import fingerprint, git
from .helpers import fake, latest_run, wait_states
from .test_merge import SOCK, amx, branch, start, tree_of


def files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file below root but git's own: mode and content hash."""
    out = {}
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x != ".git"]
        for n in names:
            p = Path(d) / n
            if p == root / ".git":
                continue
            found = fingerprint(p)
            if found is not None:
                out[str(p.relative_to(root))] = found
    return out


def events(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("type") == kind]


def test_clean_refuses_whatever_would_lose_work_and_removes_nothing(repo: Path) -> None:
    (repo / ".gitignore").write_text(".env\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore .env")
    git(repo, "config", "status.showUntrackedFiles", "no")
    run = start(repo, [
        {"name": "dirty", "command": fake("--write", "README.md=edited")},
        {"name": "untracked", "command": fake("--write", "notes/new.txt=mine")},
        {"name": "ignored", "command": fake("--write", ".env=SECRET=1")},
        {"name": "unmerged", "command": fake("--write", "u.txt=u", "--commit", "u")},
        {"name": "busy", "command": fake("--sleep", "60")},
        {"name": "locked", "command": "true"},
    ])
    wait_states(repo, SOCK, {"busy": "working"})
    git(repo, "worktree", "lock", "--reason", "mine, hands off", str(tree_of(repo, "locked")))
    why = {
        "dirty": "modified, staged or untracked files: README.md",
        "untracked": "modified, staged or untracked files: notes/new.txt",
        "ignored": "ignored files (git would delete them): .env",
        "unmerged": f"branch '{branch('unmerged')}' has commits not merged",
        "busy": "its agent is still running",
        "locked": "the worktree is locked (`git worktree lock`: mine, hands off)",
    }
    refs = git(repo, "for-each-ref")
    trees = git(repo, "worktree", "list", "--porcelain")
    for pane, reason in why.items():
        r = amx(repo, "clean", pane)
        assert r.code == 3, (pane, r.out, r.err)
        assert f"nothing was removed:\n  {pane}: {reason}" in r.err, (pane, r.err)
        assert git(repo, "worktree", "list", "--porcelain") == trees
        assert git(repo, "for-each-ref") == refs
    # All or nothing: one refused pane keeps every pane, and every reason is listed.
    r = amx(repo, "clean")
    assert r.code == 3
    assert all(f"  {pane}: {reason}" in r.err for pane, reason in why.items()), r.err
    # --force keeps work aside, but never stops an agent nor breaks someone's lock.
    r = amx(repo, "clean", "--force", "busy", "locked")
    assert r.code == 3
    assert "busy: its agent is still running" in r.err and "locked: the worktree is locked" \
        in r.err
    assert git(repo, "worktree", "list", "--porcelain") == trees
    assert git(repo, "for-each-ref") == refs
    assert (tree_of(repo, "ignored") / ".env").read_text() == "SECRET=1\n"
    assert events(run, "clean") == []


def test_force_then_restore_brings_back_every_byte(repo: Path) -> None:
    (repo / ".gitignore").write_text(".env\nnode_modules/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignores")
    run = start(repo, [{"name": "f", "command": fake(
        "--write", "done.txt=committed", "--commit", "one",
        "--write", "README.md=edited", "--write", "notes/new.txt=untracked",
        "--write", "run.sh=#!/bin/sh", "--write", ".env=SECRET=1",
        "--write", "config/.env=NESTED=1",
        "--write", "node_modules/pkg/index.js=regenerable")
        + " && chmod 755 run.sh && chmod 600 .env"}])
    tree = tree_of(repo, "f")
    before = files(tree)
    status = git(tree, "status", "--porcelain", "-uall", "--ignored")
    head = git(tree, "rev-parse", "HEAD").strip()

    r = amx(repo, "clean", "--force", "f")
    assert r.code == 0, r.err
    assert "f: ignored files kept in the ledger: .env, config/.env" in r.out
    assert "f: disposable files deleted: node_modules/pkg/index.js" in r.out
    assert f"f: kept branch {branch('f')} (not merged into the main checkout's HEAD)" in r.out
    assert not tree.exists()
    assert git(repo, "rev-parse", branch("f")).strip() == head
    assert (run / "panes" / "f" / "ignored" / ".env").read_text() == "SECRET=1\n"

    r = amx(repo, "restore", "f")
    assert r.code == 0, r.err
    after = files(tree)
    gone = {k for k in before if k.startswith("node_modules/")}
    assert gone == {"node_modules/pkg/index.js"}
    assert after == {k: v for k, v in before.items() if k not in gone}
    assert git(tree, "rev-parse", "HEAD").strip() == head
    assert git(tree, "diff", "--cached", "--name-only") == ""   # nothing committed or staged
    assert git(tree, "status", "--porcelain", "-uall", "--ignored") == status.replace(
        "!! node_modules/pkg/index.js\n", "")
    assert [e["pane"] for e in events(run, "clean")] == ["f"]
    assert [e["pane"] for e in events(run, "restore")] == ["f"]
    # A second restore finds the worktree there and refuses.
    r = amx(repo, "restore", "f")
    assert r.code == 3 and "exists" in r.err


def test_clean_of_merged_clean_pane_deletes_worktree_and_branch(repo: Path) -> None:
    start(repo, [{"name": "m", "command": fake("--write", "m.txt=m", "--commit", "m")}])
    assert amx(repo, "merge", "m").code == 0
    r = amx(repo, "clean", "m")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"m: removed {tree_of(repo, 'm')}",
                                  f"m: deleted branch {branch('m')}"]
    assert not tree_of(repo, "m").exists()
    assert git(repo, "branch", "--list", branch("m")) == ""
    assert events(latest_run(repo), "clean")[0]["branch_deleted"] is True


def test_refusal_names_what_to_run_instead(repo: Path) -> None:
    start(repo, [
        {"name": "dirty", "command": fake("--write", "notes.txt=mine")},
        {"name": "m1", "command": fake("--write", "m1.txt=1", "--commit", "m1")},
        {"name": "m2", "command": "true"},
    ])
    assert amx(repo, "merge", "m1").code == 0
    r = amx(repo, "clean")
    assert r.code == 3
    assert r.err == (
        "agentmux: nothing was removed:\n"
        "  dirty: modified, staged or untracked files: notes.txt\n"
        "to remove the others now: agentmux clean m1 m2\n"
        "to keep what is listed and remove it anyway: agentmux clean --force dirty "
        "(uncommitted and untracked files go into a snapshot ref, ignored files, changed "
        "provisioned files and files git cannot store into the run's ledger; unmerged "
        "branches are kept)\n")
    # A reason --force cannot lift offers no --force.
    git(repo, "worktree", "lock", str(tree_of(repo, "dirty")))
    r = amx(repo, "clean", "--session", "agents")
    assert r.code == 3
    assert r.err.endswith(
        "  dirty: the worktree is locked (`git worktree lock`: no reason given)\n"
        "  dirty: modified, staged or untracked files: notes.txt\n"
        "to remove the others now: agentmux clean m1 m2\n"), r.err
    # Typed where it is printed: outside the repository the hint names it.
    r = amx(repo.parent, "--repo", str(repo), "clean")
    assert r.code == 3
    assert r.err.endswith(f"to remove the others now: agentmux --repo {repo} clean m1 m2\n"), \
        r.err
    assert amx(repo, "clean", "m1", "m2").code == 0
    # Panes with nothing left to remove are not offered again.
    r = amx(repo, "clean")
    assert r.code == 3 and "to remove the others" not in r.err, r.err
