"""What a run has on other hosts (remote.json) and the one program agentmux runs there.

remote.json, in the local run folder, says what lives where: for each host its ssh
destination, its clone, the run's ledger folder there, the tmux socket and session; for each
remote pane its host, its tmux pane id there, its branch and worktree there. The local
run.json lists remote panes too (their branch; no worktree, no pane id: neither is on this
machine), so review and merge see them. The local watcher's own look at tmux skips them
(`local_names`); it follows them with agentmux.remote_follow.

Every action on a host is ONE ssh call running `python3 -I -S -` with a program on stdin:
`_PROGRAM` below, with its query in a literal at its top, answering one `ascii()` literal.
The program needs nothing but the host's python3, git and tmux.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentmux import ledger
from agentmux.errors import WorkFailed
from agentmux.hosts import Host, Transport

FILE = "remote.json"
SOCKET = "agentmux"          # the tmux server of agentmux's agents on every host
BASE_NS = "refs/agentmux/base"
_MARK = "agentmux-remote "


@dataclass(frozen=True)
class RemoteHost:
    name: str
    ssh: str
    repo: str
    run_dir: str          # the run's ledger folder on the host
    session: str          # the tmux session on the host's server `SOCKET`
    base_ref: str         # where the base commit was pushed in the host's clone
    cache: str            # the runner's folder on the host
    max_running: int | None = None   # the host's queue: at most this many of its agents at once

    def host(self) -> Host:
        return Host(self.name, self.ssh, self.repo)


@dataclass(frozen=True)
class RemotePane:
    name: str
    host: str
    pane_id: str | None
    branch: str | None
    worktree: str | None


@dataclass(frozen=True)
class RemoteRecord:
    hosts: Mapping[str, RemoteHost] = field(default_factory=dict)
    panes: Mapping[str, RemotePane] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"version": 1,
                "hosts": {n: vars(h) for n, h in self.hosts.items()},
                "panes": {n: vars(p) for n, p in self.panes.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> RemoteRecord:
        hosts, panes = data.get("hosts"), data.get("panes")
        if not isinstance(hosts, dict) or not isinstance(panes, dict):
            raise ledger.DamagedRecord(f"{FILE}: expected objects 'hosts' and 'panes'")
        try:
            return cls({str(n): RemoteHost(**h) for n, h in hosts.items()},
                       {str(n): RemotePane(**p) for n, p in panes.items()})
        except TypeError as e:
            raise ledger.DamagedRecord(f"{FILE}: {e}") from None

    def on(self, host: str) -> list[RemotePane]:
        return [p for p in self.panes.values() if p.host == host]


def read(run_dir: ledger.RunDir) -> RemoteRecord:
    """The run's remote.json; an empty record for a run with no remote panes."""
    data = ledger.read_json(run_dir.path / FILE)
    return RemoteRecord() if data is None else RemoteRecord.from_json(data)


def write(run_dir: ledger.RunDir, record: RemoteRecord) -> None:
    ledger.write_json(run_dir.path / FILE, record.to_json())


def local_names(run_dir: ledger.RunDir, names: Sequence[str]) -> list[str]:
    """The names of panes that run on this machine."""
    if not (run_dir.path / FILE).exists():
        return list(names)
    remote = read(run_dir).panes
    return [n for n in names if n not in remote]


def session_name(run_id: str) -> str:
    # tmux turns '.' and ':' in session names into '_': use a name it keeps as given.
    return "agentmux-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)


def git_ssh_command(t: Transport) -> str:
    """GIT_SSH_COMMAND for git's own ssh: through the host's master, never prompting."""
    return shlex.join([*t.ssh, *t.options(), "-o", "BatchMode=yes"])


def git_url(h: Host) -> str:
    return f"ssh://{h.ssh}{h.repo}" if ":" in h.ssh else f"{h.ssh}:{h.repo}"


def call(t: Transport, op: str, query: Mapping[str, object], *, timeout: float = 60.0
         ) -> dict[str, object]:
    """Run one op of the host program in one ssh call; its answer, or WorkFailed."""
    program = f"Q = {dict(query, op=op)!a}\n{_PROGRAM}"
    p = t.run(["python3", "-I", "-S", "-"], input=program, timeout=timeout)
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith(_MARK)), None)
    if line is None:
        detail = (p.stderr or p.stdout).strip()[-600:]
        raise WorkFailed(f"host '{t.host.name}': {op} failed (exit {p.returncode}): {detail}")
    try:
        answer = ast.literal_eval(line[len(_MARK):])
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise WorkFailed(f"host '{t.host.name}': {op}: unreadable answer ({e})") from None
    if not isinstance(answer, dict):
        raise WorkFailed(f"host '{t.host.name}': {op}: unexpected answer {line[:100]!r}")
    if answer.get("error"):
        raise WorkFailed(f"host '{t.host.name}': {answer['error']}")
    return answer


# The host program. Q: the query (op and its arguments). Prints one `ascii()` literal.
_PROGRAM = r"""
import os, shutil, signal, subprocess, sys, time

def sh(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace").strip()

def git(*args):
    return sh(["git", "-C", Q["repo"], *args])

def tmux(*args):
    return sh(["tmux", "-L", Q["socket"], *args])

def put(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

def install():
    cache = Q["cache"]
    if not Q.get("cache_files") or os.path.exists(os.path.join(cache, "ok")):
        return
    tmp = cache + ".tmp-%d" % os.getpid()
    for rel, data in Q["cache_files"].items():
        put(os.path.join(tmp, rel), data)
    put(os.path.join(tmp, "ok"), b"")
    try:
        os.rename(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)   # another up installed the same version

def undo(trees, run_dir, session, base_ref):
    left = []
    if session:
        tmux("kill-session", "-t", "=" + session)
    for branch, path in trees:
        code, out = git("worktree", "remove", "--force", path)
        if code and os.path.exists(path):
            left.append("worktree %s: %s" % (path, out))
        if branch:
            git("branch", "-D", branch)
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    if base_ref:
        git("update-ref", "-d", base_ref)
    return left

def setup():
    install()
    made, session = [], None
    try:
        if os.path.exists(Q["run_dir"]):
            return {"error": "%s exists already on the host" % Q["run_dir"]}
        os.makedirs(Q["run_dir"])
        for branch, path in Q["trees"]:
            code, out = git("worktree", "add", "-q", "-b", branch, path, Q["sha"])
            if code:
                raise RuntimeError("creating worktree %s (branch %s): %s" % (path, branch, out))
            made.append((branch, path))
        for path, data in Q["files"].items():
            put(path, data)
        session = Q["session"]
        code, out = tmux(*Q["chain"])
        if code:
            raise RuntimeError("starting tmux session %s: %s" % (session, out))
        return {"ids": out.split()}
    except Exception as e:
        left = undo(made, Q["run_dir"], session, Q["base_ref"])
        msg = "%s" % e + ("; undo left: " + "; ".join(left) if left else "")
        return {"error": msg}

def statuses():
    import json
    out = {}
    panes = os.path.join(Q["run_dir"], "panes")
    for name in (os.listdir(panes) if os.path.isdir(panes) else []):
        if Q.get("panes") is not None and name not in Q["panes"]:
            continue
        try:
            with open(os.path.join(panes, name, "status.json"), "rb") as f:
                out[name] = json.loads(f.read())
        except (OSError, ValueError):
            pass
    return out

def signal_all(sig, key, group=None):
    # KILL goes to a process group (the agent's), other signals to the process, unless `group`.
    group = sig == signal.SIGKILL if group is None else group
    for st in statuses().values():
        pid = st.get(key)
        if st.get("ended_at") or not isinstance(pid, int) or pid <= 0:
            continue
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except OSError:
            pass

def respawn():
    # `restart`: the ended attempt's files aside, the spec from the trusted layout, the runner
    # again in the same pane, its output piped again from its first byte.
    folder = os.path.join(Q["run_dir"], "panes", Q["pane"])
    keep = os.path.join(folder, "attempt-%d" % Q["attempt"])
    os.makedirs(keep)
    # The wiring's files come from the same trusted layout as the spec: they stay.
    stay = ("spec.json", "TASK.md", "wiring.json", "gemini-trusted.json")
    for name in os.listdir(folder):
        if name not in stay and not name.startswith("attempt-"):
            os.rename(os.path.join(folder, name), os.path.join(keep, name))
    put(os.path.join(folder, "spec.json"), Q["spec"])
    code, out = tmux(*Q["chain"])
    return {"error": "respawning pane %s: %s" % (Q["pane"], out)} if code else {}

def stop():
    for sig, key in ((signal.SIGINT, "pid"), (signal.SIGTERM, "pid"),
                     (signal.SIGKILL, "agent_pid")):
        deadline = time.time() + Q["grace"]
        signal_all(sig, key)
        while time.time() < deadline and any(not s.get("ended_at") for s in statuses().values()):
            time.sleep(0.05)
    return {}

def down():
    stop()
    deadline = time.time() + 2.0
    while time.time() < deadline and any(not s.get("ended_at") for s in statuses().values()):
        time.sleep(0.05)
    tmux("kill-session", "-t", "=" + Q["session"])
    return {"snapshots": {name: snapshot(name, tree) for name, tree in Q["snapshots"]}}

def snapshot(name, tree):
    # The worktree's whole state (untracked files too) as a commit on its HEAD, as agentmux
    # snapshots a local agent's worktree at its end: HEAD, snapshot, tree, HEAD's tree.
    env = dict(os.environ, GIT_INDEX_FILE=os.path.join(Q["run_dir"], "snapshot-index"),
               GIT_AUTHOR_NAME="agentmux", GIT_AUTHOR_EMAIL="agentmux@localhost",
               GIT_COMMITTER_NAME="agentmux", GIT_COMMITTER_EMAIL="agentmux@localhost")
    def g(*args):
        p = subprocess.run(["git", "-C", tree, *args], env=env, capture_output=True,
                           stdin=subprocess.DEVNULL)
        if p.returncode:
            raise RuntimeError("git %s in %s: %s" % (args[0], tree, p.stderr.decode()))
        return p.stdout.decode().strip()
    try:
        head, head_tree = g("rev-parse", "HEAD", "HEAD^{tree}").split()
        g("read-tree", "HEAD")
        g("add", "-A")
        t = g("write-tree")
        commit = g("commit-tree", t, "-p", head, "-m",
                   "agentmux snapshot of %s (run %s)" % (name, Q["run"]))
        g("update-ref", Q["ns"] + "/" + name, commit)
        return [head, commit, t, head_tree]
    except (RuntimeError, ValueError) as e:
        return ["", "", "", str(e)]
    finally:
        try:
            os.unlink(env["GIT_INDEX_FILE"])
        except OSError:
            pass

def op():
    if Q["op"] == "setup":
        return setup()
    if Q["op"] == "undo":
        return {"left": undo(Q["trees"], Q["run_dir"], Q["session"], Q["base_ref"])}
    if Q["op"] == "down":
        return down()
    if Q["op"] == "stop":
        return stop()
    if Q["op"] == "signal":
        signal_all(Q["sig"], Q["key"], Q["group"])
        return {}
    if Q["op"] == "respawn":
        return respawn()
    if Q["op"] == "snapshot":
        return {"snapshots": {name: snapshot(name, tree) for name, tree in Q["snapshots"]}}
    if Q["op"] == "clean":
        return {"left": undo(Q["trees"], None, None, None)}
    if Q["op"] == "tmux":
        code, out = tmux(*Q["args"])
        return {"code": code, "out": out}
    if Q["op"] == "read":
        try:
            with open(Q["path"], "rb") as f:
                return {"data": f.read()}
        except OSError as e:
            return {"error": "%s: %s" % (Q["path"], e.strerror)}
    return {"error": "unknown op %r" % Q["op"]}

sys.stdout.write("agentmux-remote " + ascii(op()) + "\n")
"""
