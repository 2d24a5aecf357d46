"""Two `up` at once, and 16 agents on a remote-tracking base: nothing duplicated, nothing leaked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..conftest import git, run_cli
from ..helpers import wait_states, write_layout
from .conftest import SOCK, tmux, trust


def _two_ups(repo: Path, a: Path, b: Path) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "agentmux", "--socket", SOCK, "up", "-d",
                               str(p)], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in (a, b)]
    out = []
    for p in procs:
        o, e = p.communicate(timeout=60)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, o, e))
    return out


def test_two_ups_of_the_same_session_one_wins(repo: Path) -> None:
    layout = write_layout(repo, [{"name": n, "command": "fake-agent --sleep 30"}
                                 for n in ("a", "b")])
    trust(layout)
    # Widens the race deterministically: whichever up creates the worktrees holds the repository
    # lock for 2 s, while the other has long since checked that no session exists.
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\nsleep 2\n")
    hook.chmod(0o755)
    res = _two_ups(repo, layout, layout)
    assert sorted(r.returncode for r in res) == [0, 0], [r.stderr for r in res]
    assert sum("already running" in r.stdout for r in res) == 1, [r.stdout for r in res]
    assert tmux("list-sessions", "-F", "#{session_name}").stdout == "agents\n"
    assert len(list((repo / ".agentmux" / "runs").iterdir())) == 1
    trees = git(repo, "worktree", "list", "--porcelain")
    assert trees.count("branch refs/heads/agentmux/agents/") == 2
    wait_states(repo, SOCK, {"a": "working", "b": "working"})


def test_two_ups_of_different_sessions_both_succeed(repo: Path) -> None:
    one = write_layout(repo, [{"name": "a", "command": "true"}], name="one.toml")
    two = write_layout(repo, [{"name": "a", "command": "true"}], name="two.toml")
    trust(one)
    trust(two)
    res = _two_ups(repo, one, two)
    assert [r.returncode for r in res] == [0, 0], [r.stderr for r in res]
    assert sorted(tmux("list-sessions", "-F", "#{session_name}").stdout.split()) == ["one", "two"]
    branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads").split()
    assert branches == ["refs/heads/agentmux/one/a", "refs/heads/agentmux/two/a",
                        "refs/heads/main"]


def test_sixteen_agents_on_origin_main(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    names = [f"p{i:02d}" for i in range(16)]
    layout = write_layout(clone, [{"name": n, "command": "true"} for n in names],
                          base="origin/main", panes_per_window=8)
    trust(layout)
    config = (clone / ".git" / "config").read_bytes()
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=clone)
    assert r.code == 0, r.err
    panes = wait_states(clone, SOCK, timeout=60)
    assert {n: p["state"] for n, p in panes.items()} == dict.fromkeys(names, "done")
    heads = git(clone, "for-each-ref", "--format=%(refname)", "refs/heads/agentmux").split()
    assert heads == [f"refs/heads/agentmux/agents/{n}" for n in names]
    trees = git(clone, "worktree", "list", "--porcelain")
    assert all(f"branch refs/heads/agentmux/agents/{n}\n" in trees for n in names)
    assert (clone / ".git" / "config").read_bytes() == config   # --no-track: no config.lock race
    assert not (clone / ".git" / "config.lock").exists()
