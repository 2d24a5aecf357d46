"""Each preset's own hook mechanism, wired into one pane without touching the user's config.

What every CLI offers was checked against the pinned versions (docs/agent-clis.md):

| preset   | how agentmux's hook program (agentmux/hook.py) is wired in                     |
|----------|--------------------------------------------------------------------------------|
| claude   | `--settings '<json>'`: extra settings, hooks included                          |
| codex    | `-c notify=[…]`; and `-c hooks.E=[…]` with `--dangerously-bypass-hook-trust`   |
|          | unless the project defines Codex hooks of its own (that flag would run them)   |
| gemini   | `<worktree>/.gemini/settings.json` (+ a `.gitignore` of `*`), placed by the     |
|          | runner for the agent's life, in worktrees agentmux created, and a trusted-     |
|          | folders file of the pane's own (`GEMINI_CLI_TRUSTED_FOLDERS_PATH`) that trusts  |
|          | that worktree: no folder-trust dialog, and its hooks load                      |
| opencode | a plugin, `file://…/opencode_plugin.js`, in `OPENCODE_CONFIG_CONTENT` (merged  |
|          | with the layout's own value; one in the shell that ran `up` is replaced)       |
| aider    | `--notifications --notifications-command '<hook> aider notification'`          |

Every pane also gets AGENTMUX_PANE_DIR (where hooks.jsonl goes) and AGENTMUX_HOOK (the hook
command line), so a layout's own command can report its state the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentmux import presets
from agentmux.layout.model import PaneSpec
from agentmux.layout.plan import PanePlan

HOOK_PY = Path(__file__).resolve().parent / "hook.py"
PLUGIN_JS = Path(__file__).resolve().parent / "opencode_plugin.js"
WIRING_FILE = "wiring.json"
VERSION = 1

CLAUDE_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
                 "PermissionRequest", "Notification", "Stop", "StopFailure", "SessionEnd")
CODEX_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest",
                "PostToolUse", "Stop")
GEMINI_EVENTS = ("SessionStart", "BeforeAgent", "BeforeModel", "AfterModel", "BeforeTool",
                 "AfterTool", "AfterAgent", "Notification", "SessionEnd")


@dataclass(frozen=True)
class Pane:
    """What the wiring needs to know about one pane."""

    agent: str | None          # a built-in preset's name, else None (a command)
    mode: str                  # interactive | headless
    approve: str               # ask | auto
    sandbox: str               # none | bwrap
    pane_dir: Path
    cwd: Path
    worktree: Path | None      # None unless isolation = "worktree"
    repo: Path | None = None   # the repository's main checkout
    # The layout's env for the pane: what the wiring may merge with. Never the environment of
    # the shell that ran `up`, so `restart` builds the very same spec (agentmux.panespec).
    env: Mapping[str, str] = field(default_factory=dict)
    local: bool = True         # False on another host: its pane folder and Python are not there
    # On another host: the folder holding agentmux's hook.py and opencode_plugin.js there (the
    # runner's cache, agentmux.remote_up); None on this machine, or no wiring on that host.
    tools: str | None = None


@dataclass(frozen=True)
class Wiring:
    args: str = ""                                        # shell words, already quoted
    env: dict[str, str] = field(default_factory=dict)
    pane_files: dict[str, str] = field(default_factory=dict)   # written now, in the pane dir
    tree_files: dict[str, str] = field(default_factory=dict)   # placed by the runner
    hooks: str | None = None          # the mechanism, as docs/presets.md names it
    authoritative: bool = False       # its hooks can say `working` again (watch/hooks.py)


def hook_argv(p: Pane) -> list[str]:
    # -S: no site-packages, ~20 ms a hook; the script path works without agentmux installed.
    if p.tools is not None:  # the host's python3, as its runner's
        return ["python3", "-S", f"{p.tools}/hook.py"]
    return [sys.executable, "-S", str(HOOK_PY)]


def hook_command(p: Pane, *args: str) -> str:
    return shlex.join([*hook_argv(p), *args])


def wire(p: Pane) -> Wiring:
    base = {"AGENTMUX_PANE_DIR": str(p.pane_dir), "AGENTMUX_HOOK": hook_command(p)}
    # On another host without the hook program there (`tools`): the process alone.
    wired = p.local or p.tools is not None
    w = _WIRE[p.agent](p) if p.agent in _WIRE and wired else Wiring()
    return Wiring(w.args, {**base, **w.env}, w.pane_files, w.tree_files, w.hooks,
                  w.authoritative)


def _claude(p: Pane) -> Wiring:
    settings: dict[str, object] = {"hooks": {
        e: [{"hooks": [{"type": "command", "command": hook_command(p, "claude", e)}]}]
        for e in CLAUDE_EVENTS}}
    env: dict[str, str] = {}
    if p.approve == "auto":
        # Else claude asks once more, "Bypass Permissions mode … 1. No, exit" (verified).
        settings["skipDangerousModePermissionPrompt"] = True
        if os.geteuid() == 0:
            # As root, bypassPermissions exits 1 unless told it is sandboxed (verified);
            # runkeys allows `auto` only in bwrap or with approve_without_sandbox.
            env["IS_SANDBOX"] = "1"
    if p.sandbox == "bwrap":
        # Counts as folder trust (read in claude 2.1.197's trust check), and it is true.
        env["CLAUDE_CODE_SANDBOXED"] = "1"
    # Inline, not a file in the pane folder: the command is part of the spec that `restart`
    # checks against the trusted layout, a file there would not be.
    text = json.dumps(settings, separators=(",", ":"))
    return Wiring(args="--settings " + shlex.quote(text), env=env,
                  hooks="--settings (hooks)", authoritative=True)


def _toml(value: object) -> str:
    # JSON strings and arrays are valid TOML values; -c parses its value as TOML.
    return json.dumps(value)


def _codex_project_hooks(p: Pane) -> bool:
    """Does the project define Codex hooks of its own (which the bypass flag would run)?

    Read in the repository's main checkout, at the pane's folder and up: the same at `up` and
    at `restart` (whatever the agent wrote in its own worktree meanwhile)."""
    top = (p.repo or p.worktree or p.cwd).resolve()
    try:
        rel = p.cwd.resolve().relative_to((p.worktree or top).resolve())
    except ValueError:
        rel = Path()
    here = top / rel
    for d in (here, *here.parents):
        codex = d / ".codex"
        if (codex / "hooks.json").exists():
            return True
        try:
            if "hooks" in (codex / "config.toml").read_text(errors="replace"):
                return True
        except OSError:
            pass
        if d == top:
            break
    return False


def _codex(p: Pane) -> Wiring:
    words: list[str] = []
    if p.mode != "headless":
        # Else the TUI leaves `codex app-server` daemons behind its pane (verified).
        words.append("--no-daemon")
    words += ["-c", "notify=" + _toml([*hook_argv(p), "codex", "notify"])]
    hooks = "-c notify"
    full = not _codex_project_hooks(p)
    if full:
        # Hooks given by -c run only with this flag (verified); it would also run the
        # project's own unreviewed hooks, hence the check above.
        words.append("--dangerously-bypass-hook-trust")
        for e in CODEX_EVENTS:
            entry = [{"hooks": [{"type": "command", "command": hook_command(p, "codex", e)}]}]
            words += ["-c", f"hooks.{e}=" + _toml_inline(entry)]
        hooks = "-c notify, -c hooks (--dangerously-bypass-hook-trust)"
    return Wiring(args=shlex.join(words), hooks=hooks, authoritative=full)


def _toml_inline(value: object) -> str:
    """TOML for lists and tables of strings: inline tables (`{k = v}`), JSON-quoted strings."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    return json.dumps(value)


def _gemini(p: Pane) -> Wiring:
    if p.worktree is None:
        # The user's own checkout (isolation none or directory): their own trust decision
        # and settings stand. A worktree of agentmux's runs the user's trusted layout.
        return Wiring()
    trusted = p.pane_dir / "gemini-trusted.json"
    env = {"GEMINI_CLI_TRUSTED_FOLDERS_PATH": str(trusted)}
    pane_files = {str(trusted): json.dumps({str(p.worktree): "TRUST_FOLDER"}, indent=2) + "\n"}
    settings = p.worktree / ".gemini" / "settings.json"
    # Where the project has Gemini settings of its own, the runner places none of these
    # (agentfiles.place: all or nothing, never over a file): no hooks there, the screen stays.
    hooks = {e: [{"matcher": "*", "hooks": [{"type": "command", "name": f"agentmux-{e}",
                                              "command": hook_command(p, "gemini", e)}]}]
             for e in GEMINI_EVENTS}
    tree = {str(settings): json.dumps({"hooks": hooks}, indent=2) + "\n",
            # git ignores the folder (and this file): nothing reaches a commit or a diff.
            str(settings.parent / ".gitignore"): "*\n"}
    return Wiring(env=env, pane_files=pane_files, tree_files=tree,
                  hooks="workspace .gemini/settings.json (hooks)", authoritative=True)


def _opencode(p: Pane) -> Wiring:
    content: dict[str, object] = {}
    with_user = p.env.get("OPENCODE_CONFIG_CONTENT")
    if with_user:  # the layout's own inline config stays; the plugin list gets one more
        try:
            loaded = json.loads(with_user)
        except ValueError:
            loaded = None
        content = dict(loaded) if isinstance(loaded, dict) else {}
    plugins = content.get("plugin")
    plugin = PLUGIN_JS if p.tools is None else Path(p.tools) / PLUGIN_JS.name
    content["plugin"] = [*(plugins if isinstance(plugins, list) else []), plugin.as_uri()]
    # A plugin given by file URL loads without OpenCode installing @opencode-ai/plugin from
    # the npm registry first (a plugins/ folder costs ~20 s at start; verified).
    return Wiring(env={"OPENCODE_CONFIG_CONTENT": json.dumps(content),
                       "AGENTMUX_HOOK_ARGV": json.dumps(hook_argv(p))},
                  hooks="plugin (OPENCODE_CONFIG_CONTENT)", authoritative=True)


def _aider(p: Pane) -> Wiring:
    words = ["--notifications", "--notifications-command", hook_command(p, "aider", "notification")]
    if p.mode == "headless":
        # Local JSON lines with exact tokens and cost; --no-analytics still writes them.
        words += ["--analytics-log", str(p.pane_dir / "aider-analytics.jsonl")]
    return Wiring(args=shlex.join(words), hooks="--notifications-command")


_WIRE = {"claude": _claude, "codex": _codex, "gemini": _gemini, "opencode": _opencode,
         "aider": _aider}


def commands(template: str, rendered: str, p: Pane, w: Wiring) -> tuple[str, str | None]:
    """The pane's start command and its resume command (None: no documented resume)."""
    start = presets.insert_args(template, rendered, w.args)
    preset = presets.BUILTINS.get(p.agent or "")
    if preset is None or preset.resume is None or p.mode == "headless":
        return start, None
    resume = preset.resume
    if p.approve == "auto" and preset.approve:
        resume = presets.insert_args(resume, resume, shlex.join(preset.approve))
    return start, presets.insert_args(resume, resume, w.args)


def record(p: Pane, w: Wiring, start: str, resume: str | None) -> dict[str, object]:
    """wiring.json: what the watcher, `restart --continue` and review need to know."""
    return {"version": VERSION, "agent": p.agent, "mode": p.mode, "hooks": w.hooks,
            "authoritative": w.authoritative, "start": start, "resume": resume}


def write_pane_files(wired: Wired) -> None:
    """The pane folder's wiring files; `up`, `add` and `restart` write them from the layout."""
    p, w, start, resume = wired.pane, wired.wiring, wired.start, wired.resume
    from agentmux import ledger
    from agentmux.atomic import LIVE

    for path, text in w.pane_files.items():
        Path(path).write_text(text, encoding="utf-8")
    # Not fsynced: `up` makes a fixed number of fsyncs whatever N (docs/performance.md); a
    # crash before the run's record is written loses the run, this file with it.
    ledger.write_json(p.pane_dir / WIRING_FILE, record(p, w, start, resume), sync=LIVE)


@dataclass(frozen=True)
class Wired:
    """One pane's wiring, computed from the layout alone: the same at `up` and `restart`."""

    pane: Pane
    wiring: Wiring
    start: str
    resume: str | None


def plan(pane_dir: Path, spec: PaneSpec, pl: PanePlan, repo: Path,
         tools: str | None = None) -> Wired:
    """Pure: what the pane's spec gets (agentmux.panespec.build_spec). `tools`: see Pane."""
    p = Pane(agent=spec.agent if spec.agent in presets.BUILTINS else None, mode=spec.mode,
             approve=spec.approve, sandbox=spec.sandbox, pane_dir=pane_dir, cwd=pl.cwd,
             worktree=pl.worktree, repo=repo, env=pl.env, local=spec.host is None,
             tools=tools)
    w = wire(p)
    start, resume = commands(spec.command, pl.command, p, w)
    return Wired(p, w, start, resume)


@dataclass(frozen=True)
class WiringInfo:
    """wiring.json as read back: by the watcher, `restart` and the headless result."""

    agent: str | None = None
    mode: str = "interactive"
    hooks: str | None = None
    authoritative: bool = False
    start: str | None = None
    resume: str | None = None


def read_wiring(pane_dir: Path) -> WiringInfo:
    """A pane's wiring.json; the defaults when it has none (an older run) or it is damaged."""
    try:
        data = json.loads((pane_dir / WIRING_FILE).read_bytes())
    except (OSError, ValueError):
        return WiringInfo()
    if not isinstance(data, dict):
        return WiringInfo()

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    return WiringInfo(agent=text("agent"), mode=text("mode") or "interactive",
                      hooks=text("hooks"), authoritative=data.get("authoritative") is True,
                      start=text("start"), resume=text("resume"))
