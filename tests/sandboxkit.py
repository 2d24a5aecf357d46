"""A repository with two agent worktrees, and ways to run a command in agent a's sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentmux.sandbox import bwrap_argv, check_available

from .conftest import fingerprint, git, make_repo

_PROBLEM = check_available()
needs_bwrap = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))

SECRET = "SECRET-KEY-MATERIAL"


@dataclass(frozen=True)
class Setup:
    repo: Path
    common: Path
    wt_a: Path
    wt_b: Path
    wtgit_a: Path
    home: Path
    ledger: Path

    def argv(self, *command: str, network: bool = True, agent: str | None = "claude",
             tmp: Path | None = None, env: dict[str, str] | None = None,
             extra_rw: tuple[str, ...] = (), status_fd: int | None = None) -> list[str]:
        prefix = bwrap_argv(worktree=str(self.wt_a), git_common_dir=str(self.common),
                            worktree_git_dir=str(self.wtgit_a), branch="agentmux/s/a",
                            home=str(self.home), agent=agent, network=network,
                            tmp=None if tmp is None else str(tmp), env=env,
                            extra_rw=extra_rw, status_fd=status_fd)
        return [*prefix, *command]

    def run(self, script: str, *, network: bool = True, tmp: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The script under sh, in the sandbox, from worktree a, as the runner starts it."""
        argv = self.argv("sh", "-c", script, network=network, tmp=tmp, env=env)
        return subprocess.run(argv, cwd=self.wt_a, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, process_group=0, check=False)


def make_setup(tmp_path: Path, home: Path) -> Setup:
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "print(1)\n"})
    (repo / ".agentmux").mkdir()
    (repo / ".agentmux" / ".gitignore").write_text("*\n")
    ledger = repo / ".agentmux" / "runs" / "x"
    ledger.mkdir(parents=True)
    (ledger / "status.json").write_text('{"version": 1, "exit_code": 0}\n')
    for name in ("a", "b"):
        git(repo, "worktree", "add", "-q", "-b", f"agentmux/s/{name}",
            str(repo / ".agentmux" / "worktrees" / "s" / name))
    # History in a pack as well as loose objects: both kinds must survive the agent.
    git(repo, "repack", "-q", "-a", "-d")
    git(repo, "commit", "-q", "--allow-empty", "-m", "loose")
    (home / ".bashrc").write_text("# the user's\n")
    (home / "notes.txt").write_text("mine\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text(f"{SECRET}\n")
    (home / ".netrc").write_text(f"machine example.com password {SECRET}\n")
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text('{"hooks": {}}\n')
    return Setup(repo, repo / ".git", repo / ".agentmux" / "worktrees" / "s" / "a",
                 repo / ".agentmux" / "worktrees" / "s" / "b",
                 repo / ".git" / "worktrees" / "a", home, ledger)


def tree_hashes(*roots: Path) -> dict[str, str]:
    """Every file and folder under the roots: mode and sha256 of a file, "dir" for a folder."""
    out: dict[str, str] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            out[dirpath] = "dir"
            for name in filenames:
                p = os.path.join(dirpath, name)
                found = fingerprint(Path(p))
                if found is not None:
                    out[p] = f"{found[0]:o} {found[1]}"
            dirnames.sort()
    return out


def refs(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return dict(line.split(" ", 1) for line in lines)


# A stand-in for the runner: the pane's own process, the sandbox as its child in a process
# group of its own that owns the terminal, signals passed on with forward_signal. It
# prints how bwrap ended and what decode_status makes of it.
MINI_RUNNER = r"""
import contextlib, json, os, signal, subprocess, sys
sys.path.insert(0, sys.argv[2])
from agentmux.sandbox import decode_status, forward_signal
argv = json.load(open(sys.argv[1]))
def in_child():
    with contextlib.suppress(OSError):
        os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
tty = os.isatty(0)
if tty:
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
p = subprocess.Popen(argv, process_group=0, preexec_fn=in_child if tty else None)
for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda n, f: forward_signal(p.pid, n))
_, st = os.waitpid(p.pid, 0)
p.returncode = 0
if tty:
    os.tcsetpgrp(0, os.getpgrp())
raw = ("signal", os.WTERMSIG(st)) if os.WIFSIGNALED(st) else ("exit", os.WEXITSTATUS(st))
print("RESULT", *raw, "decoded", *decode_status(raw[1]) if raw[0] == "exit" else "-", flush=True)
"""


def mini_runner(tmp_path: Path, argv: list[str]) -> list[str]:
    spec = tmp_path / "argv.json"
    spec.write_text(json.dumps(argv))
    script = tmp_path / "mini_runner.py"
    script.write_text(MINI_RUNNER)
    return [sys.executable, str(script), str(spec), str(Path(__file__).resolve().parent.parent)]
