"""agentmux.interrupts: where a signal may land, with real signals sent to this process."""

from __future__ import annotations

import os
import signal

import pytest

from agentmux.errors import Interrupted, WorkFailed
from agentmux.interrupts import guarded


def test_outside_a_critical_section_it_raises_at_once() -> None:
    with pytest.raises(Interrupted) as e, guarded():
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached")
    assert (e.value.exit_code, str(e.value)) == (130, "interrupted by SIGTERM")


def test_inside_one_it_waits_for_a_checkpoint_and_undo_is_never_cut() -> None:
    steps: list[str] = []
    with pytest.raises(Interrupted) as e, guarded() as guard, guard.critical():
        os.kill(os.getpid(), signal.SIGHUP)
        steps.append("step finished")
        try:
            guard.check()
        finally:
            os.kill(os.getpid(), signal.SIGINT)   # a second Ctrl-C during the undo
            steps.append("undo finished")
    assert steps == ["step finished", "undo finished"]
    assert e.value.name == "SIGHUP"


def test_a_failure_the_signal_caused_leaves_as_interrupted() -> None:
    with pytest.raises(Interrupted) as e, guarded() as guard, guard.critical():
        os.kill(os.getpid(), signal.SIGINT)
        raise WorkFailed("git worktree add died of SIGINT")
    assert isinstance(e.value.__cause__, WorkFailed)


def test_a_signal_during_the_last_step_is_raised_when_it_is_complete() -> None:
    done = []
    with pytest.raises(Interrupted), guarded() as guard, guard.critical():
        os.kill(os.getpid(), signal.SIGINT)
        done.append(True)
    assert done == [True]


def test_handlers_are_restored() -> None:
    before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    with guarded():
        pass
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == before
