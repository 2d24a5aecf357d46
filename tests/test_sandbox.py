"""What an agent in `sandbox = "bwrap"` can and cannot touch: real bwrap, real git.

Agent a works in .agentmux/worktrees/s/a on agentmux/s/a; agent b's worktree, the main
checkout, the ledger and the rest of $HOME must come out of a hostile run byte for byte.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.errors import BadInput
from agentmux.sandbox import SandboxError, bwrap_argv

from .conftest import git
from .sandboxkit import SECRET, Setup, make_setup, needs_bwrap, refs, tree_hashes

pytestmark = needs_bwrap

# (what the agent tries, the shell that tries it): every one must fail.
ATTEMPTS = [
    ("write the main checkout", 'echo x >> "$REPO/README.md"'),
    ("delete in the main checkout", 'rm "$REPO/src/app.py"'),
    ("write the other worktree", 'echo x >> "$WTB/README.md"'),
    ("delete the other worktree", 'rm -rf "$WTB/src"'),
    ("overwrite the ledger", 'echo "{}" > "$LEDGER/status.json"'),
    ("delete the ledger", 'rm -rf "$REPO/.agentmux/runs"'),
    ("edit ~/.bashrc", 'echo evil >> "$HOME/.bashrc"'),
    ("write /etc/hostname", "echo evil > /etc/hostname"),
    ("create a file in /etc", "touch /etc/agentmux-probe"),
    ('rm -rf "$HOME"/*', 'rm -rf "$HOME"/*'),
    ('rm -rf "$HOME"/.*', 'rm -rf "$HOME"/.[!.]*'),
    ("read ~/.ssh/id_rsa", 'grep -q SECRET "$HOME/.ssh/id_rsa"'),
    ("list ~/.ssh", 'ls "$HOME/.ssh" | grep -q id_rsa'),
    ("read ~/.netrc", 'grep -q SECRET "$HOME/.netrc"'),
    ("plant .git/hooks/pre-commit", 'printf "#!/bin/sh\\nid\\n" > "$GITDIR/hooks/pre-commit"'),
    ("edit .git/config", 'printf "[core]\\n\\tfsmonitor = id\\n" >> "$GITDIR/config"'),
    ("git config --local", "git config --local core.hooksPath /tmp"),
    ("move agentmux/s/b with update-ref", "git update-ref refs/heads/agentmux/s/b HEAD"),
    ("move agentmux/s/b by writing its file", 'git rev-parse HEAD > "$REFS/agentmux/s/b"'),
    ("move agentmux/s/b by rename", 'cp "$REFS/agentmux/s/a" "$REFS/agentmux/s/b.new"; '
     'mv "$REFS/agentmux/s/b.new" "$REFS/agentmux/s/b"; r=$?; '
     'rm -f "$REFS/agentmux/s/b.new"; exit $r'),
    ("delete agentmux/s/b", "git update-ref -d refs/heads/agentmux/s/b"),
    ("move main with update-ref", "git update-ref refs/heads/main HEAD"),
    ("move main by writing its file", 'git rev-parse HEAD > "$REFS/main"'),
    ("rewrite packed-refs",
     'echo "$(git rev-parse HEAD) refs/heads/main" >> "$GITDIR/packed-refs"'),
    ("repoint the worktree's .git", 'echo "gitdir: /tmp" > .git'),
    ("repoint commondir", 'echo /tmp > "$WTGIT/commondir"'),
    ("plant config.worktree", 'printf "[core]\\n\\tfsmonitor = id\\n" > "$WTGIT/config.worktree"'),
    ("delete the packs", 'rm "$GITDIR"/objects/pack/*'),
    ("add an alternate", 'echo /tmp > "$GITDIR/objects/info/alternates"'),
    ("escape through /proc/1/root", 'echo x >> "/proc/1/root$REPO/README.md"'),
    ("escape through the parent's root", 'echo x >> "/proc/$PPID/root$REPO/README.md"'),
    ("remount / read-write", "mount -o remount,rw,bind /"),
    ("edit claude's hooks", 'echo "{}" > "$HOME/.claude/settings.json"'),
]
LEGIT = ('echo agent >> README.md && git add README.md && git commit -qm "agent work" '
         "&& echo COMMITTED")


@pytest.fixture
def setup(tmp_path: Path, isolated: Path) -> Setup:
    return make_setup(tmp_path, isolated)


def _hostile_script(s: Setup) -> str:
    names = {"REPO": s.repo, "GITDIR": s.common, "REFS": s.common / "refs" / "heads",
             "WTB": s.wt_b, "WTGIT": s.wtgit_a, "LEDGER": s.ledger}
    lines = [f"{k}={shlex.quote(str(v))}" for k, v in names.items()]
    for name, cmd in ATTEMPTS:
        lines.append(f"if ( {cmd} ) >/dev/null 2>&1; then echo {shlex.quote('BREACH ' + name)}; "
                     f"else echo {shlex.quote('blocked ' + name)}; fi")
    # The commit comes first, so every ref move below would be a real change.
    return "\n".join([LEGIT, *lines])


def test_hostile_agent_changes_nothing_but_its_own_branch(setup: Setup) -> None:
    s = setup
    argv_first = s.argv("true")  # bwrap_argv prepares its mount points before the snapshot
    assert subprocess.run(argv_first, cwd=s.wt_a, check=False).returncode == 0
    old_a = git(s.repo, "rev-parse", "agentmux/s/a").strip()
    before, refs_before = tree_hashes(s.repo, s.home), refs(s.repo)

    r = s.run(_hostile_script(s))

    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("BREACH")] == []
    assert r.stdout.count("blocked ") == len(ATTEMPTS), r.stdout
    assert SECRET not in r.stdout + r.stderr
    assert "COMMITTED" in r.stdout, r.stderr
    # The agent's commit is on its branch, on top of where it was; nothing else moved.
    refs_after = refs(s.repo)
    assert git(s.repo, "rev-parse", "agentmux/s/a~1").strip() == old_a
    assert git(s.repo, "show", "agentmux/s/a:README.md") == "hello\nagent\n"
    assert {k: v for k, v in refs_after.items() if k != "refs/heads/agentmux/s/a"} == \
        {k: v for k, v in refs_before.items() if k != "refs/heads/agentmux/s/a"}
    assert refs_after["refs/heads/agentmux/s/a"] != refs_before["refs/heads/agentmux/s/a"]
    # Byte for byte: only the agent's worktree, its worktree admin folder, its ref and
    # reflog, its state folders and new objects may differ.
    own = [s.wt_a, s.wtgit_a, s.home / ".claude", s.home / ".cache",
           s.common / "refs" / "heads" / "agentmux" / "s" / "a",
           s.common / "logs" / "refs" / "heads" / "agentmux" / "s" / "a"]
    after = tree_hashes(s.repo, s.home)

    def is_own(p: str) -> bool:
        return any(p == str(o) or p.startswith(f"{o}/") for o in own)

    changed = sorted(p for p, h in before.items() if not is_own(p) and after.get(p) != h)
    objects = str(s.common / "objects") + "/"
    added = sorted(p for p in after.keys() - before.keys()
                   if not is_own(p) and not p.startswith(objects))
    assert changed == [] and added == []
    assert (s.home / ".claude" / "settings.json").read_text() == '{"hooks": {}}\n'


def test_agent_commits_on_its_branch(setup: Setup) -> None:
    r = setup.run("echo new > new.txt && git add new.txt && git commit -qm one && "
                  "git commit -q --allow-empty -m two && git log --format=%s -2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["two", "one"]
    assert git(setup.repo, "log", "--format=%s", "-2", "agentmux/s/a").split() == ["two", "one"]
    assert git(setup.repo, "reflog", "-1", "--format=%gs", "agentmux/s/a").strip() == \
        "commit: two"


def test_a_branch_moved_outside_stays_out_of_reach(setup: Setup) -> None:
    """b commits while a runs: the kernel drops a's mount over b's ref file (a rename in
    another namespace detaches it), yet git in a still cannot move b: its reflog is
    read-only there."""
    script = ('echo ready; while [ ! -e go ]; do sleep 0.02; done; '
              "git update-ref refs/heads/agentmux/s/b HEAD; echo update-ref=$?")
    p = subprocess.Popen(setup.argv("sh", "-c", script), cwd=setup.wt_a, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    git(setup.wt_b, "commit", "-q", "--allow-empty", "-m", "b works")
    b = git(setup.repo, "rev-parse", "agentmux/s/b").strip()
    (setup.wt_a / "go").write_text("")
    out, err = p.communicate(timeout=30)
    assert out == "update-ref=128\n", err
    assert "unable to append to" in err and "Read-only file system" in err
    assert git(setup.repo, "rev-parse", "agentmux/s/b").strip() == b


def test_private_tmp(setup: Setup, tmp_path: Path) -> None:
    name = f"agentmux-probe-{uuid.uuid4().hex}"
    r = setup.run(f"echo hi > /tmp/{name} && cat /tmp/{name} && ls -A /tmp")
    assert r.returncode == 0, r.stderr
    # Only the probe, and the way down to this test's folder (re-exposed read-only).
    shown = {name} | ({tmp_path.parts[2]} if tmp_path.parts[1] == "tmp" else set())
    assert r.stdout.split() == ["hi", *sorted(shown)]
    assert not (Path("/tmp") / name).exists()
    kept = tmp_path / "kept-tmp"
    kept.mkdir()
    assert setup.run(f"echo hi > /tmp/{name}", tmp=kept).returncode == 0
    assert (kept / name).read_text() == "hi\n"


@pytest.mark.parametrize("agent, writable, readonly", [
    ("claude", [".claude/x", ".cache/x"], [".codex/x", "x"]),
    ("codex", [".codex/x", ".cache/x"], [".claude/x"]),
    (None, [".cache/x"], [".claude/x", ".codex/x"]),
])
def test_state_folders_per_agent(setup: Setup, agent: str | None, writable: list[str],
                                 readonly: list[str]) -> None:
    (setup.home / ".codex").mkdir(exist_ok=True)
    probe = " ; ".join(f'(echo x > "$HOME/{p}") 2>/dev/null && echo "w {p}" || echo "r {p}"'
                       for p in writable + readonly)
    r = subprocess.run(setup.argv("sh", "-c", probe, agent=agent), cwd=setup.wt_a,
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.stdout.split("\n")[:-1] == [f"w {p}" for p in writable] + \
        [f"r {p}" for p in readonly]


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on a loopback port, outside the sandbox; yields the port."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.sendall(b"hello\n")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


@pytest.mark.parametrize("network", [True, False])
def test_network_false_leaves_only_loopback(setup: Setup, listener: int,
                                            network: bool) -> None:
    with socket.create_connection(("127.0.0.1", listener), timeout=5) as c:
        assert c.recv(16) == b"hello\n"  # reachable from outside
    connect = (f"import socket; c = socket.create_connection(('127.0.0.1', {listener}), 5); "
               "print(c.recv(16))")
    r = subprocess.run(setup.argv("python3", "-c", connect, network=network), cwd=setup.wt_a,
                       capture_output=True, text=True, timeout=30, check=False)
    if network:
        assert (r.returncode, r.stdout) == (0, "b'hello\\n'\n"), r.stderr
    else:
        assert r.returncode == 1 and "ConnectionRefusedError" in r.stderr, r.stderr


@pytest.mark.parametrize("var, folder", [("TMUX", "tmux-1"), ("SSH_AUTH_SOCK", ".s")])
def test_sockets_hidden(setup: Setup, var: str, folder: str) -> None:
    """A read-only mount does not stop connect(): the sockets named in the environment are
    hidden, or the agent could drive the tmux server (run-shell runs outside). For tmux,
    its whole folder goes: the user's default server listens beside agentmux's."""
    (setup.home / folder).mkdir()
    socks = [setup.home / folder / "agentmux", setup.home / folder / "default"]
    servers = []
    for path in socks:
        servers.append(socket.socket(socket.AF_UNIX))
        servers[-1].bind(str(path))
        servers[-1].listen()
    targets = [str(p) for p in socks if var == "TMUX" or p.name == "agentmux"]
    connect = ("import socket\n"
               f"for p in {targets!r}:\n"
               "    try:\n"
               "        socket.socket(socket.AF_UNIX).connect(p); print('reached', p)\n"
               "    except OSError as e:\n"
               "        print('blocked', p, e.strerror)\n")
    value = f"{socks[0]},1,0" if var == "TMUX" else str(socks[0])
    try:
        hidden = subprocess.run(setup.argv("python3", "-c", connect, env={var: value}),
                                env={"PATH": "/usr/bin:/bin", var: value}, cwd=setup.wt_a,
                                capture_output=True, text=True, timeout=30, check=False)
        seen = subprocess.run(setup.argv("python3", "-c", connect, env={}), cwd=setup.wt_a,
                              capture_output=True, text=True, timeout=30, check=False)
    finally:
        for server in servers:
            server.close()
    assert hidden.stdout.count("blocked ") == len(targets), (hidden.stdout, hidden.stderr)
    # The control: bound read-only but not hidden, every socket answers.
    assert seen.stdout.count("reached") == len(targets), (seen.stdout, seen.stderr)


def test_bad_input(setup: Setup) -> None:
    def build(branch: str, worktree: Path) -> list[str]:
        return bwrap_argv(worktree=str(worktree), git_common_dir=str(setup.common),
                          worktree_git_dir=str(setup.wtgit_a), branch=branch,
                          home=str(setup.home), agent=None, network=True)

    with pytest.raises(BadInput, match=r"not a plain branch name: '\.\./x'"):
        build("../x", setup.wt_a)
    with pytest.raises(SandboxError, match=r"/nope is not a folder; the agent was not started"):
        build("agentmux/s/a", setup.wt_a / "nope")
