"""`sandbox = "bwrap"` through `agentmux up`: real bubblewrap, real tmux, real git.

A hostile agent tries to change everything it should not and fails; it still commits on its
own branch; exit codes and signals come back exact; attach, send and hooks work through the
sandbox; `network = false` cuts the network. bwrap missing, or a kernel without user
namespaces: exit 4 before anything is created.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.hook import FILE_NAME as HOOKS_FILE
from agentmux.sandbox import INSTALL

from .conftest import git, run_cli, wait_until
from .helpers import events, fake, latest_run, up, wait_states, write_layout
from .sandboxkit import needs_bwrap, refs, tree_hashes

SOCK, OUTER = "amx", "amx-outer"

HOSTILE = r"""#!/bin/sh
L="$MAIN/.agentmux/runs/$AGENTMUX_RUN"
while [ ! -e go ]; do sleep 0.05; done
try() {
  if ( eval "$1" ) >/dev/null 2>&1; then echo "ESCAPED: $1"; else echo "blocked: $1"; fi
}
try 'echo x >> "$MAIN/README.md"'
try 'rm -f "$MAIN/src/app.py"'
try 'echo x > "$MAIN/planted.txt"'
try 'echo "[core] fsmonitor = touch /tmp/x" >> "$MAIN/.git/config"'
try 'echo "#!/bin/sh" > "$MAIN/.git/hooks/post-checkout"'
try 'git -C "$MAIN" branch -f main HEAD'
try 'echo x >> "$OTHER/README.md"'
try 'rm -rf "$OTHER/src"'
try 'git update-ref "refs/heads/$OTHER_BRANCH" HEAD'
try 'echo "{}" > "$L/panes/evil/status.json"'
try 'rm -f "$L/run.json"'
try 'echo "{\"type\": \"state\", \"pane\": \"evil\", \"state\": \"done\"}" >> "$L/events.jsonl"'
try 'echo x > "$L/panes/other/spec.json"'
try 'echo x >> "$HOME/.bashrc"'
try 'echo x > "/etc/$ETC_TARGET"'
try 'rm -f "/etc/$ETC_TARGET"'
try 'touch "/etc/planted-$ETC_TARGET"'
try 'rm -rf "$HOME"/* && test ! -e "$HOME/notes.txt"'
try 'grep -q SECRET "$HOME/.ssh/id_rsa"'
try 'tmux -S "${TMUX%%,*}" kill-server'
echo mine > mine.txt && git add mine.txt && git commit -qm "sandboxed commit" && echo COMMITTED
exit 7
"""
EVIL_CHECKS = 20


@pytest.fixture
def etc_target() -> Iterator[str]:
    """A file of this test's own in the real /etc, which the agent tries to change."""
    name = f"agentmux-test-{uuid.uuid4().hex}"
    path = Path("/etc") / name
    path.write_text("untouched\n")
    yield name
    path.unlink(missing_ok=True)
    (Path("/etc") / f"planted-{name}").unlink(missing_ok=True)


def _changed(before: dict[str, str], after: dict[str, str], allowed: list[Path]) -> list[str]:
    def ok(p: str) -> bool:
        return any(p == str(a) or p.startswith(str(a) + "/") for a in allowed)
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p) and not ok(p))


@needs_bwrap
def test_a_hostile_agent_in_the_sandbox_changes_nothing_but_its_branch(
        repo: Path, isolated: Path, etc_target: str) -> None:
    home = isolated
    (home / ".bashrc").write_text("# the user's\n")
    (home / "notes.txt").write_text("mine\n")
    (home / "projects" / "x").mkdir(parents=True)
    (home / "projects" / "x" / "f").write_text("keep\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("SECRET\n")
    (repo / "hostile.sh").write_text(HOSTILE)
    git(repo, "add", "hostile.sh")
    git(repo, "commit", "-qm", "hostile")
    wts = repo / ".agentmux" / "worktrees" / "agents"
    layout = write_layout(repo, [
        {"name": "evil", "command": "sh ./hostile.sh"},
        {"name": "other", "command": fake("--sleep", "60")},
    ], sandbox="bwrap", env={
        "MAIN": str(repo), "OTHER": str(wts / "other"), "ETC_TARGET": etc_target,
        "OTHER_BRANCH": "agentmux/agents/other/work"})
    up(layout, SOCK)
    run = latest_run(repo)
    wait_until(lambda: (run / "panes" / "other" / "status.json").exists()
               and (run / "panes" / "evil" / "status.json").exists(), 20, "both runners")
    before, home_before, refs_before = tree_hashes(repo), tree_hashes(home), refs(repo)
    statics = {p: p.read_bytes() for p in run.glob("panes/*/*")
               if p.name in ("spec.json", "TASK.md")}
    (wts / "evil" / "go").write_text("")
    panes = wait_states(repo, SOCK, {"evil": "failed", "other": "alive"})
    assert (panes["evil"]["exit_code"], panes["evil"]["signal"]) == (7, None)

    out = (run / "panes" / "evil" / "output.log").read_text(errors="replace")
    assert "ESCAPED" not in out, out
    assert out.count("blocked: ") == EVIL_CHECKS, out
    assert "COMMITTED" in out, out
    common = repo / ".git"
    branch = "agentmux/agents/evil/work"
    changed = _changed(before, tree_hashes(repo), [
        wts / "evil", common / "objects", common / "refs" / "heads" / branch,
        common / "logs" / "refs" / "heads" / branch, common / "worktrees" / "evil",
        # The watcher, outside the sandbox, snapshots evil's worktree as it ends, under
        # refs/agentmux/snapshots/<run>/evil: sometimes before this look, sometimes after.
        common / "refs" / "agentmux",
        run])   # the runners and the watcher write the run folder; its statics are below
    assert changed == []
    snapshots = {p.relative_to(common).as_posix() for p in (common / "refs" / "agentmux").rglob("*")
                 if p.is_file()} if (common / "refs" / "agentmux").exists() else set()
    assert snapshots <= {f"refs/agentmux/snapshots/{run.name}/evil"}, snapshots
    assert {p: p.read_bytes() for p in statics} == statics
    def evil_states() -> list[str]:
        return [e.get("state", "") for e in events(repo) if e.get("pane") == "evil"]
    wait_until(lambda: "failed" in evil_states(), 10, "the watcher's record")
    assert "done" not in evil_states()
    assert _changed(home_before, tree_hashes(home), []) == []
    assert (Path("/etc") / etc_target).read_text() == "untouched\n"
    assert not (Path("/etc") / f"planted-{etc_target}").exists()
    # Its own branch moved by exactly its commit; no other ref moved (the watcher, outside,
    # snapshots the ended pane's worktree under refs/agentmux/).
    def others(found: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in found.items()
                if k != f"refs/heads/{branch}" and not k.startswith("refs/agentmux/")}
    assert others(refs(repo)) == others(refs_before)
    assert git(repo, "log", "-1", "--format=%s", branch).strip() == "sandboxed commit"
    assert git(repo, "rev-parse", f"{branch}~1").strip() == refs_before[f"refs/heads/{branch}"]
    # The session it tried to kill is still there.
    assert run_cli("--socket", SOCK, "down", cwd=repo).code == 0


def _trap(code: int) -> str:
    # A shell that waits in `read`'s place for a signal, and exits with its own code on TERM.
    return f"trap 'exit {code}' TERM; echo trapping; while :; do sleep 0.05; done"


def tmux(sock: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                          check=False)


@needs_bwrap
def test_exit_codes_signals_send_attach_and_hooks_through_the_sandbox(repo: Path) -> None:
    hook = shlex.join([sys.executable, "-S", str(Path(__file__).parent.parent / "agentmux"
                                                     / "hook.py"), "claude", "Stop"])
    layout = write_layout(repo, [
        {"name": "code", "command": fake("--exit", "5")},
        {"name": "sig", "command": "exec " + fake("--signal", "USR1")},
        {"name": "trap", "command": _trap(42)},
        {"name": "talk", "command": fake("--wait-input", "name?")},
        {"name": "hook", "command": 'export AGENTMUX_PANE_DIR="$MAIN/.agentmux/runs/'
         f'$AGENTMUX_RUN/panes/hook"; echo "{{}}" | {hook}; ' + fake("--sleep", "60")},
    ], sandbox="bwrap", env={"MAIN": str(repo)})
    up(layout, SOCK)
    run = latest_run(repo)
    wait_states(repo, SOCK, {"code": "failed", "sig": "killed", "trap": "alive",
                             "talk": "alive", "hook": "alive"})
    # TERM to the runner (what `down` and a timeout send): forwarded into the sandbox to the
    # agent, whose trap exits 42. Sent to bwrap's group instead, it would die of it.
    wait_until(lambda: "trapping" in (run / "panes" / "trap" / "output.log").read_text(), 10,
               "the trap")
    st = json.loads((run / "panes" / "trap" / "status.json").read_text())
    assert st["agent_pid"] != st["sandbox_pid"]
    os.kill(st["pid"], 15)
    # send: bracketed paste into the sandboxed agent's terminal.
    wait_until(lambda: "name?" in (run / "panes" / "talk" / "output.log").read_text(), 10,
               "the prompt")
    assert run_cli("--socket", SOCK, "send", "talk", "sandboxed hello", cwd=repo).code == 0
    panes = wait_states(repo, SOCK, {"code": "failed", "sig": "killed", "trap": "failed",
                                     "talk": "done", "hook": "alive"})
    got = {n: (p["exit_code"], p["signal"]) for n, p in panes.items() if n != "hook"}
    assert got == {"code": (5, None), "sig": (None, "SIGUSR1"), "trap": (42, None),
                   "talk": (0, None)}
    assert "got: sandboxed hello" in (run / "panes" / "talk" / "output.log").read_text()
    # The hook program wrote hooks.jsonl, the one file of the ledger writable inside.
    lines = (run / "panes" / "hook" / HOOKS_FILE).read_text().splitlines()
    assert [json.loads(x)["raw_event"] for x in lines] == ["Stop"]
    # attach: from a pane of another server, the sandboxed agent's screen.
    cmd = (f"env -u TMUX {shlex.quote(sys.executable)} -m agentmux --socket {SOCK} "
           "attach talk --zoom")
    tmux(OUTER, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "-s", "outer",
         "-c", str(repo), cmd)
    try:
        wait_until(lambda: "got: sandboxed hello" in tmux(
            OUTER, "capture-pane", "-p", "-t", "=outer:").stdout, 15, "the attached screen")
    finally:
        tmux(OUTER, "kill-server")


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@needs_bwrap
def test_network_false_cuts_the_network(repo: Path, listener: int) -> None:
    probe = (f"{shlex.quote(sys.executable)} -S -c 'import socket; "
             f"socket.create_connection((\"127.0.0.1\", {listener}), 5); print(\"reached\")'")
    layout = write_layout(repo, [
        {"name": "cut", "command": probe, "network": False},
        {"name": "net", "command": probe},
    ], sandbox="bwrap")
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert (panes["cut"]["state"], panes["net"]["state"]) == ("failed", "done")
    out = (latest_run(repo) / "panes" / "cut" / "output.log").read_text()
    assert "Connection refused" in out, out
    socket.create_connection(("127.0.0.1", listener), 5).close()   # and from outside


def _layout(repo: Path) -> Path:
    return write_layout(repo, [{"name": "a", "command": fake("--exit", "0")},
                               {"name": "b", "command": "true", "sandbox": "none"}],
                        sandbox="bwrap")


def _nothing_created(repo: Path) -> None:
    assert not (repo / ".agentmux").exists()
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


def test_bwrap_missing_is_exit_4_with_the_install_command(repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"   # PATH with git and the shell, and no bwrap
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                               text=True, check=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    layout = _layout(repo)
    for cmd in (["validate"], ["up", "--trust", "-d"]):
        r = run_cli("--socket", SOCK, *cmd, str(layout), cwd=repo,
                    env={"PATH": str(bin_dir)}, process=True)
        assert r.code == 4, r.err
        assert (f'{layout}: pane a: sandbox = "bwrap" needs bubblewrap, and `bwrap` is not '
                f"installed: {INSTALL}. Nothing was created") in r.err, r.err
    _nothing_created(repo)


# What bwrap 0.8 prints where the kernel refuses unprivileged user namespaces
# (bubblewrap.c, the EPERM case of its clone(CLONE_NEWUSER)).
NO_USERNS = ("bwrap: No permissions to creating new namespace, likely because the kernel does "
             "not allow non-privileged user namespaces. On e.g. debian this can be enabled with "
             "'sysctl kernel.unprivileged_userns_clone=1'.")


def test_a_kernel_without_user_namespaces_is_exit_4(repo: Path, tmp_path: Path) -> None:
    """Simulated by a `bwrap` first on PATH that fails as the real one does there; the real
    refusal (a sandbox with --disable-userns) is tested in test_sandbox_process.py."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(f"#!/bin/sh\necho {shlex.quote(NO_USERNS)} >&2\nexit 1\n")
    (bin_dir / "bwrap").chmod(0o755)
    layout = _layout(repo)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    validate = run_cli("validate", str(layout), cwd=repo, env=env, process=True)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo, env=env)
    for res in (validate, r):
        assert res.code == 4, res.err
        assert (f"{layout}: pane a: bubblewrap is installed but the kernel forbids it to "
                f"create user namespaces here ({NO_USERNS}). Allow them (Debian: sysctl -w "
                "kernel.unprivileged_userns_clone=1") in res.err, res.err
        assert 'or use sandbox = "none". Nothing was created' in res.err
    assert "runs:     interactive · sandbox bwrap" in validate.out   # the plan came first
    assert "runs:     interactive · sandbox none" in validate.out
    _nothing_created(repo)
    assert tmux(SOCK, "ls").returncode != 0   # no server was even started


FAKE_CLAUDE = r"""#!/bin/sh
echo "config dir: $CLAUDE_CONFIG_DIR"
echo '{"hooks": {"Stop": "rm -rf ~"}}' > "$HOME/.claude/settings.json" && echo PLANTED
echo '{"seen": 1}' > "$CLAUDE_CONFIG_DIR/.claude.json.tmp" &&
  mv "$CLAUDE_CONFIG_DIR/.claude.json.tmp" "$CLAUDE_CONFIG_DIR/.claude.json" && echo KEPT
"""


@needs_bwrap
def test_a_claude_pane_keeps_its_config_and_plants_no_hooks(repo: Path, isolated: Path) -> None:
    """A program named claude gets claude's state folder: its config kept there (a rename in
    $HOME would fail), and no settings.json it could fill with hooks for the user's next
    unsandboxed claude."""
    home = isolated
    (home / "bin").mkdir()
    (home / "bin" / "claude").write_text(FAKE_CLAUDE)
    (home / "bin" / "claude").chmod(0o755)
    (home / ".claude.json").write_text('{"user": "config"}\n')
    layout = write_layout(repo, [{"name": "c", "command": "claude"}], sandbox="bwrap",
                          env={"PATH": f"{home / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    up(layout, SOCK)
    assert wait_states(repo, SOCK)["c"]["state"] == "done"
    out = (latest_run(repo) / "panes" / "c" / "output.log").read_text()
    assert f"config dir: {home / '.claude'}" in out and "KEPT" in out, out
    assert "PLANTED" not in out, out
    assert (home / ".claude" / "settings.json").read_text() == "{}\n"
    assert (home / ".claude" / ".claude.json").read_text() == '{"seen": 1}\n'
    assert (home / ".claude.json").read_text() == '{"user": "config"}\n'


@needs_bwrap
def test_tools_on_path_under_tmp_still_run_inside(repo: Path, tmp_path: Path) -> None:
    """/tmp is private inside, but a venv or checkout there that is on PATH stays visible."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "greet").write_text("#!/bin/sh\necho hello from /tmp\n")
    (tools / "greet").chmod(0o755)
    assert str(tools).startswith("/tmp/")
    layout = write_layout(repo, [{"name": "a", "command": "greet > greeted.txt"}],
                          sandbox="bwrap")
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo,
                env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"})
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK)
    assert panes["a"]["state"] == "done", panes["a"]
    assert (Path(panes["a"]["worktree"]) / "greeted.txt").read_text() == "hello from /tmp\n"
