"""What `up` and its watcher start with (docs/performance.md): the watcher waits for the end
of the build, its entry point skips click and the command modules, and `up -d` imports
neither the attach code nor GitPython."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libtmux

from agentmux.tmux import Launch, Tmux, Window
from agentmux.tmux_chain import session_commands

from .conftest import run_cli, wait_until


def test_the_watcher_starts_only_when_the_build_has_ended(server: libtmux.Server,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "watcher-started"
    watcher = ["sh", "-c", f"echo > '{marker}'; exec sleep 60"]
    windows = [Window("w", [Launch("a", ["sleep", "60"], tmp_path, tmp_path / "a.log")])]
    head, groups, tail = session_commands("s", "run-1", tmp_path, watcher, windows, (80, 24),
                                          "wake-s", 1000)
    tm = Tmux(server.socket_name)
    tm.chain([*head, *(c for _, cmds in groups for c in cmds)])

    pid = int(tm.run("display-message", "-p", "-t", "=s:agentmux.0", "#{pane_pid}").stdout)

    def waiting() -> bool:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return any(Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[1:3]
                   == [b"wait-for", b"wake-s-built"] for c in children)

    # Built but for the tail: the watcher's pane waits for it, and the watcher has not run.
    wait_until(waiting, 10, "the watcher pane to wait for the build")
    assert not marker.exists()
    assert tail[-1] == ["wait-for", "-S", "wake-s-built"]
    tm.chain(tail)
    wait_until(marker.exists, 10, "the watcher to start after the build")
    # The same process: the wait ends in an exec of the watcher's argv.
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"


def test_the_watcher_entry_skips_click_and_says_what_the_command_says(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-run")
    fast = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentmux", "watch",
                           "--run-dir", missing], capture_output=True, text=True, check=False)
    slow = run_cli("--socket", "x", "watch", "--run-dir", missing)
    assert fast.returncode == slow.code == 2
    errors = [ln for ln in fast.stderr.splitlines() if not ln.startswith("import time:")]
    assert errors == slow.err.splitlines() == [
        f"agentmux: {missing}/run.json: missing; this is not a complete agentmux run"]
    imported = {ln.rsplit("|", 1)[1].strip() for ln in fast.stderr.splitlines()
                if ln.startswith("import time:")}
    assert "agentmux.watch.loop" in imported
    assert not {"click", "agentmux.cli"} & imported


def test_up_detached_imports_neither_attach_nor_gitpython(repo: Path) -> None:
    lay = repo / "one.toml"
    lay.write_text('session = "startup"\nisolation = "none"\n\n[[pane]]\nname = "a"\n'
                   'command = "true"\n')
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentmux", "--socket",
                        "amx-startup", "up", "--trust", "-d", str(lay)], cwd=repo,
                       capture_output=True, text=True, check=False)
    try:
        assert p.returncode == 0, p.stderr
        imported = {ln.rsplit("|", 1)[1].strip() for ln in p.stderr.splitlines()
                    if ln.startswith("import time:")}
        assert "agentmux.up" in imported and "libtmux" in imported
        assert not {"agentmux.control", "agentmux.watch.loop", "git"} & imported
    finally:
        subprocess.run(["tmux", "-L", "amx-startup", "kill-server"], capture_output=True,
                       check=False)
