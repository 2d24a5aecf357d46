"""A real OpenSSH server on 127.0.0.1: the "remote host" of tests of agentmux's SSH transport.

Debian's own `sshd` runs in the foreground (`sshd -D -e -f CONFIG`) from a private config on
a free port, with a throwaway host key and a throwaway user key. It logs in as the current
user (root on the project's machines), so the "host" is given its own world through the
config's `SetEnv`, which overrides what sshd sets from the password file:
- HOME: a private folder, so the host's shell startup files, ~/.tmux.conf and ~/.gitconfig
  are the test's own (Debian's bash reads ~/.bashrc even for `ssh box cmd`);
- TMUX_TMPDIR: a short private folder, so tmux on the "host" never meets a real server;
- PATH: chosen per server, so a host that lacks tmux is a PATH without it.
sshd still starts every session in the password file's home folder (/root): remote commands
must never rely on their working folder, just as on a real host.

Use it from a conftest with `sshd = sshd_fixture()`, or as `with sshd_server(folder) as s:`.
Teardown ends only what this server started: its own sshd and connection processes by PID,
the ssh masters in its private ControlPath folder, and tmux servers under its TMUX_TMPDIR by
socket path.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
INSTALL = "apt-get install -y openssh-server openssh-client"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _require_openssh() -> None:
    missing = [str(SSHD)] if not SSHD.exists() else []
    missing += [t for t in ("ssh", "ssh-keygen") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"tests of SSH hosts need OpenSSH ({', '.join(missing)} missing). "
                    f"Install it: {INSTALL}", pytrace=False)
    try:  # sshd refuses to start without its privilege-separation folder
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    except OSError as e:
        pytest.fail(f"sshd needs the folder /run/sshd ({e}); create it with "
                    "`sudo mkdir -p -m 0755 /run/sshd`", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "agentmux-test",
                    "-f", str(path)], check=True, capture_output=True)
    return path.with_suffix(".pub").read_text().strip()


def _descendants(pid: int) -> list[int]:
    """Every process below pid, from one scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {[p for p in pids if _alive(p)]} did not end")
        time.sleep(0.01)  # poll: the deadline loop above


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class SshServer:
    """One running sshd and the ssh client configuration that reaches it as `alias`."""

    root: Path             # config, keys, known_hosts and log
    port: int
    alias: str             # the Host name in ssh_config: `ssh -F ssh_config box`
    ssh_config: Path
    home: Path             # HOME of sessions on the "host"
    tmux_tmpdir: Path      # TMUX_TMPDIR of sessions on the "host"
    remote_path: str       # PATH of sessions on the "host"
    control_dir: Path      # short folder for ControlPath sockets (`ControlPath <dir>/%C`)
    log: Path              # sshd's own log (-e)
    _proc: subprocess.Popen[bytes] | None = None
    _frozen: list[int] = field(default_factory=list)

    @property
    def ssh(self) -> list[str]:
        """The ssh argv prefix; the destination is `alias`."""
        return ["ssh", "-F", str(self.ssh_config)]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def argv(self, *remote: str) -> list[str]:
        """Local argv that runs remote (POSIX-quoted for the host's bash) on the host."""
        return [*self.ssh, self.alias, *([shlex.join(remote)] if remote else [])]

    def run(self, *remote: str, input: str | None = None, timeout: float = 10.0,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*remote), input=input, capture_output=True, text=True,
                              timeout=timeout, check=check,
                              stdin=subprocess.DEVNULL if input is None else None)

    def accepted(self) -> int:
        """How many logins sshd has accepted: one per new connection, none per mux session."""
        return self.log.read_text(errors="replace").count("Accepted publickey")

    def tmux_sockets(self) -> list[Path]:
        return sorted(self.tmux_tmpdir.glob("tmux-*/*"))

    def start(self) -> None:
        """Start sshd on self.port and wait until it listens."""
        if self.pid is not None:
            return
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.root / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        want = f"Server listening on 127.0.0.1 port {self.port}."
        deadline = time.monotonic() + 10.0
        def since() -> str:
            return self.log.read_bytes()[mark:].decode(errors="replace")

        while want not in since():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = since().strip()
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                self._proc.wait()
                raise RuntimeError(f"sshd did not start on port {self.port}: {tail}")
            time.sleep(0.005)  # poll: until sshd listens, within its deadline

    def stop(self) -> None:
        """Stop listening: new connections are refused; established ones (masters) go on."""
        if self._proc is None:
            return
        self.thaw()
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(timeout=5)
        self._proc = None

    def drop(self) -> None:
        """End every established connection from the server side, as a network cut would:
        ssh masters see their connection close. Remote tmux servers (daemons) live on."""
        if self._proc is None:
            return
        self.thaw()
        conns = [p for p in _descendants(self._proc.pid) if _comm(p) == "sshd"]
        _signal(conns, signal.SIGKILL)
        _wait_gone(conns)

    def freeze(self) -> None:
        """SIGSTOP sshd and its connection processes: packets get no answer, as on a dead
        network. New connections are accepted by the kernel and then hang in the handshake."""
        if self._proc is None:
            return
        self._frozen = [self._proc.pid, *_descendants(self._proc.pid)]
        _signal(self._frozen, signal.SIGSTOP)

    def thaw(self) -> None:
        _signal(self._frozen, signal.SIGCONT)
        self._frozen = []

    def restart(self) -> None:
        """Stop (if running) and start again on the same port with the same keys."""
        self.stop()
        self.start()

    def close(self) -> None:
        """End everything this server started: masters, connections, sshd, remote tmux."""
        self.thaw()
        for sock in self.control_dir.glob("*"):
            _exit_master(sock, self.alias)
        if self._proc is not None:
            below = _descendants(self._proc.pid)
            _signal(below, signal.SIGKILL)
            self.stop()
            _wait_gone(below)
        for sock in self.tmux_sockets():
            subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True,
                           check=False)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        shutil.rmtree(self.tmux_tmpdir, ignore_errors=True)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _exit_master(sock: Path, alias: str) -> None:
    """End the ssh master behind one socket of our ControlPath folder, by its own pid."""
    base = ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}"]
    check = subprocess.run([*base, "-O", "check", alias], capture_output=True, text=True,
                           check=False, timeout=10)
    m = re.search(r"pid=(\d+)", check.stderr)
    subprocess.run([*base, "-O", "exit", alias], capture_output=True, check=False, timeout=10)
    if m:
        pid = int(m.group(1))
        with contextlib.suppress(TimeoutError):
            _wait_gone([pid], 3.0)
        _signal([pid], signal.SIGKILL)


def start_sshd(root: Path, *, remote_path: str = DEFAULT_PATH, alias: str = "box") -> SshServer:
    """Write keys and configs under root and start sshd; the caller must close() it."""
    _require_openssh()
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Remote\n\temail = remote@example.com\n[init]\n\tdefaultBranch = main\n")
    host_pub = _keygen(root / "host_ed25519")
    (root / "authorized_keys").write_text(_keygen(root / "id_ed25519") + "\n")
    # Unix socket paths hold at most 108 bytes: both socket folders get short /tmp names.
    tmux_tmpdir = Path(tempfile.mkdtemp(prefix="amx-rt-"))
    control_dir = Path(tempfile.mkdtemp(prefix="amx-cm-"))
    server = SshServer(root=root, port=0, alias=alias, ssh_config=root / "ssh_config",
                       home=home, tmux_tmpdir=tmux_tmpdir, remote_path=remote_path,
                       control_dir=control_dir, log=root / "sshd.log")
    for _ in range(5):  # a free port can be taken between the probe and sshd's bind
        server.port = _free_port()
        _write_configs(server, host_pub)
        try:
            server.start()
            return server
        except RuntimeError as e:
            if "Address already in use" not in str(e):
                server.close()
                raise
    server.close()
    raise RuntimeError("sshd found no free port in 5 tries")


def _write_configs(s: SshServer, host_pub: str) -> None:
    env = {"HOME": s.home, "PATH": s.remote_path, "TMUX_TMPDIR": s.tmux_tmpdir,
           "LANG": "C.UTF-8"}
    (s.root / "sshd_config").write_text(f"""\
Port {s.port}
ListenAddress 127.0.0.1
HostKey {s.root / "host_ed25519"}
PidFile {s.root / "sshd.pid"}
AuthorizedKeysFile {s.root / "authorized_keys"}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the key files live under /tmp, which is world-writable: StrictModes would refuse them
StrictModes no
PermitRootLogin prohibit-password
PermitUserRC no
PermitUserEnvironment no
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel INFO
SetEnv {" ".join(f'"{k}={v}"' for k, v in env.items())}
""")
    (s.root / "known_hosts").write_text(f"[127.0.0.1]:{s.port} {host_pub}\n")
    s.ssh_config.write_text(f"""\
Host {s.alias}
  HostName 127.0.0.1
  Port {s.port}
  User {_user()}
  IdentityFile {s.root / "id_ed25519"}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {s.root / "known_hosts"}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking accept-new
  CheckHostIP no
  UpdateHostKeys no
  BatchMode yes
  ControlPath {s.control_dir}/%C
""")


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@contextlib.contextmanager
def sshd_server(root: Path, *, remote_path: str = DEFAULT_PATH,
                alias: str = "box") -> Iterator[SshServer]:
    server = start_sshd(root, remote_path=remote_path, alias=alias)
    try:
        yield server
    finally:
        server.close()


def sshd_fixture(name: str = "sshd", *, remote_path: str = DEFAULT_PATH) -> object:
    """A function-scoped pytest fixture yielding a fresh SshServer; bind it in a conftest or
    test module: `sshd = sshd_fixture()`."""

    @pytest.fixture(name=name)
    def fixture(tmp_path: Path) -> Iterator[SshServer]:
        with sshd_server(tmp_path / name, remote_path=remote_path) as server:
            yield server

    return fixture
