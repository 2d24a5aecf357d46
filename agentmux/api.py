"""agentmux from Python: a run's agents as libtmux objects, for people who script tmux.

Open a run the way the commands find it (by session name, else the latest run of the
repository), then drive its panes with everything libtmux offers::

    from agentmux.api import open_run

    run = open_run(session="agents", repo="~/src/app")
    tests = run.panes["tests"]              # a libtmux.Pane, found by its agentmux tag
    print("\\n".join(tests.capture_pane()))  # what the agent shows right now
    tests.send_keys("yes")                  # type an answer, then Enter
    for row in run.status():                # the rows `agentmux status` prints
        print(row.name, row.state, row.exit_code)
    run.session.set_option("status-style", "bg=blue")   # a libtmux.Session

The libtmux objects run their tmux commands in agentmux's environment (see
`agentmux.tmux.client_env`) against the run's own server, wherever the script runs, even
inside another tmux server. While one of their commands runs, `$TMUX` and leaked `GIT_*`
variables are out of `os.environ` (libtmux takes no environment of its own): mind that in a
threaded script that reads them. Each property asks tmux afresh: keep the result while you use it.
agentmux still records how each agent ends; restarting a pane behind its back (e.g.
`respawn-pane`) is not recorded, `agentmux restart` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentmux import ledger, status
from agentmux.errors import WorkFailed
from agentmux.find import find_run, pane_entry
from agentmux.tmux import Tmux, lib_error

if TYPE_CHECKING:
    from agentmux.tmux import LibPane, LibServer, LibSession

__all__ = ["Run", "open_run"]


def open_run(session: str | None = None, repo: str | Path | None = None,
             socket: str | None = None) -> Run:
    """The run a command would act on.

    session: the most recent run of this tmux session; by default the run whose worktree
        `repo` is in, else the repository's most recent run.
    repo: any folder of the repository (main checkout or a worktree); default: the current
        folder.
    socket: the tmux server to talk to, by socket name (or a path with a `/`); default: the
        one the run was started on, as recorded in its ledger.

    Raises agentmux.errors.BadInput when there is no such run.
    """
    run_dir = find_run(session, Path(repo).expanduser() if repo is not None else None)
    run = run_dir.read_run()
    return Run(run_dir, Tmux(socket if socket is not None else run.get("socket")),
               str(run["session"]))


@dataclass(frozen=True)
class Run:
    """One agentmux run: its ledger folder, its tmux server and session, its agents' panes."""

    run_dir: ledger.RunDir
    tmux: Tmux
    session_name: str

    @property
    def id(self) -> str:
        return self.run_dir.id

    @property
    def server(self) -> LibServer:
        """The run's tmux server as a libtmux.Server."""
        return self.tmux.lib_server()

    @property
    def session(self) -> LibSession:
        """The run's tmux session as a libtmux.Session; WorkFailed when it is not running."""
        found = self.server.sessions.filter(session_name=self.session_name)
        if not found:
            raise WorkFailed(f"session '{self.session_name}' is not running (run {self.id})")
        return found[0]

    @property
    def panes(self) -> dict[str, LibPane]:
        """Each live agent pane of this run by its agentmux name, as a libtmux.Pane.

        Panes are found by the tags agentmux sets on them (@agentmux_pane, @agentmux_run),
        never by index or title, so the user's base-index and renames do not matter. A pane
        closed since (kill-pane) is missing; an agent that ended keeps its dead pane."""
        tagged = self.tmux.panes(self.session_name, extra=("@agentmux_run",))
        if tagged is None:
            raise WorkFailed(f"session '{self.session_name}' is not running (run {self.id})")
        mine = {p.pane_id: p.name for p in tagged if p.name and p.extra == (self.id,)}
        try:
            found = self.session.panes
        except lib_error() as e:  # the session ended between the two looks
            raise WorkFailed(f"session '{self.session_name}' ended: {e}") from e
        return {mine[p.pane_id]: p for p in found if p.pane_id in mine}

    def pane(self, name: str) -> LibPane:
        """One agent's pane; BadInput for a name the run does not have, WorkFailed when the
        pane is no longer in the session."""
        pane_entry(self.run_dir, name)
        found = self.panes.get(name)
        if found is None:
            raise WorkFailed(f"pane '{name}' is no longer in session '{self.session_name}'")
        return found

    def status(self) -> list[status.Row]:
        """The rows `agentmux status` shows: the ledger plus one live look at tmux."""
        return status.rows(self.run_dir, tmux=self.tmux)
