"""The command language: every layout command (`command`, `setup`, `check`, `on_event`) is
POSIX sh, whatever the user's $SHELL is, and a simple command is exec'd, not wrapped.

Why not $SHELL: fish is not POSIX (`'it'"'"'s'` and `${HOME}` are syntax errors there), and
fish 3.6 exits 0 on a syntax error, so an agent that never ran looked `done 0`.

Why exec: Debian's /bin/sh is dash, which does not exec the last command of `-c`. An agent
killed by a signal then looks like exit 128+N to the runner, and the runner's signals reach
the shell, not the agent. A command made of literal words only (the presets' commands, with
{task} quoted) is split here exactly as sh would split it, and the runner execs the program
itself; anything sh would expand or interpret goes to `/bin/sh -c` unchanged. A user makes a
compound command exact with sh's own `exec` before its last command.

Stdlib only and no imports at all: the runner imports it on its way to the agent's fork.
"""

from __future__ import annotations

SH = "/bin/sh"

# Names sh runs itself (dash's builtins, POSIX's reserved words and special builtins): a
# builtin has no program to exec, or one that differs (dash's `echo` reads backslashes,
# `pwd` is logical), and a reserved word starts a compound command.
SH_WORDS = frozenset((
    ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval",
    "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local",
    "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap",
    "true", "type", "ulimit", "umask", "unalias", "unset", "wait",
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while", "function", "select", "time", "[[", "]]", "source",
))
# Outside quotes, each of these makes sh do more than split words: operators, redirections,
# expansions, globs, comments, tilde, grouping, history-like `!`, and line breaks. Some are
# literal in some positions (`a#b`); refusing them everywhere only costs an sh process.
_SPECIAL = frozenset("|&;<>()$`*?[]#~{}!\n")
_BLANK = " \t"


def simple_words(command: str) -> list[str] | None:
    """The words of command as sh would split them, or None when sh would do anything more
    than split and unquote literal words (then it must run under sh)."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    first_assign = False
    i, n = 0, len(command)
    while i < n:
        c = command[i]
        if c in _BLANK:
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        elif c == "'":
            end = command.find("'", i + 1)
            if end < 0:
                return None
            cur.append(command[i + 1:end])
            in_word, i = True, end
        elif c == '"':
            end = i + 1
            while end < n and command[end] != '"':
                if command[end] in "$`\\":  # expansions, and backslash rules that differ
                    return None
                end += 1
            if end >= n:
                return None
            cur.append(command[i + 1:end])
            in_word, i = True, end
        elif c == "\\":
            if i + 1 >= n or command[i + 1] == "\n":
                return None
            cur.append(command[i + 1])
            in_word, i = True, i + 1
        elif c in _SPECIAL:
            return None
        else:
            if c == "=" and not words:
                first_assign = True  # `NAME=value cmd`: an assignment, sh's business
            cur.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(cur))
    return None if first_assign else words


def argv_for(command: str) -> tuple[list[str], bool]:
    """How the runner starts command: (argv, exact). exact: argv is the program itself, with
    no shell in between; otherwise argv is `/bin/sh -c command`."""
    words = simple_words(command)
    while words and words[0] == "exec":  # sh's `exec prog args` runs prog in its place
        words = words[1:]
    if not words or words[0] in SH_WORDS or words[0].startswith("-"):
        return [SH, "-c", command], False
    if len(words) == 3 and words[0] == SH and words[1] == "-c":
        # `sh -c S` is S run by sh: the same rule applies to S (the `shell` preset's task).
        return argv_for(words[2])
    return words, True
