"""The typed ledger: each record's JSON, its version rule, and the runner's side of the contract."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentmux import ledger, runspec
from agentmux.errors import ENVIRONMENT, WORK_FAILED
from agentmux.records import (
    AddedPane,
    DamagedRecord,
    EnvRecord,
    EventRecord,
    FileChange,
    NewerRecord,
    PaneRecord,
    Record,
    ResultRecord,
    RunRecord,
    SandboxSpec,
    SpecRecord,
    StatusRecord,
    WatcherRecord,
)
from agentmux.records.outcome import ProvisionedFile, UnseenFile
from agentmux.runner import Status
from agentmux.runner import argv as runner_argv
from agentmux.runproc import signal_name

from .conftest import ROOT, wait_until

PANE = PaneRecord(name="a", cwd="/r/a", command="fake-agent", window="agents", branch="b/a",
                  worktree="/r/a", agent="claude", check="pytest -q", timeout=60.0,
                  idle_after=5.0, waiting_patterns=("go?",), scope=("src/**",),
                  context=("docs/x.md",), attempt_of="z", created_worktree=True,
                  head_at_start="abc", pane_id="%3", added_at="2026-01-01T00:00:00.000Z")
RUN = RunRecord(id="r1", session="s", repo="/r", base="abc", wake="agentmux-r1", socket="t",
                socket_path="/tmp/tmux-0/t", base_ref="main", isolation="worktree",
                layout="/r/l.toml", layout_snapshot="[[pane]]\n", poll_interval=0.5,
                on_event="notify", disposable=("node_modules",), created_at="now",
                resumes="r0", agentmux_version="0.1.0", state="down", ended_at="later",
                panes=(PANE, PaneRecord("b", "/r", "true")),
                added_panes=(AddedPane("b", "do b", command="true", scope=("b/**",)),))
SPEC = SpecRecord(run="r1", pane="a", command="fake-agent --exit 0", cwd="/r/a/src",
                  status="/r/.agentmux/runs/r1/panes/a/status.json", shell="/bin/bash",
                  worktree="/r/a", env={"FOO": "1"}, env_file="/r/env.json", setup="npm ci",
                  wake="agentmux-r1", check="pytest -q")
BOXED = SpecRecord(**{**SPEC.__dict__, "sandbox": SandboxSpec(
    kind="bwrap", branch="agentmux/s/a/work", git_common_dir="/r/.git",
    worktree_git_dir="/r/.git/worktrees/a", network=False, agent="claude",
    writable=("/r/.agentmux/runs/r1/panes/a/hooks.jsonl",))})
RECORDS: list[Record] = [
    PANE, RUN, SPEC, BOXED,
    StatusRecord(pid=10, started_at="t0", run="r1", pane="a", agent_pid=11, phase="ended",
                 ended_at="t1", exit_code=0, signal=None, reason="check", message="m",
                 check_exit_code=1),
    EventRecord("state", "a", "t", "done", 0, None, None, 0, {"snapshot_error": "x"}),
    EventRecord("restart", "a", "t", detail={"attempt": 2}),
    ResultRecord(pane="a", base="b", head="h", snapshot="s", taken_at="t", ref="refs/x",
                 commits_ahead=2, dirty=True,
                 files=(FileChange("a.py", "A", 3, 0), FileChange("img.png", "M"))),
    ResultRecord(pane="a", base="b", head="h", snapshot="s",
                 provisioned=(ProvisionedFile(".env", "changed", True),),
                 unseen=(UnseenFile("sub/", "nested-repo", "a nested git repository", False),)),
    EnvRecord({"PATH": "/bin"}), WatcherRecord(42),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip_through_json_text(record: Record) -> None:
    text = json.dumps(record.to_json())
    assert type(record).from_json(json.loads(text)) == record


def test_unknown_keys_are_kept_and_written_back() -> None:
    data = RUN.to_json()
    data["from_a_newer_minor"] = {"x": [1]}
    panes = data["panes"]
    assert isinstance(panes, list)
    panes[0]["pane_note"] = "kept"
    back = RunRecord.from_json(data).to_json()
    assert back["from_a_newer_minor"] == {"x": [1]}
    assert back == data


def test_provisioned_and_unseen_given_as_json_in_extra_are_typed() -> None:
    # snapshot.record passes them so: the record reads them, and writes the same file.
    copies = [{"path": ".env", "state": "unchanged", "committed": False}]
    unseen = [{"path": "x\\y", "kind": "bad-name", "why": "a name git refuses",
               "in_snapshot": False}]
    got = ResultRecord(pane="a", base="b", head="h", snapshot="s",
                       extra={"provisioned": copies, "unseen": unseen, "later": 1})
    assert (got.provisioned, got.unseen, got.extra) == (
        (ProvisionedFile(".env"),), (UnseenFile("x\\y", "bad-name", "a name git refuses"),),
        {"later": 1})
    data = got.to_json()
    assert list(data)[-4:] == ["files", "provisioned", "unseen", "later"]
    assert (data["provisioned"], data["unseen"]) == (copies, unseen)
    with pytest.raises(DamagedRecord) as e:
        ResultRecord.from_json({**data, "provisioned": [{"path": ".env", "committed": "no"}]})
    assert str(e.value) == ("result.json: provisioned[0].committed: expected true or false, "
                            "got 'no'")


def test_status_omits_check_exit_code_unless_a_check_ran() -> None:
    st = StatusRecord(pid=1, started_at="t")
    assert "check_exit_code" not in st.to_json()
    assert StatusRecord.from_json(st.to_json()) == st


def test_state_events_carry_every_state_key_other_events_none() -> None:
    assert EventRecord("state", "a", "t", "running").to_json() == {
        "version": 1, "ts": "t", "type": "state", "pane": "a", "state": "running",
        "exit_code": None, "signal": None, "reason": None}
    assert EventRecord("timeout", "a", "t", detail={"timeout_s": 5.0}).to_json() == {
        "version": 1, "ts": "t", "type": "timeout", "pane": "a", "timeout_s": 5.0}


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 2}, "run.json has schema version 2, written by a newer agentmux; this one "
                     "reads version 1: upgrade agentmux"),
    ({"version": "1"}, "run.json: version: expected a schema version (an integer >= 1), "
                       "got '1'"),
    ({"session": 3}, "run.json: session: expected a string, got 3"),
    ({"poll_interval": True}, "run.json: poll_interval: expected a number or null, got True"),
    ({"panes": [{"name": "a"}, {"name": 3}]}, "run.json: panes[1].name: expected a string, "
                                             "got 3"),
    ({"panes": [{"name": "a", "scope": "src"}]}, "run.json: panes[0].scope: expected a list "
                                                 "of strings, got 'src'"),
])
def test_bad_records_name_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises((DamagedRecord, NewerRecord)) as e:
        RunRecord.from_json({**RUN.to_json(), **change})
    assert str(e.value) == message


def test_run_dir_names_the_file_and_picks_the_exit_code(tmp_path: Path) -> None:
    rd = ledger.RunDir(tmp_path / "run")
    rd.write_run(RUN)
    assert rd.run() == RUN
    assert rd.read_run() == RUN.to_json()   # the untyped reader sees the same file
    ledger.write_json(rd.run_json, {**RUN.to_json(), "version": 7})
    with pytest.raises(NewerRecord) as newer:
        rd.run()
    assert str(newer.value).startswith(f"{rd.run_json}: run.json has schema version 7")
    assert newer.value.exit_code == ENVIRONMENT
    ledger.write_json(rd.run_json, {**RUN.to_json(), "base": None})
    with pytest.raises(DamagedRecord) as damaged:
        rd.run()
    assert str(damaged.value) == (f"{rd.run_json}: run.json: base: expected a string, got "
                                  "None; the ledger file is damaged")
    assert damaged.value.exit_code == WORK_FAILED
    rd.run_json.write_bytes(b"{torn")
    with pytest.raises(DamagedRecord, match="not valid JSON"):
        rd.run()


def test_typed_accessors(tmp_path: Path) -> None:
    rd = ledger.RunDir(tmp_path / "run")
    assert (rd.spec_of("a"), rd.status_of("a"), rd.result_of("a"), rd.env(),
            rd.watcher(), rd.events_of()) == (None, None, None, None, None, [])
    rd.write_spec(SPEC)
    rd.write_status(StatusRecord(pid=3, started_at="t", pane="a"))
    rd.write_result(ResultRecord(pane="a", base="b", head="h", snapshot="s"))
    rd.write_env(EnvRecord({"A": "1"}))
    rd.write_watcher(WatcherRecord(9))
    rd.append(EventRecord("state", "a", state="running"))
    ledger.append_event(rd.events, {"type": "restart", "pane": "a", "attempt": 2})
    with rd.events.open("ab") as f:
        f.write(b'{"version":1,"type":"sta')   # a writer killed mid-line
    assert rd.spec_of("a") == SPEC
    assert rd.status_of("a") == StatusRecord(pid=3, started_at="t", pane="a")
    assert rd.result_of("a") == ResultRecord(pane="a", base="b", head="h", snapshot="s")
    assert (rd.env(), rd.watcher()) == (EnvRecord({"A": "1"}), WatcherRecord(9))
    assert rd.env_json.stat().st_mode & 0o777 == 0o600
    got = rd.events_of()
    assert [(e.type, e.pane, e.state, e.detail) for e in got] == [
        ("state", "a", "running", {}), ("restart", "a", None, {"attempt": 2})]
    assert all(e.ts for e in got)


# --- the runner reads and writes these files without this module -------------------------


def test_the_runner_reads_every_key_a_spec_record_writes(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    ledger.write_record(env_file, EnvRecord({"FROM_UP": "1"}))
    spec = SpecRecord(**{**BOXED.__dict__, "env_file": str(env_file)})
    path = tmp_path / "spec.json"
    ledger.write_record(path, spec)
    got = runspec.load_spec(str(path))
    for key in runspec.Spec.__slots__:
        if key == "sandbox":
            assert spec.sandbox is not None and got.sandbox == spec.sandbox.to_json()
        elif key != "base_env":
            assert getattr(got, key) == getattr(spec, key), key
    assert got.base_env == {"FROM_UP": "1"}
    # Every key of the record is one the runner reads: no dead key like the old `task`.
    assert set(spec.to_json()) == {*runspec.Spec.__slots__, "version", "env_file"} - {"base_env"}


def test_the_runner_status_has_exactly_the_record_shape(tmp_path: Path) -> None:
    st = Status(str(tmp_path / "status.json"), "r1", "a")
    st.finish(3, None)
    data = json.loads((tmp_path / "status.json").read_bytes())
    assert data == StatusRecord.from_json(data).to_json()
    assert list(data) == list(StatusRecord(pid=1, started_at="t").to_json())


def test_a_real_runner_with_a_check_writes_a_status_record(tmp_path: Path, repo: Path) -> None:
    rd = ledger.RunDir(tmp_path / "run")
    spec = SpecRecord(run="r1", pane="a", command="echo agent", cwd=str(repo),
                      status=str(rd.status("a")), shell="/bin/sh", worktree=str(repo),
                      check="exit 4")
    rd.pane_dir("a").mkdir(parents=True)
    rd.write_spec(spec)
    p = subprocess.run(runner_argv(rd.spec("a")), capture_output=True, text=True, timeout=30,
                       check=False)
    assert p.returncode == 4, p.stderr
    data = json.loads(rd.status("a").read_bytes())
    st = StatusRecord.from_json(data)
    assert st.to_json() == data
    assert (st.phase, st.exit_code, st.check_exit_code, st.reason) == ("ended", 0, 4, "check")
    assert (rd.pane_dir("a") / "check.log").read_text() == "$ exit 4\n"


# --- the runner's own JSON and names, against the stdlib's ----------------------------------


@pytest.mark.parametrize("text", [
    '{"a": 1}', ' \n{"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "d"}}\t\n',
    '"\\u00e9\\ud83d\\ude00 \\" \\\\ \\/ \\n"', "[]", "0", '{"é": "日本"}',
    '[-Infinity, 1e400]',
])
def test_runner_loads_is_json_loads(text: str) -> None:
    assert runspec.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', "nan", '{"a": 1,}', "[1,]",
                                  b"\xff".decode("latin-1")])
def test_runner_loads_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        runspec.loads(text.encode("latin-1"))


def test_runner_dumps_is_json_dumps() -> None:
    data: dict[str, object] = {"s": 'é "q" \\ \n \x01 😀', "i": -4, "b": True, "f": False,
                               "n": None, "é": 0}
    assert runspec.dumps_flat(data) == (json.dumps(data, indent=2) + "\n").encode()
    with pytest.raises(TypeError):
        runspec.dumps_flat({"nested": [1]})


def test_signal_names_are_the_stdlib_names() -> None:
    for sig in signal.valid_signals():
        if 0 < sig < signal.SIGRTMIN:
            assert signal_name(sig) == signal.Signals(sig).name


def test_runner_import_path_stays_light() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import agentmux.runner; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(ROOT)], check=True,
                         capture_output=True, text=True).stdout.split()
    heavy = {"pathlib", "subprocess", "typing", "dataclasses", "json", "signal", "contextlib",
             "re", "enum", "collections", "agentmux.ledger", "agentmux.records"}
    assert sorted(heavy & set(out)) == []


def test_run_ids_sort_in_the_order_the_runs_began() -> None:
    """The latest run is the greatest id: two `up`s in one second once sorted by chance."""
    made: list[str] = []

    def next_millisecond(before: int) -> bool:
        return time.time_ns() // 1_000_000 > before

    for _ in range(20):
        now = time.time_ns() // 1_000_000
        wait_until(lambda: next_millisecond(now), 1, "the next millisecond",  # noqa: B023
                   interval=0.0002)
        made.append(ledger.new_run_id("agents"))
    assert sorted(made) == made
