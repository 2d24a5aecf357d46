"""Limits and collisions caught by `validate` (and so by `up`, which loads the same way), each
with its exact message (issue 14 item 9): the worktree folder, the size of one exec argument
and of the whole exec, existing branches, and a main checkout on an agent's branch."""

from __future__ import annotations

import errno
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agentmux.layout.limits import max_arg

from .conftest import git, make_repo, run_cli

LIMIT = max_arg()
EXAMPLE = '".agentmux/worktrees/{session}"'
E2BIG = (f" over the {LIMIT}-byte limit of one argument of a program's start (Linux's "
         "MAX_ARG_STRLEN, 128 KiB): it could never start (E2BIG)")
BR = "agentmux/agents/a"
Setup = Callable[[Path], None]


def _write(repo: Path, panes: list[dict[str, Any]], **top: Any) -> Path:
    path = repo / "agents.toml"
    path.write_text(tomli_w.dumps({**top, "pane": panes}))
    return path


def _validate(layout: Path) -> tuple[int, str, str]:
    r = run_cli("validate", str(layout), cwd=layout.parent)
    return r.code, r.out, r.err


def _refused(layout: Path, key: str, message: str) -> None:
    code, _, err = _validate(layout)
    assert (code, err) == (2, f"agentmux: {layout}: {key}: {message}\n")


def test_max_arg_is_the_kernels_own_limit() -> None:
    # Measured, not assumed: an argument of LIMIT bytes starts a program, one more does not.
    assert subprocess.run(["/bin/true", "x" * LIMIT], check=False).returncode == 0
    with pytest.raises(OSError) as e:
        subprocess.run(["/bin/true", "x" * (LIMIT + 1)], check=False)
    assert e.value.errno == errno.E2BIG


# --- worktree_root ------------------------------------------------------------------------------

def _nothing(repo: Path) -> None:
    pass


def _symlink_out(repo: Path) -> None:
    (repo.parent / "outside").mkdir()
    (repo / "link").symlink_to(repo.parent / "outside")


def _ignore_wt(repo: Path) -> None:
    (repo / ".gitignore").write_text("/wt/\n")


ROOTS: list[tuple[str, Setup, str]] = [
    ("/tmp/x", _nothing, "'/tmp/x' is an absolute path; it must be a folder inside the "
     f"repository, relative to it, such as {EXAMPLE}"),
    ("../../etc-{session}", _nothing, "'../../etc-{session}' leaves the repository ('..'); it "
     f"must be a folder inside it, such as {EXAMPLE}"),
    ("wt/../../x", _nothing, "'wt/../../x' leaves the repository ('..'); it must be a folder "
     f"inside it, such as {EXAMPLE}"),
    (".", _nothing, "'.' is the repository's own folder: the worktrees would sit among its "
     f"files; give them a folder of their own, such as {EXAMPLE}"),
    ("./", _nothing, "'./' is the repository's own folder: the worktrees would sit among its "
     f"files; give them a folder of their own, such as {EXAMPLE}"),
    (".git", _nothing, f"'.git' is inside .git, which belongs to git; use a folder such as "
     f"{EXAMPLE}"),
    (".git/wt/{session}", _nothing, "'.git/wt/{session}' is inside .git, which belongs to git; "
     f"use a folder such as {EXAMPLE}"),
    (".agentmux", _nothing, f"'.agentmux' is agentmux's ledger; use a folder beside it, such as "
     f"{EXAMPLE}"),
    (".agentmux/runs/{session}", _nothing, "'.agentmux/runs/{session}' is agentmux's ledger; "
     f"use a folder beside it, such as {EXAMPLE}"),
    ("wt/{session}", _nothing, "'wt/{session}' (wt/agents/) is not ignored by git, so every "
     "worktree in it would show as an untracked folder of the main checkout; put it inside "
     f".agentmux, which agentmux keeps ignored (such as {EXAMPLE}), or add /wt/agents/ to "
     ".gitignore"),
    ("link/{session}", _symlink_out, "'link/{session}' leads to {outside}/agents through a "
     "symbolic link: outside the repository {repo}; use a folder inside it, such as "
     f"{EXAMPLE}"),
]


@pytest.mark.parametrize(("root", "setup", "message"), ROOTS, ids=[r[0] for r in ROOTS])
def test_worktree_root_is_refused(repo: Path, root: str, setup: Setup, message: str) -> None:
    setup(repo)
    layout = _write(repo, [{"name": "a", "command": "true"}], worktree_root=root)
    before = sorted(p.name for p in repo.iterdir())
    outside = repo.parent / "outside"
    message = message.replace("{repo}", str(repo)).replace("{outside}", str(outside))
    _refused(layout, "worktree_root", message)
    assert sorted(p.name for p in repo.iterdir()) == before


@pytest.mark.parametrize(("root", "setup", "where"), [
    (".agentmux/worktrees/{session}", _nothing, ".agentmux/worktrees/agents/a"),
    (".agentmux/wt", _nothing, ".agentmux/wt/a"),
    ("wt/{session}", _ignore_wt, "wt/agents/a"),
])
def test_worktree_root_is_accepted(repo: Path, root: str, setup: Setup, where: str) -> None:
    setup(repo)
    layout = _write(repo, [{"name": "a", "command": "true"}], worktree_root=root)
    code, out, err = _validate(layout)
    assert code == 0, err
    assert f"  worktree: {repo / where}\n" in out


def test_worktree_root_is_not_checked_without_worktrees(repo: Path) -> None:
    # isolation none never creates a worktree: a root that is not ignored harms nothing.
    layout = _write(repo, [{"name": "a", "command": "true"}], isolation="none",
                    worktree_root="wt/{session}")
    assert _validate(layout)[0] == 0


# --- one exec argument --------------------------------------------------------------------------

def _command_size(task: str) -> int:
    return len(("printf %s " + shlex.quote(task)).encode())


def test_task_at_the_limit_passes_and_one_byte_more_is_refused(repo: Path) -> None:
    fits = "x" * (LIMIT - len("printf %s "))   # safe characters: shlex adds no quotes
    assert _command_size(fits) == LIMIT
    layout = _write(repo, [{"name": "a", "command": "printf %s {task}", "task": fits}])
    assert _validate(layout)[0] == 0
    over = fits + "x"
    layout = _write(repo, [{"name": "a", "command": "printf %s {task}", "task": over}])
    _refused(layout, "pane[1].task", f"pane 'a': its command line with the task ({len(over)} "
             f"bytes) in {{task}} is {LIMIT + 1} bytes," + E2BIG + "; pass the task through "
             "the brief file: set brief = true ({task} then reads \"Read your task brief at "
             "<path> and follow it.\"), or give the program {task_file}")


BIG = "é" * 70_000          # 140,000 bytes in UTF-8: the size that failed in issue 14


@pytest.mark.parametrize(("pane", "top"), [
    ({"command": "printf %s {task}"}, {}),
    ({"agent": "mine"}, {"agents": {"mine": {"command": "mine-cli {task}"}}}),
    ({"agent": "shell"}, {}),
], ids=["command", "own-preset", "shell-preset"])
def test_long_task_of_a_pane_that_may_not_read_a_brief_is_refused(
        repo: Path, pane: dict[str, Any], top: dict[str, Any]) -> None:
    layout = _write(repo, [{"name": "a", "task": BIG, **pane}], **top)
    code, _, err = _validate(layout)
    assert code == 2
    assert err.startswith(f"agentmux: {layout}: pane[1].task: pane 'a': its command line with "
                          "the task (140000 bytes) in {task} is ")
    assert err.endswith(E2BIG + "; pass the task through the brief file: set brief = true "
                        "({task} then reads \"Read your task brief at <path> and follow "
                        "it.\"), or give the program {task_file}\n")


def test_long_task_of_an_agent_preset_goes_through_its_brief(repo: Path) -> None:
    layout = _write(repo, [{"name": "a", "agent": "claude", "task": BIG},
                           {"name": "b", "agent": "claude", "task": "short"}])
    code, out, err = _validate(layout)
    assert code == 0, err
    brief = "Read your task brief at <run>/panes/a/TASK.md and follow it."
    assert f"pane a\n  command:  claude {shlex.quote(brief)}\n" in out
    assert ("  task:     140000 bytes, too long for the command line: it goes through the brief "
            "file, and {task} reads \"Read your task brief at <path> and follow it.\"\n") in out
    assert "pane b\n  command:  claude short\n" in out
    assert out.count("  task:  ") == 1


def test_brief_true_lets_a_long_task_through_any_pane(repo: Path) -> None:
    layout = _write(repo, [{"name": "a", "command": "cat {task_file}", "task": BIG,
                            "brief": True}])
    assert _validate(layout)[0] == 0


TOO_LONG = "x" * (LIMIT + 1)


@pytest.mark.parametrize(("pane", "top", "key", "message"), [
    ({"command": "echo " + TOO_LONG}, {}, "pane[1].command",
     f"pane 'a': its command line is {LIMIT + 6} bytes," + E2BIG
     + "; shorten it, for example with a script that holds it"),
    ({"command": "true", "check": TOO_LONG}, {}, "pane[1].check",
     f"the check command is {LIMIT + 1} bytes," + E2BIG),
    ({"command": "true"}, {"setup": TOO_LONG}, "setup",
     f"the command is {LIMIT + 1} bytes," + E2BIG),
    ({"command": "true"}, {"on_event": TOO_LONG}, "on_event",
     f"the command is {LIMIT + 1} bytes," + E2BIG),
    ({"command": "true"}, {"env": {"BIG": TOO_LONG}}, "env.BIG",
     f"BIG=value is {LIMIT + 5} bytes," + E2BIG + "; put the value in a file and pass its "
     "path instead"),
    ({"command": "true", "env": {"BIG": TOO_LONG}}, {}, "pane[1].env.BIG",
     f"BIG=value is {LIMIT + 5} bytes," + E2BIG + "; put the value in a file and pass its "
     "path instead"),
], ids=["command", "check", "setup", "on_event", "env", "pane-env"])
def test_one_argument_too_long_is_refused(repo: Path, pane: dict[str, Any], top: dict[str, Any],
                                          key: str, message: str) -> None:
    _refused(_write(repo, [{"name": "a", **pane}], **top), key, message)


def test_whole_exec_over_arg_max_is_refused(repo: Path) -> None:
    arg_max = os.sysconf("SC_ARG_MAX")
    each = LIMIT - 100
    env = {f"V{i}": "x" * each for i in range(arg_max // each + 1)}
    layout = _write(repo, [{"name": "a", "command": "true"}], env=env)
    code, _, err = _validate(layout)
    assert code == 2
    assert re.fullmatch(
        rf"agentmux: {re.escape(str(layout))}: pane\[1\]: pane 'a': its command line and "
        rf"environment come to about \d+ bytes, over this system's limit of {arg_max} for one "
        r"program start \(ARG_MAX\): it could never start \(E2BIG\)\. The layout's env adds "
        r"\d+ bytes, your environment \d+, the command \d+; make the large ones smaller, or "
        r"pass them through files\n", err), err


# --- branches -----------------------------------------------------------------------------------

def _tip(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", "--short=7", ref).strip()


def test_existing_branches_are_all_named_at_once(repo: Path) -> None:
    git(repo, "branch", BR)
    git(repo, "branch", "agentmux/agents/b")
    layout = _write(repo, [{"name": n, "command": "true"} for n in "abc"])
    tip = _tip(repo, "main")
    _refused(layout, "branch", "these branches already exist, and no earlier run of session "
             "'agents' made them:\n"
             f"  {BR} (pane 'a'): at {tip} ('init')\n"
             f"  agentmux/agents/b (pane 'b'): at {tip} ('init')\n"
             "agentmux takes over no branch it did not make. Give the agents other branches "
             "with the `branch` template, such as \"agentmux/{session}-2/{pane}\", or delete "
             f"the branch if nobody needs it: `git branch -d {BR}`")


def test_a_branch_template_around_the_existing_branch_passes(repo: Path) -> None:
    git(repo, "branch", BR)
    layout = _write(repo, [{"name": "a", "command": "true"}],
                    branch="agentmux/{session}-2/{pane}")
    code, out, err = _validate(layout)
    assert code == 0, err
    assert "  branch:   agentmux/agents-2/a\n" in out


@pytest.mark.parametrize("existing", ["agentmux/agents", "agentmux/agents/a/x"])
def test_branch_that_is_a_folder_of_the_agents_or_the_other_way_round(
        repo: Path, existing: str) -> None:
    git(repo, "branch", existing)
    _refused(_write(repo, [{"name": "a", "command": "true"}]), "branch",
             f"pane 'a' needs branch '{BR}', but branch '{existing}' exists, and git cannot "
             "have both (one would be a folder of the other); give the agents other branches "
             "with the `branch` template, such as \"agentmux/{session}-2/{pane}\", or rename "
             "that branch")


def test_main_checkout_on_an_agents_branch_is_told_to_switch(repo: Path) -> None:
    git(repo, "checkout", "-qb", BR)
    _refused(_write(repo, [{"name": "a", "command": "true"}]), "branch",
             f"pane 'a' needs branch '{BR}' in a worktree of its own, but the main checkout "
             f"{repo} has it checked out; check out another branch there first: "
             f"`git -C {repo} switch main`")


def test_main_checkout_on_an_agents_branch_with_no_other_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "solo")
    git(repo, "checkout", "-qb", BR)
    git(repo, "branch", "-qD", "main")
    _refused(_write(repo, [{"name": "a", "command": "true"}]), "branch",
             f"pane 'a' needs branch '{BR}' in a worktree of its own, but the main checkout "
             f"{repo} has it checked out; check out another branch there first: "
             f"`git -C {repo} switch --detach`")


def test_the_way_out_given_works(repo: Path) -> None:
    git(repo, "checkout", "-qb", BR)
    layout = _write(repo, [{"name": "a", "command": "true"}])
    code, _, err = _validate(layout)
    how = err.rsplit("`", 2)[1]
    assert code == 2 and how.startswith("git -C ")
    git(repo, *shlex.split(how)[3:])
    # Now the branch exists and is someone's: refused for that, with its own way out.
    code, _, err = _validate(layout)
    assert code == 2 and "this branch already exists" in err
    git(repo, "branch", "-d", BR)
    assert _validate(layout)[0] == 0


def test_trust_and_presets_do_not_look_at_the_repository(repo: Path) -> None:
    git(repo, "branch", BR)
    layout = _write(repo, [{"name": "a", "command": "true"}])
    assert run_cli("trust", str(layout), cwd=repo).code == 0
    assert run_cli("presets", "--layout", str(layout), cwd=repo).code == 0


def test_check_here_holds_a_parsed_layout_to_the_same_rules(repo: Path) -> None:
    # For `add`, which builds its layout with `parse` from the run's snapshot plus one pane.
    from agentmux import errors, layout

    git(repo, "branch", "agentmux/agents/new")
    path = repo / "agents.toml"
    lay = layout.parse({"pane": [{"name": "a", "command": "true"},
                                 {"name": "new", "command": "true"}]}, path)
    with pytest.raises(errors.LayoutError) as e:
        layout.check_here(lay)
    assert str(e.value).startswith(f"{path}: branch: this branch already exists, and no "
                                   "earlier run of session 'agents' made it:\n"
                                   "  agentmux/agents/new (pane 'new'): at ")
