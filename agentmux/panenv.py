"""Each pane's environment on disk: mode 0600, outside every repository, only until read.

The environment holds API keys. `up` (and `add`, `restart`) write one file per pane into a
fresh 0700 folder under $XDG_RUNTIME_DIR (a per-user tmpfs) or the temporary folder, never
in the run folder, which sits in the repository, inside the checkout that agents with
isolation "none" work in. Each runner deletes its file once it has read it, and the last one
removes the folder (agentmux.runner); a failed `up` removes it itself. A sandboxed agent sees
neither place: /tmp is private inside and /run/user/<uid> hidden.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentmux import ledger
from agentmux.atomic import LIVE
from agentmux.records import EnvRecord
from agentmux.runner import ENV_FOLDER_PREFIX

# Where tmux's pane runs, these are the values of the pane, not of whoever ran agentmux.
NOT_PASSED = ("TMUX", "TMUX_PANE")
# A pane is a terminal someone can attach to, even when agentmux itself runs in a CI job.
# Agent CLIs take these for "no terminal" and stop being interactive: Gemini CLI 0.61 runs
# headless under CI=true or GITHUB_ACTIONS=true (its isHeadlessMode) and exits at once;
# Ink's is-in-ci, which other Ink CLIs use, also reads CONTINUOUS_INTEGRATION and any name
# starting CI_. They are not passed on; a layout's `env` sets them again where wanted.
CI_MARKERS = ("CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS")
CI_PREFIX = "CI_"


def passed(name: str) -> bool:
    return name not in NOT_PASSED and name not in CI_MARKERS and not name.startswith(CI_PREFIX)


def current() -> dict[str, str]:
    """The environment of this process, as every pane's base."""
    return {k: v for k, v in os.environ.items() if passed(k)}


def _root() -> str | None:
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run:
        try:
            st = os.stat(run)
        except OSError:
            return None
        # Only the user's own private folder: anywhere else others could list the names.
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return run
    return None


def write(panes: Iterable[str], env: Mapping[str, str] | None = None
          ) -> tuple[Path, dict[str, Path]]:
    """(the new folder, each pane's env file in it)."""
    record = EnvRecord(dict(current() if env is None else env))
    folder = Path(tempfile.mkdtemp(prefix=ENV_FOLDER_PREFIX, dir=_root()))  # mode 0700
    files: dict[str, Path] = {}
    try:
        for name in panes:
            files[name] = folder / f"{name}.json"
            # LIVE: read only by runners started after this, which a crash ends too.
            ledger.write_record(files[name], record, mode=0o600, sync=LIVE)
    except BaseException:
        remove(folder)
        raise
    return folder, files


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
