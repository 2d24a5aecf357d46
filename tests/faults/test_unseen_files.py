"""Files git does not list as changed are never deleted unseen (issue 14, item 1, as a class).

One row per way a file escapes `git status` (or escapes `git add`): an uninitialised
submodule's folder, nested repositories (with a commit, with none, a bare `.git` folder, one in
an ignored folder), sparse checkouts (with and without git clearing the skip-worktree bits),
skip-worktree and assume-unchanged entries, names git refuses (`.GIT`), ignored files of every
excludes file, and `status.showUntrackedFiles=no`.

Each row runs a real agent that leaves the file, then checks, byte for byte:
- a plain `clean` exits 3, names the file and why, and changes nothing (worktree files,
  refs, worktree list, ledger);
- `review --json` lists it under `unseen`, with whether the snapshot holds it, and the text
  review says "git does not list";
- `clean --force` removes the worktree and keeps every byte: in the snapshot ref where git can
  store it, else in the ledger, at the place it names.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import Result, fingerprint, git, run_cli
from ..helpers import fake
from ..test_merge import SOCK, start, tree_of
from .conftest import snapshot_state


def cli(repo: Path, *args: str) -> Result:
    """agentmux in this process (CliRunner): a subprocess proves nothing more here."""
    return run_cli("--socket", SOCK, *args, cwd=repo, process=False)


def tree_bytes(root: Path) -> dict[str, tuple[int, str]]:
    """Every file and symlink below root, nested `.git` folders included: mode and hash."""
    out = {}
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in [*names, *(x for x in dirs if (Path(d) / x).is_symlink())]:
            p = Path(d) / n
            if p == root / ".git":
                continue
            found = fingerprint(p)
            if found is not None:
                out[p.relative_to(root).as_posix()] = found
    return out


def _submodule(repo: Path) -> None:
    sub = repo.parent / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    git(sub, "commit", "-q", "--allow-empty", "-m", "sub")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(sub), "sm")
    git(repo, "commit", "-qm", "add submodule")


def _sparse(expect_outside: bool) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        # New worktrees take the main checkout's sparse patterns (git 2.36 and later).
        git(repo, "sparse-checkout", "set", "--no-cone", "/src/")
        if expect_outside:
            # git then keeps the skip-worktree bit of a file that is back on disk: status
            # never looks at it again.
            git(repo, "config", "sparse.expectFilesOutsideOfPatterns", "true")
    return setup


def _excludes(repo: Path) -> None:
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("*.secret\n")
    (repo.parent / "myignore").write_text("*.local\n")
    git(repo, "config", "core.excludesFile", str(repo.parent / "myignore"))


def _global_ignore(repo: Path) -> None:
    ignore = Path(os.environ["HOME"]) / ".config" / "git" / "ignore"
    ignore.parent.mkdir(parents=True)
    ignore.write_text("*.glob\n")


def _ignore_vendor(repo: Path) -> None:
    (repo / ".gitignore").write_text("vendor/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore vendor")


def _no_untracked(repo: Path) -> None:
    git(repo, "config", "status.showUntrackedFiles", "no")


@dataclass(frozen=True)
class Case:
    id: str
    command: str
    refusal: tuple[str, ...]                    # lines of the plain clean's message
    unseen: tuple[tuple[str, str, bool], ...]   # (path, kind, in_snapshot) in review --json
    in_snapshot: tuple[str, ...] = ()           # kept by --force in the snapshot ref
    in_ledger: tuple[tuple[str, str], ...] = ()  # (folder, path) kept by --force in the ledger
    setup: Callable[[Path], None] | None = field(default=None, compare=False)


_SUB = "inside the folder of an uninitialised submodule, where git never looks"
_NESTED = "a nested git repository: git keeps at most a pointer to its commit"
_TAIL = "; removing the worktree would delete it unseen"

CASES = [
    Case("uninitialised-submodule", fake("--write", "sm/agent.txt=work in the submodule"),
         (f"git does not list sm/agent.txt ({_SUB}){_TAIL}",),
         (("sm/agent.txt", "submodule", False),),
         in_ledger=(("unseen", "sm/agent.txt"),), setup=_submodule),
    Case("nested-repo-with-a-commit",
         "mkdir lib && cd lib && git init -q && " + fake("--write", "n.txt=nested", "--commit",
                                                         "nested") + " && echo wip > wip.txt",
         (f"git does not list lib/ ({_NESTED}){_TAIL}",), (("lib/", "nested-repo", False),),
         in_ledger=(("unseen", "lib/n.txt"), ("unseen", "lib/wip.txt"))),
    Case("nested-repo-with-no-commit",   # `git add -A` fails on it: no snapshot at all before
         "git init -q lib && " + fake("--write", "lib/n.txt=nested", "--write", "ok.txt=ok"),
         ("modified, staged or untracked files: ok.txt",
          f"git does not list lib/ ({_NESTED}){_TAIL}"), (("lib/", "nested-repo", False),),
         in_snapshot=("ok.txt",), in_ledger=(("unseen", "lib/n.txt"),)),
    Case("bare-dot-git-folder", fake("--write", "y/.git/notes.txt=mine"),
         (f"git does not list y/ ({_NESTED}){_TAIL}",), (("y/", "nested-repo", False),),
         in_ledger=(("unseen", "y/.git/notes.txt"),)),
    Case("skip-worktree",
         fake("--write", "README.md=edited") + " && git update-index --skip-worktree README.md",
         ("git does not list README.md (changed, but marked skip-worktree, so git does not "
          f"compare it){_TAIL}",), (("README.md", "skip-worktree", True),),
         in_snapshot=("README.md",)),
    Case("assume-unchanged",
         fake("--write", "src/app.py=edited") + " && git update-index --assume-unchanged "
         "src/app.py",
         ("git does not list src/app.py (changed, but marked assume-unchanged, so git does "
          f"not compare it){_TAIL}",), (("src/app.py", "assume-unchanged", True),),
         in_snapshot=("src/app.py",)),
    # git lists it (status clears the bit of a file back on disk), but `git add -A` kept the
    # old content without a word: --force snapshotted the old README.md, then reset the edit.
    Case("sparse-checkout-edit", fake("--write", "README.md=edited"),
         ("modified, staged or untracked files: README.md",), (),
         in_snapshot=("README.md",), setup=_sparse(False)),
    # Listed too, but `git add -A` exits 1 on it without --sparse: no snapshot at all.
    Case("sparse-checkout-new-file", fake("--write", "notes/n.txt=mine"),
         ("modified, staged or untracked files: notes/n.txt",), (),
         in_snapshot=("notes/n.txt",), setup=_sparse(False)),
    Case("sparse-checkout-files-expected-outside", fake("--write", "README.md=edited"),
         ("git does not list README.md (changed, outside the sparse checkout, so git does not "
          f"compare it){_TAIL}",), (("README.md", "sparse", True),),
         in_snapshot=("README.md",), setup=_sparse(True)),
    Case("name-git-refuses", fake("--write", "x/.GIT/f=mine", "--write", "ok.txt=ok"),
         ("modified, staged or untracked files: ok.txt",
          "git does not list x/.GIT/f (a name git refuses to store ('.git' spelled otherwise))"
          + _TAIL), (("x/.GIT/f", "bad-name", False),),
         in_snapshot=("ok.txt",), in_ledger=(("unseen", "x/.GIT/f"),)),
    Case("info-exclude-and-core-excludesfile",
         fake("--write", "a.secret=1", "--write", "b.local=2"),
         ("ignored files (git would delete them): a.secret, b.local",), (),
         in_ledger=(("ignored", "a.secret"), ("ignored", "b.local")), setup=_excludes),
    Case("global-gitignore", fake("--write", "c.glob=3"),
         ("ignored files (git would delete them): c.glob",), (),
         in_ledger=(("ignored", "c.glob"),), setup=_global_ignore),
    Case("nested-repo-in-an-ignored-folder",
         "git init -q vendor/dep && " + fake("--write", "vendor/dep/x.txt=dep"),
         ("ignored files (git would delete them): vendor/dep/",), (),
         in_ledger=(("ignored", "vendor/dep/x.txt"),), setup=_ignore_vendor),
    Case("show-untracked-files-no", fake("--write", "notes/new.txt=mine"),
         ("modified, staged or untracked files: notes/new.txt",), (),
         in_snapshot=("notes/new.txt",), setup=_no_untracked),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_file_git_does_not_list_is_never_deleted_unseen(repo: Path, case: Case) -> None:
    if case.setup:
        case.setup(repo)
    run = start(repo, [{"name": "a", "command": case.command}])
    tree = tree_of(repo, "a")
    before = tree_bytes(tree)
    state = snapshot_state(repo)

    r = cli(repo, "clean", "a")
    assert r.code == 3, (r.out, r.err)
    assert r.err.startswith("agentmux: nothing was removed:\n"), r.err
    for line in case.refusal:
        assert f"\n  a: {line}\n" in r.err, (line, r.err)
    assert "to keep what is listed and remove it anyway: agentmux clean --force a (" in r.err
    assert tree_bytes(tree) == before
    assert snapshot_state(repo) == state

    r = cli(repo, "review", "--json")
    assert r.code == 0, r.err
    (pane,) = json.loads(r.out)["panes"]
    assert [(u["path"], u["kind"], u["in_snapshot"]) for u in pane["unseen"]] == list(
        case.unseen)
    if case.unseen:
        text = cli(repo, "review").out
        n = len(case.unseen)
        assert f", and {n} file{'s' if n > 1 else ''} git does not list\n" in text, text
        for path, _, held in case.unseen:
            assert f"?  {path}  (" in text and (
                "in the snapshot" if held else "NOT in the snapshot") in text, text

    r = cli(repo, "clean", "--force", "a")
    assert r.code == 0, (r.out, r.err)
    assert not tree.exists()
    ref = f"refs/agentmux/snapshots/{run.name}/a"
    for path in case.in_snapshot:
        body = git(repo, "cat-file", "blob", f"{ref}:{path}").encode()
        assert hashlib.sha256(body).hexdigest() == before[path][1], path
    aside = run / "panes" / "a"
    for folder, path in case.in_ledger:
        kept = aside / folder / path
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == before[path][1], path
    if any(folder == "unseen" for folder, _ in case.in_ledger):
        assert f"a: files git cannot store kept in {aside}/unseen: " in r.out, r.out
