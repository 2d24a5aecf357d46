"""The ledger is evidence: `up` trusts exactly the bytes it parses, `restart` runs only what
the trusted layout says, and the panes' environment is on disk only until read."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentmux import ledger, panenv, trust
from agentmux.errors import Refused
from agentmux.tmux import Tmux
from agentmux.up import up as do_up

from .conftest import run_cli, wait_until
from .helpers import fake, latest_run, up, wait_states, write_layout

SOCK = "amx"

# Swaps the file at argv[1] between the contents of argv[2] and argv[3], by rename, as fast
# as it can: a reader that opens the path twice can get one of each.
SWAPPER = """
import os, sys
path, a, b = sys.argv[1:4]
tmp = path + ".swap"
print("swapping", flush=True)
while True:
    for src in (a, b):
        os.link(src, tmp)
        os.rename(tmp, path)
"""


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", SOCK, *args], capture_output=True, text=True,
                          check=False)


def test_a_swapper_racing_50_ups_runs_no_untrusted_command(repo: Path, tmp_path: Path) -> None:
    path = repo / "race.toml"
    body = 'isolation = "none"\n[[pane]]\nname = "a"\ncommand = "touch {mark}-$AGENTMUX_RUN"\n'
    good, bad = tmp_path / "trusted.toml", tmp_path / "untrusted.toml"
    good.write_text(body.format(mark="trusted"))
    bad.write_text(body.format(mark="UNTRUSTED"))
    path.write_bytes(good.read_bytes())
    trust.trust(path, path.read_bytes())
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(path), str(good), str(bad)],
                               stdout=subprocess.PIPE, text=True)
    tm = Tmux(SOCK)
    started = refused = 0
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "swapping\n"
        for _ in range(50):
            try:
                res = do_up(path, socket=SOCK)
            except Refused:
                refused += 1
                continue
            started += 1
            status = res.run_dir.status("a")
            # Its command ran (or not) before the session goes: only then is the count true.
            wait_until(lambda: (ledger.read_json(status) or {}).get("ended_at"), 20,  # noqa: B023
                       "the pane's end")
            tm.kill_session_of_run("race", res.run_dir.id)
    finally:
        swapper.kill()
        swapper.wait()
    ran = sorted(p.name.split("-")[0] for p in repo.glob("*-2*"))
    assert ran.count("UNTRUSTED") == 0, ran
    assert ran.count("trusted") == started
    # Both sides of the race were exercised: a test that can never see the swap proves nothing.
    assert started > 0 and refused > 0, (started, refused)
    print(f"race: {started} ups started, {refused} refused")
    for run in ledger.iter_runs(repo):
        assert run.run().layout_snapshot == good.read_text()


def _done_pane(repo: Path, command: str, **top: Any) -> Path:
    layout = write_layout(repo, [{"name": "a", "command": command}], **top)
    up(layout, SOCK)
    wait_states(repo, SOCK)
    return latest_run(repo)


def test_restart_refuses_a_tampered_spec_and_changes_nothing(repo: Path) -> None:
    run = _done_pane(repo, fake("--exit", "0"))
    spec_path = run / "panes" / "a" / "spec.json"
    honest = spec_path.read_bytes()
    spec = json.loads(honest)
    spec["command"] = "touch PWNED"
    spec["env"]["LD_PRELOAD"] = "/tmp/evil.so"
    spec_path.write_text(json.dumps(spec))
    status_before = (run / "panes" / "a" / "status.json").read_bytes()
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 3, r.err
    assert "differs from the trusted layout snapshot" in r.err
    assert "in command, env (command: 'touch PWNED', the layout says 'fake-agent --exit 0'" \
        in r.err, r.err
    assert not (run / "panes" / "a" / "attempt-1").exists()
    assert (run / "panes" / "a" / "status.json").read_bytes() == status_before
    assert not any(repo.rglob("PWNED"))
    # The honest spec restarts.
    spec_path.write_bytes(honest)
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 0, r.err
    assert (run / "panes" / "a" / "attempt-1" / "status.json").exists()


def test_restart_refuses_a_run_whose_layout_snapshot_was_changed(repo: Path) -> None:
    run = _done_pane(repo, fake("--exit", "0"))
    record = json.loads((run / "run.json").read_text())
    record["layout_snapshot"] = record["layout_snapshot"].replace("--exit 0", "--exit 9")
    (run / "run.json").write_text(json.dumps(record))
    spec_path = run / "panes" / "a" / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec["command"] = "fake-agent --exit 9"   # consistent with the forged snapshot
    spec_path.write_text(json.dumps(spec))
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 3, r.err
    assert "layout snapshot (run.json) is not a layout you trusted" in r.err
    assert not (run / "panes" / "a" / "attempt-1").exists()


def test_restart_of_an_edited_and_retrusted_layout_still_checks_the_run(repo: Path) -> None:
    run = _done_pane(repo, fake("--exit", "0"))
    layout = repo / "agents.toml"
    layout.write_text(layout.read_text().replace("--exit 0", "--exit 5"))
    trust.trust(layout, layout.read_bytes())   # the run's own snapshot was trusted before
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 0, r.err
    # The run's layout, not the file as it is now.
    st = run / "panes" / "a" / "status.json"
    wait_until(lambda: (ledger.read_json(st) or {}).get("ended_at"), 20, "the new attempt")
    assert (ledger.read_json(st) or {})["exit_code"] == 0


def test_restart_takes_the_environment_of_its_shell(repo: Path) -> None:
    run = _done_pane(repo, 'printf "%s" "$FROM_SHELL" > "$AGENTMUX_WORKTREE/seen.txt"')
    wt = Path(json.loads((run / "panes" / "a" / "spec.json").read_text())["worktree"])
    assert (wt / "seen.txt").read_text() == ""
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo, env={"FROM_SHELL": "restart's"})
    assert r.code == 0, r.err
    wait_until(lambda: (wt / "seen.txt").read_text() == "restart's", 20, "the new attempt")


def test_markers_of_a_ci_job_do_not_reach_the_panes_unless_the_layout_sets_them(
        repo: Path) -> None:
    """A pane is a terminal: Gemini CLI (Ink's is-in-ci) exits at once under CI, CI_*."""
    show = 'env | grep -E "^(CI|CONTINUOUS|GITHUB|KEEP)" | sort > "$AGENTMUX_WORKTREE/env.txt"'
    layout = write_layout(repo, [{"name": "a", "command": show},
                                 {"name": "b", "command": show, "env": {"CI": "layout's"}}])
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo,
                env={"CI": "true", "CONTINUOUS_INTEGRATION": "1", "CI_JOB_TOKEN": "t",
                     "GITHUB_ACTIONS": "true", "KEEP_ME": "kept"})
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK, {"a": "done", "b": "done"})
    seen = {n: (Path(p["worktree"]) / "env.txt").read_text() for n, p in panes.items()}
    assert seen == {"a": "KEEP_ME=kept\n", "b": "CI=layout's\nKEEP_ME=kept\n"}


def test_the_environment_is_on_disk_only_until_its_runner_read_it(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-agentmux-test-" + os.urandom(8).hex()
    monkeypatch.setenv("SOME_API_KEY", secret)
    layout = write_layout(repo, [{"name": "a", "command": fake("--sleep", "30")},
                                 {"name": "b", "command": fake("--exit", "0")}])
    up(layout, SOCK)
    wait_states(repo, SOCK, {"a": "alive", "b": "done"})
    starts = tmux("list-panes", "-a", "-F", "#{pane_start_command}").stdout
    env_files = {Path(w.strip("'\"")) for w in starts.split() if w.strip("'\"").endswith(".json")
                 and "agentmux-env-" in w}
    assert len(env_files) == 2, starts
    assert all(p.parent.name.startswith("agentmux-env-") for p in env_files)
    wait_until(lambda: not any(p.parent.exists() for p in env_files), 10, "the folder's removal")
    # Nowhere in the repository, its worktrees, the ledger or HOME.
    hits = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == []
    assert not (latest_run(repo) / "env.json").exists()


def test_env_files_are_private(tmp_path: Path) -> None:
    folder, files = panenv.write(["a", "b"], {"K": "secret"})
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for f in files.values():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
            assert json.loads(f.read_text()) == {"version": 1, "env": {"K": "secret"}}
        assert not str(folder).startswith(str(tmp_path))
    finally:
        panenv.remove(folder)


def test_a_runner_deletes_its_env_file_even_when_its_spec_is_bad(tmp_path: Path) -> None:
    from agentmux.runner import argv as runner_argv

    folder, files = panenv.write(["a"], {"K": "v"})
    spec = tmp_path / "spec.json"
    spec.write_text("{not json")
    t0 = time.monotonic()
    p = subprocess.run(runner_argv(spec, files["a"]), capture_output=True, text=True,
                       timeout=30, check=False)
    assert p.returncode == 96 and time.monotonic() - t0 < 10, p.stderr
    assert not folder.exists()


def test_restart_checks_a_queued_pane_too(repo: Path) -> None:
    """The gate of a run with a queue is part of the spec the trusted layout makes."""
    run = _done_pane(repo, fake("--exit", "0"), max_running=1)
    assert json.loads((run / "panes" / "a" / "spec.json").read_text())["gate"]
    r = run_cli("--socket", SOCK, "restart", "a", cwd=repo)
    assert r.code == 0, r.err
