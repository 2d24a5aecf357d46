"""The one room that runs git: reads in-process through GitPython's `Repo` (`reads`), and every
command (worktrees, merge-tree, update-ref, temporary indexes, status) through GitPython's
command interface (`command`, `ops`). No other module runs git or imports GitPython.

GitPython is imported on first use only: its import costs 60-85 ms here and runs
`git version`, so a command that never touches git does not pay for it. Every `Repo` is
closed, which ends the `git cat-file --batch` processes GitPython keeps for object reads. The
git facts this package and its callers rely on are in docs/git.md.
"""

from __future__ import annotations

from agentmux.git.command import Result, run, show_diff, version
from agentmux.git.ops import (
    blobs_at,
    changed_files,
    checkout_tree,
    commit_tree,
    count_commits,
    create_branch,
    delete_merged_branch,
    delete_ref,
    diff_raw_numstat,
    files_at,
    git_paths,
    hash_files,
    ignored_files,
    index_and_head,
    index_entries,
    is_ancestor,
    log_records,
    merge_ff_only,
    merge_tree,
    rebase,
    reset_hard,
    reset_index,
    sparse_checkout,
    status,
    subjects,
    touched,
    update_ref,
    upstream_of,
    worktree_add,
    worktree_list,
    worktree_prune,
    worktree_remove,
    write_tree_of_worktree,
)
from agentmux.git.reads import (
    Repo,
    branches,
    common_dir,
    head_of,
    linked_worktrees,
    rev,
    toplevel,
)

__all__ = [
    "Repo", "Result", "blobs_at", "branches", "changed_files", "checkout_tree", "commit_tree",
    "common_dir", "count_commits", "create_branch", "delete_merged_branch", "delete_ref",
    "diff_raw_numstat", "files_at", "git_paths", "hash_files", "head_of", "ignored_files",
    "index_and_head", "index_entries", "is_ancestor", "linked_worktrees", "log_records",
    "merge_ff_only",
    "merge_tree", "rebase", "reset_hard", "reset_index", "rev", "run", "show_diff",
    "sparse_checkout", "status", "subjects", "toplevel", "touched", "update_ref", "upstream_of",
    "version", "worktree_add", "worktree_list", "worktree_prune", "worktree_remove",
    "write_tree_of_worktree",
]
