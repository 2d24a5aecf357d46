"""The git commands agentmux runs, by what they do: worktrees, working tree state, commits and
refs, merges, history. Each one is a `run` of an argument list; the facts behind the flags are
in docs/git.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agentmux.errors import CommandFailed
from agentmux.git.command import Result, run, split_z

# --- worktrees -------------------------------------------------------------------------------

def worktree_list(repo: Path) -> list[dict[str, str]]:
    """`git worktree list --porcelain`: one {attribute: value} per worktree (main one first)."""
    out: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    for field in run(repo, "worktree", "list", "--porcelain", "-z").stdout.split("\0"):
        if not field:
            if entry:
                out.append(entry)
            entry = {}
            continue
        key, _, value = field.partition(" ")
        entry[key] = value
    if entry:
        out.append(entry)
    return out


def worktree_add(repo: Path, path: Path, commitish: str, *, new_branch: str | None = None,
                 force: bool = False, detach: bool = False, step: str = "") -> None:
    """Never `-B` (it resets an existing branch) and `--no-track` for a new one (docs/git.md)."""
    flags = (["--no-track", "-b", new_branch] if new_branch else []) + (
        ["-f"] if force else []) + (["--detach"] if detach else [])
    run(repo, "worktree", "add", *flags, "--", str(path), commitish, step=step)


def worktree_remove(repo: Path, path: Path, check: bool = True) -> Result:
    """Never --force; -c makes git's own safety check see untracked files whatever the user
    set status.showUntrackedFiles to (docs/git.md)."""
    return run(repo, "-c", "status.showUntrackedFiles=all", "worktree", "remove", "--",
               str(path), check=check, step="removing a worktree")


def worktree_prune(repo: Path) -> None:
    run(repo, "worktree", "prune", check=False)


# --- working tree state ----------------------------------------------------------------------

def status(tree: Path, *, untracked: bool = True, ignored: bool = False,
           live: bool = False) -> list[tuple[str, str]]:
    """(XY, path) of each changed, untracked (and ignored) file; a rename's source is dropped.

    An ignored folder is one entry, `dir/` (`--ignored=matching`), and so is a nested repository.
    live: an agent may be at work in tree, so `--no-optional-locks`: status must not take the
    index lock its own `git add` or `git commit` needs. Otherwise status may write the index it
    refreshed, which spares the next status re-reading every racily clean file (docs/git.md).
    """
    args = [*(["--no-optional-locks"] if live else []), "status", "--porcelain=v1", "-z",
            "--untracked-files=all" if untracked else "--untracked-files=no"]
    parts = run(tree, *args, *(["--ignored=matching"] if ignored else []),
                step="reading the worktree's status").stdout.split("\0")
    out = []
    i = 0
    while i < len(parts):
        e = parts[i]
        i += 1
        if len(e) > 3:
            out.append((e[:2], e[3:]))
            if e[0] in "RC":  # a rename carries its source as the next field
                i += 1
    return out


def ignored_files(tree: Path) -> list[str]:
    return sorted(split_z(run(tree, "ls-files", "-z", "--others", "--ignored",
                         "--exclude-standard").stdout))


def index_entries(tree: Path) -> list[tuple[str, str, str, str]]:
    """(tag, mode, blob, path) of every index entry: `ls-files -s -v`. The tag is `H` for a
    plain entry, `S` for skip-worktree (sparse checkouts too), lowercase for assume-unchanged;
    git's status looks at neither kind of flagged file (docs/git.md)."""
    out = []
    for rec in split_z(run(tree, "ls-files", "-z", "-s", "-v",
                           step="reading the worktree's index").stdout):
        head, _, path = rec.partition("\t")
        tag, mode, blob = head.split(" ")[:3]
        out.append((tag, mode, blob, path))
    return out


def hash_files(tree: Path, paths: Sequence[str]) -> list[str]:
    """The blob id git would store for each file, its filters applied, as `git add` does."""
    out: list[str] = []
    for i in range(0, len(paths), 500):
        out += run(tree, "hash-object", "--", *paths[i:i + 500],
                   step="hashing files").stdout.split()
    return out


def _literal(paths: Sequence[str], magic: str = "literal") -> list[str]:
    return [f":({magic}){p}" for p in paths]


def git_paths(tree: Path, names: Sequence[str]) -> list[Path]:
    """Where git keeps each of names for this worktree (`--git-path`: MERGE_HEAD, index...)."""
    args = [a for n in names for a in ("--git-path", n)]
    out = run(tree, "rev-parse", "--path-format=absolute", *args).stdout.splitlines()
    return [Path(p) for p in out[:len(names)]]


def sparse_checkout(tree: Path) -> bool:
    """Whether tree is a sparse checkout (its skip-worktree files are those outside it)."""
    p = run(tree, "config", "--bool", "core.sparseCheckout", check=False)
    return p.stdout.strip() == "true"


def reset_index(tree: Path) -> None:
    """The index back to HEAD; files untouched."""
    run(tree, "reset", "-q")


def reset_hard(tree: Path) -> None:
    run(tree, "reset", "-q", "--hard", "HEAD")


def checkout_tree(tree: Path, commit: str) -> None:
    """commit's files into the worktree (and index), from HEAD: `read-tree -m -u`."""
    run(tree, "read-tree", "-m", "-u", "HEAD", f"{commit}^{{tree}}")


def write_tree_of_worktree(tree: Path, index: str, *, exclude: Sequence[str] = (),
                           unflag: Sequence[tuple[str, str]] = (),
                           as_at_head: Sequence[str] = ()) -> str:
    """A tree of every file in the worktree but the ignored ones, staged in the temporary
    index file `index` so the user's own index is untouched (docs/git.md).

    exclude: paths (files or folders) left as they are in the index; unflag: (tag, path) of
    skip-worktree and assume-unchanged entries whose files are on disk, cleared first so their
    content is taken; as_at_head: paths put back as they are at HEAD first. `--sparse` takes
    files outside a sparse checkout too (without it `add` exits 1 on them).
    """
    env = {"GIT_INDEX_FILE": index}
    step = "taking a snapshot"
    skip = [p for tag, p in unflag if tag.upper() == "S"]
    valid = [p for tag, p in unflag if tag.islower()]
    # Two calls: update-index takes only the last of --no-skip-worktree / --no-assume-unchanged.
    for flag, paths in (("--no-skip-worktree", skip), ("--no-assume-unchanged", valid)):
        if paths:
            run(tree, "update-index", flag, "--", *paths, env=env, step=step)
    if as_at_head:
        run(tree, "reset", "-q", "HEAD", "--", *_literal(as_at_head), env=env, step=step)
    run(tree, "add", "-A", "--sparse", "--", ".", *_literal(exclude, "exclude,literal"),
        env=env, step=step)
    return run(tree, "write-tree", env=env, step=step).stdout.strip()


def index_and_head(tree: Path) -> tuple[Path, str, str]:
    """(the worktree's index file, HEAD, HEAD's tree) in one call."""
    index, head, head_tree = run(
        tree, "rev-parse", "--path-format=absolute", "--git-path", "index", "HEAD",
        "HEAD^{tree}", "--", step="taking a snapshot").stdout.splitlines()[:3]
    return Path(index), head, head_tree


# --- commits, refs and branches ----------------------------------------------------------------

def commit_tree(repo: Path, tree: str, parents: Sequence[str], message: str,
                env: Mapping[str, str] | None = None) -> str:
    args = [a for p in parents for a in ("-p", p)]
    return run(repo, "commit-tree", tree, *args, "-m", message, env=env,
               step="writing a commit").stdout.strip()


def update_ref(repo: Path, ref: str, new: str, old: str | None = None, message: str = "",
               check: bool = True) -> Result:
    """Point ref at new; with old, only if it is still at old (else exit 1, nothing moved)."""
    return run(repo, "update-ref", *(["-m", message] if message else []), ref, new,
               *([old] if old else []), check=check, step=f"moving {ref}")


def delete_ref(repo: Path, ref: str, old: str) -> Result:
    """Delete ref only while it is still at old, so a commit made since is never lost."""
    return run(repo, "update-ref", "-d", ref, old, check=False)


def create_branch(repo: Path, branch: str, at: str) -> None:
    run(repo, "branch", "--no-track", "--", branch, at)


def delete_merged_branch(repo: Path, branch: str) -> Result:
    """`git branch -d`: refused (non-zero) when the branch is not merged."""
    return run(repo, "branch", "-d", "--", branch, check=False)


def is_ancestor(repo: Path, a: str, b: str) -> bool:
    return run(repo, "merge-base", "--is-ancestor", a, b, check=False).returncode == 0


def upstream_of(repo: Path, branch: str) -> str | None:
    p = run(repo, "rev-parse", "--abbrev-ref", f"{branch}@{{upstream}}", check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def merge_tree(repo: Path, a: str, b: str) -> tuple[str | None, list[str]]:
    """(tree, []) when merging commits a and b is clean, (None, conflicted files) when not.

    Touches no index and no worktree. Resolve a and b first: on git 2.39 a bad name also exits
    1, with no output, which must not read as a conflict (docs/git.md).
    """
    p = run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", a, b,
            check=False)
    fields = p.stdout.split("\0")
    if p.returncode == 0:
        return fields[0].strip(), []
    if p.returncode == 1 and fields[0]:
        return None, sorted(set(split_z("\0".join(fields[1:]))))
    raise CommandFailed(p.argv, p.returncode, p.stderr or p.stdout,
                        step="checking whether two branches merge")


def merge_ff_only(checkout: Path, commit: str) -> Result:
    """Fast-forward the checkout's branch, index and files; refuses before touching anything
    if an untracked file would be overwritten."""
    return run(checkout, "merge", "-q", "--ff-only", commit, check=False)


def rebase(tree: Path, onto: str) -> tuple[str | None, list[str]]:
    """Rebase the worktree's HEAD onto onto: (new HEAD, []) or (None, conflicted files)."""
    if run(tree, "rebase", "-q", onto, check=False).returncode == 0:
        return run(tree, "rev-parse", "HEAD").stdout.strip(), []
    files = split_z(run(tree, "diff", "--name-only", "-z", "--diff-filter=U").stdout)
    run(tree, "rebase", "--abort", check=False)
    return None, sorted(files) or ["(rebase failed)"]


# --- history and diffs ------------------------------------------------------------------------

def changed_files(repo: Path, a: str, b: str) -> list[str]:
    return split_z(run(repo, "diff", "--name-only", "-z", "--no-renames", a, b).stdout)


def diff_raw_numstat(repo: Path, base: str, commit: str) -> str:
    return run(repo, "diff", "--no-renames", "--raw", "--numstat", "-z", base, commit,
               step="taking a snapshot").stdout.strip()


def touched(repo: Path, since: str, tip: str, paths: Sequence[str]) -> bool:
    """Whether any commit of since..tip changes one of paths."""
    if not paths:
        return False
    return bool(run(repo, "rev-list", "-1", f"{since}..{tip}", "--", *_literal(paths),
                    step="reading a branch's history").stdout.strip())


def count_commits(repo: Path, base: str, head: str) -> int:
    return int(run(repo, "rev-list", "--count", f"{base}..{head}",
                   step="taking a snapshot").stdout.strip())


def subjects(repo: Path, since: str, tip: str) -> str:
    """`  <short sha> <subject>` per commit of since..tip, newest first."""
    return run(repo, "log", "--format=  %h %s", f"{since}..{tip}").stdout


def log_records(repo: Path, base: str, tips: Sequence[str]
                ) -> list[tuple[str, list[str], str, str]] | None:
    """(sha, parents, short sha, subject) of every commit reachable from tips but not base,
    newest first, in one `git log`; None when it fails (a tip whose objects are gone)."""
    p = run(repo, "log", "--no-color", "--format=%H%x00%P%x00%h%x00%s", f"^{base}", *tips,
            "--", check=False)
    if p.returncode != 0:
        return None
    out = []
    for line in p.stdout.split("\n"):  # not splitlines(): a subject may hold \x1c and the like
        if line:
            sha, parents, short, subject = [*line.split("\0", 3), "", "", ""][:4]
            out.append((sha, parents.split(), short, subject))
    return out


def blobs_at(repo: Path, commit: str) -> dict[str, str]:
    """{path: blob id} of every file in commit's tree (gitlinks left out)."""
    out = {}
    for rec in split_z(run(repo, "ls-tree", "-r", "-z", "--full-tree", commit,
                           step="reading a snapshot").stdout):
        head, _, path = rec.partition("\t")
        _, kind, blob = head.split(" ")[:3]
        if kind == "blob":
            out[path] = blob
    return out


def files_at(repo: Path, commit: str) -> list[str]:
    """Every file path in commit's tree, in one `git ls-tree -r` (faster than walking the
    trees in-process in a large repository)."""
    return split_z(run(repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree", commit,
                  step="listing the files at base").stdout)
