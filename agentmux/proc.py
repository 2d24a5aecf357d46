"""The one way agentmux runs another program: argument lists only, never a shell with user text."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

from agentmux.errors import CommandFailed, EnvironmentProblem

log = logging.getLogger(__name__)

Completed = subprocess.CompletedProcess[str]

# Variables that leak in when agentmux runs from inside a git hook or another git command;
# left in place they point every git call at the wrong repository.
_GIT_LEAKS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LEAKS}
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: str | None = None,
    step: str = "",
) -> Completed:
    """Run argv, capture text output; on failure raise CommandFailed naming the command."""
    argv = list(argv)
    log.debug("run %s (cwd=%s)", argv, cwd)
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else clean_env(),
            input=input,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            check=False,
        )
    except FileNotFoundError as e:
        raise EnvironmentProblem(f"{argv[0]} is not installed or not on PATH") from e
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr or proc.stdout, step=step)
    return proc
