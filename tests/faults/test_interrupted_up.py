"""An interrupted `up` leaves all of the run or nothing of it, at any instant.

Each case interrupts one `up` of 8 panes on a fresh copy of a repository with many files: by
Ctrl-C (SIGINT to its whole process group, git children included, as a terminal sends it),
SIGTERM to the process, or SIGHUP to the group (a closed terminal). The instant is either a
milestone of `up` seen from outside (the repository lock taken, the run folder made, k
worktrees registered, the session there, a runner started ...) or a time. The agents ignore
SIGHUP, so one started by an `up` that is then undone would outlive it unless it is ended.

After each: the refs, worktrees, sessions and ledger are byte for byte as before, or the run
is complete; no process of the repository's agents is left without its run folder; and the
message is one line, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentmux import poll, sweep

from ..conftest import ROOT, git, make_repo, run_cli, wait_until
from ..helpers import write_layout
from .conftest import SOCK, snapshot_state, tmux

# The repository had 3,000 files. Checking them out 8 times takes 2 to 12 s a case
# on a 2-core machine, so the suite uses fewer; AGENTMUX_FAULT_FILES=3000 runs the full size.
FILES = int(os.environ.get("AGENTMUX_FAULT_FILES", "300"))
PANES = [f"p{i}" for i in range(8)]
AGENT = "trap '' HUP; exec fake-agent --sleep 60"


def _worktrees(repo: Path) -> int:
    admin = repo / ".git" / "worktrees"
    return len(list(admin.iterdir())) if admin.is_dir() else 0


def _run_file(repo: Path, name: str) -> bool:
    runs = repo / ".agentmux" / "runs"
    return runs.is_dir() and any((r / name).exists() for r in runs.iterdir())


def _running(repo: Path) -> bool:
    runs = repo / ".agentmux" / "runs"
    for r in runs.iterdir() if runs.is_dir() else []:
        try:
            return bool(json.loads((r / "run.json").read_text())["state"] == "running")
        except (OSError, ValueError, KeyError):
            return False
    return False


def _session(sock: str) -> bool:
    return tmux("has-session", "-t", "=agents", sock=sock).returncode == 0


# What `up` has done, seen from outside; the signal follows within a few milliseconds.
Milestone = Callable[[Path, str], bool]
MILESTONES: dict[str, Milestone] = {
    "locked": lambda repo, _: (repo / ".git" / "agentmux.lock").exists(),
    "run-folder": lambda repo, _: _run_file(repo, ""),
    "worktree-1": lambda repo, _: _worktrees(repo) >= 1,
    "worktree-4": lambda repo, _: _worktrees(repo) >= 4,
    "worktree-8": lambda repo, _: _worktrees(repo) >= 8,
    "ledger": lambda repo, _: _run_file(repo, "env.json"),
    "specs": lambda repo, _: _run_file(repo, f"panes/{PANES[-1]}/spec.json"),
    "session": lambda _, sock: _session(sock),
    "runner": lambda repo, _: _run_file(repo, f"panes/{PANES[0]}/status.json"),
    "running": lambda repo, _: _running(repo),
}
TIMES = [0.05, 0.3, 1.5]
INSTANTS: list[str | float] = [*MILESTONES, *TIMES]
SIGNALS = [("INT", True), ("TERM", False), ("HUP", True)]   # (signal, to the whole group)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {f"src/d{i % 30}/f{i}.txt": f"file {i}\n" * 5 for i in range(FILES)}
    repo = make_repo(tmp_path_factory.mktemp("tpl") / "repo", files)
    write_layout(repo, [{"name": n, "command": AGENT} for n in PANES])
    return repo


def _ours(repo: Path) -> list[int]:
    """Processes of this repository's runs: the marker's worktree, or the repo in argv."""
    mine = []
    needle = os.fsencode(repo) + b"/"
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry.name}/environ").read_bytes()
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        if b"AGENTMUX_WORKTREE=" + needle in env or needle in argv:
            mine.append(int(entry.name))
    return [p for p in mine if sweep.state_of(p) not in (None, "Z")]


def _complete(repo: Path, sock: str) -> bool:
    folder = repo / ".agentmux" / "runs"
    runs = list(folder.iterdir()) if folder.is_dir() else []
    if len(runs) != 1:
        return False
    run = json.loads((runs[0] / "run.json").read_text())
    trees = git(repo, "worktree", "list", "--porcelain")
    return (run["state"] == "running" and [p["name"] for p in run["panes"]] == PANES
            and all(p["pane_id"] for p in run["panes"]) and _session(sock)
            and all(f"branch refs/heads/agentmux/agents/{n}\n" in trees for n in PANES))


def _one_line(err: str, code: int, sig: int) -> None:
    """At most one line, never a traceback of agentmux's: exit 130, or death by the signal
    itself (SIGTERM or SIGHUP before agentmux handles them; any signal while Python exits).
    Python's own start (site's .pth processing) runs before any code of agentmux's and may
    print its own traceback; it names no file of agentmux."""
    if "Traceback" in err:
        assert str(ROOT / "agentmux") not in err, err
        return
    assert code in (130, -sig), (code, err)
    # click ends the terminal's echoed ^C with a newline first.
    line = err.lstrip("\n")
    assert line == "" or (line.count("\n") == 1 and line.startswith("agentmux: interrupted")), err


@pytest.mark.parametrize("n", range(len(INSTANTS)), ids=[str(x) for x in INSTANTS])
def test_interrupted_up_leaves_all_or_nothing(template: Path, tmp_path: Path, n: int) -> None:
    instant = INSTANTS[n]
    sig_name, group = SIGNALS[n % len(SIGNALS)]
    sig = getattr(signal, "SIG" + sig_name)
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    sock = f"amxi{n}"
    before = snapshot_state(repo, sock)
    proc = subprocess.Popen([sys.executable, "-m", "agentmux", "--socket", sock, "up", "--trust",
                             "-d", str(repo / "agents.toml")], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        if isinstance(instant, float):
            poll.until(lambda: proc.poll() is not None, instant, 0.005)
        else:
            milestone = MILESTONES[instant]
            poll.until(lambda: proc.poll() is not None or milestone(repo, sock), 120, 0.002)
        if proc.poll() is None:
            (os.killpg if group else os.kill)(proc.pid, sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # A signal after `up` completed (as it prints) may end the process: the run is complete.
    complete = _complete(repo, sock)
    if not complete:
        _one_line(err, proc.returncode, sig)
        assert snapshot_state(repo, sock) == before, (out, err)
        assert not (repo / ".agentmux" / "worktrees" / "agents").exists() or not any(
            (repo / ".agentmux" / "worktrees" / "agents").iterdir())
        wait_until(lambda: not _ours(repo), 10, "no process of the undone run")
        return
    if proc.returncode != 0:
        _one_line(err, proc.returncode, sig)
    run_dir = next((repo / ".agentmux" / "runs").iterdir())
    assert _ours(repo)   # its agents run, and their run folder is there
    sweep.sweep(run_dir.name, str(run_dir), 0.2)
    tmux("kill-server", sock=sock)


@pytest.mark.parametrize(("sig_name", "group"), [("INT", True), ("TERM", False)])
def test_interrupted_add_adds_nothing(repo: Path, sig_name: str, group: bool) -> None:
    layout = write_layout(repo, [{"name": "a", "command": "exec fake-agent --sleep 60"}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 0, r.err
    # The new worktree's checkout holds `add` in `prepare` until the signal comes.
    hooked = repo / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{hooked}'\nsleep 2\n")
    hook.chmod(0o755)
    run_json = next((repo / ".agentmux" / "runs").iterdir()) / "run.json"
    before = (git(repo, "for-each-ref"), git(repo, "worktree", "list", "--porcelain"),
              run_json.read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "agentmux", "--socket", SOCK, "add", "late",
                             "--task", "x", "--command", "true"], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    wait_until(hooked.exists, 30, "add to be creating its worktree")
    (os.killpg if group else os.kill)(proc.pid, getattr(signal, "SIG" + sig_name))
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, f"agentmux: add: interrupted by SIG{sig_name}; "
                                           "nothing was added\n")
    after = (git(repo, "for-each-ref"), git(repo, "worktree", "list", "--porcelain"),
             run_json.read_bytes())
    assert after == before
    assert not (run_json.parent / "panes" / "late").exists()
