"""Files `copy` provisions (`copy = [".env"]`) are never the agent's work (issue 13, item 1).

The real path: `agentmux up` with the fake agent on a repository whose `.env` holds a secret,
then review, `merge --include-uncommitted` and `clean`. Afterwards no object in the repository
holds the secret (every object, reachable or not: the live views write commits too), review
lists no `.env` change and no overlap on it, and the main checkout's `.env` is untouched.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from ..conftest import Result, git, run_cli
from ..helpers import fake
from ..test_merge import SOCK, amx, branch, start, tree_of

SECRET = b"SECRET=1"


def cli(repo: Path, *args: str) -> Result:
    """agentmux in this process (CliRunner): a subprocess proves nothing more here."""
    return run_cli("--socket", SOCK, *args, cwd=repo, process=False)


def objects_holding(repo: Path, needle: bytes) -> list[str]:
    """Every object in the repository's store (loose and packed, reachable or not) whose
    content holds needle; also checks that each ref's objects were listed."""
    every = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects",
                            "--batch-check=%(objectname)"], check=True, capture_output=True,
                           text=True).stdout.split()
    reachable = {line.split()[0] for line in git(repo, "rev-list", "--objects", "--all",
                                                 "--reflog").splitlines()}
    assert reachable <= set(every)
    bodies = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"],
                            input="\n".join(every).encode() + b"\n", check=True,
                            capture_output=True).stdout
    out, i = [], 0
    while i < len(bodies):
        header_end = bodies.index(b"\n", i)
        sha, _, size = bodies[i:header_end].decode().split()
        body = bodies[header_end + 1:header_end + 1 + int(size)]
        if needle in body:
            out.append(sha)
        i = header_end + 1 + int(size) + 1
    return out


def _repo_with_env(repo: Path, ignored: bool) -> None:
    if ignored:
        (repo / ".gitignore").write_text(".env\n")
        git(repo, "add", ".gitignore")
        git(repo, "commit", "-qm", "ignore .env")
    (repo / ".env").write_bytes(SECRET + b"\n")


@pytest.mark.parametrize("ignored", [True, False], ids=["ignored-env", "untracked-env"])
def test_a_provisioned_secret_never_enters_git(repo: Path, ignored: bool) -> None:
    _repo_with_env(repo, ignored)
    # With an untracked .env the agents do not `git add -A` themselves: that would commit it,
    # and agentmux cannot stop an agent's own commit (see the next test for what it does then).
    work = ["--write", "a.txt=from a"] + (["--commit", "a", "--write", "wip.txt=wip"]
                                          if ignored else [])
    start(repo, [{"name": "a", "command": fake(*work)},
                 {"name": "b", "command": fake("--write", "b.txt=from b")}], copy=[".env"])
    for pane in ("a", "b"):
        assert (tree_of(repo, pane) / ".env").read_bytes() == SECRET + b"\n"

    r = cli(repo, "review", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    for p in data["panes"]:
        assert ".env" not in [f["path"] for f in p["files"]], p["files"]
        assert p["provisioned"] == [{"path": ".env", "state": "unchanged", "committed": False}]
    assert data["metrics"]["overlap_files"] == []
    text = cli(repo, "review").out
    assert ".env" not in text, text

    r = cli(repo, "merge", "--include-uncommitted", "a", "b")
    assert r.code == 0, (r.out, r.err)
    assert git(repo, "ls-tree", "-r", "--name-only", "main").split() == sorted(
        [*([".gitignore"] if ignored else []), "README.md", "a.txt", "b.txt", "src/app.py",
         *(["wip.txt"] if ignored else [])])

    r = cli(repo, "clean")
    assert r.code == 0, (r.out, r.err)
    for pane in ("a", "b"):
        assert (f"{pane}: provisioned copies removed (the originals stay in the main "
                "checkout): .env") in r.out
        assert not tree_of(repo, pane).exists()
    assert (repo / ".env").read_bytes() == SECRET + b"\n"
    assert objects_holding(repo, SECRET) == []
    assert git(repo, "for-each-ref", "refs/agentmux/snapshots").count("\n") == 2


def test_a_changed_provisioned_file_is_named_never_shown(repo: Path) -> None:
    _repo_with_env(repo, ignored=True)
    run = start(repo, [{"name": "a", "command": fake("--write", ".env=TOKEN=hunter2")}],
                copy=[".env"])
    r = cli(repo, "review")
    assert "   changed provisioned file .env (placed by `copy`; content not shown)" in r.out
    assert "hunter2" not in r.out and "0 files (+0 -0)" in r.out, r.out

    tree = tree_of(repo, "a")
    r = cli(repo, "clean", "a")
    assert r.code == 3
    assert ("  a: changed provisioned files (copies `copy` placed; content not shown): .env"
            in r.err), r.err
    assert (tree / ".env").read_text() == "TOKEN=hunter2\n"

    r = cli(repo, "clean", "--force", "a")
    assert r.code == 0, r.err
    kept = run / "panes" / "a" / "provisioned" / ".env"
    assert f"a: changed provisioned files kept in {run / 'panes' / 'a'}/provisioned: .env" \
        in r.out
    assert kept.read_text() == "TOKEN=hunter2\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert objects_holding(repo, b"hunter2") == []
    assert objects_holding(repo, SECRET) == []


def test_a_branch_that_commits_a_provisioned_file_is_never_merged(repo: Path) -> None:
    _repo_with_env(repo, ignored=False)
    # An agent that runs `git add -A` commits the untracked copy itself.
    start(repo, [{"name": "a", "command": fake("--write", "a.txt=a", "--commit", "all")}],
          copy=[".env"])
    data = json.loads(cli(repo, "review", "--json").out)
    (p,) = data["panes"]
    assert [f["path"] for f in p["files"]] == ["a.txt"]
    assert p["provisioned"] == [{"path": ".env", "state": "unchanged", "committed": True}]
    text = cli(repo, "review").out
    assert "   provisioned file .env is committed on the branch; merge refuses it" in text

    main = git(repo, "rev-parse", "main")
    r = cli(repo, "merge", "a")
    assert r.code == 3
    assert ("  pane 'a': its branch commits .env, which `copy` placed in its worktree (it may "
            "hold a secret); agentmux never merges a provisioned file: take it out of the "
            "branch's history first") in r.err, r.err
    assert git(repo, "rev-parse", "main") == main
    r = amx(repo, "diff", "a")
    assert r.code == 0 and "a.txt" in r.out and SECRET.decode() not in r.out, r.out
    assert git(repo, "rev-parse", branch("a")) != main
