"""What `up` and its watcher start with (docs/performance.md): the watcher waits for the end
of the build, its entry point skips click and the command modules, and `up -d` imports
neither the attach code nor GitPython."""

from __future__ import annotations

import os
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
    # The same process: the wait ends in an exec of the watcher's argv (the marker is
    # written just before that exec, so the exec is waited for too).
    wait_until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep",
               10, "the watcher's pane to exec its argv")


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


def test_the_command_exits_with_mains_code_and_runs_its_exit_handlers(tmp_path: Path) -> None:
    # run() skips the interpreter's teardown: output, exit code, exit handlers and other
    # threads must not notice.
    marker = tmp_path / "thread-done"
    code = ("import atexit, sys, threading, time\n"
            "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
            "if sys.argv[1] == 'thread':\n"
            f"    threading.Thread(target=lambda: (time.sleep(0.3), open({str(marker)!r}, 'w')"
            ").close()).start()\n"
            "print('x' * 200000, end='')\n"   # more than a pipe holds
            "print('end', end='')\n"           # still in the buffer at exit
            "sys.argv[1:] = sys.argv[2:]\n"
            "from agentmux.__main__ import run\n"
            "run()\n")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for mode in ("plain", "thread"):
        p = subprocess.run([sys.executable, "-c", code, mode, "validate",
                            str(tmp_path / "no.toml")], capture_output=True, text=True,
                           check=False, env=buffered)
        assert p.returncode == 2, p.stderr
        assert p.stdout == "x" * 200000 + "end"
        assert p.stderr.splitlines()[-1] == "handler ran"
        assert "no.toml" in p.stderr
    assert marker.exists()   # the other thread was joined, not cut off
    v = subprocess.run([sys.executable, "-m", "agentmux", "--version"], capture_output=True,
                       text=True, check=False)
    assert v.returncode == 0 and v.stdout.startswith("agentmux, version ")


def test_a_chain_of_chain_bytes_is_one_tmux_command_line(server: libtmux.Server) -> None:
    # CHAIN_BYTES is measured against tmux's own limit, not guessed: a chain that size goes.
    from agentmux.tmux_chain import CHAIN_BYTES, chain_bytes

    tm = Tmux(server.socket_name)
    tm.run("new-session", "-d", "-s", "limit", "sleep", "60")
    head = [["set", "-g", "@a", ""], ["set", "-g", "@b", "x"]]
    cmds = [[*head[0][:3], "v" * (CHAIN_BYTES - chain_bytes(head))], head[1]]
    assert chain_bytes(cmds) == CHAIN_BYTES
    tm.chain(cmds)
    assert tm.run("show", "-gv", "@b").stdout == "x\n"
    assert len(tm.run("show", "-gv", "@a").stdout) == CHAIN_BYTES - chain_bytes(head) + 1
