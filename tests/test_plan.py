"""Task decomposition: scopes, context, the brief, fan-out, init, add, presets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentmux import init, scope

from .conftest import git, run_cli, wait_until
from .helpers import events, fake, latest_run, status, up, wait_states, write_layout

SOCK = "amx"


# --- glob semantics and the overlap search -------------------------------------------------

@pytest.mark.parametrize(("a", "b", "witness"), [
    ("api/**", "api/webhooks/*.py", "api/webhooks/x.py"),
    ("api/**", "web/**", None),
    ("api/", "api/x.py", "api/x.py"),
    ("api", "api/deep/x.py", "api/deep/x.py"),           # a literal covers what is inside it
    ("api", "apis/**", None),
    ("**/*.py", "docs/*.md", None),
    ("**/*.py", "src/**", "src/x.py"),
    ("**/*.py", "*.py", "x.py"),                           # `**/` may be zero folders
    ("*.py", "src/x.py", None),                            # anchored: top level only
    ("a/*/c", "a/b/*", "a/b/c"),
    ("a/**", "a", "a/x"),                                  # `a/**` is inside a, `a` covers it
    ("a/**/z", "a/z", "a/z"),
    ("a/**/z", "a/b/c/z", "a/b/c/z"),
    ("a/**/z", "a/b/c/y", "a/b/c/y/z"),                   # y may be a folder
    ("a/**/z", "a/b/c/y.txt", "a/b/c/y.txt/z"),
    ("src/*.py", "src/test_*.py", "src/test_x.py"),
    ("a/b*", "a/c*", None),
    ("x/?", "x/??", None),
    ("x/[ab]", "x/[bc]", "x/b"),
    ("x/[ab]", "x/[cd]", None),
    ("x/[!ab]", "x/[ab]", None),
    ("x/[!a]", "x/[ab]", "x/b"),
    ("x/[a-c]z", "x/bz", "x/bz"),
    ("lit\\*", "lit?", "lit*"),
    ("**", "anything/at/all", "anything/at/all"),
    ("docs/**/*.md", "docs/api/**", "docs/api/x.md"),
    ("docs/**/*.md", "docs/*.txt", None),
])
def test_overlap(a: str, b: str, witness: str | None) -> None:
    assert scope.overlap(a, b) == witness
    assert (scope.overlap(b, a) is None) == (witness is None)
    if witness is not None:
        assert scope.matches(a, witness) and scope.matches(b, witness)


@pytest.mark.parametrize(("glob", "path", "hit"), [
    ("api/**", "api/x.py", True),
    ("api/**", "api/a/b/c.py", True),
    ("api/**", "api", False),
    ("api/**", "apix/y", False),
    ("api", "api", True),
    ("api", "api/y", True),
    ("api/*.py", "api/sub/x.py", False),
    ("*.md", "README.md", True),
    ("*.md", "docs/a.md", False),
    ("**/*.md", "docs/a.md", True),
    ("**/*.md", "a.md", True),
    ("*", ".env", True),
    ("a**b", "axxb", True),
    ("a**b", "ax/xb", False),
    ("src/[!t]*.py", "src/app.py", True),
    ("src/[!t]*.py", "src/test.py", False),
])
def test_matches(glob: str, path: str, hit: bool) -> None:
    assert scope.matches(glob, path) is hit


@pytest.mark.parametrize(("glob", "message"), [
    ("", "an empty glob matches nothing"),
    ("/etc/**", "must be relative to the repository (no leading '/')"),
    ("!api/**", "negation ('!') is not supported in a scope"),
    ("a//b", "has an empty, '.' or '..' segment ('')"),
    ("a/../b", "has an empty, '.' or '..' segment ('..')"),
    ("a/[bc", "has an unclosed '['"),
    ("a/[z-a]", "has a reversed range z-a"),
    ("a\\", "ends with a lone '\\'"),
])
def test_bad_glob(glob: str, message: str) -> None:
    with pytest.raises(scope.GlobError) as e:
        scope.validate(glob)
    assert str(e.value) == message


def test_out_of_scope() -> None:
    paths = ["api/a.py", "api/deep/b.py", "web/c.ts", "README.md", "docs/x.md"]
    assert scope.out_of_scope(["api/**", "docs"], paths) == ["web/c.ts", "README.md"]
    assert scope.out_of_scope(["**/*.py"], paths) == ["web/c.ts", "README.md", "docs/x.md"]
    assert scope.out_of_scope([], paths) == []          # no scope declared: nothing to report
    assert scope.out_of_scope(["api/**"], []) == []


def test_clashes_prefer_real_files_and_skip_attempts() -> None:
    scopes = [("a", ["api/**"]), ("b", ["api/webhooks/*.py"]), ("c", ["web/**"]),
              ("c2", ["web/**"])]
    files = ["api/webhooks/stripe.py", "web/index.ts"]
    found = scope.clashes(scopes, files, {"c": "c", "c2": "c"})
    assert [(c.pane_a, c.pane_b, c.examples, c.at_base) for c in found] == [
        ("a", "b", ("api/webhooks/stripe.py",), True)]
    (new,) = scope.clashes(scopes[:2])
    assert (new.examples, new.at_base) == (("api/webhooks/x.py",), False)
    # A literal glob covers a folder's contents, but a file at base is not a folder.
    literal = [("a", ["src/app.py"]), ("b", ["src/**/test_*.py"])]
    assert scope.clashes(literal, ["src/app.py"]) == []
    (clash,) = scope.clashes(literal, ["src/app.py/test_a.py"])
    assert clash.examples == ("src/app.py/test_a.py",)


# --- layouts with scopes and context: validate and up ---------------------------------------

def scoped(repo: Path, a: list[str], b: list[str], **top: Any) -> Path:
    return write_layout(repo, [
        {"name": "api", "command": "true", "scope": a},
        {"name": "hooks", "command": "true", "scope": b},
    ], **top)


def test_overlapping_scopes_fail_up_and_validate_naming_both_panes(repo: Path) -> None:
    layout = scoped(repo, ["api/**"], ["api/webhooks/*.py"])
    want = (f"agentmux: {layout}: pane[2].scope[1]: 'api/webhooks/*.py' (pane 'hooks') "
            "overlaps 'api/**' (pane[1].scope[1], pane 'api'): both could claim "
            "api/webhooks/x.py (a new file). Give each pane files of its own, or set "
            "allow_overlap = true\n")
    r = run_cli("validate", str(layout), cwd=repo)
    assert (r.code, r.err) == (2, want)
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert (r.code, r.err) == (2, want)
    assert not (repo / ".agentmux").exists()


def test_overlap_names_files_that_exist_at_base(repo: Path) -> None:
    layout = scoped(repo, ["src/**"], ["**/*.py"])
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 2
    assert "both claim src/app.py (at base)" in r.err


def test_disjoint_scopes_pass(repo: Path) -> None:
    layout = scoped(repo, ["api/**", "docs/api.md"], ["web/**", "docs/web.md"])
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert "  scope:    api/** docs/api.md\n" in r.out


def test_allow_overlap_lets_overlapping_scopes_through(repo: Path) -> None:
    layout = scoped(repo, ["api/**"], ["api/webhooks/*.py"], allow_overlap=True)
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err


def test_brief_holds_objective_scope_context_and_stays_out_of_git(repo: Path,
                                                                  tmp_path: Path) -> None:
    (repo / "docs").mkdir()
    (repo / "docs" / "api.md").write_text("# API\nPOST /webhooks takes ```json```\n")
    (repo / "docs" / "big.txt").write_text("line\n" * 10000)     # 50,000 bytes > 32 KiB
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    seen = tmp_path / "task.txt"
    layout = write_layout(repo, [{
        "name": "hooks", "task": "Add the Stripe webhook handler", "brief": True,
        "scope": ["api/webhooks/**"], "context": ["docs/api.md", "docs/big.txt"],
        # The brief is readable through {task_file}; {task} is the one-line pointer to it.
        "command": fake("--task", "{task}", "--echo-task", str(seen)).replace(
            "'{task}'", "{task}") + " && test -s {task_file}",
    }])
    up(layout, SOCK)
    assert wait_states(repo, SOCK)["hooks"]["state"] == "done"
    brief_path = latest_run(repo) / "panes" / "hooks" / "TASK.md"
    text = brief_path.read_text()
    assert seen.read_text() == f"Read your task brief at {brief_path} and follow it."
    assert "## Objective\n\nAdd the Stripe webhook handler\n" in text
    assert "- `api/webhooks/**`\n" in text
    assert "- `docs/api.md` (38 bytes; inlined below)\n" in text
    assert "### docs/api.md\n\n````\n# API\nPOST /webhooks takes ```json```\n````\n" in text
    assert "- `docs/big.txt` (48.8 KiB; inlined below, truncated)\n" in text
    assert "[truncated: the first 32765 of 50000 bytes are shown" in text
    assert "Commit your work" in text and "Do not wait for" in text
    wt = repo / ".agentmux" / "worktrees" / "agents" / "hooks"
    assert git(wt, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    run = json.loads((latest_run(repo) / "run.json").read_text())
    assert run["panes"][0]["scope"] == ["api/webhooks/**"]
    assert run["panes"][0]["context"] == ["docs/api.md", "docs/big.txt"]


def test_missing_context_file_fails_up_and_creates_nothing(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "a", "command": "true", "context": ["README.md", "docs/nope.md"]}])
    refs = git(repo, "for-each-ref")
    r = run_cli("--socket", SOCK, "up", "--trust", "-d", str(layout), cwd=repo)
    assert r.code == 2
    assert r.err == (f"agentmux: {layout}: pane[1].context[2]: 'docs/nope.md' does not exist "
                     "at base 'HEAD'\n")
    assert git(repo, "for-each-ref") == refs
    assert not (repo / ".agentmux").exists()


def test_directory_isolation_scope_defaults_to_the_dir(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "a", "command": "true", "dir": "src"},
        {"name": "b", "command": "true", "dir": "web", "scope": ["web/**"]},
    ], isolation="directory")
    r = run_cli("validate", str(layout), cwd=repo)
    assert r.code == 0, r.err
    assert "  scope:    src/**\n" in r.out


# --- fan-out ---------------------------------------------------------------------------------

def test_count_three_gives_three_branches_and_panes(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": "web", "count": 3, "scope": ["web/**"],
         "command": fake("--write", "web/{pane}.txt=x", "--commit", "{pane}")},
        {"name": "docs", "command": "true", "scope": ["docs/**"]},
    ])
    up(layout, SOCK)
    panes = wait_states(repo, SOCK)
    assert sorted(panes) == ["docs", "web-1", "web-2", "web-3"]
    assert {n: p["state"] for n, p in panes.items()} == dict.fromkeys(panes, "done")
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/agentmux")
    assert branches.split() == ["agentmux/agents/docs", "agentmux/agents/web-1",
                                "agentmux/agents/web-2", "agentmux/agents/web-3"]
    for n in (1, 2, 3):
        assert git(repo, "log", "-1", "--format=%s", f"agentmux/agents/web-{n}").strip() \
            == f"web-{n}"
    run = json.loads((latest_run(repo) / "run.json").read_text())
    assert [p["attempt_of"] for p in run["panes"]] == ["web", "web", "web", None]


# --- init -------------------------------------------------------------------------------------

CHECKLIST = """\
# Sprint

Some prose that is not a task.

- [ ] echo alpha
- [x] echo done-already
- [ ] echo beta > /dev/null
* [ ] echo gamma
- [ ] echo delta
1. [ ] echo epsilon
"""


def test_parse_tasks() -> None:
    assert init.parse_tasks(CHECKLIST) == [
        "echo alpha", "echo beta > /dev/null", "echo gamma", "echo delta", "echo epsilon"]
    assert init.parse_tasks("fix login\n\n# note\n- write docs\n") == ["fix login",
                                                                       "write docs"]


@pytest.mark.parametrize(("task", "taken", "name"), [
    ("Add Stripe webhook handler to /api/webhooks", (), "add-stripe-webhook-handler"),
    ("Add Stripe webhook handler to /api", ("add-stripe-webhook-handler",),
     "add-stripe-webhook-handler-2"),
    ("Écrire la doc", (), "ecrire-la-doc"),
    ("!!!", (), "task"),
    ("!!!", ("task", "task-2"), "task-3"),
    ("agentmux", (), "agentmux-task"),
    ("x" * 60, (), "x" * 40),
    ("x" * 60, ("x" * 40,), "x" * 38 + "-2"),
])
def test_slug(task: str, taken: tuple[str, ...], name: str) -> None:
    assert init.slug(task, taken) == name


def test_init_from_checklist_validates_and_runs_without_trust_prompt(repo: Path) -> None:
    tasks = repo / "TODO.md"
    tasks.write_text(CHECKLIST)
    r = run_cli("init", "--from", str(tasks), "--agent", "shell", cwd=repo)
    assert r.code == 0, r.err
    layout = repo / "agentmux.toml"
    assert "5 panes: echo-alpha, echo-beta-dev-null, echo-gamma, echo-delta, echo-epsilon" \
        in r.out
    assert run_cli("validate", str(layout), cwd=repo).code == 0
    r = run_cli("--socket", SOCK, "up", "-d", str(layout), cwd=repo)   # no --trust
    assert r.code == 0, r.err
    panes = wait_states(repo, SOCK)
    assert {n: p["state"] for n, p in panes.items()} == dict.fromkeys(
        ["echo-alpha", "echo-beta-dev-null", "echo-gamma", "echo-delta", "echo-epsilon"],
        "done")
    before = layout.read_bytes()
    r = run_cli("init", "echo again", cwd=repo)
    assert r.code == 3
    assert r.err == ("agentmux: init: agentmux.toml already exists; pick another --out, or "
                     "remove it first\n")
    assert layout.read_bytes() == before


def test_init_options(repo: Path) -> None:
    r = run_cli("init", "fix the login", "write docs", "--isolation", "none", "--base", "main",
                "--out", "plan.toml", cwd=repo)
    assert r.code == 0, r.err
    text = (repo / "plan.toml").read_text()
    assert 'session = "plan"\nbase = "main"\nisolation = "none"\n' in text
    assert 'name = "fix-the-login"\nagent = "claude"\ntask = "fix the login"\n' in text
    r = run_cli("init", "--out", "empty.toml", cwd=repo)
    assert (r.code, r.err) == (2, "agentmux: init: no tasks; give them as arguments or with "
                                  "--from FILE\n")


# --- add and presets --------------------------------------------------------------------------

def test_add_joins_a_running_session_and_the_watcher_follows(repo: Path) -> None:
    layout = write_layout(repo, [
        {"name": f"p{i}", "command": fake("--sleep", "60"), "scope": [f"p{i}/**"]}
        for i in range(1, 6)])
    up(layout, SOCK)
    wait_states(repo, SOCK, {f"p{i}": "working" for i in range(1, 6)})
    r = run_cli("--socket", SOCK, "add", "p1b", "--task", "more", "--scope", "p1/x/**",
                "--command", "true", cwd=repo)
    assert r.code == 2
    assert "cannot add pane 'p1b': 'p1/x/**' (pane 'p1b') overlaps 'p1/**'" in r.err
    r = run_cli("--socket", SOCK, "add", "extra", "--task", "one more", "--scope", "extra/**",
                "--command", fake("--write", "extra/e.txt=e", "--commit", "extra"), cwd=repo)
    assert r.code == 0, r.err
    assert "added extra (%" in r.out and "in window agents-2 on branch agentmux/agents/extra" \
        in r.out
    wait_until(lambda: any(e["pane"] == "extra" and e["state"] == "done"
                           for e in events(repo)), 20, "the added pane's terminal event")
    panes = status(repo, SOCK)["panes"]
    assert [p["name"] for p in panes] == ["p1", "p2", "p3", "p4", "p5", "extra"]
    assert git(repo, "log", "-1", "--format=%s", "agentmux/agents/extra").strip() == "extra"
    text = (latest_run(repo) / "panes" / "extra" / "TASK.md").read_text()
    assert "one more" in text and "`extra/**`" in text
    r = run_cli("--socket", SOCK, "status", cwd=repo)
    assert "1 done" in r.out and "5 working" in r.out


def test_presets_lists_builtins_and_the_layouts_own(repo: Path) -> None:
    layout = write_layout(repo, [{"name": "a", "agent": "mine"}],
                          agents={"mine": {"command": "my-agent --go {task}"}})
    r = run_cli("presets", "--layout", str(layout), cwd=repo)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "FROM", "WITH", "A", "TASK", "WITHOUT", "A", "TASK"]
    assert any(ln.split()[:3] == ["aider", "built-in", "aider"] and "--message {task}" in ln
               for ln in lines)
    assert any(ln.startswith("mine ") and "my-agent --go {task}" in ln for ln in lines)


GLOBS = ["a/**", "a/*", "a", "*/b", "**/b", "**/*.py", "a/**/b", "*.py", "a/b*", "a/*b",
         "[ab]/?", "a/[!a]*", "**", "b/**/a/**", "?/*.py", "a\\*"]
NAMES = ["a", "b", "ab", "ba", "x.py", "b.py", "a*", "c"]


def test_overlap_agrees_with_brute_force() -> None:
    """Every common path among small ones is found; every witness matches both globs."""
    paths = [*NAMES, *(f"{x}/{y}" for x in NAMES for y in NAMES),
             *(f"{x}/{y}/{z}" for x in NAMES[:4] for y in NAMES[:4] for z in NAMES)]
    for a in GLOBS:
        for b in GLOBS:
            common = [p for p in paths if scope.matches(a, p) and scope.matches(b, p)]
            witness = scope.overlap(a, b)
            if common:
                assert witness is not None, (a, b, common[:3])
            if witness is not None:
                assert scope.matches(a, witness) and scope.matches(b, witness), (a, b, witness)
