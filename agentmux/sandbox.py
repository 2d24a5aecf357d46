"""`sandbox = "bwrap"`: the agent's process, and only it, runs inside bubblewrap.

The runner and the watcher stay outside, so the agent cannot forge how it ended. Inside,
the whole filesystem is read-only except the agent's worktree, what git needs to commit on
its own branch, its CLI's state folders and a private /tmp; credentials and the sockets
that lead out of the sandbox (tmux, Docker, the session bus, agents) are hidden. The table,
the measurements and the traps are in docs/sandbox.md.

Stdlib only and import-light: the runner imports it for every pane.
"""

from __future__ import annotations

import os
import sys

from .errors import BadInput, EnvironmentProblem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

BWRAP = "bwrap"
INSTALL = "apt-get install -y bubblewrap"
SIGNAL_BASE = 128  # bwrap reports a child killed by signal N as exit 128+N, like a shell
SIGRTMAX = 64
PRIVATE_DIRS = ("/tmp", "/var/tmp")  # fresh and empty inside; `tmp` replaces the first
AGENT_NSPID = 2  # with --unshare-pid, bwrap's own init is pid 1 and the command pid 2

# (path under $HOME, why it is hidden): each one lets whoever reads it act as the user
# somewhere else. Hidden only when it exists: a missing one cannot be created in a
# read-only $HOME anyway.
HIDDEN_HOME: tuple[tuple[str, str], ...] = (
    (".ssh", "SSH keys and agent config: push to every remote, log in to servers"),
    (".gnupg", "GPG keys: sign commits and tags as the user, decrypt"),
    (".aws", "AWS credentials"),
    (".config/gcloud", "Google Cloud credentials"),
    (".azure", "Azure credentials"),
    (".kube", "Kubernetes credentials: the user's clusters"),
    (".docker/config.json", "container registry logins"),
    (".netrc", "HTTP passwords (git, curl)"),
    (".git-credentials", "git's stored HTTPS passwords"),
    (".config/git/credentials", "git's stored HTTPS passwords (XDG place)"),
    (".npmrc", "npm publish tokens"),
    (".pypirc", "PyPI upload tokens"),
    (".config/gh", "GitHub CLI token"),
    (".config/hub", "hub's GitHub token"),
    (".cargo/credentials.toml", "crates.io token"),
    (".cargo/credentials", "crates.io token (old name)"),
    (".gem/credentials", "RubyGems token"),
    (".password-store", "pass's password store"),
    (".local/share/keyrings", "the desktop keyring"),
    (".vault-token", "HashiCorp Vault token"),
    (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL passwords"),
    (".terraform.d/credentials.tfrc.json", "Terraform Cloud token"),
    (".Xauthority", "X11 cookie: keystrokes into the user's other windows"),
    (".mozilla", "browser profile: logged-in sessions"),
    (".config/google-chrome", "browser profile: logged-in sessions"),
    (".config/chromium", "browser profile: logged-in sessions"),
)

# Sockets a read-only mount does not protect (connect() ignores it) and that lead out of
# the sandbox: the Docker/Podman/containerd APIs are root on the host, systemd's runs units.
HIDDEN_SYSTEM: tuple[tuple[str, str], ...] = (
    ("/run/docker.sock", "Docker API: root on the host"),
    ("/run/containerd/containerd.sock", "containerd API: root on the host"),
    ("/run/podman/podman.sock", "Podman API: root on the host"),
    ("/run/dbus/system_bus_socket", "the system bus: polkit-allowed actions"),
    ("/run/systemd/private", "systemd's own socket: starts units outside"),
)

# Environment that points at something outside the sandbox (agent sockets, displays).
UNSET_ENV = ("SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY",
             "WAYLAND_DISPLAY", "XAUTHORITY")

# Each CLI's state under $HOME, writable inside. A trailing "/" is a folder, created when
# missing so it can be bound; a file is bound only when it exists; "*" matches a name prefix.
AGENT_STATE: dict[str, tuple[str, ...]] = {
    "claude": (".claude/", ".claude.json"),
    "codex": (".codex/",),
    "gemini": (".gemini/",),
    "opencode": (".config/opencode/", ".local/share/opencode/", ".local/state/opencode/",
                 ".cache/opencode/"),
    "aider": (".aider/", ".aider*"),
    "shell": (),
}
COMMON_STATE = (".cache/",)

# Files inside those state folders that define commands the CLI runs (hooks, notify, MCP
# servers, plugins): the next unsandboxed run would execute whatever the agent put there,
# so they stay read-only when they exist.
PINNED_STATE = (".claude/settings.json", ".codex/config.toml", ".gemini/settings.json",
                ".config/opencode/opencode.json", ".config/opencode/opencode.jsonc",
                ".config/opencode/config.json", ".aider.conf.yml")

# Runs inside as the agent's first process: its own process group, in the terminal's
# foreground, so Ctrl-C and the runner's signals reach the agent and not bwrap, which
# would die of them and SIGKILL the sandbox (bwrap forwards no signal: bubblewrap#369).
# Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec.
SHIM = """import os, signal as s, sys
a = sys.argv[1:]
for n in (s.SIGPIPE, s.SIGXFSZ): s.signal(n, s.SIG_DFL)
try: fg = os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
except OSError: fg = False
os.setpgid(0, 0)
if fg:
    s.signal(s.SIGTTOU, s.SIG_IGN)
    try: os.tcsetpgrp(0, os.getpgrp())
    except OSError: pass
    s.signal(s.SIGTTOU, s.SIG_DFL)
try: os.execvp(a[0], a)
except OSError as e:
    sys.stderr.write("agentmux sandbox: %s: %s\\n" % (a[0], e.strerror)); sys.stderr.flush()
    os._exit(127 if e.errno == 2 else 126)
"""


class SandboxError(EnvironmentProblem):
    """The sandbox cannot be set up here (a folder it must bind is missing)."""


def _real(path: str) -> str:
    return os.path.realpath(path)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _ref_paths(common: str, branch: str) -> tuple[str, str, str]:
    """(folder holding the branch's loose ref, its file name, its reflog file)."""
    parts = branch.split("/")
    if branch.startswith("refs/") or any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"sandbox: not a plain branch name: {branch!r}")
    folder = os.path.join(common, "refs", "heads", *parts[:-1])
    return folder, parts[-1], os.path.join(common, "logs", "refs", "heads", *parts)


def _ensure_file(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))


def _state_paths(home: str, agent: str | None) -> list[str]:
    """The agent's existing state paths, creating its folders first."""
    out: list[str] = []
    for entry in (*AGENT_STATE.get(agent or "", ()), *COMMON_STATE):
        if entry.endswith("*"):
            prefix = os.path.basename(entry[:-1])
            base = os.path.dirname(os.path.join(home, entry))
            names = sorted(os.listdir(base)) if os.path.isdir(base) else []
            out += [os.path.join(base, n) for n in names if n.startswith(prefix)]
            continue
        path = os.path.join(home, entry.rstrip("/"))
        if entry.endswith("/"):
            os.makedirs(path, exist_ok=True)
        if os.path.lexists(path):
            out.append(path)
    return out


def _sockets(env: Mapping[str, str]) -> list[str]:
    """Where the tmux server, the user's runtime folder and the SSH agent listen."""
    out = [f"/run/user/{os.getuid()}", env.get("XDG_RUNTIME_DIR", ""),
           env.get("SSH_AUTH_SOCK", "")]
    sock = env.get("TMUX", "").split(",")[0]  # "socket,server pid,session"
    # tmux's own folder (tmux-UID) holds every server of the user: hide all of them.
    folder = os.path.dirname(sock)
    out.append(folder if os.path.basename(folder).startswith("tmux-") else sock)
    return [p for p in out if p]


class _Argv:
    """bwrap options; a later mount covers an earlier one, so the order is the policy."""

    def __init__(self) -> None:
        self.args: list[str] = [BWRAP]

    def add(self, *args: str) -> None:
        self.args += args

    def bind(self, path: str, *, rw: bool) -> None:
        self.add("--bind" if rw else "--ro-bind", path, path)

    def hide(self, path: str) -> None:
        if os.path.isdir(path):
            self.add("--tmpfs", path, "--remount-ro", path)
        else:  # a file or a socket: an empty read-only file stands in its place
            self.add("--ro-bind", "/dev/null", path)


def _minimal(paths: Iterable[str]) -> list[str]:
    """The paths no other one contains, shortest first."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_under(p, q) for q in out):
            out.append(p)
    return out


def bwrap_argv(*, worktree: str, git_common_dir: str, worktree_git_dir: str, branch: str,
               home: str, agent: str | None, network: bool, extra_rw: Sequence[str] = (),
               tmp: str | None = None, env: Mapping[str, str] | None = None,
               status_fd: int | None = None) -> list[str]:
    """The prefix to put before the agent's argv: `bwrap ... -- python SHIM`.

    Creates, when missing, what it must bind: the agent's state folders, the folder of
    its branch's loose ref, its reflog file and the worktree's empty config.worktree.
    `tmp` is a folder to serve as /tmp (kept afterwards); None gives a tmpfs. `env` is
    the agent's environment (default: this process's), read for the sockets to hide.
    `status_fd`, an inherited descriptor, receives bwrap's JSON status: see agent_exit.
    """
    env = os.environ if env is None else env
    wt, common, wtgit, home = (_real(p) for p in (worktree, git_common_dir,
                                                  worktree_git_dir, home))
    extra = [_real(p) for p in extra_rw]
    for need in (wt, common, wtgit):
        if not os.path.isdir(need):
            raise SandboxError(f"sandbox: {need} is not a folder; the agent was not started")
    ref_dir, ref_name, reflog = _ref_paths(common, branch)
    os.makedirs(ref_dir, exist_ok=True)
    _ensure_file(reflog)
    _ensure_file(os.path.join(wtgit, "config.worktree"))
    state = _state_paths(home, agent) if os.path.isdir(home) else []

    a = _Argv()
    if status_fd is not None:
        a.add("--json-status-fd", str(status_fd))
    a.add("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
    private = [_real(d) for d in PRIVATE_DIRS if os.path.isdir(d)]
    for i, d in enumerate(private):
        if i == 0 and tmp is not None:
            a.add("--bind", _real(tmp), d)
        else:
            a.add("--tmpfs", d)
    # What the agent must still see (read-only) that lives in a private folder.
    repo_top = os.path.dirname(common) if os.path.basename(common) == ".git" else common
    # Also agentmux's own hook program and the Python that runs it (a venv's prefix), and
    # the agent's PATH: a checkout or venv under /tmp must still run inside.
    path = [_real(d) for d in env.get("PATH", "").split(os.pathsep) if os.path.isabs(d)
            and _real(d) not in PRIVATE_DIRS]   # never /tmp itself
    seen = (home, repo_top, common, wt, wtgit, *extra, _real(sys.base_prefix),
            _real(sys.prefix), _real(os.path.dirname(os.path.abspath(__file__))), *path)
    for p in _minimal(p for p in seen if any(_under(p, d) for d in private)):
        if os.path.exists(p):
            a.bind(p, rw=False)
    # Writable: the worktree, what a commit on its own branch writes, state, extras.
    a.bind(wt, rw=True)
    a.bind(os.path.join(common, "objects"), rw=True)
    a.bind(ref_dir, rw=True)
    a.bind(reflog, rw=True)
    a.bind(wtgit, rw=True)
    for p in state + extra:
        a.bind(_real(p), rw=True)
    # Pinned read-only inside those: whatever would redirect git or run code outside.
    pins = [os.path.join(wt, ".git"), os.path.join(common, "objects", "pack"),
            os.path.join(common, "objects", "info"),
            *(os.path.join(wtgit, n) for n in ("commondir", "gitdir", "config.worktree")),
            *(os.path.join(ref_dir, n) for n in sorted(os.listdir(ref_dir))
              if n not in (ref_name, ref_name + ".lock")),
            *(os.path.join(home, p) for p in PINNED_STATE)]
    for p in pins:
        if os.path.lexists(p):
            a.bind(_real(p), rw=False)
    # Hidden last, so no bind above can uncover them.
    hidden = [os.path.join(home, p) for p, _ in HIDDEN_HOME]
    hidden += [p for p, _ in HIDDEN_SYSTEM] + _sockets(env)
    # One under a private folder needs no hiding, unless it was re-exposed: hide it anyway
    # (bwrap makes the mount point in the tmpfs).
    for p in _minimal(_real(p) for p in hidden if os.path.lexists(p)):
        a.hide(p)
    a.add("--unshare-pid", "--unshare-ipc", "--die-with-parent", "--cap-drop", "ALL")
    if not network:
        a.add("--unshare-net")
    for var in UNSET_ENV:
        a.add("--unsetenv", var)
    a.add("--setenv", "TMPDIR", "/tmp")
    a.add("--", _real(sys.executable), "-I", "-S", "-c", SHIM)
    return a.args


def decode_status(code: int) -> tuple[int | None, int | None]:
    """(exit code, None) or (None, signal) from bwrap's exit code.

    bwrap turns a child killed by signal N into exit 128+N, so an agent that itself exits
    129..192 reads as a signal: the same ambiguity as any shell.
    """
    if SIGNAL_BASE < code <= SIGNAL_BASE + SIGRTMAX:
        return None, code - SIGNAL_BASE
    return code, None


def agent_exit(json_status: str) -> int | None:
    """bwrap's exit code as its --json-status-fd reported it, or None when the agent never
    started: bwrap failed while building the sandbox (it then exits 1, like an agent)."""
    import json

    for line in json_status.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("exit-code"), int):
            return int(record["exit-code"])
    return None


def _probe_argv(bwrap: str) -> list[str]:
    return [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
            "--unshare-ipc", "--die-with-parent", "--cap-drop", "ALL", "--", "true"]


def check_available(bwrap: str = BWRAP) -> str | None:
    """None when bwrap can build the sandbox here, else what is wrong and how to fix it."""
    import shutil
    import subprocess

    path = shutil.which(bwrap)
    if path is None:
        return (f'sandbox = "bwrap" needs bubblewrap, and `{bwrap}` is not installed: '
                f"{INSTALL}")
    try:
        p = subprocess.run(_probe_argv(path), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap ({path}) does not run: {e}"
    if p.returncode == 0:
        return None
    err = " ".join(p.stderr.split())
    words = ("namespace", "uid map", "operation not permitted", "permission denied")
    if any(w in err.lower() for w in words):
        return (f"bubblewrap is installed but the kernel forbids it to create user "
                f"namespaces here ({err}). Allow them (Debian: sysctl -w "
                f"kernel.unprivileged_userns_clone=1; Ubuntu 23.10+: sysctl -w "
                f"kernel.apparmor_restrict_unprivileged_userns=0; elsewhere: "
                f"user.max_user_namespaces > 0), or use sandbox = \"none\"")
    return f"bubblewrap ({path}) cannot build a sandbox here: exit {p.returncode}: {err}"


def _parents() -> dict[int, list[int]]:
    """Children of every process, from one pass over /proc (no /proc/PID/.../children
    here: that needs CONFIG_PROC_CHILDREN, which this kernel lacks)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _inner_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def agent_pid(bwrap_pid: int) -> int | None:
    """The agent's pid (as seen from outside) in the sandbox bwrap_pid runs, or None
    while the sandbox is being built or after the agent ended."""
    kids = _parents()
    for init in kids.get(bwrap_pid, []):
        for pid in kids.get(init, []):
            if _inner_pid(pid) == AGENT_NSPID:
                return pid
    return None


def forward_signal(bwrap_pid: int, sig: int) -> None:
    """Sends sig to the agent's process group, never to bwrap.

    Before the agent exists it goes to bwrap itself, which dies of it: the agent never
    started, and the runner sees that signal. Between the shim's start and its setpgid
    it goes to the shim alone.
    """
    pid = agent_pid(bwrap_pid)
    try:
        if pid is None:
            os.kill(bwrap_pid, sig)
        elif os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
