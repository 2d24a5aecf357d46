"""Agents on another host for real: `up`, `status`, `down`, review and merge, faults.

One real sshd on 127.0.0.1 for the whole module (tests/sshd.py) is the host "box", with its
own HOME, PATH and TMUX_TMPDIR; each test clones its repository there. The ssh client
reaches it through AGENTMUX_SSH (`ssh -F CONFIG`), as a user's own ssh config would.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmux.errors import ENVIRONMENT

from .conftest import FAKE_AGENT, git, run_cli, wait_until
from .helpers import fake, latest_run, write_layout
from .sshd import DEFAULT_PATH, SshServer, start_sshd

SOCK = "amx-remote"
REMOTE_SOCK = "agentmux"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    s = start_sshd(tmp_path_factory.mktemp("sshd") / "sshd")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def box(server: SshServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshServer]:
    monkeypatch.setenv("AGENTMUX_SSH", " ".join(server.ssh))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(server.control_dir))
    server.start()
    yield server
    server.thaw()
    server.start()
    # This test's remote sessions go; the server and other tests' clones stay.
    subprocess.run(server.argv("tmux", "-L", REMOTE_SOCK, "kill-server"),
                   capture_output=True, check=False, timeout=20)


def _clone(repo: Path, server: SshServer, name: str) -> Path:
    dest = server.home / name
    subprocess.run(["git", "clone", "-q", str(repo), str(dest)], check=True)
    return dest


def _hosts(server: SshServer, remote_repo: Path) -> dict[str, Any]:
    return {"box": {"ssh": server.alias, "repo": str(remote_repo),
                    "env": {"PATH": f"{FAKE_AGENT.parent}:{DEFAULT_PATH}"}}}


def amx(repo: Path, *args: str) -> Any:
    return run_cli("--socket", SOCK, *args, cwd=repo)


def panes(repo: Path) -> dict[str, dict[str, Any]]:
    r = amx(repo, "status", "--json")
    assert r.code == 0, r.err
    return {p["name"]: p for p in json.loads(r.out)["panes"]}


def wait_for(repo: Path, want: dict[str, str], timeout: float = 40.0
             ) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        got = panes(repo)
        return got if all(got[n]["state"] == s for n, s in want.items()) else None

    found = wait_until(ready, timeout, f"states {want}")
    assert isinstance(found, dict)
    return found


def remote_state(server: SshServer, remote_repo: Path) -> tuple[str, str, bool]:
    """Branches, worktrees and ledger of agentmux on the host."""
    return (git(remote_repo, "branch", "--list", "agentmux/*"),
            git(remote_repo, "for-each-ref", "refs/agentmux"),
            (remote_repo / ".agentmux" / "runs").exists()
            and any((remote_repo / ".agentmux" / "runs").iterdir()))


def test_five_agents_three_remote_then_down_review_and_merge(
        repo: Path, box: SshServer) -> None:
    remote = _clone(repo, box, "five")
    layout = write_layout(repo, [
        {"name": "l-ok", "command": fake("--write", "l.txt=here", "--commit", "local adds")},
        {"name": "l-bad", "command": fake("--exit", "3")},
        {"name": "r-ok", "host": "box",
         "command": fake("--write", "r.txt=there", "--commit", "remote adds")},
        {"name": "r-bad", "host": "box", "command": fake("--exit", "5")},
        {"name": "r-long", "host": "box", "command": fake("--print", "LONG-ONE", "--sleep", "60")},
    ], hosts=_hosts(box, remote))
    started = time.monotonic()
    r = amx(repo, "up", "--trust", "-d", str(layout))
    took_up = time.monotonic() - started
    assert r.code == 0, r.err
    got = wait_for(repo, {"l-ok": "done", "l-bad": "failed", "r-ok": "done",
                          "r-bad": "failed", "r-long": "working"})
    assert {n: p["host"] for n, p in got.items()} == {
        "l-ok": None, "l-bad": None, "r-ok": "box", "r-bad": "box", "r-long": "box"}
    assert (got["r-bad"]["exit_code"], got["l-bad"]["exit_code"]) == (5, 3)
    started = time.monotonic()
    panes(repo)
    took_status = time.monotonic() - started
    # The agents' worktrees are on the host, from the base commit pushed there.
    run = latest_run(repo)
    base = json.loads((run / "run.json").read_text())["base"]
    assert git(remote, "for-each-ref", "--format=%(objectname)", "refs/agentmux/base") == (
        base + "\n")
    assert "remote adds" in git(remote, "log", "-1", "--format=%s", "agentmux/agents/r-ok")
    assert git(repo, "branch", "--list", "agentmux/agents/r-ok") == ""
    assert "LONG-ONE" in amx(repo, "logs", "r-long").out

    table = amx(repo, "status").out.splitlines()
    assert table[0].split()[-1] == "HOST"
    assert [ln.split()[-1] for ln in table[1:6]] == ["-", "-", "box", "box", "box"]
    r = amx(repo, "down", "--grace", "2")
    assert r.code == 0, r.err
    after = panes(repo)
    assert {n: p["state"] for n, p in after.items()} == {
        "l-ok": "done", "l-bad": "failed", "r-ok": "done", "r-bad": "failed",
        "r-long": "stopped"}
    # The host's session is gone; the remote agents' commits are here now.
    assert subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "has-session", "-t",
                                   "=" + _session(run)), check=False).returncode != 0
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/r-ok").strip() == (
        "remote adds")
    review = json.loads(amx(repo, "review", "--json").out)
    files = {p["name"]: [f["path"] for f in p.get("files") or []] for p in review["panes"]}
    assert files["r-ok"] == ["r.txt"] and files["l-ok"] == ["l.txt"]
    r = amx(repo, "conflicts")
    assert r.code == 0, (r.out, r.err)
    r = amx(repo, "merge", "l-ok", "r-ok")
    assert r.code == 0, (r.out, r.err)
    assert (repo / "r.txt").read_text() == "there\n" and (repo / "l.txt").exists()
    # clean removes the remote worktrees too (their work is here, snapshotted).
    trees = {n: p["worktree"] for n, p in
             json.loads((run / "remote.json").read_text())["panes"].items()}
    assert Path(trees["r-ok"]).is_dir()
    r = amx(repo, "clean", "r-ok", "r-bad")
    assert r.code == 0, (r.out, r.err)
    assert not Path(trees["r-ok"]).exists() and not Path(trees["r-bad"]).exists()
    assert Path(trees["r-long"]).is_dir()
    print(f"\nMEASURED up (3 remote + 2 local) {took_up:.2f} s; status {took_status:.2f} s",
          file=sys.stderr)


def _session(run: Path) -> str:
    return str(json.loads((run / "remote.json").read_text())["hosts"]["box"]["session"])


def test_a_failure_on_one_host_undoes_everything_on_every_host_and_here(
        repo: Path, box: SshServer) -> None:
    # Two hosts (one sshd, two clones): "a" is set up first and fully, then "b" fails, as
    # its clone already has the branch its agent needs.
    first, clash = _clone(repo, box, "first"), _clone(repo, box, "clash")
    git(clash, "branch", "agentmux/agents/r2")
    hosts = {"a": _hosts(box, first)["box"], "b": _hosts(box, clash)["box"]}
    layout = write_layout(repo, [
        {"name": "here", "command": fake("--sleep", "30")},
        {"name": "r1", "host": "a", "command": fake("--sleep", "30")},
        {"name": "r2", "host": "b", "command": fake("--sleep", "30")},
    ], hosts=hosts)
    r = amx(repo, "up", "--trust", "-d", str(layout))
    assert r.code != 0
    assert "host 'b'" in r.err and "agentmux/agents/r2" in r.err, r.err
    # The branch "b" had before is kept; everything this `up` made is gone, everywhere.
    assert git(clash, "branch", "--list", "agentmux/*").split() == ["agentmux/agents/r2"]
    assert remote_state(box, clash)[1:] == ("", False)
    assert remote_state(box, first) == ("", "", False)
    assert git(first, "worktree", "list").count("\n") == 1
    sessions = subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "list-sessions"),
                              capture_output=True, text=True, check=False).stdout
    assert sessions == ""
    assert git(repo, "branch", "--list", "agentmux/*") == ""
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not any((repo / ".agentmux" / "runs").iterdir())


def test_send_logs_and_attach_to_a_remote_pane_then_detach(repo: Path, box: SshServer) -> None:
    remote = _clone(repo, box, "attach")
    layout = write_layout(repo, [
        {"name": "r-a", "host": "box", "command": fake("--print", "FROM-A", "--sleep", "60")},
        {"name": "r-b", "host": "box", "command": fake("--wait-input", "name? ", "--exit", "4")},
    ], hosts=_hosts(box, remote))
    assert amx(repo, "up", "--trust", "-d", str(layout)).code == 0
    wait_for(repo, {"r-a": "working", "r-b": "working"})
    # send types into the remote agent; logs shows its screen, copied from the host.
    r = run_cli("--socket", SOCK, "send", "r-b", "Ada; $(id)", cwd=repo)
    assert r.code == 0, r.err
    wait_for(repo, {"r-b": "failed"})
    assert "got: Ada; $(id)\n" in amx(repo, "logs", "r-b").out
    run = latest_run(repo)
    # r-a: not the pane tmux left active (the last one made), so attach must select it.
    want = json.loads((run / "remote.json").read_text())["panes"]["r-a"]["pane_id"]
    # A local terminal: a pane of a second local tmux server runs `agentmux attach`.
    cmd = (f"{shlex.quote(sys.executable)} -m agentmux --socket {SOCK} attach r-a; "
           "echo ATTACH-RETURNED; sleep 60")
    outer = ["tmux", "-L", "amx-outer"]
    subprocess.run([*outer, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30",
                    "-s", "outer", "-c", str(repo), cmd], check=True)

    def clients() -> str:
        return subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "list-clients", "-F",
                                       "#{pane_id}"), capture_output=True, text=True,
                              check=False).stdout.strip()

    wait_until(clients, 20, "a client on the host's tmux")
    assert clients() == want
    wait_until(lambda: "FROM-A" in _screen(outer), 10, "the remote pane on the screen")
    subprocess.run([*outer, "send-keys", "-t", "=outer:", "C-b", "d"], check=True)
    wait_until(lambda: "ATTACH-RETURNED" in _screen(outer), 15, "back from the detach")
    assert clients() == ""
    # restart: an ended remote agent runs again in its pane; a working one is stopped first.
    r = run_cli("--socket", SOCK, "restart", "r-b", cwd=repo)
    assert r.code == 0, r.err
    wait_for(repo, {"r-b": "working"})
    assert run_cli("--socket", SOCK, "send", "r-b", "Bob", cwd=repo).code == 0
    wait_for(repo, {"r-b": "failed"})
    assert "got: Bob\n" in amx(repo, "logs", "r-b").out
    assert "Ada" in next(remote.glob(".agentmux/runs/*/panes/r-b/attempt-1/output.log")
                         ).read_text()
    r = run_cli("--socket", SOCK, "restart", "r-a", cwd=repo)
    assert r.code == 0, r.err
    wait_until(lambda: _events(run, "r-a")[-2:] == ["stopped", "working"], 20,
               "r-a stopped, then working again")
    # Its work is not here yet (no `down`): clean refuses to remove the host's worktree.
    r = amx(repo, "clean", "r-a", "r-b")
    assert r.code == 3 and "run `agentmux down` first" in r.err, (r.code, r.err)
    assert panes(repo)["r-a"]["state"] == "working"


def _screen(outer: list[str]) -> str:
    return subprocess.run([*outer, "capture-pane", "-p", "-t", "=outer:"], capture_output=True,
                          text=True, check=False).stdout


def _events(run: Path, pane: str) -> list[str]:
    path = run / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e["state"] for e in map(json.loads, lines)
            if e.get("type") == "state" and e.get("pane") == pane]


def test_an_outage_is_unknown_then_caught_up_and_a_killed_tmux_is_never_done(
        repo: Path, box: SshServer) -> None:
    remote = _clone(repo, box, "follow")
    layout = write_layout(repo, [
        {"name": "here", "command": fake("--sleep", "60")},
        {"name": "r-q", "host": "box", "command": fake(
            "--sleep", "3", "--write", "q.txt=quick", "--commit", "quick one")},
        {"name": "r-long", "host": "box", "command": fake("--sleep", "60")},
    ], hosts=_hosts(box, remote))
    assert amx(repo, "up", "--trust", "-d", str(layout)).code == 0
    run = latest_run(repo)
    wait_until(lambda: "working" in _events(run, "r-q"), 20, "the watcher sees r-q work")
    assert amx(repo, "logs", "r-long").code == 0
    # The master connection dies and the port is closed: unknown, never done.
    box.drop()
    box.stop()
    r = amx(repo, "logs", "r-long")   # the copy taken by the last `logs`, said so
    assert r.code == 0 and "showing the copy taken at the last `logs`" in r.err, r
    assert amx(repo, "logs", "r-q").code == ENVIRONMENT   # none taken: the outage, plainly
    got = panes(repo)
    assert {got[n]["state"] for n in ("r-q", "r-long")} == {"unknown"}, got
    assert got["r-q"]["reason"].startswith("host unreachable since 20")
    wait_until(lambda: "unknown" in _events(run, "r-q"), 20, "the watcher's unknown")
    status = next(remote.glob(".agentmux/runs/*/panes/r-q/status.json"))
    wait_until(lambda: json.loads(status.read_text())["ended_at"], 20, "r-q ends meanwhile")
    assert "done" not in _events(run, "r-q")
    box.start()
    # The watcher catches up: the end that came during the outage, recorded once.
    wait_until(lambda: "done" in _events(run, "r-q"), 30, "the watcher catches up")
    assert _events(run, "r-q") == ["working", "unknown", "done"]
    assert panes(repo)["r-long"]["state"] == "working"
    # Its work is here without `down`: branch, snapshot and result for review.
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/r-q").strip() == "quick one"
    review = json.loads(amx(repo, "review", "--json").out)
    files = {p["name"]: [f["path"] for f in p.get("files") or []] for p in review["panes"]}
    assert files["r-q"] == ["q.txt"]
    # The host's tmux server is killed: the runner records the hangup (killed), or, had it
    # no time to, the pane is lost; never done.
    subprocess.run(box.argv("tmux", "-L", REMOTE_SOCK, "kill-server"), check=True)
    wait_for(repo, {"r-q": "done"})
    ended = wait_until(lambda: panes(repo)["r-long"]["state"] in ("killed", "lost"), 30,
                       "r-long's end")
    assert ended
    last = panes(repo)["r-long"]
    assert (last["state"], last["signal"]) in {("killed", "SIGHUP"), ("lost", None)}, last


def test_a_hosts_max_running_queues_the_rest_and_all_end(repo: Path, box: SshServer) -> None:
    remote = _clone(repo, box, "queue")
    hosts = _hosts(box, remote)
    hosts["box"]["max_running"] = 2
    names = ["q1", "q2", "q3", "q4"]
    layout = write_layout(repo, [{"name": n, "host": "box", "command": fake("--sleep", "1")}
                                 for n in names], hosts=hosts)
    assert amx(repo, "up", "--trust", "-d", str(layout)).code == 0
    got = wait_for(repo, dict.fromkeys(names, "done"))
    # The host's own records: never more than 2 agents at once; the others waited.
    spans = []
    for n in names:
        st = json.loads(next(remote.glob(f".agentmux/runs/*/panes/{n}/status.json")).read_text())
        spans.append((st["started_at"], st["ended_at"]))
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2, spans
    assert sorted(n for n in names if got[n]["queued_s"]) == ["q3", "q4"]
