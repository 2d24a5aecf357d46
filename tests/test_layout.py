from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agentmux import errors, layout
from agentmux.layout import Layout

Edit = Callable[[dict[str, Any]], None]

BASE: dict[str, Any] = {
    "session": "demo",
    "env": {"CI": "1"},
    "agents": {"reviewer": {"command": "claude --model opus {task}"}},
    "pane": [
        {"name": "web", "agent": "claude", "task": "Add webhooks"},
        {"name": "docs", "command": "printf %s {task}", "task": "Write docs", "dir": "src"},
    ],
}

HOSTILE = "a;b #{pane_id} #(touch X) $(id) 'q' \"dq\"\nline2 C-c"


def write(repo: Path, data: dict[str, Any], name: str = "five.toml") -> Path:
    path = repo / name
    path.write_text(tomli_w.dumps(data))
    return path


def load(repo: Path, data: dict[str, Any], name: str = "five.toml") -> Layout:
    return layout.load(write(repo, data, name))


def with_base(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def top(key: str, value: Any) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        d[key] = value
    return edit


def drop(key: str) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        del d[key]
    return edit


def pane(i: int, key: str, value: Any) -> Edit:
    """Set a key of the i-th [[pane]] (1-based, as in the messages)."""
    def edit(d: dict[str, Any]) -> None:
        d["pane"][i - 1][key] = value
    return edit


def pane_drop(i: int, key: str) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        del d["pane"][i - 1][key]
    return edit


def both(*edits: Edit) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        for e in edits:
            e(d)
    return edit


NAME_RE = "^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$"
SAFE = ("which is not a safe branch name (letters, digits and . _ / -; no '..', '//', "
        "or trailing '/' or '.lock')")
ALL_AGENTS = "aider, claude, codex, gemini, opencode, reviewer, shell"
PANE_KEYS = ("agent, approve, brief, check, command, context, count, dir, env, host, "
             "idle_after, mode, name, network, sandbox, scope, task, timeout, "
             "waiting_patterns, window")
OVERLAP = ("'api/webhooks/*.py' (pane 'docs') overlaps 'api/**' (pane[1].scope[1], pane 'web'): "
           "both could claim api/webhooks/x.py (a new file). Give each pane files of its own, "
           "or set allow_overlap = true")


@pytest.mark.parametrize(("edit", "message"), [
    pytest.param(top("sesion", "x"), "sesion: unknown key; did you mean 'session'?",
                 id="unknown-top-key"),
    pytest.param(top("panes_per_windows", 3),
                 "panes_per_windows: unknown key; did you mean 'panes_per_window'?",
                 id="unknown-top-key-plural"),
    pytest.param(pane(1, "taks", "x"), "pane[1].taks: unknown key; did you mean 'task'?",
                 id="unknown-pane-key"),
    pytest.param(pane(1, "scopes", ["api/**"]),
                 "pane[1].scopes: unknown key; did you mean 'scope'?", id="scopes"),
    pytest.param(pane(1, "conext", ["x"]),
                 "pane[1].conext: unknown key; did you mean 'context'?", id="conext"),
    pytest.param(pane(1, "fanout", 3),
                 f"pane[1].fanout: unknown key; expected one of {PANE_KEYS}", id="fanout"),
    pytest.param(top("allow_overlaps", True),
                 "allow_overlaps: unknown key; did you mean 'allow_overlap'?",
                 id="allow-overlaps"),
    pytest.param(pane(1, "scope", "api/**"),
                 "pane[1].scope: expected a list of globs; got 'api/**'", id="scope-string"),
    pytest.param(pane(1, "scope", ["api/**", 3]),
                 "pane[1].scope[2]: expected a non-empty string; got 3", id="scope-int"),
    pytest.param(pane(1, "scope", [""]),
                 "pane[1].scope[1]: expected a non-empty string; got ''", id="scope-empty"),
    pytest.param(pane(1, "scope", ["/etc/**"]),
                 "pane[1].scope[1]: '/etc/**' must be relative to the repository (no leading "
                 "'/')", id="scope-absolute"),
    pytest.param(pane(1, "scope", ["api/../web/**"]),
                 "pane[1].scope[1]: 'api/../web/**' has an empty, '.' or '..' segment ('..')",
                 id="scope-dotdot"),
    pytest.param(pane(1, "scope", ["api/[ab"]),
                 "pane[1].scope[1]: 'api/[ab' has an unclosed '['", id="scope-bracket"),
    pytest.param(pane(1, "scope", ["!api/**"]),
                 "pane[1].scope[1]: '!api/**' negation ('!') is not supported in a scope",
                 id="scope-negation"),
    pytest.param(both(pane(1, "scope", ["api/**"]), pane(2, "scope", ["api/webhooks/*.py"])),
                 f"pane[2].scope[1]: {OVERLAP}", id="scope-overlap"),
    pytest.param(both(pane(1, "scope", ["web/**", "api/**"]),
                      pane(2, "scope", ["docs/**", "api/webhooks/*.py"])),
                 "pane[2].scope[2]: " + OVERLAP.replace("pane[1].scope[1]", "pane[1].scope[2]"),
                 id="scope-overlap-second-glob"),
    pytest.param(both(pane(1, "scope", ["src/**"]), pane(2, "scope", ["src/*.py"])),
                 "pane[2].scope[1]: 'src/*.py' (pane 'docs') overlaps 'src/**' "
                 "(pane[1].scope[1], pane 'web'): both claim src/app.py (at base). Give each "
                 "pane files of its own, or set allow_overlap = true", id="scope-overlap-base"),
    pytest.param(top("allow_overlap", "yes"),
                 "allow_overlap: expected true or false; got 'yes'", id="allow-overlap-string"),
    pytest.param(pane(1, "context", "README.md"),
                 "pane[1].context: expected a list of file paths; got 'README.md'",
                 id="context-string"),
    pytest.param(pane(1, "context", ["/etc/passwd"]),
                 "pane[1].context[1]: expected a relative path; got '/etc/passwd'",
                 id="context-absolute"),
    pytest.param(pane(1, "context", ["../x.md"]),
                 "pane[1].context[1]: '../x.md' must not contain a '..' component",
                 id="context-dotdot"),
    pytest.param(pane(1, "context", ["."]),
                 "pane[1].context[1]: expected a file path; got '.'", id="context-dot"),
    pytest.param(pane(2, "context", ["README.md", "docs/api.md"]),
                 "pane[2].context[2]: 'docs/api.md' does not exist at base 'HEAD'",
                 id="context-missing"),
    pytest.param(pane(1, "context", ["src"]),
                 "pane[1].context[1]: 'src' is a folder at base 'HEAD'; list the files the "
                 "agent must read", id="context-folder"),
    pytest.param(both(top("base", "nope"), pane(1, "context", ["README.md"])),
                 "base: 'nope' is not a commit in TMP/repo", id="context-bad-base"),
    pytest.param(pane(1, "count", 0),
                 "pane[1].count: expected an integer from 1 to 20; got 0", id="count-zero"),
    pytest.param(pane(1, "count", 21),
                 "pane[1].count: expected an integer from 1 to 20; got 21", id="count-big"),
    pytest.param(pane(1, "count", "3"),
                 "pane[1].count: expected an integer from 1 to 20; got '3'", id="count-string"),
    pytest.param(pane(1, "count", True),
                 "pane[1].count: expected an integer from 1 to 20; got True", id="count-bool"),
    pytest.param(both(top("isolation", "none"), pane(1, "count", 2)),
                 "pane[1].count: fan-out needs isolation 'worktree' (each attempt gets its own "
                 "branch); got isolation 'none'", id="count-no-worktree"),
    pytest.param(both(pane(1, "name", "x" * 39), pane(1, "count", 12)),
                 f"pane[1].name: '{'x' * 39}' is too long for count = 12: the attempt "
                 f"'{'x' * 39}-12' must match {NAME_RE}", id="count-name-too-long"),
    pytest.param(both(pane(1, "count", 3), pane(2, "name", "web-2")),
                 "pane[2].name: duplicate name 'web-2' (also pane[1])", id="count-duplicate"),
    pytest.param(pane(1, "brief", "yes"),
                 "pane[1].brief: expected true or false; got 'yes'", id="brief-string"),
    pytest.param(pane(2, "timeout", "45 minutes"),
                 'pane[2].timeout: expected a duration such as "90s", "45m", "2h" or a number '
                 "of seconds > 0; got '45 minutes'", id="timeout-bad"),
    pytest.param(top("timeout", 0),
                 'timeout: expected a duration such as "90s", "45m", "2h" or a number '
                 "of seconds > 0; got 0", id="timeout-zero"),
    pytest.param(pane(1, "check", ""),
                 "pane[1].check: expected a non-empty string; got ''", id="check-empty"),
    pytest.param(pane(1, "waiting_patterns", ["(unclosed"]),
                 "pane[1].waiting_patterns[1]: not a valid regular expression: missing ), "
                 "unterminated subpattern at position 0", id="pattern-bad"),
    pytest.param(pane(1, "agent", "claud"),
                 f"pane[1].agent: expected one of {ALL_AGENTS}; got 'claud'", id="bad-agent"),
    pytest.param(both(drop("agents"), pane(2, "agent", "claud"), pane_drop(2, "command")),
                 "pane[2].agent: expected one of aider, claude, codex, gemini, opencode, "
                 "shell; got 'claud'", id="bad-agent-builtins-only"),
    pytest.param(pane(1, "command", "x"),
                 "pane[1]: set exactly one of 'agent' or 'command'; got both", id="both"),
    pytest.param(pane_drop(1, "agent"),
                 "pane[1]: set exactly one of 'agent' or 'command'; got neither", id="neither"),
    pytest.param(pane_drop(2, "name"), "pane[2]: missing required key 'name'", id="no-name"),
    pytest.param(pane(2, "name", "web"), "pane[2].name: duplicate name 'web' (also pane[1])",
                 id="duplicate-name"),
    *[pytest.param(pane(1, "name", bad), f"pane[1].name: expected a name matching {NAME_RE}; "
                   f"got {bad!r}", id=f"bad-name-{bad}")
      for bad in ("../x", "a b", "#{pane_id}", "x;", "-f", "Webhooks", "", "x-")],
    pytest.param(pane(1, "name", "agentmux"),
                 "pane[1].name: 'agentmux' is reserved for the watcher's window",
                 id="name-agentmux"),
    pytest.param(top("isolation", "docker"),
                 "isolation: expected one of worktree, directory, none; got 'docker'",
                 id="bad-isolation"),
    pytest.param(top("version", 2), "version: expected 1; got 2", id="version-2"),
    pytest.param(top("version", True), "version: expected 1; got True", id="version-bool"),
    pytest.param(top("panes_per_window", "four"),
                 "panes_per_window: expected an integer >= 1; got 'four'", id="ppw-string"),
    pytest.param(top("panes_per_window", 0),
                 "panes_per_window: expected an integer >= 1; got 0", id="ppw-zero"),
    pytest.param(top("poll_interval", 0),
                 "poll_interval: expected a number > 0 and <= 60; got 0", id="poll-zero"),
    pytest.param(top("poll_interval", 61.5),
                 "poll_interval: expected a number > 0 and <= 60; got 61.5", id="poll-big"),
    pytest.param(pane(1, "task", 5), "pane[1].task: expected a string; got 5",
                 id="task-int"),
    pytest.param(top("setup", ["npm ci"]), "setup: expected a non-empty string; got ['npm ci']",
                 id="setup-list"),
    pytest.param(top("env", "CI=1"), "env: expected a table of NAME = \"value\"; got 'CI=1'",
                 id="env-not-table"),
    pytest.param(top("env", {"1BAD": "x"}),
                 "env: invalid variable name '1BAD'; expected a name matching "
                 "^[A-Za-z_][A-Za-z0-9_]*$", id="env-bad-key"),
    pytest.param(top("env", {"CI": 1}), "env.CI: expected a string; got 1",
                 id="env-value-int"),
    pytest.param(pane(2, "env", {"BAR": True}), "pane[2].env.BAR: expected a string; got True",
                 id="pane-env-value-bool"),
    pytest.param(pane(2, "env", {"A-B": "1"}),
                 "pane[2].env: invalid variable name 'A-B'; expected a name matching "
                 "^[A-Za-z_][A-Za-z0-9_]*$", id="pane-env-bad-key"),
    pytest.param(pane(2, "dir", "/etc"), "pane[2].dir: expected a relative path; got '/etc'",
                 id="dir-absolute"),
    pytest.param(pane(2, "dir", "src/../../x"),
                 "pane[2].dir: 'src/../../x' must not contain a '..' component", id="dir-dotdot"),
    pytest.param(both(top("isolation", "directory"), pane(1, "dir", "src")),
                 "pane[2].dir: 'src' (pane 'docs') overlaps 'src' (pane[1], 'web'); with "
                 "isolation 'directory' the dirs must not be equal or nested",
                 id="directory-equal"),
    pytest.param(both(top("isolation", "directory"), pane(1, "dir", "src"),
                      pane(2, "dir", "src/api")),
                 "pane[2].dir: 'src/api' (pane 'docs') overlaps 'src' (pane[1], 'web'); with "
                 "isolation 'directory' the dirs must not be equal or nested",
                 id="directory-nested"),
    pytest.param(top("isolation", "directory"),
                 "pane[1].dir: isolation 'directory' needs a non-empty dir in every pane",
                 id="directory-empty-dir"),
    pytest.param(top("branch", "agentmux/{user}/{pane}"),
                 "branch: unknown placeholder '{user}'; only {session} and {pane} may be used",
                 id="branch-placeholder"),
    pytest.param(top("branch", "a;b/{pane}"), f"branch: renders to 'a;b/web' for pane 'web', "
                 f"{SAFE}", id="branch-semicolon"),
    pytest.param(top("branch", "$(id)/{pane}"), f"branch: renders to '$(id)/web' for pane "
                 f"'web', {SAFE}", id="branch-subshell"),
    pytest.param(top("branch", "x/{pane}.lock"), f"branch: renders to 'x/web.lock' for pane "
                 f"'web', {SAFE}", id="branch-lock"),
    pytest.param(top("branch", "a/.b/{pane}"), "branch: renders to 'a/.b/web' for pane 'web', "
                 "which git rejects as a branch name", id="branch-git-rejects"),
    pytest.param(top("branch", "a.lock/{pane}"), "branch: renders to 'a.lock/web' for pane "
                 "'web', which git rejects as a branch name", id="branch-lock-component"),
    pytest.param(top("branch", "a/{pane}."), "branch: renders to 'a/web.' for pane "
                 "'web', which git rejects as a branch name", id="branch-trailing-dot"),
    pytest.param(top("branch", "agentmux/{session}"), "branch: renders to the same branch "
                 "'agentmux/demo' for panes 'web' and 'docs'; use {pane}", id="branch-same"),
    pytest.param(top("worktree_root", "wt/{pane}"), "worktree_root: unknown placeholder "
                 "'{pane}'; only {session} may be used", id="worktree-root-placeholder"),
    pytest.param(top("session", "a.b"), "session: expected a name of letters, digits, '_' and "
                 "'-' (no '.' or ':'), at most 64 long; got 'a.b'", id="session-dot"),
    pytest.param(top("session", "x" * 65), "session: expected a name of letters, digits, '_' "
                 f"and '-' (no '.' or ':'), at most 64 long; got '{'x' * 65}'",
                 id="session-long"),
    pytest.param(pane(1, "window", "agentmux"),
                 "pane[1].window: 'agentmux' is reserved for agentmux's own windows",
                 id="window-agentmux"),
    pytest.param(pane(1, "window", "agents-2"),
                 "pane[1].window: 'agents-2' is reserved for agentmux's own windows",
                 id="window-auto-name"),
    pytest.param(pane(1, "window", "a:b"), "pane[1].window: expected a name matching "
                 "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$; got 'a:b'", id="window-colon"),
    pytest.param(top("pane", []), "pane: expected at least one [[pane]] table",
                 id="empty-panes"),
    pytest.param(drop("pane"), "pane: expected at least one [[pane]] table", id="no-panes"),
    pytest.param(top("pane", {"name": "x"}), "pane: expected an array of tables ([[pane]]); "
                 "got a table", id="pane-table"),
    pytest.param(pane(2, "command", ""), "pane[2].command: expected a non-empty string; got ''",
                 id="command-empty"),
    pytest.param(top("agents", {"claude": {"command": "x"}}),
                 "agents.claude: shadows the built-in preset 'claude'; pick another name",
                 id="agent-shadows-builtin"),
    pytest.param(top("agents", {"reviewer": {"cmd": "x"}}),
                 "agents.reviewer.cmd: unknown key; did you mean 'command'?",
                 id="agent-unknown-key"),
    pytest.param(top("agents", {"reviewer": "x"}),
                 "agents.reviewer: expected a table with key 'command'; got 'x'",
                 id="agent-not-table"),
    pytest.param(top("copy", ["/etc/passwd"]),
                 "copy[1]: expected a relative path; got '/etc/passwd'", id="copy-absolute"),
    pytest.param(top("base", "--upload-pack=x"),
                 "base: expected a commit, branch or tag; got '--upload-pack=x'", id="base-dash"),
    pytest.param(top("repo", "../nogit"), "repo: TMP/nogit is not a git repository",
                 id="repo-not-git"),
])
def test_bad_layout(repo: Path, edit: Edit, message: str) -> None:
    (repo.parent / "nogit").mkdir()
    data = copy.deepcopy(BASE)
    edit(data)
    path = write(repo, data)
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == f"{path}: " + message.replace("TMP", str(repo.parent))
    assert e.value.exit_code == 2


def test_baseline_is_valid(repo: Path) -> None:
    lay = load(repo, BASE)
    assert lay.session == "demo"
    assert lay.repo == repo
    assert (lay.base, lay.isolation, lay.version) == ("HEAD", "worktree", 1)
    assert lay.branch == "agentmux/{session}/{pane}"
    assert lay.worktree_root == ".agentmux/worktrees/{session}"
    assert (lay.copy, lay.setup, lay.panes_per_window, lay.poll_interval) == ((), None, 4, 1.0)
    assert dict(lay.env) == {"CI": "1"}
    assert dict(lay.agents) == {"reviewer": "claude --model opus {task}"}
    assert [p.name for p in lay.panes] == ["web", "docs"]
    assert lay.panes[0].agent == "claude" and lay.panes[0].command == "claude {task}"
    assert lay.panes[1].agent is None and lay.panes[1].dir == "src"


def test_session_defaults_to_stem(repo: Path) -> None:
    d = with_base()
    del d["session"]
    assert load(repo, d, "my-run.toml").session == "my-run"


def test_invalid_stem_asks_for_session(repo: Path) -> None:
    d = with_base()
    del d["session"]
    path = write(repo, d, "five.agents.toml")
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == (f"{path}: session: the file name 'five.agents' is not a valid "
                            "session name (letters, digits, '_' and '-'; no '.' or ':'); "
                            "set 'session'")


def test_repo_defaults_to_toplevel_of_the_file_folder(repo: Path) -> None:
    d = with_base()
    path = write(repo / "src", d)
    assert layout.load(path).repo == repo


def test_repo_relative_to_the_file(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "layouts"
    elsewhere.mkdir()
    lay = load(elsewhere, with_base(repo="../repo"))
    assert lay.repo == repo


def test_file_outside_any_repo(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    path = write(folder, BASE)
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == (f"{path}: repo: the layout's folder {folder} is not in a git "
                            "repository; set 'repo'")


def test_toml_syntax_error_gives_line_and_column(repo: Path) -> None:
    path = repo / "five.toml"
    path.write_text('session = "demo"\npanes_per_window = \n')
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == f"{path}:2:20: Invalid value"


def test_toml_error_at_end_of_document(repo: Path) -> None:
    path = repo / "five.toml"
    path.write_text('session = "demo')
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == f"{path}: invalid TOML: Unterminated string (at end of document)"


def test_bom_is_refused(repo: Path) -> None:
    path = repo / "five.toml"
    path.write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(BASE).encode())
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == (f"{path}: the file starts with a byte-order mark (BOM); "
                            "save it as UTF-8 without BOM")


def test_invalid_utf8(repo: Path) -> None:
    path = repo / "five.toml"
    path.write_bytes(b'session = "a\xff"\n')
    with pytest.raises(errors.LayoutError) as e:
        layout.load(path)
    assert str(e.value) == f"{path}: the file is not valid UTF-8 text (byte 0xff at offset 12)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(errors.BadInput) as e:
        layout.load(path)
    assert str(e.value) == f"{path}: no such file"
    assert e.value.exit_code == 2


def test_message_names_the_path_as_given(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, with_base(isolation="x"))
    monkeypatch.chdir(repo)
    with pytest.raises(errors.LayoutError) as e:
        layout.load(Path("five.toml"))
    assert e.value.file == "five.toml"
    assert str(e.value) == ("five.toml: isolation: expected one of worktree, directory, none; "
                            "got 'x'")


def panes(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": f"p{i}", "command": "true", **extra} for i in range(1, n + 1)]


def test_windows_tile_four_to_a_window(repo: Path) -> None:
    plans = layout.plan(load(repo, with_base(pane=panes(9))))
    assert [p.window for p in plans] == ["agents"] * 4 + ["agents-2"] * 4 + ["agents-3"]


def test_named_windows_and_panes_per_window(repo: Path) -> None:
    ps = panes(6)
    ps[1]["window"] = "backend"
    ps[3]["window"] = "backend"
    ps[4]["window"] = "docs"
    plans = layout.plan(load(repo, with_base(pane=ps, panes_per_window=1)))
    assert [(p.name, p.window) for p in plans] == [
        ("p1", "agents"), ("p2", "backend"), ("p3", "agents-2"), ("p4", "backend"),
        ("p5", "docs"), ("p6", "agents-3"),
    ]


def test_cwd_for_worktree_isolation(repo: Path) -> None:
    web, docs = layout.plan(load(repo, BASE))
    wt = repo / ".agentmux" / "worktrees" / "demo"
    assert (web.branch, web.worktree, web.cwd) == ("agentmux/demo/web", wt / "web", wt / "web")
    assert (docs.branch, docs.worktree, docs.cwd) == (
        "agentmux/demo/docs", wt / "docs", wt / "docs" / "src")


def test_custom_branch_and_worktree_root(repo: Path) -> None:
    d = with_base(branch="feat/{session}-{pane}", worktree_root=".agentmux/wt/{session}")
    web, _ = layout.plan(load(repo, d))
    assert web.branch == "feat/demo-web"
    assert web.worktree == repo / ".agentmux/wt/demo" / "web"


@pytest.mark.parametrize("isolation", ["directory", "none"])
def test_cwd_without_worktrees(repo: Path, isolation: str) -> None:
    d = with_base(isolation=isolation)
    d["pane"][0]["dir"] = "api"
    web, docs = layout.plan(load(repo, d))
    assert (web.branch, web.worktree, web.cwd) == (None, None, repo / "api")
    assert (docs.branch, docs.worktree, docs.cwd) == (None, None, repo / "src")


def test_hostile_task_reaches_the_program_byte_for_byte(repo: Path) -> None:
    d = with_base(pane=[{"name": "x", "command": "printf %s {task}", "task": HOSTILE}])
    (p,) = layout.plan(load(repo, d))
    out = subprocess.run(["/bin/sh", "-c", p.command], cwd=repo, capture_output=True,
                         check=True)
    assert out.stdout == HOSTILE.encode()
    assert not (repo / "X").exists()


def test_every_placeholder_is_quoted(repo: Path) -> None:
    cmd = "printf '%s|' {task} {task_file} {pane} {worktree} {branch} {session}"
    d = with_base(pane=[{"name": "x", "command": cmd, "task": HOSTILE}])
    lay = load(repo, d)
    tf = repo / "run dir;#{x}" / "TASK.md"
    (p,) = layout.plan(lay, {"x": tf})
    out = subprocess.run(["/bin/sh", "-c", p.command], capture_output=True, check=True)
    wt = repo / ".agentmux/worktrees/demo/x"
    assert out.stdout.decode() == f"{HOSTILE}|{tf}|x|{wt}|agentmux/demo/x|demo|"


def test_task_file_placeholder(repo: Path) -> None:
    d = with_base(pane=[{"name": "x", "command": "agent --brief {task_file}"}])
    lay = load(repo, d)
    assert layout.plan(lay)[0].command == "agent --brief '<run>/panes/x/TASK.md'"
    tf = repo / ".agentmux" / "runs" / "r1" / "panes" / "x" / "TASK.md"
    assert layout.plan(lay, {"x": tf})[0].command == f"agent --brief {tf}"


def test_unknown_braces_and_shell_variables_survive(repo: Path) -> None:
    cmd = "echo ${HOME} {nope} {{task}} {task}"
    d = with_base(pane=[{"name": "x", "command": cmd, "task": "{pane} {session}"}])
    (p,) = layout.plan(load(repo, d))
    # A value is never substituted again: the task's own "{pane}" stays text.
    assert p.command == "echo ${HOME} {nope} {'{pane} {session}'} '{pane} {session}'"


def test_worktree_and_branch_without_worktrees(repo: Path) -> None:
    d = with_base(isolation="none",
                  pane=[{"name": "x", "command": "echo {worktree} {branch}", "dir": "src"}])
    (p,) = layout.plan(load(repo, d))
    assert p.command == f"echo {repo / 'src'} ''"


def test_env_is_layout_env_updated_by_pane_env(repo: Path) -> None:
    d = with_base(env={"CI": "1", "A": "x"})
    d["pane"][1]["env"] = {"A": "y", "B": "z"}
    web, docs = layout.plan(load(repo, d))
    assert dict(web.env) == {"CI": "1", "A": "x"}
    assert dict(docs.env) == {"CI": "1", "A": "y", "B": "z"}


def test_preset_without_task_uses_its_no_task_form(repo: Path) -> None:
    d = with_base(pane=[{"name": "x", "agent": "claude"},
                        {"name": "y", "agent": "reviewer"}])
    x, y = layout.plan(load(repo, d))
    assert x.command == "claude"
    assert y.command == "claude --model opus ''"


def test_describe(repo: Path) -> None:
    d = with_base(setup="npm ci", copy=[".env"])
    d["pane"][1]["env"] = {"FOO": "a b"}
    d["pane"][1]["window"] = "writing"
    lay = load(repo, d)
    wt = repo / ".agentmux" / "worktrees" / "demo"
    assert layout.describe(lay, layout.plan(lay)) == f"""\
session:   demo
repo:      {repo}
base:      HEAD
isolation: worktree
setup:     npm ci
copy:      .env
panes:     2 in 2 windows

pane web
  command:  claude 'Add webhooks'
  folder:   {wt / 'web'}
  branch:   agentmux/demo/web
  worktree: {wt / 'web'}
  window:   agents
  env:      CI=1
  runs:     interactive · sandbox none · approve ask · host (this machine)

pane docs
  command:  printf %s 'Write docs'
  folder:   {wt / 'docs' / 'src'}
  branch:   agentmux/demo/docs
  worktree: {wt / 'docs'}
  window:   writing
  env:      CI=1 FOO='a b'
  runs:     interactive · sandbox none · approve ask · host (this machine)
"""


def test_describe_without_worktrees(repo: Path) -> None:
    d = with_base(isolation="none", env={},
                  pane=[{"name": "x", "command": "make", "dir": "src"}])
    lay = load(repo, d)
    assert layout.describe(lay, layout.plan(lay)) == f"""\
session:   demo
repo:      {repo}
base:      HEAD
isolation: none
panes:     1 in 1 window

pane x
  command:  make
  folder:   {repo / 'src'}
  branch:   (none)
  worktree: (none)
  window:   agents
  env:      (none)
  runs:     interactive · sandbox none · approve ask · host (this machine)
"""


def test_command_preview(repo: Path) -> None:
    lay = load(repo, with_base(setup="npm ci"))
    assert layout.command_preview(lay) == [
        ("web", "claude 'Add webhooks'"),
        ("docs", "printf %s 'Write docs'"),
        ("setup", "npm ci"),
    ]


def test_count_fans_out_into_attempts(repo: Path) -> None:
    d = with_base()
    d["pane"][0].update(count=3, scope=["web/**"])
    d["pane"][1]["scope"] = ["web/**"]
    d["allow_overlap"] = True
    lay = load(repo, d)
    assert [(p.name, p.attempt_of, p.scope) for p in lay.panes] == [
        ("web-1", "web", ("web/**",)), ("web-2", "web", ("web/**",)),
        ("web-3", "web", ("web/**",)), ("docs", None, ("web/**",))]
    assert [p.branch for p in layout.plan(lay)] == [
        "agentmux/demo/web-1", "agentmux/demo/web-2", "agentmux/demo/web-3",
        "agentmux/demo/docs"]


def test_attempts_share_their_scope_without_overlap(repo: Path) -> None:
    d = with_base()
    d["pane"][0].update(count=2, scope=["web/**"])
    d["pane"][1]["scope"] = ["docs/**"]
    assert [p.name for p in load(repo, d).panes] == ["web-1", "web-2", "docs"]


def test_brief_makes_task_a_pointer_to_the_brief(repo: Path) -> None:
    d = with_base(pane=[{"name": "x", "agent": "claude", "task": "do it", "brief": True},
                        {"name": "y", "agent": "claude", "brief": True},
                        {"name": "z", "agent": "claude", "task": "do it"}])
    lay = load(repo, d)
    x, y, z = layout.plan(lay)
    assert x.command == "claude 'Read your task brief at <run>/panes/x/TASK.md and follow it.'"
    # With brief = true a preset gets the pointer even when the task text is empty.
    assert y.command == "claude 'Read your task brief at <run>/panes/y/TASK.md and follow it.'"
    assert z.command == "claude 'do it'"
    tf = repo / "r" / "TASK.md"
    assert layout.plan(lay, {"x": tf, "y": tf, "z": tf})[0].command == (
        f"claude 'Read your task brief at {tf} and follow it.'")


def test_scope_and_context_defaults(repo: Path) -> None:
    lay = load(repo, BASE)
    assert [(p.scope, p.context, p.brief, p.count) for p in lay.panes] == [
        ((), (), False, 1), ((), (), False, 1)]
    assert lay.allow_overlap is False
    d = with_base(isolation="directory")
    d["pane"][0]["dir"] = "api[1]"
    assert [p.scope for p in load(repo, d).panes] == [("api\\[1\\]/**",), ("src/**",)]
