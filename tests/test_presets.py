from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tomli_w

from agentmux import errors, layout, presets

WITH_TASK = {
    "claude": "claude 'fix the bug'",
    "codex": "codex 'fix the bug'",
    "aider": "aider --message 'fix the bug'",
    "gemini": "gemini -i 'fix the bug'",
    "opencode": "opencode --prompt 'fix the bug'",
    "shell": "exec /bin/sh -c 'fix the bug'",
}
WITHOUT_TASK = {
    "claude": "claude",
    "codex": "codex",
    "aider": "aider",
    "gemini": "gemini",
    "opencode": "opencode",
    "shell": "exec \"${SHELL:-/bin/sh}\"",
}


def plan_for(repo: Path, agent: str, task: str | None) -> layout.PanePlan:
    entry = {"name": "p", "agent": agent} | ({"task": task} if task is not None else {})
    path = repo / "l.toml"
    path.write_text(tomli_w.dumps({"pane": [entry]}))
    (p,) = layout.plan(layout.load(path))
    return p


def test_registry_is_the_documented_set() -> None:
    assert presets.names() == ("aider", "claude", "codex", "gemini", "opencode", "shell")
    assert set(WITH_TASK) == set(presets.BUILTINS)


@pytest.mark.parametrize("name", sorted(presets.BUILTINS))
def test_entry_is_complete(name: str) -> None:
    p = presets.get(name)
    assert p.name == name
    assert p.command.count("{task}") == 1
    assert "{task}" not in p.no_task
    # {task} arrives quoted already; quotes around it would be re-quoted by the shell.
    assert "'{task}'" not in p.command and '"{task}"' not in p.command
    assert p.description and p.source.startswith("https://")


@pytest.mark.parametrize("name", sorted(presets.BUILTINS))
def test_renders_with_a_task(repo: Path, name: str) -> None:
    assert plan_for(repo, name, "fix the bug").command == WITH_TASK[name]


@pytest.mark.parametrize("name", sorted(presets.BUILTINS))
def test_renders_without_a_task(repo: Path, name: str) -> None:
    assert plan_for(repo, name, None).command == WITHOUT_TASK[name]
    assert plan_for(repo, name, "").command == WITHOUT_TASK[name]


@pytest.mark.parametrize("shell", ["/bin/sh", "/usr/bin/fish"])
def test_shell_runs_the_task_under_posix_sh_whatever_shell_is(repo: Path, shell: str) -> None:
    task = "printf '%s' \"$0\" \"${HOME}\" ; exit 7"
    p = plan_for(repo, "shell", task)
    out = subprocess.run(["/bin/sh", "-c", p.command], capture_output=True, check=False,
                         env={"SHELL": shell, "PATH": "/usr/bin:/bin", "HOME": "/h"})
    assert (out.returncode, out.stdout) == (7, b"/bin/sh/h")


def test_layout_error_lists_the_registry(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = presets.Preset(name="zed", command="zed {task}", no_task="zed", mode="interactive",
                           description="test only", source="https://example.invalid/")
    monkeypatch.setitem(presets.BUILTINS, "zed", extra)
    path = repo / "l.toml"
    path.write_text(tomli_w.dumps({"pane": [{"name": "p", "agent": "claud"}]}))
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == (f"{path}: pane[1].agent: expected one of "
                            f"{', '.join(presets.names())}; got 'claud'")
    assert "zed" in presets.names()
    assert plan_for(repo, "zed", "x").command == "zed x"
