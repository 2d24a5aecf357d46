"""The runner's half of `sandbox = "bwrap"`: its agent, and its check, started inside bubblewrap.

Only the agent's process is inside: the runner stays outside, so the agent cannot write its
status.json or anything else in the ledger. agentmux.sandbox builds the policy; this module
starts it the way docs/sandbox.md's integration notes require:
- bwrap's argv is built here, at each start (the sibling refs it pins, the tmux socket it
  hides are those of this moment), and bwrap is found on the agent's PATH;
- HUP, INT and TERM go to the agent with `forward_signal`, never to bwrap's group: bwrap
  forwards nothing (bubblewrap#369) and would die of them, taking the agent's exit along;
- the terminal is left to the child: the shim inside takes it for the agent's group;
- `--json-status-fd` tells "the agent exited 1" from "bwrap could not build the sandbox";
  bwrap closes that descriptor before the agent runs, so the agent cannot forge it;
- status.json's agent_pid is the agent's (for pause and liveness checks), sandbox_pid bwrap's.

Stdlib only, and imported by the runner only when the spec asks for a sandbox.
"""

from __future__ import annotations

import os

from agentmux import sandbox
from agentmux.errors import AgentmuxError
from agentmux.runproc import Forwarder, spawn, wait

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FIND_AGENT_FOR = 2.0  # seconds: bwrap builds the sandbox, then forks the agent (~20 ms here)


def refusal(status_path: str, worktree: str) -> str | None:
    """Why this sandbox must not start, or None: the ledger must never be writable inside."""
    root = os.path.realpath(worktree)
    ledger = os.path.realpath(os.path.dirname(status_path))
    if os.path.commonpath([ledger, root]) == root:
        return (f"the ledger ({ledger}) is inside the worktree {worktree}, which the sandbox "
                "makes writable; the agent was not started")
    return None


def _writable(box: dict[str, object]) -> list[str]:
    rw = box.get("writable")
    return [str(p) for p in rw] if isinstance(rw, list) else []


def _create(path: str, text: bytes, mode: int = 0o644) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    try:
        os.write(fd, text)
    finally:
        os.close(fd)


def prepare_agent(home: str, agent: str | None, env: dict[str, str]) -> None:
    """What the agent's CLI needs before its sandbox is built (outside it, as the user).

    - The config files that define commands its CLI runs (sandbox.PINNED_STATE) are pinned
      read-only only when they exist: one missing from a writable state folder could be
      created inside, with hooks the user's next unsandboxed run would execute. So the
      missing ones of this agent are created empty first.
    - Claude Code writes ~/.claude.json by a rename in $HOME, which is read-only inside, and
      loses every update. With CLAUDE_CONFIG_DIR=~/.claude it keeps that file in its state
      folder (docs/sandbox.md); it is seeded once from the user's ~/.claude.json.
    """
    folders = [os.path.join(home, e) for e in sandbox.AGENT_STATE.get(agent or "", ())
               if e.endswith("/")]
    for rel in sandbox.PINNED_STATE:
        path = os.path.join(home, rel)
        if any(path.startswith(f) for f in folders):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _create(path, b"{}\n" if path.endswith((".json", ".jsonc")) else b"")
    if agent == "claude" and "CLAUDE_CONFIG_DIR" not in env:
        config = os.path.join(home, ".claude")
        env["CLAUDE_CONFIG_DIR"] = config
        try:
            with open(os.path.join(home, ".claude.json"), "rb") as f:
                _create(os.path.join(config, ".claude.json"), f.read(), 0o600)
        except FileNotFoundError:
            pass


def prefix(box: dict[str, object], worktree: str, env: dict[str, str], status_fd: int
           ) -> list[str]:
    """bwrap's argv up to and including the shim; the command follows it. Adds to env
    what the agent's CLI needs in the sandbox (prepare_agent)."""
    for path in _writable(box):
        # A file bound writable must exist: the hook program appends to hooks.jsonl.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    agent = box.get("agent") if isinstance(box.get("agent"), str) else None
    home = env.get("HOME") or os.path.expanduser("~")
    if os.path.isdir(home):
        prepare_agent(home, str(agent) if agent else None, env)
    return sandbox.bwrap_argv(
        worktree=worktree, git_common_dir=str(box["git_common_dir"]),
        worktree_git_dir=str(box["worktree_git_dir"]), branch=str(box["branch"]),
        home=home, agent=str(agent) if agent else None,
        network=box.get("network", True) is not False, extra_rw=_writable(box), env=env,
        status_fd=status_fd)


def _ended(pid: int) -> bool:
    try:  # WNOWAIT: looks without reaping; the wait below still gets the status
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def find_agent(bwrap_pid: int) -> int | None:
    """The agent's pid once it exists; None if bwrap ended first, or after FIND_AGENT_FOR."""
    import time

    deadline = time.monotonic() + FIND_AGENT_FOR
    while True:
        pid = sandbox.agent_pid(bwrap_pid)
        if pid is not None or _ended(bwrap_pid) or time.monotonic() > deadline:
            return pid
        time.sleep(0.002)  # poll: bwrap says nothing when the agent has been forked


def _drain(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def run(box: dict[str, object], argv: list[str], cwd: str, worktree: str,
        env: dict[str, str], take_tty: bool, fwd: Forwarder,
        started: Callable[[int, int], None] | None = None, stdout: int | None = None
        ) -> tuple[int | None, int | None, str | None]:
    """(exit code, signal, problem) of argv run inside the sandbox.

    problem is None when the agent ran (its exit or signal is then exact, as
    sandbox.decode_status reads bwrap's 128+N), else why it never started. started gets
    (agent pid, bwrap pid) once the agent exists.
    """
    r, w = os.pipe()
    try:
        try:
            full = prefix(box, worktree, env, w) + argv
        except (OSError, AgentmuxError) as e:
            return 1, None, f"the sandbox could not be prepared: {e}; the agent was not started"
        try:
            pid = spawn(full, cwd, env, take_tty, stdout, parent_tty=False, pass_fd=w)
        except OSError as e:
            return 127, None, (f"bubblewrap ({full[0]}) could not be started: {e.strerror}; "
                               f"install it with `{sandbox.INSTALL}`. The agent was not started")
        finally:
            os.close(w)
        fwd.attach(pid, sandbox.forward_signal)
        try:
            if started is not None:
                found = find_agent(pid)
                started(found or pid, pid)
            code, sig = wait(pid)
        finally:
            fwd.detach()
        text = _drain(r)
    finally:
        os.close(r)
    if sig is not None:  # bwrap itself was killed: with it the whole sandbox
        return None, sig, None
    inner = sandbox.agent_exit(text)
    if inner is None:
        return code, None, (f"bubblewrap could not build the sandbox (exit {code}; its message "
                            "is above); the agent was not started")
    code, sig = sandbox.decode_status(inner)
    return code, sig, None
