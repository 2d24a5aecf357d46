"""After `down`, nothing an agent started is left running, wherever it went.

One run holds one agent per way of escaping a kill of the agent's process group; each leaves
a `sleep` with a duration of its own, so the test can find it in /proc by its command line
(not by the marker `down` uses). `down` must end them all, say so, and touch no process
that carries another run's marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux import sweep

from ..conftest import run_cli, wait_until
from ..helpers import latest_run, up, wait_states, write_layout
from .conftest import SOCK

AGENT = "exec fake-agent --sleep 60"
# Each `sleep` gets a duration of its own, unique to this test process: other test runs on
# the same machine (other checkouts of this suite) run the same commands at the same time.
BASE = 100000 + (os.getpid() % 80000) * 10
ESCAPES = {
    # A child in the agent's group that ignores SIGINT; the agent itself dies of SIGINT.
    "ignint": f"(trap '' INT; exec sleep {BASE + 1}) & " + AGENT,
    # The agent already exited; its child lives on.
    "orphan": f"sleep {BASE + 2} & exit 0",
    "nohup": f"nohup sleep {BASE + 3} >/dev/null 2>&1 & " + AGENT,
    "setsid": f"setsid sleep {BASE + 4} & " + AGENT,
    "double": f"(sleep {BASE + 5} &) ; " + AGENT,
    # A loop that ignores INT, TERM and HUP and forks while it is being killed.
    "traploop": f"(trap '' INT TERM HUP; while :; do sleep {BASE + 6}; done) & " + AGENT,
    "setsidloop": f"setsid sh -c 'trap \"\" INT TERM HUP; while :; do sleep {BASE + 7}; done' & "
                  + AGENT,
    # The agent ignores every stop signal but KILL, with a child that does the same.
    "stubborn": f"trap '' INT TERM HUP; sleep {BASE + 8} & while :; do sleep 1; done",
}
ON_EVENT = f"sleep {BASE + 9}"
OTHERS = str(BASE + 99)   # not this run's: another run's marker
MINE = {str(BASE + n) for n in (*range(1, 10), 99)}


def sleeps() -> dict[str, int]:
    """Every live `sleep` of this test (MINE): duration -> pid."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry.name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if args[:1] == [b"sleep"] and len(args) > 1 and args[1].decode() in MINE \
                and state != b"Z":
            out[args[1].decode()] = int(entry.name)
    return out


@pytest.fixture
def leftovers(repo: Path) -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    # A failed test leaves nothing behind either: the loops too, by this run's marker.
    runs = repo / ".agentmux" / "runs"
    for run in runs.iterdir() if runs.is_dir() else []:
        pids += [p.pid for p in sweep.members(run.name, str(run))]
    for pid in [*pids, *sleeps().values()]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_down_ends_every_escaped_process(repo: Path, leftovers: list[int]) -> None:
    layout = write_layout(repo, [{"name": n, "command": c} for n, c in ESCAPES.items()],
                          on_event=ON_EVENT)
    up(layout, SOCK)
    run_id = latest_run(repo).name
    want = {str(BASE + i) for i in range(1, 10)}
    wait_until(lambda: want <= set(sleeps()), 30, "every escaped sleep running")
    wait_states(repo, SOCK, {"orphan": "done", "ignint": "alive", "stubborn": "alive"})
    # Not ours: another run's marker, and this run's id as a mere prefix.
    others = [subprocess.Popen(["sleep", OTHERS], env={**os.environ, "AGENTMUX_RUN": v},
                               start_new_session=True)
              for v in (run_id + "x", "20990101T000000Z-other-0000")]
    leftovers.extend(p.pid for p in others)

    t0 = time.monotonic()
    r = run_cli("--socket", SOCK, "down", "--grace", "1", cwd=repo)
    took = time.monotonic() - t0
    assert r.code == 0, r.err
    left = {k: v for k, v in sleeps().items() if k != OTHERS}
    assert left == {}
    assert [p.poll() for p in others] == [None, None]
    assert sweep.members(run_id, str(latest_run(repo))) == []
    line = next(x for x in r.out.splitlines() if x.startswith("ended "))
    for name in ("ignint", "orphan", "nohup", "setsid", "double", "traploop", "setsidloop"):
        assert f", {name})" in line, line
    assert ", orphan, on_event)" in line, line
    swept = [e for e in map(json.loads, (latest_run(repo) / "events.jsonl").read_text()
                            .splitlines()) if e.get("type") == "swept"]
    assert len(swept) == 1 and {p["name"] for p in swept[0]["processes"]} >= {"sleep"}
    # INT, TERM, KILL for the stubborn agent (1 s each), then a settle and the sweep's
    # TERM and KILL, about 6 s: the bound only catches a sweep that waits for nothing.
    assert took < 30, took
