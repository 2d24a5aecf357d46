"""The keys that say how and where an agent runs: mode, sandbox, network, approve, host,
and at the top level max_running, max_output and `[hosts.NAME]`.

They are checked here, apart from parse.py, because they check against each other (a
network cut needs a sandbox; auto-approval needs one unless the layout says otherwise
knowingly) and against the presets' own forms (a headless or auto-approve flag).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TypeVar

from agentmux import presets
from agentmux.layout.checker import Checker
from agentmux.layout.model import (
    APPROVALS,
    DEFAULT_MAX_OUTPUT,
    MODES,
    PANE_RE,
    SANDBOXES,
    Approve,
    HostSpec,
    Mode,
    PaneSpec,
    Sandbox,
)

TOP_KEYS = ("mode", "sandbox", "network", "approve", "approve_without_sandbox",
            "max_running", "max_output", "hosts")
PANE_KEYS = ("mode", "sandbox", "network", "approve", "host")
HOST_KEYS = ("ssh", "repo", "worktree_root", "env", "max_running")
SIZE_RE = re.compile(r"([0-9]+)\s*([KMG]i?B?|B)?", re.IGNORECASE)
MIN_OUTPUT = 64 * 1024
T = TypeVar("T", bound=str)


@dataclass(frozen=True)
class RunDefaults:
    mode: Mode
    sandbox: Sandbox
    network: bool
    approve: Approve


@dataclass(frozen=True)
class TopLevel:
    defaults: RunDefaults
    approve_without_sandbox: bool
    max_running: int | None
    max_output: int
    hosts: Mapping[str, HostSpec]


def top_level(c: Checker, d: Mapping[str, object]) -> TopLevel:
    return TopLevel(
        defaults=RunDefaults(
            mode=_choice(c, "mode", d.get("mode", "interactive"), MODES),
            sandbox=_choice(c, "sandbox", d.get("sandbox", "none"), SANDBOXES),
            network=c.flag("network", d.get("network", True)),
            approve=_choice(c, "approve", d.get("approve", "ask"), APPROVALS),
        ),
        approve_without_sandbox=c.flag("approve_without_sandbox",
                                       d.get("approve_without_sandbox", False)),
        max_running=None if "max_running" not in d else _count(c, "max_running",
                                                                d["max_running"]),
        max_output=_size(c, "max_output", d.get("max_output", DEFAULT_MAX_OUTPUT)),
        hosts=_hosts(c, d.get("hosts", {})),
    )


def pane(c: Checker, at: str, t: Mapping[str, object], top: TopLevel,
         spec: PaneSpec) -> PaneSpec:
    """spec with this pane's run keys, each the pane's own else the layout's."""
    dflt = top.defaults
    mode = _choice(c, at + ".mode", t["mode"], MODES) if "mode" in t else dflt.mode
    sandbox = (_choice(c, at + ".sandbox", t["sandbox"], SANDBOXES) if "sandbox" in t
               else dflt.sandbox)
    network = c.flag(at + ".network", t["network"]) if "network" in t else dflt.network
    approve = (_choice(c, at + ".approve", t["approve"], APPROVALS) if "approve" in t
               else dflt.approve)
    host = None
    if "host" in t:
        host = c.string(at + ".host", t["host"])
        if host not in top.hosts:
            known = ", ".join(sorted(top.hosts)) or "none declared"
            c.fail(at + ".host", f"no [hosts.{host}] in this layout (hosts: {known})")

    def key(k: str) -> str:  # the pane's own key, else the layout-wide one it inherited
        return f"{at}.{k}" if k in t else k

    preset = presets.BUILTINS.get(spec.agent or "")
    if mode == "headless" and spec.agent is not None:
        if preset is None:
            c.fail(key("mode"), f"'headless' needs a built-in preset's headless form; "
                   f"{spec.agent!r} is the layout's own preset: write its headless "
                   "command with 'command' instead")
        if preset.headless is None:
            c.fail(key("mode"), f"preset {spec.agent!r} has no headless form")
    if not network and sandbox != "bwrap":
        c.fail(key("network"), "false needs sandbox = \"bwrap\" (only a sandbox can cut "
               "an agent's network)")
    if approve == "auto":
        if preset is None or preset.approve is None:
            c.fail(key("approve"), "'auto' needs a built-in preset with an auto-approve "
                   f"flag; {spec.agent or 'a command'!s} has none")
        if sandbox != "bwrap" and not top.approve_without_sandbox:
            c.fail(key("approve"), "'auto' lets the agent run anything without asking; it "
                   "needs sandbox = \"bwrap\", or approve_without_sandbox = true at the top "
                   "level to accept that knowingly")
    command = spec.command
    if preset is not None and spec.agent is not None:
        # The preset's own form for this mode, with its auto-approve flag (presets.template).
        command = presets.template(preset, mode, approve, bool(spec.task or spec.brief))
    return replace(spec, command=command, mode=mode, sandbox=sandbox, network=network,
                   approve=approve, host=host)


def _choice(c: Checker, key: str, value: object, allowed: tuple[T, ...]) -> T:
    if value not in allowed:
        c.expected(key, "one of " + ", ".join(allowed), value)
    return allowed[allowed.index(value)]


def _count(c: Checker, key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        c.expected(key, "an integer >= 1", value)
    return value


def _size(c: Checker, key: str, value: object) -> int:
    """Bytes, written as an integer or as "64M", "512KiB", "1G"."""
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and (m := SIZE_RE.fullmatch(value.strip())):
        unit = (m[2] or "B")[0].upper()
        n = int(m[1]) * {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[unit]
    if n is None or n < MIN_OUTPUT:
        c.expected(key, f"a size of at least {MIN_OUTPUT // 1024}K (bytes, or like "
                   "\"64M\")", value)
    return n


def _hosts(c: Checker, value: object) -> Mapping[str, HostSpec]:
    if not isinstance(value, dict):
        c.expected("hosts", "a table of [hosts.NAME] tables", value)
    out: dict[str, HostSpec] = {}
    for name, t in value.items():
        at = f"hosts.{name}"
        if not PANE_RE.fullmatch(name):
            c.fail(at, f"invalid host name; expected a name matching ^{PANE_RE.pattern}$")
        if not isinstance(t, dict):
            c.expected(at, "a table with keys 'ssh' and 'repo'", t)
        c.known(t, HOST_KEYS, at + ".")
        for required in ("ssh", "repo"):
            if required not in t:
                c.fail(at, f"missing required key {required!r}")
        ssh = c.string(at + ".ssh", t["ssh"], empty=False)
        if ssh.startswith("-") or any(ch.isspace() for ch in ssh):
            c.expected(at + ".ssh", "a destination such as 'me@box' or an ssh_config alias "
                       "(no options, no spaces)", ssh)
        repo = c.string(at + ".repo", t["repo"], empty=False)
        if not repo.startswith("/"):
            c.expected(at + ".repo", "an absolute path on that host", repo)
        root = None
        if "worktree_root" in t:
            root = c.template(at + ".worktree_root", c.string(
                at + ".worktree_root", t["worktree_root"], empty=False), ("session",))
        out[name] = HostSpec(
            name=name, ssh=ssh, repo=repo, worktree_root=root,
            env=c.env(at + ".env", t.get("env", {})),
            max_running=None if "max_running" not in t else _count(
                c, at + ".max_running", t["max_running"]))
    return MappingProxyType(out)
