"""Running git: every git command agentmux runs goes through `run`, on GitPython's command
interface (`Git.execute`), with leaked GIT_* variables stripped and failures turned into
CommandFailed (the command, its exit status, its stderr). See docs/git.md.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux import proc
from agentmux.errors import CommandFailed, EnvironmentProblem, WorkFailed

_MISSING = "git is not installed or not on PATH"


def unleak() -> None:
    """Take leaked GIT_* variables out of this process's environment (see `ready`)."""
    for name in os.environ.keys() - proc.clean_env().keys():
        os.environ.pop(name, None)


def ready() -> None:
    """Make GitPython safe to use: no leaked GIT_* variables, and git present."""
    # GitPython builds each child's environment from os.environ and can only add to it, and
    # `Repo()` reads GIT_DIR & co. itself: the variables proc.clean_env strips for every other
    # child (they leak in from git hooks) are taken out of this process's environment.
    unleak()
    try:
        import git  # noqa: F401  (the import checks that git runs)
    except ImportError as e:
        raise EnvironmentProblem(_MISSING) from e


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(cwd: Path | str, *args: str, check: bool = True, env: Mapping[str, str] | None = None,
        step: str = "") -> Result:
    """`git ARGS` in cwd through GitPython's command interface; env adds variables.

    On failure (check) raises CommandFailed naming the command, its status and its stderr.
    """
    ready()
    from git import Git
    from git.exc import GitCommandNotFound

    argv = ["git", *args]
    if not os.path.isdir(cwd):
        # GitPython would quietly run the command in the current folder instead.
        result = Result(argv, 128, "", f"fatal: cannot change to '{cwd}': No such file or "
                                       "directory")
    else:
        try:
            # Not with_exceptions: GitCommandError reformats stderr; the raw text is wanted.
            code, out, err = Git(cwd).execute(
                argv, with_extended_output=True, with_exceptions=False,
                stdout_as_string=False, strip_newline_in_stdout=False,
                env=dict(env) if env else None)
        except GitCommandNotFound as e:
            raise EnvironmentProblem(_MISSING) from e
        result = Result(argv, code, out.decode("utf-8", "surrogateescape"), err)
    if check and result.returncode != 0:
        raise CommandFailed(argv, result.returncode, result.stderr or result.stdout, step=step)
    return result


def split_z(text: str) -> list[str]:
    return [f for f in text.split("\0") if f]


def version() -> str:
    return run("/", "--version").stdout.strip()


def show_diff(repo: Path, base: str, commit: str, stat: bool,
              exclude: Sequence[str] = ()) -> None:
    """`git diff` to the terminal: git owns it, to colour and page as the user set up.

    exclude: paths whose content must not be shown (files `copy` provisioned)."""
    argv = ["git", "diff", *(["--stat"] if stat else []), base, commit, "--",
            *(f":(exclude,literal){p}" for p in exclude)]
    # Not through GitPython: it would capture the output git needs to page.
    code = subprocess.call(argv, cwd=repo, env=proc.clean_env())
    if code != 0:
        raise WorkFailed(f"`{' '.join(argv)}` exited {code}")
