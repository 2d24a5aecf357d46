"""The keys that say how and where an agent runs: each error names the key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agentmux import errors, layout, presets
from agentmux.layout.model import DEFAULT_MAX_OUTPUT

from .test_layout import BASE, Edit, both, pane, top, write

BOX = {"box": {"ssh": "me@build-box", "repo": "/srv/shop"}}


@pytest.mark.parametrize(("edit", "message"), [
    pytest.param(top("mode", "batch"),
                 "mode: expected one of interactive, headless; got 'batch'", id="mode"),
    pytest.param(pane(2, "sandbox", "docker"),
                 "pane[2].sandbox: expected one of none, bwrap; got 'docker'", id="sandbox"),
    pytest.param(pane(1, "network", False),
                 "pane[1].network: false needs sandbox = \"bwrap\" (only a sandbox can cut "
                 "an agent's network)", id="network-without-sandbox"),
    pytest.param(top("network", False),
                 "network: false needs sandbox = \"bwrap\" (only a sandbox can cut "
                 "an agent's network)", id="network-inherited"),
    pytest.param(pane(2, "approve", "auto"),
                 "pane[2].approve: 'auto' needs a built-in preset with an auto-approve "
                 "flag; a command has none", id="approve-command"),
    pytest.param(pane(1, "host", "box"),
                 "pane[1].host: no [hosts.box] in this layout (hosts: none declared)",
                 id="host-unknown"),
    pytest.param(top("hosts", {"box": {"ssh": "me@box"}}),
                 "hosts.box: missing required key 'repo'", id="host-no-repo"),
    pytest.param(top("hosts", {"box": {"ssh": "-oProxyCommand=x", "repo": "/r"}}),
                 "hosts.box.ssh: expected a destination such as 'me@box' or an ssh_config "
                 "alias (no options, no spaces); got '-oProxyCommand=x'", id="host-ssh-option"),
    pytest.param(top("hosts", {"box": {"ssh": "box", "repo": "srv/shop"}}),
                 "hosts.box.repo: expected an absolute path on that host; got 'srv/shop'",
                 id="host-relative-repo"),
    pytest.param(top("hosts", {"box": {"ssh": "box", "repo": "/r", "max_runing": 2}}),
                 "hosts.box.max_runing: unknown key; did you mean 'max_running'?",
                 id="host-typo"),
    pytest.param(top("max_running", 0), "max_running: expected an integer >= 1; got 0",
                 id="max-running"),
    pytest.param(top("max_output", "12 parsecs"),
                 "max_output: expected a size of at least 64K (bytes, or like \"64M\"); got "
                 "'12 parsecs'", id="max-output"),
])
def test_bad_run_keys(repo: Path, edit: Edit, message: str) -> None:
    data = copy.deepcopy(BASE)
    edit(data)
    path = write(repo, data)
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == f"{path}: {message}"
    assert e.value.exit_code == 2


def test_defaults_and_inheritance(repo: Path) -> None:
    data: dict[str, Any] = copy.deepcopy(BASE)
    both(top("hosts", BOX), top("max_running", 3), top("max_output", "1M"),
         pane(2, "host", "box"), top("sandbox", "bwrap"), pane(1, "sandbox", "none"))(data)
    lay = layout.load(write(repo, data))
    web, docs = lay.panes
    assert (web.mode, web.sandbox, web.network, web.approve, web.host) == (
        "interactive", "none", True, "ask", None)
    assert (docs.sandbox, docs.host) == ("bwrap", "box")
    assert (lay.max_running, lay.max_output) == (3, 1024 * 1024)
    assert lay.hosts["box"].ssh == "me@build-box" and lay.hosts["box"].repo == "/srv/shop"
    described = layout.describe(lay, layout.plan(lay))
    assert "  runs:     interactive · sandbox bwrap · approve ask · host box" in described
    assert layout.load(write(repo, BASE)).max_output == DEFAULT_MAX_OUTPUT


def test_auto_approval_needs_a_sandbox_unless_accepted_knowingly(repo: Path) -> None:
    flagged = [n for n, p in presets.BUILTINS.items() if p.approve is not None]
    if not flagged:
        pytest.skip("no preset declares an auto-approve flag yet")
    data: dict[str, Any] = copy.deepcopy(BASE)
    both(pane(1, "agent", flagged[0]), pane(1, "approve", "auto"))(data)
    path = write(repo, data)
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert "needs sandbox = \"bwrap\", or approve_without_sandbox = true" in str(e.value)
    data["approve_without_sandbox"] = True
    assert layout.load(write(repo, data)).panes[0].approve == "auto"
